"""Active-learning strategies, registered by name: which unlabeled images to label next."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from .inference import Predictions
from .propagation import knn_search
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


def _labeled_mask(predictions: Predictions, candidates: torch.Tensor) -> torch.Tensor:
    """True on the rows that are not candidates: the labeled images."""
    labeled = torch.ones(len(predictions), dtype=torch.bool)
    labeled[candidates] = False
    return labeled


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
    labeled = embeddings[_labeled_mask(predictions, candidates)]
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


def kmeans(points: torch.Tensor, clusters: int, generator: torch.Generator, iterations: int = 20) -> torch.Tensor:
    """Cluster index [N] of every row by Lloyd's k-means with k-means++ seeding (Arthur & Vassilvitskii,
    2007), seeded by ``generator``; an emptied cluster keeps its old centre."""
    n = points.shape[0]
    clusters = max(1, min(int(clusters), n))
    first = int(torch.randint(0, n, (1,), generator=generator))
    centres = [points[first]]
    nearest = (points - points[first]).pow(2).sum(dim=1)
    for _ in range(1, clusters):
        weights = nearest.clamp_min(0.0)
        pick = int(torch.multinomial(weights, 1, generator=generator)) if float(weights.sum()) > 0 else int(nearest.argmax())
        centres.append(points[pick])
        nearest = torch.minimum(nearest, (points - points[pick]).pow(2).sum(dim=1))
    centre = torch.stack(centres)
    assign = torch.cdist(points, centre).argmin(dim=1)
    for _ in range(iterations):
        sums = torch.zeros_like(centre).index_add_(0, assign, points)
        counts = torch.bincount(assign, minlength=clusters).unsqueeze(1)
        centre = torch.where(counts > 0, sums / counts.clamp_min(1), centre)
        updated = torch.cdist(points, centre).argmin(dim=1)
        if torch.equal(updated, assign):
            break
        assign = updated
    return assign


TYPICALITY_NEIGHBOURS = 20  # K of TypiClust's typicality
TYPICALITY_MAX_CLUSTERS = 500  # TypiClust's cap on the number of clusters


def typicality_scores(points: torch.Tensor, neighbours: int = TYPICALITY_NEIGHBOURS) -> torch.Tensor:
    """TypiClust's typicality of every row of L2-normalised ``points``: 1 / mean Euclidean distance
    to its ``neighbours`` nearest other rows (a single row gets 1); bounded memory, approximate
    neighbours in clusters above 5,000 rows (:func:`sslengine.propagation.knn_search`)."""
    if points.shape[0] < 2:
        return torch.ones(points.shape[0])
    similarities, _ = knn_search(points, neighbours)
    distances = (2.0 - 2.0 * similarities).clamp_min(0.0).sqrt()
    return 1.0 / distances.mean(dim=1).clamp_min(1e-12)


# A ranking longer than this is picked in stages of doubling size (see :func:`typicality`).
TYPICALITY_FIRST_STAGE = 8


@register_strategy("typicality")
def typicality(predictions: Predictions, candidates: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """TypiClust (Hacohen, Dekel & Weinshall, ICML 2022), for the cold start.

    k-means of the L2-normalised embeddings of every row into (labeled + k) clusters (at most 500);
    repeatedly take the largest cluster with the fewest labeled or picked rows and pick its most
    typical candidate (:func:`typicality_scores`, computed over the whole cluster).

    Departures from the paper: clusters are not dropped for being small (below 5 rows), and a cluster
    without candidates is skipped. The paper picks one batch of known size; the app ranks the head of a
    label queue at once, and the annotator labels an unknown prefix of it. So a ranking longer than
    ``TYPICALITY_FIRST_STAGE`` is picked in stages of doubling size (8, 16, 32, … up to k): each stage
    clusters into (labeled + picked so far + the stage's picks) groups and counts the earlier picks as
    covering their clusters, so every prefix of the ranking is close to TypiClust's batch of that size
    (one k-means into k groups would spend the first picks on the largest of k small clusters).
    """
    points = F.normalize(predictions.embeddings.float(), dim=1)
    covered = _labeled_mask(predictions, candidates)
    available = torch.zeros(len(predictions), dtype=torch.bool)
    available[candidates] = True
    picks: list[int] = []
    target = min(k, TYPICALITY_FIRST_STAGE)
    while len(picks) < k:
        stage = _typicality_stage(points, covered, available, target - len(picks), generator)
        if not stage:
            break
        picks += stage
        covered[stage] = True
        available[stage] = False
        target = min(k, 2 * target)
    return torch.tensor(picks, dtype=torch.int64)


def _typicality_stage(
    points: torch.Tensor, covered: torch.Tensor, available: torch.Tensor, count: int, generator: torch.Generator
) -> list[int]:
    """One TypiClust batch of ``count`` available rows: k-means into (covered + count) clusters, then the
    most typical available row of the largest cluster with the fewest covered rows, ``count`` times."""
    clusters = min(int(covered.sum()) + count, TYPICALITY_MAX_CLUSTERS, points.shape[0])
    assign = kmeans(points, clusters, generator)
    sizes = torch.bincount(assign, minlength=clusters)
    taken = torch.bincount(assign[covered], minlength=clusters)
    available = available.clone()
    scores_of: dict[int, torch.Tensor] = {}
    picks: list[int] = []
    while len(picks) < count and bool(available.any()):
        open_clusters = torch.bincount(assign[available], minlength=clusters) > 0
        # fewest covered first, then largest, then lowest index
        order = torch.argsort(torch.where(open_clusters, taken * (points.shape[0] + 1) - sizes, torch.iinfo(torch.int64).max), stable=True)
        cluster = int(order[0])
        members = torch.nonzero(assign == cluster).flatten()
        if cluster not in scores_of:
            scores_of[cluster] = typicality_scores(points[members])
        scores = torch.where(available[members], scores_of[cluster], -1.0)
        pick = int(members[scores.argmax()])
        picks.append(pick)
        available[pick] = False
        taken[cluster] += 1
    return picks


@register_strategy("cluster-margin")
def cluster_margin(predictions: Predictions, candidates: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """Uncertainty with diversity: k-means of the candidates' L2-normalised embeddings into k
    clusters, the smallest-margin candidate of each, smallest margin first (after the clustered
    margin sampling of Citovsky et al., NeurIPS 2021, without its hierarchical round-robin)."""
    points = F.normalize(predictions.embeddings[candidates].float(), dim=1)
    assign = kmeans(points, k, generator)
    margins = predictions.margin[candidates]
    picks = []
    for cluster in torch.unique(assign).tolist():
        members = torch.nonzero(assign == cluster).flatten()
        picks.append(int(members[margins[members].argmin()]))
    chosen = torch.tensor(picks, dtype=torch.int64)
    chosen = chosen[torch.sort(margins[chosen], stable=True).indices]
    if chosen.numel() < k:  # k-means left clusters empty: fill with the next smallest margins
        rest = torch.ones(candidates.numel(), dtype=torch.bool)
        rest[chosen] = False
        extra = torch.nonzero(rest).flatten()
        extra = extra[torch.sort(margins[extra], stable=True).indices][: k - chosen.numel()]
        chosen = torch.cat([chosen, extra])
    return candidates[chosen]


# Pool-first switches from typicality to cluster-margin once there are this many labels per class.
# Measured (benchmarks/engine/switch_point.py, RESULTS.md "Cold start"): with label propagation over
# a SimCLR embedding of 20,000 Fashion-MNIST images as the model, typicality led cluster-margin and
# random at every budget up to 20 per class, the largest measured; so the switch is there.
POOL_FIRST_SWITCH_LABELS_PER_CLASS = 20


def _pool_first_phase(predictions: Predictions, candidates: torch.Tensor) -> str:
    labeled = len(predictions) - torch.as_tensor(candidates).unique().numel()
    num_classes = int(predictions.probs.shape[1])
    return "typicality" if labeled < POOL_FIRST_SWITCH_LABELS_PER_CLASS * num_classes else "cluster-margin"


@register_strategy("pool-first")
def pool_first(predictions: Predictions, candidates: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """The cold-start hybrid: ``typicality`` while fewer than
    ``POOL_FIRST_SWITCH_LABELS_PER_CLASS`` × classes images are labeled (uncertainty sampling loses
    to random at such budgets, Hacohen et al. 2022), ``cluster-margin`` from then on. The rule counts
    labels only, so the queue does not flip back and forth with the model's confidence."""
    return STRATEGIES.get(_pool_first_phase(predictions, candidates))(predictions, candidates, k, generator)


HYBRID_PHASES: dict[str, Callable[[Predictions, torch.Tensor], str]] = {"pool-first": _pool_first_phase}


def strategy_in_force(name: str, predictions: Predictions, candidates: torch.Tensor) -> str:
    """The strategy that ``name`` applies right now (a hybrid names its current phase), for the UI."""
    STRATEGIES.get(name)  # unknown names fail here, with the registered ones listed
    phase = HYBRID_PHASES.get(name)
    candidates = torch.as_tensor(candidates, dtype=torch.int64).flatten()
    return name if phase is None else phase(predictions, candidates)
