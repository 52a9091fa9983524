"""The interface every semi-supervised algorithm implements, and the batch it receives."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

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

    def num_images(self) -> int:
        """Images forwarded through the network in this step (the images/s numerator)."""
        total = self.labeled.shape[0]
        for part in (self.unlabeled_weak, self.unlabeled_strong):
            total += 0 if part is None else part.shape[0]
        return total


class Algorithm:
    """Base class: a loss over a :class:`Batch` plus whatever state the method keeps between steps."""

    uses_unlabeled: bool = True  # False: the trainer draws no unlabeled batch at all
    uses_projection: bool = False  # True: the network gets a projection head (``Network.project``)

    def __init__(self, config: TrainConfig) -> None:
        self.config = config

    def prepare(self, model: Network, labeled_images: torch.Tensor, labels: torch.Tensor) -> None:
        """Called at the start of every ``fit`` with that call's labeled set (uint8, on device)."""

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
