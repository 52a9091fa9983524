"""FreeMatch: Wang et al., "FreeMatch: Self-adaptive Thresholding for Semi-supervised Learning", ICLR 2023."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ..backbones import Network
from ..config import TrainConfig
from .base import Algorithm, AlgorithmOptions, Batch
from .fixmatch import masked_pseudo_label_loss
from .functional import (
    freematch_fairness_loss,
    freematch_thresholds,
    freematch_update,
    labeled_loss_and_view_logits,
)
from .registry import register_algorithm


@dataclass(frozen=True)
class FreeMatchOptions(AlgorithmOptions):
    """FreeMatch's own options (the paper's defaults)."""

    ema_momentum: float = 0.999  # EMA momentum of the self-adaptive thresholds
    fairness_weight: float = 0.001  # weight of the self-adaptive fairness loss

    legacy_names = {"freematch_momentum": "ema_momentum", "freematch_fairness_weight": "fairness_weight"}

    def problems(self) -> list[str]:
        checks = [
            (0.0 <= self.ema_momentum < 1.0, "ema_momentum must be in [0, 1)"),
            (self.fairness_weight >= 0.0, "fairness_weight must be >= 0"),
        ]
        return [message for ok, message in checks if not ok]


@register_algorithm("freematch")
class FreeMatch(Algorithm):
    """FreeMatch (Wang et al., ICLR 2023): FixMatch with self-adaptive thresholds.

    A global threshold τ_t (EMA of the mean confidence on unlabeled weak views, from 1/K) and local
    class means p̃_t(c) (EMA of the mean prediction), momentum ``ema_momentum`` (0.999), give
    class thresholds τ_t(c) = p̃_t(c) / max p̃_t · τ_t: low while the model is unsure, rising as it
    learns. The self-adaptive fairness loss (weight ``fairness_weight``) keeps the masked
    strong predictions' class histogram diverse. Needs no per-image state; the three EMAs are
    checkpointed. ``threshold`` is not used.
    """

    options_type = FreeMatchOptions
    options: FreeMatchOptions

    def __init__(self, config: TrainConfig) -> None:
        super().__init__(config)
        k = config.num_classes
        self.global_threshold = torch.tensor(1.0 / k)
        self.class_means = torch.full((k,), 1.0 / k)
        self.label_hist = torch.full((k,), 1.0 / k)

    def to(self, device: torch.device) -> FreeMatch:
        self.global_threshold = self.global_threshold.to(device)
        self.class_means = self.class_means.to(device)
        self.label_hist = self.label_hist.to(device)
        return self

    def train_step(self, model: Network, batch: Batch) -> dict[str, torch.Tensor]:
        assert batch.unlabeled_weak is not None and batch.unlabeled_strong is not None
        cfg = self.config
        loss_x, (logits_w, logits_s) = labeled_loss_and_view_logits(
            model, batch.labeled, batch.labels, batch.unlabeled_weak, batch.unlabeled_strong
        )
        with torch.no_grad():
            probs_w = logits_w.detach().float().softmax(dim=1)
            self.global_threshold, self.class_means, self.label_hist = freematch_update(
                self.global_threshold, self.class_means, self.label_hist, probs_w, self.options.ema_momentum
            )
            thresholds = freematch_thresholds(self.global_threshold, self.class_means)
            confidence, pseudo_labels = probs_w.max(dim=1)
            mask = (confidence >= thresholds[pseudo_labels]).float()
        loss_u = masked_pseudo_label_loss(logits_s, pseudo_labels, mask)
        loss_f = freematch_fairness_loss(logits_s, mask, self.class_means, self.label_hist)
        loss = loss_x + cfg.lambda_u * loss_u + self.options.fairness_weight * loss_f
        return {
            "loss": loss,
            "loss_x": loss_x.detach(),
            "loss_u": loss_u.detach(),
            "loss_fairness": loss_f.detach(),
            "mask_ratio": mask.mean(),
            "global_threshold": self.global_threshold.clone(),
        }

    def state_dict(self) -> dict[str, Any]:
        return {"global_threshold": self.global_threshold, "class_means": self.class_means, "label_hist": self.label_hist}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        device = self.class_means.device
        self.global_threshold = state["global_threshold"].to(device)
        self.class_means = state["class_means"].to(device)
        self.label_hist = state["label_hist"].to(device)
