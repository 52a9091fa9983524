"""VAT: Miyato et al., "Virtual Adversarial Training: A Regularization Method for Supervised and
Semi-Supervised Learning", IEEE TPAMI 2018."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ..backbones import Network
from ..config import TrainConfig
from .base import Algorithm, AlgorithmOptions, Batch
from .functional import (
    entropy_from_logits,
    frozen_batchnorm_stats,
    kl_from_logits,
    labeled_loss_and_view_logits,
    vat_perturbation,
)
from .registry import register_algorithm


@dataclass(frozen=True)
class VATOptions(AlgorithmOptions):
    """VAT's own options (the paper's MNIST settings; images in [0, 1])."""

    xi: float = 1e-6  # ξ: finite-difference step of the power iteration
    eps: float = 2.0  # ε: L2 norm of the adversarial perturbation
    iterations: int = 1  # power iterations
    entropy_weight: float = 0.0  # weight of entropy minimisation (VAT+EntMin uses 1); 0 = off

    legacy_names = {"vat_xi": "xi", "vat_eps": "eps", "vat_iterations": "iterations", "vat_entropy_weight": "entropy_weight"}

    def problems(self) -> list[str]:
        checks = [
            (self.xi > 0.0 and self.eps > 0.0, "xi and eps must be > 0"),
            (self.iterations >= 1, "iterations must be >= 1"),
            (self.entropy_weight >= 0.0, "entropy_weight must be >= 0"),
        ]
        return [message for ok, message in checks if not ok]


@register_algorithm("vat")
class VAT(Algorithm):
    """Virtual Adversarial Training (Miyato et al., TPAMI 2018).

    For each unlabeled weak view x, the direction in which the prediction changes most is found by
    ``iterations`` power iterations with finite-difference step ``xi`` (ξ)
    (:func:`~sslengine.algorithms.functional.vat_perturbation`); the loss is
    KL(p(x) || p(x + r_adv)) with ‖r_adv‖ = ``eps`` (ε) per image and p(x) held fixed, weighted
    by ``lambda_u``. ``entropy_weight`` > 0 adds entropy minimisation (VAT+EntMin). The extra
    adversarial passes leave BatchNorm's running statistics alone. The random start directions come
    from the algorithm's own seeded generator, kept in checkpoints.
    """

    uses_strong = False
    options_type = VATOptions
    options: VATOptions

    def __init__(self, config: TrainConfig) -> None:
        super().__init__(config)
        self.generator = torch.Generator().manual_seed(config.seed + 7919)

    def train_step(self, model: Network, batch: Batch) -> dict[str, torch.Tensor]:
        assert batch.unlabeled_weak is not None
        cfg = self.config
        loss_x, (logits_u,) = labeled_loss_and_view_logits(model, batch.labeled, batch.labels, batch.unlabeled_weak)
        with frozen_batchnorm_stats(model):
            start = torch.randn(batch.unlabeled_weak.shape, generator=self.generator).to(logits_u.device)
            r_adv = vat_perturbation(
                model, batch.unlabeled_weak, logits_u, self.options.xi, self.options.eps, self.options.iterations, start=start
            )
            loss_u = kl_from_logits(logits_u.detach(), model(batch.unlabeled_weak + r_adv).float())
        loss = loss_x + cfg.lambda_u * loss_u
        entropy = entropy_from_logits(logits_u)
        if self.options.entropy_weight > 0:
            loss = loss + self.options.entropy_weight * entropy
        return {"loss": loss, "loss_x": loss_x.detach(), "loss_u": loss_u.detach(), "entropy": entropy.detach()}

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
