"""Label propagation over a kNN graph of embeddings (Iscen, Tolias, Avrithis & Chum, CVPR 2019).

Class scores for every image diffuse from the labeled ones, so predictions exist seconds after the
first labels, before any training round ends.
"""

from __future__ import annotations

import math
import warnings

import torch
import torch.nn.functional as F

from .inference import Predictions, nearest_neighbours

EXACT_SEARCH_LIMIT = 5_000  # up to this many rows the kNN search is exact; above, an inverted file


def inverted_file_neighbours(
    embeddings: torch.Tensor, k: int, lists: int | None = None, probes: int = 8, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Approximate :func:`~sslengine.inference.nearest_neighbours` (cosine similarity, itself excluded)
    with an inverted file (the IVF index of Jégou et al., TPAMI 2011, without quantisation): k-means
    into ``lists`` ≈ √N cells, and every row searches only the ``probes`` cells whose centres are
    nearest to its own cell's centre (more when they hold fewer than k + 1 rows). About
    ``probes / lists`` of the exact search's work."""
    from .selection import kmeans  # selection imports inference, like this module

    points = F.normalize(embeddings.float(), dim=1)
    n = points.shape[0]
    k = min(k, n - 1)
    lists = max(1, min(lists or round(math.sqrt(n)), n))
    generator = torch.Generator().manual_seed(seed)
    sample = torch.randperm(n, generator=generator)[: min(n, 40 * lists)]
    sample_assign = kmeans(points[sample], lists, generator, iterations=10)
    centres = torch.zeros(lists, points.shape[1]).index_add_(0, sample_assign, points[sample])
    centres = F.normalize(centres, dim=1)
    assign = torch.cat([(points[start : start + 8192] @ centres.T).argmax(dim=1) for start in range(0, n, 8192)])
    order = torch.argsort(assign, stable=True)
    counts = torch.bincount(assign, minlength=lists)
    offsets = torch.cat([torch.zeros(1, dtype=torch.int64), counts.cumsum(0)])
    cell_order = torch.argsort(centres @ centres.T, dim=1, descending=True)
    similarities = torch.empty(n, k)
    indices = torch.empty(n, k, dtype=torch.int64)
    for cell in range(lists):
        queries = order[offsets[cell] : offsets[cell + 1]]
        if queries.numel() == 0:
            continue
        reach = counts[cell_order[cell]].cumsum(0)
        wanted = max(probes, int(torch.searchsorted(reach, torch.tensor(k + 1))) + 1)
        candidates = torch.cat([order[offsets[c] : offsets[c + 1]] for c in cell_order[cell, :wanted].tolist()])
        scores = points[queries] @ points[candidates].T
        scores[queries[:, None] == candidates[None, :]] = float("-inf")
        top = scores.topk(k, dim=1)
        similarities[queries] = top.values
        indices[queries] = candidates[top.indices]
    return similarities, indices


def knn_search(embeddings: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosine similarities and indices [N, k] of every row's k nearest other rows: exact up to
    ``EXACT_SEARCH_LIMIT`` rows, :func:`inverted_file_neighbours` above."""
    if embeddings.shape[0] <= EXACT_SEARCH_LIMIT:
        return nearest_neighbours(embeddings, k)
    return inverted_file_neighbours(embeddings, k)


def _knn_affinity(embeddings: torch.Tensor, k: int, gamma: float) -> torch.Tensor:
    """Symmetrically normalised affinity D^-1/2 (A + Aᵀ) D^-1/2 of the kNN graph, as a sparse CSR
    matrix, with A_ij = max(cos(z_i, z_j), 0)^γ for the k nearest neighbours j of i (:func:`knn_search`)."""
    n = embeddings.shape[0]
    similarities, neighbours = knn_search(embeddings, k)
    values = similarities.clamp_min(0.0).pow(gamma).flatten()
    rows = torch.arange(n).repeat_interleave(neighbours.shape[1])
    cols = neighbours.flatten()
    rows, cols, values = torch.cat([rows, cols]), torch.cat([cols, rows]), torch.cat([values, values])
    degree = torch.zeros(n).index_add_(0, rows, values)
    scale = degree.clamp_min(1e-12).rsqrt()
    values = values * scale[rows] * scale[cols]
    order = torch.argsort(rows * n + cols)  # a pair that are each other's neighbours appears twice: summed
    crow = torch.cat([torch.zeros(1, dtype=torch.int64), torch.bincount(rows, minlength=n).cumsum(0)])
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        warnings.filterwarnings("ignore", message="Sparse invariant checks are implicitly disabled")
        return torch.sparse_csr_tensor(crow, cols[order], values[order], (n, n))


def _conjugate_gradient(
    affinity: torch.Tensor, alpha: float, targets: torch.Tensor, iterations: int, tolerance: float = 1e-6
) -> torch.Tensor:
    """Solve (I − αW) Z = Y for every column of Y at once by conjugate gradients (I − αW is
    symmetric positive definite for α < 1 since W's eigenvalues lie in [−1, 1])."""

    def apply(x: torch.Tensor) -> torch.Tensor:
        return x - alpha * (affinity @ x)

    solution = torch.zeros_like(targets)
    residual = targets.clone()
    direction = residual.clone()
    norm = (residual * residual).sum(dim=0)
    start_norm = norm.clamp_min(1e-30)
    for _ in range(iterations):
        if bool((norm <= tolerance**2 * start_norm).all()):
            break
        product = apply(direction)
        step = norm / (direction * product).sum(dim=0).clamp_min(1e-30)
        solution += step * direction
        residual -= step * product
        new_norm = (residual * residual).sum(dim=0)
        direction = residual + (new_norm / norm.clamp_min(1e-30)) * direction
        norm = new_norm
    return solution


@torch.no_grad()
def propagate(
    embeddings: torch.Tensor,
    labeled_rows: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    *,
    k: int = 50,
    alpha: float = 0.99,
    gamma: float = 3.0,
    iterations: int = 20,
) -> Predictions:
    """Class probabilities for every row of ``embeddings`` diffused from ``labels`` at ``labeled_rows``.

    Iscen et al. (CVPR 2019): a kNN graph (``k`` neighbours, cosine similarity clipped at 0 and
    raised to ``gamma``), made symmetric and normalised to W = D^-1/2 (A + Aᵀ) D^-1/2; then the
    system (I − αW) Z = Y is solved by ``iterations`` steps of conjugate gradient, with Y's column
    of class c equal to 1/|L_c| on the labeled images of class c (class balancing). Departures: the
    scores Z are clipped at 0 and normalised per row into probabilities (the paper only takes the
    argmax and an entropy-based certainty, which ``Predictions.entropy`` gives); rows the graph does not
    reach get uniform probabilities; labeled rows are one-hot on their own label. The kNN search is
    blockwise with bounded memory: exact up to 5,000 rows, an inverted file above
    (:func:`inverted_file_neighbours`).
    The returned ``embeddings`` are the ones given.
    """
    embeddings = embeddings.float().cpu()
    n = embeddings.shape[0]
    labeled_rows = torch.as_tensor(labeled_rows, dtype=torch.int64).flatten().cpu()
    labels = torch.as_tensor(labels, dtype=torch.int64).flatten().cpu()
    if labeled_rows.shape != labels.shape:
        raise ValueError(f"labeled_rows and labels differ in length: {labeled_rows.numel()} vs {labels.numel()}")
    if labeled_rows.numel() and (int(labeled_rows.min()) < 0 or int(labeled_rows.max()) >= n):
        raise ValueError(f"labeled_rows must lie in [0, {n})")
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes})")
    if not 0.0 < alpha < 1.0:
        raise ValueError("alpha must be in (0, 1)")
    uniform = torch.full((n, num_classes), 1.0 / num_classes)
    if labeled_rows.numel() == 0 or n < 2:
        probs = uniform
    else:
        targets = torch.zeros(n, num_classes)
        counts = torch.bincount(labels, minlength=num_classes).float()
        targets[labeled_rows, labels] = 1.0 / counts[labels]
        scores = _conjugate_gradient(_knn_affinity(embeddings, k, gamma), alpha, targets, iterations).clamp_min(0.0)
        totals = scores.sum(dim=1, keepdim=True)
        probs = torch.where(totals > 0, scores / totals.clamp_min(1e-30), uniform)
    probs[labeled_rows] = torch.nn.functional.one_hot(labels, num_classes).float()
    return Predictions.from_probs(probs, embeddings)
