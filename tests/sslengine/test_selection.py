"""Active-learning strategies pick what they promise."""

from __future__ import annotations

import torch

from sslengine import Predictions, select_indices

PROBS = torch.tensor(
    [
        [0.97, 0.01, 0.01, 0.01],  # confident
        [0.40, 0.38, 0.12, 0.10],  # small margin
        [0.26, 0.25, 0.25, 0.24],  # near uniform: least confident, highest entropy
        [0.60, 0.10, 0.15, 0.15],
    ]
)


def _predictions(embeddings: torch.Tensor | None = None) -> Predictions:
    return Predictions.from_probs(PROBS, torch.eye(4) if embeddings is None else embeddings)


def test_uncertainty_strategies_put_the_most_uncertain_image_first():
    candidates = torch.arange(4)
    assert select_indices("least-confidence", _predictions(), candidates, 4).tolist() == [2, 1, 3, 0]
    assert select_indices("entropy", _predictions(), candidates, 4).tolist()[0] == 2
    assert select_indices("margin", _predictions(), candidates, 4).tolist()[:2] == [2, 1]


def test_strategies_only_pick_candidates():
    assert select_indices("least-confidence", _predictions(), torch.tensor([0, 3]), 1).tolist() == [3]


def test_k_center_picks_the_image_farthest_from_the_labeled_ones_first():
    embeddings = torch.tensor([[1.0, 0.0], [0.99, 0.1], [0.0, 1.0], [0.98, 0.2]])
    # row 0 is labeled (not a candidate); row 2 points elsewhere, rows 1 and 3 are near-duplicates of 0
    picked = select_indices("k-center", _predictions(embeddings), torch.tensor([1, 2, 3]), 2)
    assert picked.tolist()[0] == 2


def test_k_center_spreads_picks_across_clusters():
    generator = torch.Generator().manual_seed(0)
    centres = torch.tensor([[5.0, 0.0, 0.0], [0.0, 5.0, 0.0], [0.0, 0.0, 5.0]])
    embeddings = centres.repeat_interleave(10, dim=0) + 0.05 * torch.randn(30, 3, generator=generator)
    predictions = Predictions.from_probs(torch.full((30, 4), 0.25), embeddings)
    picked = select_indices("k-center", predictions, torch.arange(30), 3)
    assert sorted(int(i) // 10 for i in picked) == [0, 1, 2]
