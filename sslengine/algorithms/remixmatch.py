"""ReMixMatch: Berthelot et al., "ReMixMatch: Semi-Supervised Learning with Distribution Alignment and
Augmentation Anchoring", ICLR 2020."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..backbones import Network
from ..config import TrainConfig
from .base import Algorithm, AlgorithmOptions, Batch, rampup_problems
from .functional import distribution_alignment, linear_rampup, mixup, mixup_lambda, sharpen, soft_cross_entropy
from .registry import register_algorithm

logger = logging.getLogger(__name__)

UNLABELED_WEIGHT = 1.5  # λ_U of the paper (times config.lambda_u)
PRE_MIXUP_WEIGHT = 0.5  # λ_Û1: the unmixed strong view trained on the guess
ROTATIONS = 4  # quarter turns predicted by the rotation head


@dataclass(frozen=True)
class ReMixMatchOptions(AlgorithmOptions):
    """ReMixMatch's own options (the paper's defaults unless noted)."""

    sharpen_temperature: float = 0.5  # T of the label-guess sharpening
    mixup_alpha: float = 0.75  # MixUp's Beta(α, α); λ' = max(λ, 1 − λ)
    num_augmentations: int = 2  # K: strong views anchored to the weak view's guess (8 in the paper)
    # Linear ramp-up of the unlabeled loss weight over this many steps; short on purpose: the
    # product's rounds are short (the paper ramps over 16k steps)
    rampup_steps: int = 300
    da_len: int = 32  # distribution alignment: batches in the running mean of predictions
    rotation_weight: float = 0.5  # λ_r of the rotation-prediction loss (sec. 3.3); 0 = off

    legacy_names = {name: name for name in ("sharpen_temperature", "mixup_alpha", "num_augmentations", "rampup_steps", "da_len")}

    def problems(self) -> list[str]:
        checks = [
            (self.sharpen_temperature > 0.0, "sharpen_temperature must be > 0"),
            (self.mixup_alpha > 0.0, "mixup_alpha must be > 0"),
            (self.num_augmentations >= 1, "num_augmentations must be >= 1"),
            (self.da_len >= 1, "da_len must be >= 1"),
            (self.rotation_weight >= 0.0, "rotation_weight must be >= 0"),
        ]
        return [message for ok, message in checks if not ok] + rampup_problems(self.rampup_steps)


@register_algorithm("remixmatch")
class ReMixMatch(Algorithm):
    """ReMixMatch (Berthelot et al., ICLR 2020): distribution alignment and augmentation anchoring.

    The weak view's prediction is aligned, p̃ = Normalize(p · p(y) / p̄(y)) with p(y) the labeled
    class distribution (Laplace-smoothed, so a class without labels yet is not zeroed) and p̄(y) the
    mean prediction over the last ``da_len`` batches, then sharpened (``sharpen_temperature``).
    Augmentation anchoring: ``num_augmentations`` strong views (K = 2 here, 8 in the paper) are
    trained on that weak-view target, MixUp'ed (λ' = max(λ, 1 − λ)) with the labeled batch and the
    weak view; the first strong view also unmixed (the pre-MixUp loss). Losses are cross-entropies
    with weights 1, 1.5 and 0.5 (times ``lambda_u``, ramped up over ``rampup_steps``).

    Self-supervised rotation (the paper's sec. 3.3): the first strong view is rotated by 0, 90, 180
    or 270 degrees (one drawn per image by the algorithm's generator) and a linear rotation head on
    the backbone's embedding (:meth:`build_modules`, trained with the network) predicts which;
    cross-entropy with weight ``rotation_weight`` (λ_r = 0.5, not ramped, as the
    authors' code; 0 switches it off and skips the rotated forward). The head's weights are part of
    :meth:`state_dict`; a checkpoint saved before the head existed resumes with a fresh head (and, in
    :meth:`~sslengine.trainer.Trainer.from_state`, a fresh optimizer), with logged warnings.
    """

    options_type = ReMixMatchOptions
    options: ReMixMatchOptions

    def __init__(self, config: TrainConfig) -> None:
        super().__init__(config)
        k = config.num_classes
        self.extra_unlabeled_views = ("strong",) * (self.options.num_augmentations - 1)
        self.rng = np.random.default_rng(config.seed + 7919)
        self.class_means = torch.full((self.options.da_len, k), 1.0 / k)
        self.class_means_next = 0
        self.labeled_marginal = torch.full((k,), 1.0 / k)
        self.rotation_head: nn.Linear | None = None

    def build_modules(self, model: Network) -> nn.Module | None:
        if self.options.rotation_weight == 0.0:
            return None
        self.rotation_head = nn.Linear(model.feature_dim, ROTATIONS)
        return self.rotation_head

    def _rotated(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Each image turned by a random number of quarter turns, and that number (the target)."""
        turns = torch.from_numpy(self.rng.integers(0, ROTATIONS, images.shape[0])).to(images.device)
        rotated = torch.empty_like(images)
        for quarter in range(ROTATIONS):
            chosen = turns == quarter
            rotated[chosen] = torch.rot90(images[chosen], quarter, dims=(2, 3))
        return rotated.contiguous(memory_format=torch.channels_last), turns

    def to(self, device: torch.device) -> ReMixMatch:
        self.class_means = self.class_means.to(device)
        self.labeled_marginal = self.labeled_marginal.to(device)
        return self

    def prepare(self, model: Network, labeled_images: torch.Tensor, labels: torch.Tensor, labeled_ids: torch.Tensor) -> None:
        counts = torch.bincount(labels, minlength=self.config.num_classes).float() + 1.0
        self.labeled_marginal = (counts / counts.sum()).to(self.class_means.device)

    def _align(self, probs: torch.Tensor) -> torch.Tensor:
        aligned = distribution_alignment(probs, self.class_means.mean(dim=0), self.labeled_marginal)
        self.class_means[self.class_means_next] = probs.mean(dim=0)
        self.class_means_next = (self.class_means_next + 1) % self.class_means.shape[0]
        return aligned

    def train_step(self, model: Network, batch: Batch) -> dict[str, torch.Tensor]:
        assert batch.unlabeled_weak is not None and batch.unlabeled_strong is not None
        cfg = self.config
        strong_views = [batch.unlabeled_strong, *batch.unlabeled_extra]
        with torch.no_grad():
            probs_w = model(batch.unlabeled_weak).float().softmax(dim=1)
            guess = sharpen(self._align(probs_w), self.options.sharpen_temperature)
        num_labeled = batch.labeled.shape[0]
        inputs = torch.cat([batch.labeled, *strong_views, batch.unlabeled_weak])
        targets = torch.cat([F.one_hot(batch.labels, cfg.num_classes).float(), guess.repeat(len(strong_views) + 1, 1)])
        lam = mixup_lambda(self.options.mixup_alpha, self.rng.beta)
        permutation = torch.from_numpy(self.rng.permutation(inputs.shape[0])).to(inputs.device)
        mixed_inputs, mixed_targets = mixup(inputs, targets, lam, permutation)
        parts = [mixed_inputs, batch.unlabeled_strong]
        if self.rotation_head is not None:
            rotated, turns = self._rotated(batch.unlabeled_strong)
            parts.append(rotated)
        features = model.features(torch.cat(parts))
        num_classified = inputs.shape[0] + batch.unlabeled_strong.shape[0]
        logits = model.head(features[:num_classified]).float()
        logits_mixed, logits_anchor = logits[: inputs.shape[0]], logits[inputs.shape[0] :]
        loss_x = soft_cross_entropy(logits_mixed[:num_labeled], mixed_targets[:num_labeled])
        loss_u = soft_cross_entropy(logits_mixed[num_labeled:], mixed_targets[num_labeled:])
        loss_pre = soft_cross_entropy(logits_anchor, guess)
        ramp = cfg.lambda_u * linear_rampup(batch.step, self.options.rampup_steps)
        loss = loss_x + ramp * (UNLABELED_WEIGHT * loss_u + PRE_MIXUP_WEIGHT * loss_pre)
        scalars = {
            "loss_x": loss_x.detach(),
            "loss_u": loss_u.detach(),
            "loss_pre_mixup": loss_pre.detach(),
            "mixup_lambda": torch.tensor(lam, device=logits.device),
        }
        if self.rotation_head is not None:
            loss_rot = F.cross_entropy(self.rotation_head(features[num_classified:]).float(), turns)
            loss = loss + self.options.rotation_weight * loss_rot
            scalars["loss_rotation"] = loss_rot.detach()
        return {"loss": loss, **scalars}

    def state_dict(self) -> dict[str, Any]:
        state = {"rng": self.rng.bit_generator.state, "class_means": self.class_means, "class_means_next": self.class_means_next}
        if self.rotation_head is not None:
            state.update({f"rotation_head.{name}": tensor for name, tensor in self.rotation_head.state_dict().items()})
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]
        prefix = "rotation_head."
        head_state = {name[len(prefix) :]: tensor for name, tensor in state.items() if name.startswith(prefix)}
        if self.rotation_head is not None and head_state:
            self.rotation_head.load_state_dict(head_state)
        elif self.rotation_head is not None:  # saved before ReMixMatch had a rotation head
            logger.warning("ReMixMatch: the checkpoint has no rotation head; the head starts fresh")
        self.class_means = state["class_means"].to(self.class_means.device)
        self.class_means_next = int(state["class_means_next"])
