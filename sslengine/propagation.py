"""Label propagation over a kNN graph of embeddings (Iscen, Tolias, Avrithis & Chum, CVPR 2019).

Class scores for every image diffuse from the labeled ones, so predictions exist seconds after the
first labels, before any training round ends.
"""

from __future__ import annotations

import torch

from .inference import Predictions, nearest_neighbours


def _knn_affinity(embeddings: torch.Tensor, k: int, gamma: float) -> torch.Tensor:
    """Symmetrically normalised affinity D^-1/2 (A + Aᵀ) D^-1/2 of the kNN graph, as a sparse CSR
    matrix, with A_ij = max(cos(z_i, z_j), 0)^γ for the k nearest neighbours j of i."""
    n = embeddings.shape[0]
    similarities, neighbours = nearest_neighbours(embeddings, k)
    values = similarities.clamp_min(0.0).pow(gamma).flatten()
    rows = torch.arange(n).repeat_interleave(neighbours.shape[1])
    cols = neighbours.flatten()
    indices = torch.stack([torch.cat([rows, cols]), torch.cat([cols, rows])])
    affinity = torch.sparse_coo_tensor(indices, torch.cat([values, values]), (n, n)).coalesce()
    degree = torch.zeros(n).index_add_(0, affinity.indices()[0], affinity.values())
    scale = degree.clamp_min(1e-12).rsqrt()
    i, j = affinity.indices()
    normalised = torch.sparse_coo_tensor(affinity.indices(), affinity.values() * scale[i] * scale[j], (n, n))
    return normalised.to_sparse_csr()


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
    exact and blockwise (:func:`sslengine.inference.nearest_neighbours`), so memory stays bounded.
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
