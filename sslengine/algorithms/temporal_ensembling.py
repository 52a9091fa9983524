"""Temporal Ensembling: Laine & Aila, "Temporal Ensembling for Semi-Supervised Learning", ICLR 2017."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ..backbones import Network
from ..config import TrainConfig
from .base import Algorithm, AlgorithmOptions, Batch, rampup_problems
from .functional import (
    align_rows,
    labeled_loss_and_view_logits,
    sigmoid_rampup,
    softmax_mse,
    temporal_ensemble_target,
    temporal_ensemble_update,
)
from .registry import register_algorithm

CONSISTENCY_WEIGHT = 30.0  # w_max of the paper's temporal ensembling (times lambda_u)


@dataclass(frozen=True)
class TemporalEnsemblingOptions(AlgorithmOptions):
    """Temporal Ensembling's own options."""

    ensemble_momentum: float = 0.6  # α of the ensemble (the paper's)
    # Sigmoid ramp-up exp(-5 (1 - t/R)^2) of the consistency weight over R steps; short on purpose:
    # the product's rounds are short (the paper ramps over 80 epochs)
    rampup_steps: int = 300

    legacy_names = {"ensemble_momentum": "ensemble_momentum", "rampup_steps": "rampup_steps"}

    def problems(self) -> list[str]:
        ok = 0.0 <= self.ensemble_momentum < 1.0
        return ([] if ok else ["ensemble_momentum must be in [0, 1)"]) + rampup_problems(self.rampup_steps)


@register_algorithm("temporal-ensembling")
class TemporalEnsembling(Algorithm):
    """Temporal Ensembling (Laine & Aila, ICLR 2017).

    Every unlabeled image keeps an ensemble Z_i of its past predictions,
    Z_i ← α Z_i + (1 − α) z_i with α = ``ensemble_momentum``, updated each time the image is drawn;
    its target is the bias-corrected ẑ_i = Z_i / (1 − α^t_i), t_i its number of updates (the
    paper's epoch count; per image here, because the app trains in rounds of random batches, not
    epochs). MSE to the target (mean over classes), weight 30 · ``lambda_u`` with the sigmoid
    ramp-up over ``rampup_steps``; images not yet seen have no target. The table is keyed by image
    id (``image_ids``) and saved in checkpoints; ``prepare_unlabeled`` lays it out in the fit's row
    order (:func:`align_rows`: new images start empty, deleted ones drop, re-sorting moves nothing).
    """

    uses_strong = False
    options_type = TemporalEnsemblingOptions
    options: TemporalEnsemblingOptions

    def __init__(self, config: TrainConfig) -> None:
        super().__init__(config)
        self.ensemble = torch.zeros(0, config.num_classes)
        self.counts = torch.zeros(0, dtype=torch.int64)
        self.image_ids = torch.zeros(0, dtype=torch.int64)  # row i of the tables is image image_ids[i]

    def to(self, device: torch.device) -> TemporalEnsembling:
        self.ensemble = self.ensemble.to(device)
        self.counts = self.counts.to(device)
        self.image_ids = self.image_ids.to(device)
        return self

    def prepare_unlabeled(self, model: Network, unlabeled_images: torch.Tensor, unlabeled_ids: torch.Tensor) -> None:
        self.ensemble = align_rows(self.ensemble, self.image_ids, unlabeled_ids, 0.0)
        self.counts = align_rows(self.counts, self.image_ids, unlabeled_ids, 0)
        self.image_ids = unlabeled_ids.clone()

    def train_step(self, model: Network, batch: Batch) -> dict[str, torch.Tensor]:
        assert batch.unlabeled_weak is not None and batch.unlabeled_index is not None
        cfg = self.config
        loss_x, (logits_u,) = labeled_loss_and_view_logits(model, batch.labeled, batch.labels, batch.unlabeled_weak)
        index = batch.unlabeled_index
        targets, has_target = temporal_ensemble_target(self.ensemble[index], self.counts[index], self.options.ensemble_momentum)
        loss_u = (softmax_mse(logits_u, targets) * has_target.float()).mean()
        temporal_ensemble_update(self.ensemble, self.counts, index, logits_u.detach().softmax(dim=1), self.options.ensemble_momentum)
        weight = cfg.lambda_u * CONSISTENCY_WEIGHT * sigmoid_rampup(batch.step, self.options.rampup_steps)
        return {
            "loss": loss_x + weight * loss_u,
            "loss_x": loss_x.detach(),
            "loss_u": loss_u.detach(),
            "target_ratio": has_target.float().mean(),
        }

    def state_dict(self) -> dict[str, Any]:
        return {"ensemble": self.ensemble, "counts": self.counts, "image_ids": self.image_ids}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.ensemble = state["ensemble"].to(self.ensemble.device)
        self.counts = state["counts"].to(self.counts.device)
        self.image_ids = state["image_ids"].to(self.image_ids.device)
