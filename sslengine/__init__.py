"""sslengine: semi-supervised image classification in pure PyTorch (never imports Django).

Everything the Django worker uses is importable from here: TrainConfig, Trainer, FitResult,
Predictions, list_algorithms, list_strategies, list_backbones, select_indices.
"""

from .algorithms import list_algorithms, register_algorithm
from .backbones import list_backbones, register_backbone
from .config import TrainConfig
from .inference import Predictions
from .selection import list_strategies, register_strategy, select_indices
from .trainer import FitResult, Trainer

__all__ = [
    "FitResult",
    "Predictions",
    "TrainConfig",
    "Trainer",
    "list_algorithms",
    "list_backbones",
    "list_strategies",
    "register_algorithm",
    "register_backbone",
    "register_strategy",
    "select_indices",
]
