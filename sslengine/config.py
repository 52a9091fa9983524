"""Typed training configuration shared by the trainer, the algorithms and the benchmark CLI."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .algorithms.base import AlgorithmOptions


@dataclass
class TrainConfig:
    """Everything that defines a training run; stored inside every checkpoint.

    Trainer-level fields only (batch, optimiser, schedule, EMA, backbone, input, τ, λu): each
    algorithm's own options live in its file and arrive here as ``algorithm_options``. Defaults
    follow FixMatch (Sohn et al., NeurIPS 2020) for the optimiser and loss weights. The EMA warm-up
    and BatchNorm momentum depart from the papers on purpose: the product retrains in short rounds
    that must already be useful, so the EMA and BN statistics must settle within tens of steps (see
    ``ema_decay``).
    """

    num_classes: int
    algorithm: str = "fixmatch"
    backbone: str = "cnn-small"
    in_channels: int = 3  # 1 (grayscale) or 3 (RGB)
    image_size: int = 32  # images arrive square, uint8, NCHW, already at this size
    # Horizontal flips in the augmented views; off by default because a flip changes the class of
    # digits, letters and arrows (the app passes the project's setting)
    hflip: bool = False
    threshold: float = 0.95  # tau: a pseudo-label counts only when its max probability reaches this
    batch_size: int = 16  # labeled images per step
    mu: int = 7  # unlabeled images per labeled image in a step
    lambda_u: float = 1.0  # weight of the unlabeled (pseudo-label) loss; 0 switches it off
    lr: float = 0.03
    momentum: float = 0.9  # SGD with Nesterov momentum
    weight_decay: float = 5e-4  # applied to conv/linear weights, not to BatchNorm or biases
    # Cosine decay lr * cos(7*pi*k / (16*K)) over this horizon K of optimizer steps (FixMatch's
    # schedule); after the horizon the learning rate stays at its final value lr * cos(7*pi/16),
    # because the product keeps training the same model round after round.
    schedule_steps: int = 20_000
    # EMA of weights used for evaluation and prediction, with a warm-up:
    # decay = min(ema_decay, (1 + step) / (10 + step)), so a round of a few hundred steps is already
    # averaged over its own recent steps instead of being stuck near the random initialisation.
    ema_decay: float = 0.999
    # Images (evenly spaced over the unlabeled set) on which the EMA network's BatchNorm statistics are
    # re-estimated after every fit ("precise BN", Wu & Johnson 2021); 0 keeps the trained network's.
    # Without it the label-efficiency curves swung by up to 14 points from one round to the next.
    bn_recalibration_images: int = 4096
    bn_momentum: float = 0.1  # PyTorch's default; WRN's usual 0.001 leaves short runs at chance
    # Backbone options
    pretrained_path: str | None = None  # local weights file for resnet18; nothing is downloaded
    seed: int = 0
    log_every: int = 10  # on_progress is called every this many steps
    # The chosen algorithm's own options: an instance of its ``options_type`` (each algorithm's file
    # declares them, with their paper defaults). A mapping of field → value is accepted and turned
    # into that instance; unset fields keep the algorithm's defaults.
    algorithm_options: AlgorithmOptions | Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from .algorithms import algorithm_options, list_algorithms

        if isinstance(self.algorithm_options, Mapping) and self.algorithm in list_algorithms():
            self.algorithm_options = algorithm_options(self.algorithm, self.algorithm_options)
        self.validate()

    def validate(self) -> None:
        """Fail loudly on values that would otherwise train silently wrong."""
        checks: list[tuple[bool, str]] = [
            (self.num_classes >= 2, "num_classes must be >= 2"),
            (self.in_channels in (1, 3), "in_channels must be 1 or 3"),
            (self.image_size >= 8, "image_size must be >= 8"),
            (0.0 < self.threshold <= 1.0, "threshold must be in (0, 1]"),
            (self.batch_size >= 1, "batch_size must be >= 1"),
            (self.mu >= 1, "mu must be >= 1"),
            (self.lambda_u >= 0.0, "lambda_u must be >= 0"),
            (self.lr > 0.0, "lr must be > 0"),
            (0.0 <= self.momentum < 1.0, "momentum must be in [0, 1)"),
            (self.weight_decay >= 0.0, "weight_decay must be >= 0"),
            (self.schedule_steps >= 1, "schedule_steps must be >= 1"),
            (0.0 <= self.ema_decay < 1.0, "ema_decay must be in [0, 1)"),
            (0.0 < self.bn_momentum <= 1.0, "bn_momentum must be in (0, 1]"),
            (self.bn_recalibration_images >= 0, "bn_recalibration_images must be >= 0"),
            (self.log_every >= 1, "log_every must be >= 1"),
        ]
        errors = [message for ok, message in checks if not ok]
        from .algorithms import ALGORITHMS, list_algorithms
        from .backbones import list_backbones

        if self.algorithm not in list_algorithms():
            errors.append(f"unknown algorithm {self.algorithm!r}; registered: {list_algorithms()}")
        elif type(self.algorithm_options) is not ALGORITHMS.get(self.algorithm).options_type:
            expected = ALGORITHMS.get(self.algorithm).options_type.__name__
            errors.append(f"algorithm_options of {self.algorithm!r} must be {expected}, got {type(self.algorithm_options).__name__}")
        if self.backbone not in list_backbones():
            errors.append(f"unknown backbone {self.backbone!r}; registered: {list_backbones()}")
        if errors:
            raise ValueError("invalid TrainConfig: " + "; ".join(errors))

    def to_dict(self) -> dict[str, Any]:
        """Plain dict, safe to store in a checkpoint or a JSON file."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Rebuild from :meth:`to_dict` output; unknown keys are an error, not silently dropped."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown TrainConfig fields: {sorted(unknown)}")
        return cls(**data)

    @classmethod
    def from_flat_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Best-effort rebuild from a format-1 checkpoint's config, where every algorithm's options
        were flat ``TrainConfig`` fields: the trainer-level fields are kept, the chosen algorithm's
        old fields become its options (through its ``legacy_names``), other algorithms' are dropped."""
        from .algorithms import ALGORITHMS

        known = {f.name for f in dataclasses.fields(cls)}
        trainer_level = {name: value for name, value in data.items() if name in known}
        legacy_names = ALGORITHMS.get(data.get("algorithm", "fixmatch")).options_type.legacy_names
        options = {new: data[old] for old, new in legacy_names.items() if old in data}
        return cls(**{**trainer_level, "algorithm_options": options})
