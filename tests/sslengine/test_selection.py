"""Active-learning strategies pick what they promise."""

from __future__ import annotations

import pytest
import torch

from sslengine import Predictions, select_indices, strategy_in_force
from sslengine.selection import POOL_FIRST_SWITCH_LABELS_PER_CLASS

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


def _gaussian_mixture(sizes: tuple[int, ...] = (60, 40, 20), seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Well separated Gaussian blobs in 8-D (unit spread around centres 10 apart) and their blob ids."""
    generator = torch.Generator().manual_seed(seed)
    centres = 10.0 * torch.eye(8)[: len(sizes)]
    points = torch.cat([centres[i] + torch.randn(n, 8, generator=generator) for i, n in enumerate(sizes)])
    return points, torch.cat([torch.full((n,), i) for i, n in enumerate(sizes)])


def _naive_typicality(points: torch.Tensor, row: int, members: torch.Tensor, neighbours: int = 20) -> float:
    """1 / mean distance from ``row`` to its ``neighbours`` nearest other members, one pair at a time."""
    unit = torch.nn.functional.normalize(points, dim=1)
    distances = sorted(float((unit[row] - unit[other]).norm()) for other in members.tolist() if other != row)
    return 1.0 / (sum(distances[:neighbours]) / neighbours)


def test_typicality_picks_one_point_per_cluster_at_its_densest_point():
    points, blob = _gaussian_mixture()
    predictions = Predictions.from_probs(torch.full((120, 4), 0.25), points)
    picked = select_indices("typicality", predictions, torch.arange(120), 3)
    assert sorted(blob[picked].tolist()) == [0, 1, 2]
    assert blob[picked].tolist() == [0, 1, 2]  # largest uncovered cluster first
    for row in picked.tolist():
        members = torch.nonzero(blob == blob[row]).flatten()
        scores = {int(m): _naive_typicality(points, int(m), members) for m in members}
        assert row == max(scores, key=scores.get)


def test_typicality_goes_to_the_clusters_no_label_covers_yet():
    points, blob = _gaussian_mixture()
    predictions = Predictions.from_probs(torch.full((120, 4), 0.25), points)
    # one image of the largest blob and one of the second are labeled: the smallest is uncovered
    candidates = torch.tensor([row for row in range(120) if row not in (0, 60)])
    picked = select_indices("typicality", predictions, candidates, 1)
    assert blob[picked].tolist() == [2]


def test_every_prefix_of_a_long_typicality_ranking_covers_the_clusters_like_a_batch_of_its_size():
    # The label queue ranks 40 at once; the annotator may stop after 8: those 8 cover all 8 blobs.
    points, blob = _gaussian_mixture(sizes=(80, 60, 40, 30, 20, 20, 15, 15))
    predictions = Predictions.from_probs(torch.full((len(blob), 8), 1 / 8), points)
    ranking = select_indices("typicality", predictions, torch.arange(len(blob)), 40)
    assert ranking.unique().numel() == 40
    assert sorted(blob[ranking[:8]].tolist()) == list(range(8))


def test_cluster_margin_takes_the_least_certain_image_of_each_cluster():
    points, blob = _gaussian_mixture(sizes=(30, 30))
    generator = torch.Generator().manual_seed(1)
    probs = torch.rand(60, 3, generator=generator).softmax(dim=1)
    predictions = Predictions.from_probs(probs, points)
    picked = select_indices("cluster-margin", predictions, torch.arange(60), 2)
    assert sorted(blob[picked].tolist()) == [0, 1]
    for row in picked.tolist():
        members = torch.nonzero(blob == blob[row]).flatten()
        assert row == int(members[predictions.margin[members].argmin()])


def test_pool_first_uses_typicality_until_the_switch_count_of_labels_per_class_then_cluster_margin():
    switch = POOL_FIRST_SWITCH_LABELS_PER_CLASS * 3
    points, _ = _gaussian_mixture(sizes=(40, 40, 40))
    predictions = Predictions.from_probs(torch.full((120, 3), 1 / 3), points)
    assert strategy_in_force("pool-first", predictions, torch.arange(120)) == "typicality"
    assert strategy_in_force("pool-first", predictions, torch.arange(switch - 1, 120)) == "typicality"
    assert strategy_in_force("pool-first", predictions, torch.arange(switch, 120)) == "cluster-margin"
    assert strategy_in_force("margin", predictions, torch.arange(120)) == "margin"
    early = select_indices("pool-first", predictions, torch.arange(120), 3)
    assert torch.equal(early, select_indices("typicality", predictions, torch.arange(120), 3))
    late = select_indices("pool-first", predictions, torch.arange(switch, 120), 3)
    assert torch.equal(late, select_indices("cluster-margin", predictions, torch.arange(switch, 120), 3))


def test_strategy_in_force_rejects_an_unknown_strategy():
    with pytest.raises(KeyError, match="unknown strategy"):
        strategy_in_force("nope", _predictions(), torch.arange(4))
