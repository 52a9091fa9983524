"""SelfMatch: Kim et al., "SelfMatch: Combining Contrastive Self-Supervision and Consistency for
Semi-Supervised Learning", NeurIPS 2020 Workshop on Self-Supervised Learning."""

from __future__ import annotations

from typing import Any

import torch

from ..backbones import Network
from ..config import TrainConfig
from .base import Batch
from .fixmatch import FixMatch
from .functional import nt_xent
from .registry import register_algorithm


@register_algorithm("selfmatch")
class SelfMatch(FixMatch):
    """SelfMatch (Kim et al., 2020): SimCLR pre-training of the backbone, then FixMatch.

    While the trainer's ``global_step`` is below ``pretrain_steps``, a step trains only the SimCLR
    NT-Xent loss (Chen et al. 2020; temperature ``simclr_temperature``) between two strong views of
    each unlabeled image, through the projection head; labels are not used. From then on every step
    is FixMatch's (the projection head stays, unused). The phase is keyed on the global step, so a
    trainer resumed mid-way continues in the right phase.
    """

    uses_projection = True

    def __init__(self, config: TrainConfig) -> None:
        super().__init__(config)
        self.pretraining = config.pretrain_steps > 0

    @property
    def extra_unlabeled_views(self) -> tuple[str, ...]:  # type: ignore[override]
        """A second strong view while pre-training, none afterwards."""
        return ("strong",) if self.pretraining else ()

    def train_step(self, model: Network, batch: Batch) -> dict[str, torch.Tensor]:
        self.pretraining = batch.step + 1 < self.config.pretrain_steps
        if batch.step >= self.config.pretrain_steps:
            return super().train_step(model, batch)
        assert batch.unlabeled_strong is not None and batch.unlabeled_extra
        embeddings = model.project(model.features(torch.cat([batch.unlabeled_strong, batch.unlabeled_extra[0]])))
        loss = nt_xent(*embeddings.chunk(2), self.config.simclr_temperature)
        zero = torch.zeros((), device=loss.device)
        return {"loss": loss, "loss_x": zero, "loss_u": zero, "loss_contrastive": loss.detach(), "mask_ratio": zero}

    def state_dict(self) -> dict[str, Any]:
        return {"pretraining": self.pretraining}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.pretraining = bool(state["pretraining"])
