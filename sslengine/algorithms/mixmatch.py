"""MixMatch: Berthelot et al., "MixMatch: A Holistic Approach to Semi-Supervised Learning", NeurIPS 2019."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..backbones import Network
from ..config import TrainConfig
from .base import Algorithm, AlgorithmOptions, Batch, rampup_problems
from .functional import linear_rampup, mixup, mixup_lambda, sharpen, soft_cross_entropy, softmax_mse
from .registry import register_algorithm

UNLABELED_WEIGHT = 100.0  # λu of the paper's CIFAR-10 runs (times config.lambda_u)


@dataclass(frozen=True)
class MixMatchOptions(AlgorithmOptions):
    """MixMatch's own options (the paper's defaults unless noted)."""

    sharpen_temperature: float = 0.5  # T of the label-guess sharpening
    mixup_alpha: float = 0.75  # MixUp's Beta(α, α); λ' = max(λ, 1 − λ)
    num_augmentations: int = 2  # K: weak views averaged by the label guess
    # Steps of λu's linear ramp-up, in the paper's absolute length (16k steps = 1024k images at
    # batch 64); the 300 steps shared with the other consistency methods raised λu to 100 within one
    # short round and hurt (benchmarks/RESULTS.md, "Every algorithm")
    rampup_steps: int = 16_384

    legacy_names = {name: name for name in ("sharpen_temperature", "mixup_alpha", "num_augmentations", "rampup_steps")}

    def problems(self) -> list[str]:
        checks = [
            (self.sharpen_temperature > 0.0, "sharpen_temperature must be > 0"),
            (self.mixup_alpha > 0.0, "mixup_alpha must be > 0"),
            (self.num_augmentations >= 1, "num_augmentations must be >= 1"),
        ]
        return [message for ok, message in checks if not ok] + rampup_problems(self.rampup_steps)


@register_algorithm("mixmatch")
class MixMatch(Algorithm):
    """MixMatch (Berthelot et al., NeurIPS 2019).

    The label guess of an unlabeled image is the mean prediction over ``num_augmentations`` (K = 2)
    weak views, sharpened with ``sharpen_temperature`` (T = 0.5). Labeled images (one-hot targets) and
    every unlabeled view (its guess) are MixUp'ed with a shuffle of their union, λ ~ Beta(α, α) with
    ``mixup_alpha`` (α = 0.75) and λ' = max(λ, 1 − λ). Loss: cross-entropy on the mixed labeled part
    plus λu · L2 on the mixed unlabeled part (mean over classes, i.e. scaled by 1/K classes), with
    λu = 100 · ``lambda_u`` ramped up linearly over ``rampup_steps`` (16,384, the paper's
    16k steps: the ramp is absolute, so a short round trains with a small λu; ramped over the 300 steps
    the other consistency methods share instead, λu reached 100 within the first round and the unlabeled loss
    cost 11 points, see benchmarks/RESULTS.md "Every algorithm"). The mixed batch goes through
    the network in one forward, so BatchNorm sees labeled and unlabeled together (no interleaving
    needed). λ and the shuffle come from the algorithm's own seeded generator, kept in checkpoints.
    """

    uses_strong = False
    options_type = MixMatchOptions
    options: MixMatchOptions

    def __init__(self, config: TrainConfig) -> None:
        super().__init__(config)
        self.extra_unlabeled_views = ("weak",) * (self.options.num_augmentations - 1)
        self.rng = np.random.default_rng(config.seed + 7919)

    def train_step(self, model: Network, batch: Batch) -> dict[str, torch.Tensor]:
        assert batch.unlabeled_weak is not None
        cfg = self.config
        views = [batch.unlabeled_weak, *batch.unlabeled_extra]
        with torch.no_grad():
            guesses = model(torch.cat(views)).float().softmax(dim=1).view(len(views), -1, cfg.num_classes)
            guess = sharpen(guesses.mean(dim=0), self.options.sharpen_temperature)
        inputs = torch.cat([batch.labeled, *views])
        targets = torch.cat([F.one_hot(batch.labels, cfg.num_classes).float(), guess.repeat(len(views), 1)])
        lam = mixup_lambda(self.options.mixup_alpha, self.rng.beta)
        permutation = torch.from_numpy(self.rng.permutation(inputs.shape[0])).to(inputs.device)
        mixed_inputs, mixed_targets = mixup(inputs, targets, lam, permutation)
        logits = model(mixed_inputs).float()
        num_labeled = batch.labeled.shape[0]
        loss_x = soft_cross_entropy(logits[:num_labeled], mixed_targets[:num_labeled])
        loss_u = softmax_mse(logits[num_labeled:], mixed_targets[num_labeled:]).mean()
        weight = cfg.lambda_u * UNLABELED_WEIGHT * linear_rampup(batch.step, self.options.rampup_steps)
        return {
            "loss": loss_x + weight * loss_u,
            "loss_x": loss_x.detach(),
            "loss_u": loss_u.detach(),
            "mixup_lambda": torch.tensor(lam, device=logits.device),
        }

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]
