"""Pseudo-Label: Lee, "Pseudo-Label: The Simple and Efficient Semi-Supervised Learning Method for Deep
Neural Networks", ICML 2013 Workshop on Challenges in Representation Learning."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..backbones import Network
from .base import Algorithm, AlgorithmOptions, Batch, rampup_problems
from .fixmatch import masked_pseudo_label_loss
from .functional import labeled_loss_and_view_logits, linear_rampup
from .registry import register_algorithm


@dataclass(frozen=True)
class PseudoLabelOptions(AlgorithmOptions):
    """PseudoLabel's own option."""

    # Ramp-up of the consistency weight over this many steps; short on purpose: the product's rounds
    # are short (the papers ramp over tens of thousands of steps)
    rampup_steps: int = 300

    legacy_names = {"rampup_steps": "rampup_steps"}

    def problems(self) -> list[str]:
        return rampup_problems(self.rampup_steps)


@register_algorithm("pseudolabel")
class PseudoLabel(Algorithm):
    """Pseudo-Label (Lee, 2013).

    Each unlabeled image's own prediction (weak view), as a hard label, becomes its training target
    when its confidence reaches ``threshold``; the unlabeled loss is weighted by ``lambda_u`` times a
    linear ramp over ``rampup_steps`` (the paper's deterministic annealing of α(t)).
    """

    uses_strong = False
    options_type = PseudoLabelOptions
    options: PseudoLabelOptions

    def train_step(self, model: Network, batch: Batch) -> dict[str, torch.Tensor]:
        assert batch.unlabeled_weak is not None
        loss_x, (logits_u,) = labeled_loss_and_view_logits(model, batch.labeled, batch.labels, batch.unlabeled_weak)
        with torch.no_grad():
            confidence, pseudo_labels = logits_u.detach().softmax(dim=1).max(dim=1)
            mask = (confidence >= self.config.threshold).float()
        loss_u = masked_pseudo_label_loss(logits_u, pseudo_labels, mask)
        weight = self.config.lambda_u * linear_rampup(batch.step, self.options.rampup_steps)
        return {"loss": loss_x + weight * loss_u, "loss_x": loss_x.detach(), "loss_u": loss_u.detach(), "mask_ratio": mask.mean()}
