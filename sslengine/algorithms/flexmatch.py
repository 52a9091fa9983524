"""FlexMatch: Zhang et al., "FlexMatch: Boosting Semi-Supervised Learning with Curriculum Pseudo
Labeling", NeurIPS 2021."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ..backbones import Network
from ..config import TrainConfig
from .base import Algorithm, AlgorithmOptions, Batch
from .fixmatch import masked_pseudo_label_loss
from .functional import align_rows, flexmatch_thresholds, labeled_loss_and_view_logits
from .registry import register_algorithm


@dataclass(frozen=True)
class FlexMatchOptions(AlgorithmOptions):
    """FlexMatch's own option (the paper's default)."""

    warmup: bool = True  # threshold warm-up: images without a learning status count as one more class

    legacy_names = {"flexmatch_warmup": "warmup"}


@register_algorithm("flexmatch")
class FlexMatch(Algorithm):
    """FlexMatch (Zhang et al., NeurIPS 2021): FixMatch with curriculum pseudo-labeling.

    Each unlabeled image remembers the class it was last predicted with confidence above
    ``threshold`` τ (its learning status, −1 while none). The per-class learning effect σ(c) counts
    those images; the class threshold is T(c) = M(β(c)) · τ with β(c) = σ(c) / max(max σ, unused)
    (threshold warm-up, option ``warmup``) and the convex mapping M(x) = x / (2 − x), so classes
    that are hard to learn get lower thresholds, and every threshold starts near 0
    (:func:`~sslengine.algorithms.functional.flexmatch_thresholds`). The table is keyed by image
    id (``image_ids``): every fit lays it out in its own row order (:func:`align_rows`), so images
    added since the last fit start without a status, deleted ones drop out of σ, and re-sorting
    moves nobody's status; it is saved in checkpoints.
    """

    options_type = FlexMatchOptions
    options: FlexMatchOptions

    def __init__(self, config: TrainConfig) -> None:
        super().__init__(config)
        self.selected_label = torch.zeros(0, dtype=torch.int64)
        self.image_ids = torch.zeros(0, dtype=torch.int64)  # row i of selected_label is image image_ids[i]

    def to(self, device: torch.device) -> FlexMatch:
        self.selected_label = self.selected_label.to(device)
        self.image_ids = self.image_ids.to(device)
        return self

    def prepare_unlabeled(self, model: Network, unlabeled_images: torch.Tensor, unlabeled_ids: torch.Tensor) -> None:
        self.selected_label = align_rows(self.selected_label, self.image_ids, unlabeled_ids, -1)
        self.image_ids = unlabeled_ids.clone()

    def train_step(self, model: Network, batch: Batch) -> dict[str, torch.Tensor]:
        assert batch.unlabeled_weak is not None and batch.unlabeled_strong is not None and batch.unlabeled_index is not None
        cfg = self.config
        loss_x, (logits_w, logits_s) = labeled_loss_and_view_logits(
            model, batch.labeled, batch.labels, batch.unlabeled_weak, batch.unlabeled_strong
        )
        with torch.no_grad():
            confidence, pseudo_labels = logits_w.detach().float().softmax(dim=1).max(dim=1)
            thresholds = flexmatch_thresholds(self.selected_label, cfg.num_classes, cfg.threshold, self.options.warmup)
            mask = (confidence >= thresholds[pseudo_labels]).float()
            confident = confidence >= cfg.threshold
            self.selected_label[batch.unlabeled_index[confident]] = pseudo_labels[confident]
        loss_u = masked_pseudo_label_loss(logits_s, pseudo_labels, mask)
        loss = loss_x + cfg.lambda_u * loss_u
        return {
            "loss": loss,
            "loss_x": loss_x.detach(),
            "loss_u": loss_u.detach(),
            "mask_ratio": mask.mean(),
            "mean_threshold": thresholds.mean(),
        }

    def state_dict(self) -> dict[str, Any]:
        return {"selected_label": self.selected_label, "image_ids": self.image_ids}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.selected_label = state["selected_label"].to(self.selected_label.device)
        self.image_ids = state["image_ids"].to(self.image_ids.device)
