"""SimMatch: Zheng et al., "SimMatch: Semi-supervised Learning with Similarity Matching", CVPR 2022."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from ..augment import to_float
from ..backbones import Network
from ..config import TrainConfig
from .base import Algorithm, AlgorithmOptions, Batch
from .fixmatch import masked_pseudo_label_loss
from .functional import align_rows, distribution_alignment, train_mode_without_stat_updates
from .registry import register_algorithm

EMBED_CHUNK = 1024


@dataclass(frozen=True)
class SimMatchOptions(AlgorithmOptions):
    """SimMatch's own options (the paper's defaults)."""

    temperature: float = 0.1  # T of the instance similarity softmax
    smoothing_alpha: float = 0.9  # α: weight of the class prediction in label propagation
    lambda_in: float = 1.0  # weight of the instance-consistency loss
    proj_dim: int = 128  # size of the low-dimensional embedding kept in the labeled memory bank
    bank_momentum: float = 0.7  # memory bank entry = normalise(m * old + (1 - m) * new)
    da_len: int = 32  # distribution alignment: batches in the running mean of predictions

    legacy_names = {name: name for name in ("temperature", "smoothing_alpha", "lambda_in", "proj_dim", "bank_momentum", "da_len")}

    def problems(self) -> list[str]:
        checks = [
            (self.temperature > 0.0, "temperature must be > 0"),
            (0.0 <= self.smoothing_alpha <= 1.0, "smoothing_alpha must be in [0, 1]"),
            (self.lambda_in >= 0.0, "lambda_in must be >= 0"),
            (self.proj_dim >= 2, "proj_dim must be >= 2"),
            (0.0 <= self.bank_momentum < 1.0, "bank_momentum must be in [0, 1)"),
            (self.da_len >= 1, "da_len must be >= 1"),
        ]
        return [message for ok, message in checks if not ok]


def unfold_and_aggregate(
    class_probs: torch.Tensor, similarity: torch.Tensor, bank_labels: torch.Tensor, alpha: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """SimMatch's label propagation between class and instance space.

    ``class_probs`` p^w [B, K]; ``similarity`` q^w [B, L] (softmax over the memory bank);
    ``bank_labels`` [L] the class of each bank entry. Returns

    * unfolding: q̂_j ∝ q^w_j · p^w[class_j], normalised over the bank (the instance pseudo-label);
    * aggregation: q^agg_k = Σ_{j: class_j = k} q̂_j, and p̂ = α p^w + (1 − α) q^agg.

    The seed talk's 4-class example: p^w = [0.8, 0.01, 0.1, 0.09], bank classes [1,2,3,4,1,1,2,4],
    q^w = [0.2, 0.05, 0.01, 0.04, 0.3, 0.25, 0.05, 0.01] give q̂ ≈ [0.26, 0, 0, 0.01, 0.40, 0.33, 0, 0],
    q^agg ≈ [0.99, 0, 0, 0.01] and, with α = 0.9, p̂ ≈ [0.82, 0.01, 0.09, 0.08].
    """
    index = bank_labels.view(1, -1).expand(similarity.shape[0], -1)
    unfolded = similarity * class_probs.gather(1, index)
    unfolded = unfolded / unfolded.sum(dim=1, keepdim=True).clamp_min(1e-12)
    aggregated = torch.zeros_like(class_probs).scatter_add_(1, index, unfolded)
    return unfolded, alpha * class_probs + (1.0 - alpha) * aggregated


@register_algorithm("simmatch")
class SimMatch(Algorithm):
    """SimMatch (Zheng et al., CVPR 2022): FixMatch plus similarity matching with a labeled bank.

    Per step: distribution alignment of the weak prediction (ReMixMatch's rule, towards a uniform
    prior, over a running mean of the last ``da_len`` batches); instance similarity q of weak/strong
    unlabeled embeddings to a memory bank of L2-normalised ``proj_dim``-d embeddings of the labeled
    images (temperature ``temperature``); label unfolding and aggregation
    (:func:`unfold_and_aggregate`, ``smoothing_alpha`` = α = 0.9); the soft pseudo-label p̂ masked by
    max p̂ ≥ τ trains the strong view, and the instance-consistency loss H(q̂, q^s) (weight
    ``lambda_in``) trains the strong embedding. The bank is updated with the labeled batch's
    embeddings (momentum ``bank_momentum``).

    As in the paper (and the authors' code), the teacher is the EMA of the student's weights (the
    trainer's ``ema_model``): it alone embeds the labeled batch for the bank and predicts and embeds
    the weak view (targets p^w, q^w); the student sees the labeled batch and the strong view only.
    Like Mean Teacher here, the teacher normalises with its batch's own statistics (train mode,
    running statistics untouched) rather than the EMA's running statistics.

    The bank has one row per image of the current labeled set, keyed by image id (``bank_ids``).
    The product's labeled set changes between rounds, so :meth:`prepare` lays the bank out in the
    fit's labeled order: an image still labeled with the same class keeps its entry, a newly labeled
    (or relabeled) image gets the teacher's current embedding (eval mode), an image no longer
    labeled drops out.
    """

    options_type = SimMatchOptions
    options: SimMatchOptions

    def __init__(self, config: TrainConfig) -> None:
        super().__init__(config)
        k = config.num_classes
        self.bank = torch.empty(0, self.options.proj_dim)
        self.bank_labels = torch.empty(0, dtype=torch.int64)
        self.bank_ids = torch.empty(0, dtype=torch.int64)  # row i of the bank is image bank_ids[i]
        self.class_means = torch.full((self.options.da_len, k), 1.0 / k)  # distribution-alignment queue
        self.class_means_next = 0

    def projection_dim(self) -> int:
        return self.options.proj_dim

    def to(self, device: torch.device) -> SimMatch:
        self.bank = self.bank.to(device)
        self.bank_labels = self.bank_labels.to(device)
        self.bank_ids = self.bank_ids.to(device)
        self.class_means = self.class_means.to(device)
        return self

    @torch.no_grad()
    def prepare(self, model: Network, labeled_images: torch.Tensor, labels: torch.Tensor, labeled_ids: torch.Tensor) -> None:
        bank = align_rows(self.bank, self.bank_ids, labeled_ids, 0.0)
        stale = align_rows(self.bank_labels, self.bank_ids, labeled_ids, -1) != labels  # new or relabeled
        if stale.any():
            bank[stale] = self._embed(self.ema_model if self.ema_model is not None else model, labeled_images[stale])
        self.bank, self.bank_labels, self.bank_ids = bank, labels.clone(), labeled_ids.clone()

    @staticmethod
    def _embed(teacher: Network, images: torch.Tensor) -> torch.Tensor:
        was_training = teacher.training
        teacher.eval()
        chunks = [
            teacher.project(teacher.features(to_float(images[start : start + EMBED_CHUNK]))).float()
            for start in range(0, images.shape[0], EMBED_CHUNK)
        ]
        teacher.train(was_training)
        return torch.cat(chunks)

    def _align(self, probs: torch.Tensor) -> torch.Tensor:
        """Distribution alignment: p ∝ p · uniform / running mean of p (then record this batch)."""
        running_mean = self.class_means.mean(dim=0)
        self.class_means[self.class_means_next] = probs.mean(dim=0)
        self.class_means_next = (self.class_means_next + 1) % self.class_means.shape[0]
        return distribution_alignment(probs, running_mean)

    def train_step(self, model: Network, batch: Batch) -> dict[str, torch.Tensor]:
        assert batch.unlabeled_weak is not None and batch.unlabeled_strong is not None
        cfg = self.config
        num_labeled = batch.labeled.shape[0]
        teacher = self.ema_model if self.ema_model is not None else model
        with torch.no_grad(), train_mode_without_stat_updates(teacher):
            teacher_features = teacher.features(torch.cat([batch.labeled, batch.unlabeled_weak]))
            teacher_logits_w = teacher.head(teacher_features[num_labeled:]).float()
            teacher_embeddings = teacher.project(teacher_features).float()
        features = model.features(torch.cat([batch.labeled, batch.unlabeled_strong]))
        logits = model.head(features)
        logits_x, logits_s = logits[:num_labeled], logits[num_labeled:]
        embed_s = model.project(features[num_labeled:]).float()
        loss_x = F.cross_entropy(logits_x, batch.labels)

        bank = self.bank.clone()
        with torch.no_grad():
            probs_w = self._align(teacher_logits_w.softmax(dim=1))
            similarity_w = (teacher_embeddings[num_labeled:] @ bank.T / self.options.temperature).softmax(dim=1)
            instance_target, pseudo = unfold_and_aggregate(probs_w, similarity_w, self.bank_labels, self.options.smoothing_alpha)
            mask = (pseudo.max(dim=1).values >= cfg.threshold).float()
        log_similarity_s = F.log_softmax(embed_s @ bank.T / self.options.temperature, dim=1)
        loss_in = -(instance_target * log_similarity_s).sum(dim=1).mean()
        loss_u = masked_pseudo_label_loss(logits_s, pseudo, mask)
        loss = loss_x + cfg.lambda_u * loss_u + self.options.lambda_in * loss_in
        self._update_bank(teacher_embeddings[:num_labeled], batch.labeled_index)
        return {
            "loss": loss,
            "loss_x": loss_x.detach(),
            "loss_u": loss_u.detach(),
            "loss_in": loss_in.detach(),
            "mask_ratio": mask.mean(),
        }

    @torch.no_grad()
    def _update_bank(self, embeddings: torch.Tensor, index: torch.Tensor) -> None:
        m = self.options.bank_momentum
        self.bank[index] = F.normalize(m * self.bank[index] + (1.0 - m) * embeddings, dim=1)

    def state_dict(self) -> dict[str, Any]:
        return {
            "bank": self.bank,
            "bank_labels": self.bank_labels,
            "bank_ids": self.bank_ids,
            "class_means": self.class_means,
            "class_means_next": self.class_means_next,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        device = self.bank.device
        self.bank = state["bank"].to(device)
        self.bank_labels = state["bank_labels"].to(device)
        self.bank_ids = state["bank_ids"].to(device)
        self.class_means = state["class_means"].to(device)
        self.class_means_next = int(state["class_means_next"])
