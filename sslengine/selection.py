"""Active-learning strategies, registered by name: which unlabeled images to label next."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from .inference import Predictions
from .registry import Registry

# A strategy ranks ``candidates`` (row indices into the predictions) and returns up to k of them,
# most informative first.
Strategy = Callable[[Predictions, torch.Tensor, int, torch.Generator], torch.Tensor]
STRATEGIES: Registry[Strategy] = Registry("strategy")
register_strategy = STRATEGIES.register


def list_strategies() -> list[str]:
    """Names accepted by :func:`select_indices`."""
    return STRATEGIES.names()


def select_indices(
    name: str, predictions: Predictions, candidates: torch.Tensor, k: int, seed: int = 0
) -> torch.Tensor:
    """Up to ``k`` of ``candidates`` (int64 row indices), most informative first, by strategy ``name``."""
    candidates = torch.as_tensor(candidates, dtype=torch.int64).flatten()
    k = min(int(k), candidates.numel())
    if k <= 0:
        return torch.empty(0, dtype=torch.int64)
    generator = torch.Generator().manual_seed(seed)
    return STRATEGIES.get(name)(predictions, candidates, k, generator)


def _lowest(scores: torch.Tensor, candidates: torch.Tensor, k: int) -> torch.Tensor:
    order = torch.sort(scores[candidates], stable=True).indices[:k]
    return candidates[order]


@register_strategy("least-confidence")
def least_confidence(predictions: Predictions, candidates: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """Lowest top-1 probability first (Lewis & Gale, 1994)."""
    return _lowest(predictions.confidence, candidates, k)


@register_strategy("margin")
def margin(predictions: Predictions, candidates: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """Smallest gap between the two most likely classes first (Scheffer et al., 2001)."""
    return _lowest(predictions.margin, candidates, k)


@register_strategy("entropy")
def entropy(predictions: Predictions, candidates: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """Highest predictive entropy first (Shannon entropy of the class probabilities)."""
    return _lowest(-predictions.entropy, candidates, k)


@register_strategy("random")
def random(predictions: Predictions, candidates: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """Uniformly random, seeded: the baseline every strategy must beat."""
    return candidates[torch.randperm(candidates.numel(), generator=generator)[:k]]


def _distance_to_nearest(points: torch.Tensor, centers: torch.Tensor, chunk: int = 2048) -> torch.Tensor:
    """Euclidean distance from every point to its nearest center, in chunks of centers (bounded memory)."""
    nearest = torch.full((points.shape[0],), float("inf"))
    for start in range(0, centers.shape[0], chunk):
        nearest = torch.minimum(nearest, torch.cdist(points, centers[start : start + chunk]).amin(dim=1))
    return nearest


@register_strategy("k-center")
def k_center(predictions: Predictions, candidates: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """Greedy k-center over L2-normalised embeddings (core-set, Sener & Savarese, ICLR 2018).

    Distances start from the rows that are not candidates (the labeled images); each pick is the
    candidate farthest from everything picked or labeled so far. With no labeled rows, the first
    pick is the least confident candidate.
    """
    embeddings = F.normalize(predictions.embeddings.float(), dim=1)
    pool = embeddings[candidates]
    is_candidate = torch.zeros(len(predictions), dtype=torch.bool)
    is_candidate[candidates] = True
    labeled = embeddings[~is_candidate]
    if labeled.shape[0]:
        nearest = _distance_to_nearest(pool, labeled)
        pick = int(nearest.argmax())
    else:
        nearest = torch.full((pool.shape[0],), float("inf"))
        pick = int(predictions.confidence[candidates].argmin())
    picks: list[int] = []
    for _ in range(k):
        picks.append(pick)
        nearest = torch.minimum(nearest, (pool - pool[pick]).norm(dim=1))
        nearest[pick] = -1.0
        pick = int(nearest.argmax())
    return candidates[torch.tensor(picks, dtype=torch.int64)]
