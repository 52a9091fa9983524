"""UDA: Xie et al., "Unsupervised Data Augmentation for Consistency Training", NeurIPS 2020."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..backbones import Network
from .base import Algorithm, AlgorithmOptions, Batch
from .fixmatch import masked_pseudo_label_loss
from .functional import labeled_loss_and_view_logits, sharpen
from .registry import register_algorithm


@dataclass(frozen=True)
class UDAOptions(AlgorithmOptions):
    """UDA's own options (the paper's defaults)."""

    temperature: float = 0.4  # sharpening temperature of the weak view's prediction

    legacy_names = {"uda_temperature": "temperature"}

    def problems(self) -> list[str]:
        return [] if self.temperature > 0.0 else ["temperature must be > 0"]


@register_algorithm("uda")
class UDA(Algorithm):
    """UDA (Xie et al., NeurIPS 2020): confidence-masked consistency with sharpened soft targets.

    The weak view's prediction, sharpened with ``temperature`` (T = 0.4, i.e. softmax(logits/T)),
    is the soft target of the strong (RandAugment) view; only images whose unsharpened confidence
    reaches ``threshold`` count (the paper's confidence-based masking). Cross-entropy to a fixed
    target has the KL's gradient. One forward over labeled, weak and strong images; no TSA.
    """

    options_type = UDAOptions
    options: UDAOptions

    def train_step(self, model: Network, batch: Batch) -> dict[str, torch.Tensor]:
        assert batch.unlabeled_weak is not None and batch.unlabeled_strong is not None
        loss_x, (logits_w, logits_s) = labeled_loss_and_view_logits(
            model, batch.labeled, batch.labels, batch.unlabeled_weak, batch.unlabeled_strong
        )
        with torch.no_grad():
            probs_w = logits_w.detach().float().softmax(dim=1)
            mask = (probs_w.max(dim=1).values >= self.config.threshold).float()
            targets = sharpen(probs_w, self.options.temperature)
        loss_u = masked_pseudo_label_loss(logits_s.float(), targets, mask)
        loss = loss_x + self.config.lambda_u * loss_u
        return {"loss": loss, "loss_x": loss_x.detach(), "loss_u": loss_u.detach(), "mask_ratio": mask.mean()}
