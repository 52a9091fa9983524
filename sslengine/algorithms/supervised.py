"""Supervised baseline: cross-entropy on the labeled images only."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..backbones import Network
from .base import Algorithm, Batch
from .registry import register_algorithm


@register_algorithm("supervised")
class Supervised(Algorithm):
    """Labeled data only, with the same weak augmentation, optimiser, schedule and EMA as FixMatch.

    The baseline every benchmark compares against; unlabeled images are accepted and ignored.
    """

    uses_unlabeled = False

    def train_step(self, model: Network, batch: Batch) -> dict[str, torch.Tensor]:
        loss = F.cross_entropy(model(batch.labeled), batch.labels)
        zero = torch.zeros((), device=loss.device)
        return {"loss": loss, "loss_x": loss.detach(), "loss_u": zero, "mask_ratio": zero}
