"""FixMatch: Sohn et al., "FixMatch: Simplifying Semi-Supervised Learning with Consistency and
Confidence", NeurIPS 2020."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..backbones import Network
from .base import Algorithm, Batch
from .registry import register_algorithm


def masked_pseudo_label_loss(
    logits_strong: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """Mean over all unlabeled samples of mask · CE(strong logits, target).

    ``targets`` are class indices [N] (hard pseudo-labels) or distributions [N, K] (soft ones).
    """
    if targets.dim() == 1:
        per_sample = F.cross_entropy(logits_strong, targets, reduction="none")
    else:
        per_sample = -(targets * F.log_softmax(logits_strong, dim=1)).sum(dim=1)
    return (per_sample * mask).mean()


@register_algorithm("fixmatch")
class FixMatch(Algorithm):
    """FixMatch (Sohn et al., NeurIPS 2020).

    The weak view's prediction becomes a hard pseudo-label when its max probability reaches
    ``threshold`` (τ = 0.95); the strong view is trained to it with cross-entropy, weighted by
    ``lambda_u`` (λu = 1), with ``mu`` (μ = 7) unlabeled images per labeled one. Labeled, weak and
    strong images go through the network in one forward pass (BatchNorm sees the whole batch).
    """

    def train_step(self, model: Network, batch: Batch) -> dict[str, torch.Tensor]:
        assert batch.unlabeled_weak is not None and batch.unlabeled_strong is not None
        num_labeled = batch.labeled.shape[0]
        logits = model(torch.cat([batch.labeled, batch.unlabeled_weak, batch.unlabeled_strong]))
        logits_x = logits[:num_labeled]
        logits_w, logits_s = logits[num_labeled:].chunk(2)
        loss_x = F.cross_entropy(logits_x, batch.labels)
        with torch.no_grad():
            confidence, pseudo_labels = logits_w.detach().float().softmax(dim=1).max(dim=1)
            mask = (confidence >= self.config.threshold).float()
        loss_u = masked_pseudo_label_loss(logits_s, pseudo_labels, mask)
        loss = loss_x + self.config.lambda_u * loss_u
        return {"loss": loss, "loss_x": loss_x.detach(), "loss_u": loss_u.detach(), "mask_ratio": mask.mean()}
