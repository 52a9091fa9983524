"""Mean Teacher: Tarvainen & Valpola, "Mean teachers are better role models: Weight-averaged
consistency targets improve semi-supervised deep learning results", NeurIPS 2017."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..backbones import Network
from .base import Algorithm, AlgorithmOptions, Batch, rampup_problems
from .functional import labeled_loss_and_view_logits, sigmoid_rampup, softmax_mse, train_mode_without_stat_updates
from .registry import register_algorithm

CONSISTENCY_WEIGHT = 50.0  # MSE weight (mean over classes) as in USB's Mean Teacher (times lambda_u)


@dataclass(frozen=True)
class MeanTeacherOptions(AlgorithmOptions):
    """MeanTeacher's own option."""

    # Ramp-up of the consistency weight over this many steps; short on purpose: the product's rounds
    # are short (the papers ramp over tens of thousands of steps)
    rampup_steps: int = 300

    legacy_names = {"rampup_steps": "rampup_steps"}

    def problems(self) -> list[str]:
        return rampup_problems(self.rampup_steps)


@register_algorithm("meanteacher")
class MeanTeacher(Algorithm):
    """Mean Teacher (Tarvainen & Valpola, NeurIPS 2017).

    The teacher is the trainer's EMA of the student's weights (``ema_decay``, with its warm-up);
    the student's prediction on one weak view is pulled by MSE towards the teacher's prediction on
    another weak view of the same image, weighted 50 · ``lambda_u`` with the sigmoid ramp-up over
    ``rampup_steps``. Like the paper's two networks, the teacher normalises with its batch's own
    statistics (train mode, running statistics untouched): with the eval-mode EMA as teacher, the
    student chased running-statistics outputs and collapsed (Fashion-MNIST, 4 labels per class:
    25 % after 300 steps against 55 % in train mode).
    """

    uses_strong = False
    extra_unlabeled_views = ("weak",)
    options_type = MeanTeacherOptions
    options: MeanTeacherOptions

    def train_step(self, model: Network, batch: Batch) -> dict[str, torch.Tensor]:
        assert batch.unlabeled_weak is not None and self.ema_model is not None
        loss_x, (logits_u,) = labeled_loss_and_view_logits(model, batch.labeled, batch.labels, batch.unlabeled_weak)
        with torch.no_grad(), train_mode_without_stat_updates(self.ema_model):
            teacher_probs = self.ema_model(batch.unlabeled_extra[0]).float().softmax(dim=1)
        loss_u = softmax_mse(logits_u, teacher_probs).mean()
        weight = self.config.lambda_u * CONSISTENCY_WEIGHT * sigmoid_rampup(batch.step, self.options.rampup_steps)
        return {"loss": loss_x + weight * loss_u, "loss_x": loss_x.detach(), "loss_u": loss_u.detach()}
