"""The interface every semi-supervised algorithm implements, and the batch it receives."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..backbones import Network
from ..config import TrainConfig


@dataclass
class Batch:
    """One training step's inputs, already augmented, on the training device.

    ``unlabeled_weak``/``unlabeled_strong`` are ``None`` for algorithms that ignore unlabeled data.
    """

    labeled: torch.Tensor  # float [B, C, H, W], weak view
    labels: torch.Tensor  # int64 [B]
    labeled_index: torch.Tensor  # int64 [B]: rows of the labeled set (keys of memory banks)
    unlabeled_weak: torch.Tensor | None = None  # float [mu*B, C, H, W]
    unlabeled_strong: torch.Tensor | None = None  # float [mu*B, C, H, W]
    # Rows of the unlabeled set (keys of per-image state such as Temporal Ensembling's targets)
    unlabeled_index: torch.Tensor | None = None  # int64 [mu*B]
    # More views of the same unlabeled images, fresh randomness each, one per name in
    # ``Algorithm.extra_unlabeled_views`` ("weak" or "strong"): MixMatch's K guesses, a 2nd strong view
    unlabeled_extra: list[torch.Tensor] = field(default_factory=list)
    step: int = 0  # the trainer's global_step when this batch is trained (ramp-ups, phase switches)

    def num_images(self) -> int:
        """Images forwarded through the network in this step (the images/s numerator)."""
        total = self.labeled.shape[0]
        for part in (self.unlabeled_weak, self.unlabeled_strong, *self.unlabeled_extra):
            total += 0 if part is None else part.shape[0]
        return total


class Algorithm:
    """Base class: a loss over a :class:`Batch` plus whatever state the method keeps between steps."""

    uses_unlabeled: bool = True  # False: the trainer draws no unlabeled batch at all
    uses_projection: bool = False  # True: the network gets a projection head (``Network.project``)
    uses_strong: bool = True  # False: the trainer builds no strong view (``unlabeled_strong`` is None)
    extra_unlabeled_views: tuple[str, ...] = ()  # more views per unlabeled image ("weak"/"strong")

    def __init__(self, config: TrainConfig) -> None:
        self.config = config
        self.ema_model: Network | None = None  # set by the trainer: its EMA weights (a teacher)

    def build_modules(self, model: Network) -> nn.Module | None:
        """Trainable modules the method adds beside the network (ReMixMatch's rotation head), or None.

        Called once by the trainer, right after it built ``model`` (same seeded RNG); the trainer
        optimises their parameters with the network's. The algorithm keeps them and stores their
        weights in its :meth:`state_dict`.
        """
        return None

    def prepare(self, model: Network, labeled_images: torch.Tensor, labels: torch.Tensor) -> None:
        """Called at the start of every ``fit`` with that call's labeled set (uint8, on device)."""

    def prepare_unlabeled(self, model: Network, unlabeled_images: torch.Tensor) -> None:
        """Called after :meth:`prepare` with that call's unlabeled set (size per-image state here)."""

    def train_step(self, model: Network, batch: Batch) -> dict[str, torch.Tensor]:
        """Return ``{"loss": differentiable scalar, <name>: detached scalar, ...}``."""
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """Tensors and values to store in a checkpoint (memory banks, running means)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""

    def to(self, device: torch.device) -> Algorithm:
        """Move any state tensors to ``device``."""
        return self
