"""sslengine: semi-supervised image classification in pure PyTorch (never imports Django).

Everything the Django worker uses is importable from here: TrainConfig, Trainer, FitResult,
Algorithm, AlgorithmOptions, Batch, algorithm_options (to write and configure an algorithm),
Predictions, list_algorithms, list_strategies, list_backbones, select_indices, strategy_in_force,
PretrainConfig, Pretrainer, PretrainResult, embedding_quality, list_pretexts, propagate.
"""

from .algorithms import Algorithm, AlgorithmOptions, Batch, algorithm_options, list_algorithms, register_algorithm
from .backbones import list_backbones, register_backbone
from .config import TrainConfig
from .inference import Predictions
from .pretext import PretrainConfig, Pretrainer, PretrainResult, embedding_quality, list_pretexts, register_pretext
from .propagation import propagate
from .selection import list_strategies, register_strategy, select_indices, strategy_in_force
from .trainer import FitResult, Trainer

__all__ = [
    "Algorithm",
    "AlgorithmOptions",
    "Batch",
    "FitResult",
    "Predictions",
    "PretrainConfig",
    "PretrainResult",
    "Pretrainer",
    "TrainConfig",
    "Trainer",
    "algorithm_options",
    "embedding_quality",
    "list_algorithms",
    "list_backbones",
    "list_pretexts",
    "list_strategies",
    "propagate",
    "register_algorithm",
    "register_backbone",
    "register_pretext",
    "register_strategy",
    "select_indices",
    "strategy_in_force",
]
