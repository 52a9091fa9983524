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
    """PseudoLabel's own options."""

    # Ramp-up of the unlabeled weight over this many steps (the paper's α(t), annealed over hundreds of
    # epochs; the product's rounds are short). Measured on the learning test's setup over seeds 0-2 at
    # 1,200 steps: 600 beat supervised on every seed, 300 on two of three (benchmarks/RESULTS.md).
    rampup_steps: int = 600
    # False (the paper): every unlabeled image trains on its most likely class. True: only those whose
    # confidence reaches the trainer's τ (USB's variant; measured to lose to supervised at every budget tried).
    use_threshold: bool = False

    legacy_names = {"rampup_steps": "rampup_steps"}

    def problems(self) -> list[str]:
        return rampup_problems(self.rampup_steps)


@register_algorithm("pseudolabel")
class PseudoLabel(Algorithm):
    """Pseudo-Label (Lee, 2013).

    Each unlabeled image's own prediction (weak view), as a hard label (its arg-max class, recomputed at
    every step), becomes its training target; the unlabeled loss is weighted by ``lambda_u`` times a
    linear ramp over ``rampup_steps`` (the paper's deterministic annealing of α(t)). As in the paper no
    confidence filter applies unless ``use_threshold`` keeps only targets whose confidence reaches τ.

    Where this departs from the paper: the ramp starts at step 0 and is linear to ``lambda_u`` (the
    paper waits T1 = 100 epochs on the labels alone, then ramps to α_f = 3 by T2 = 600 epochs); the
    noise is the weak augmentation and the backbone's own layers rather than dropout on every layer;
    there is no denoising-autoencoder pre-training.
    """

    uses_strong = False
    options_type = PseudoLabelOptions
    options: PseudoLabelOptions

    def train_step(self, model: Network, batch: Batch) -> dict[str, torch.Tensor]:
        assert batch.unlabeled_weak is not None
        loss_x, (logits_u,) = labeled_loss_and_view_logits(model, batch.labeled, batch.labels, batch.unlabeled_weak)
        with torch.no_grad():
            confidence, pseudo_labels = logits_u.detach().softmax(dim=1).max(dim=1)
            threshold = self.config.threshold if self.options.use_threshold else 0.0
            mask = (confidence >= threshold).float()
        loss_u = masked_pseudo_label_loss(logits_u, pseudo_labels, mask)
        weight = self.config.lambda_u * linear_rampup(batch.step, self.options.rampup_steps)
        return {"loss": loss_x + weight * loss_u, "loss_x": loss_x.detach(), "loss_u": loss_u.detach(), "mask_ratio": mask.mean()}
