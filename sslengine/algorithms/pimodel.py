"""Π-model: Laine & Aila, "Temporal Ensembling for Semi-Supervised Learning", ICLR 2017 (and
Sajjadi et al., "Regularization With Stochastic Transformations and Perturbations", NeurIPS 2016)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..backbones import Network
from .base import Algorithm, AlgorithmOptions, Batch, rampup_problems
from .functional import labeled_loss_and_view_logits, sigmoid_rampup, softmax_mse
from .registry import register_algorithm

CONSISTENCY_WEIGHT = 100.0  # w_max of the paper's Π-model (times lambda_u)


@dataclass(frozen=True)
class PiModelOptions(AlgorithmOptions):
    """PiModel's own option."""

    # Ramp-up of the consistency weight over this many steps; short on purpose: the product's rounds
    # are short (the papers ramp over tens of thousands of steps)
    rampup_steps: int = 300

    legacy_names = {"rampup_steps": "rampup_steps"}

    def problems(self) -> list[str]:
        return rampup_problems(self.rampup_steps)


@register_algorithm("pimodel")
class PiModel(Algorithm):
    """Π-model (Laine & Aila, ICLR 2017).

    Two stochastic passes over each unlabeled image (two independent weak views, through the
    network in train mode in the same forward) must agree: MSE between their softmax outputs
    (mean over classes), gradient through both branches, weight w_max = 100 · ``lambda_u`` with
    the sigmoid ramp-up over ``rampup_steps``.
    """

    uses_strong = False
    extra_unlabeled_views = ("weak",)
    options_type = PiModelOptions
    options: PiModelOptions

    def train_step(self, model: Network, batch: Batch) -> dict[str, torch.Tensor]:
        assert batch.unlabeled_weak is not None
        loss_x, (logits_a, logits_b) = labeled_loss_and_view_logits(
            model, batch.labeled, batch.labels, batch.unlabeled_weak, batch.unlabeled_extra[0]
        )
        loss_u = softmax_mse(logits_a, logits_b.softmax(dim=1)).mean()
        weight = self.config.lambda_u * CONSISTENCY_WEIGHT * sigmoid_rampup(batch.step, self.options.rampup_steps)
        return {"loss": loss_x + weight * loss_u, "loss_x": loss_x.detach(), "loss_u": loss_u.detach()}
