"""Label propagation (Iscen et al. 2019) diffuses a handful of labels over the kNN graph."""

from __future__ import annotations

import math

import pytest
import torch

from sslengine import propagate


def _two_moons(per_moon: int = 300, noise: float = 0.05, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two interleaved half circles (scikit-learn's make_moons), lifted to 3-D as (x, y, 3): cosine
    similarity of the lifted points orders neighbours like Euclidean distance in the plane."""
    generator = torch.Generator().manual_seed(seed)
    angle = torch.rand(per_moon, generator=generator) * math.pi
    upper = torch.stack([angle.cos(), angle.sin()], dim=1)
    lower = torch.stack([1.0 - angle.cos(), 0.5 - angle.sin()], dim=1)
    points = torch.cat([upper, lower]) - torch.tensor([0.5, 0.25])
    points = points + noise * torch.randn(points.shape, generator=generator)
    lifted = torch.cat([points, torch.full((points.shape[0], 1), 3.0)], dim=1)
    return lifted, torch.cat([torch.zeros(per_moon), torch.ones(per_moon)]).long()


def test_it_recovers_the_labels_of_two_moons_from_one_label_each():
    embeddings, labels = _two_moons()
    labeled = torch.tensor([0, 300])  # one point of each moon
    predictions = propagate(embeddings, labeled, labels[labeled], num_classes=2, k=10)
    assert float((predictions.predicted == labels).float().mean()) >= 0.98
    assert predictions.probs.shape == (600, 2)
    assert torch.allclose(predictions.probs.sum(dim=1), torch.ones(600))
    assert torch.equal(predictions.embeddings, embeddings)


def test_a_nearest_neighbour_rule_does_not_recover_the_moons():
    """The control: classifying by the nearer of the two labeled points fails where the moons
    interleave, so the test above measures the diffusion, not an easy layout."""
    embeddings, labels = _two_moons()
    labeled = torch.tensor([0, 300])
    nearer = torch.cdist(embeddings, embeddings[labeled]).argmin(dim=1)
    assert float((nearer == labels).float().mean()) < 0.9


def test_labeled_rows_keep_their_own_label_and_no_labels_give_uniform_probabilities():
    embeddings, labels = _two_moons(per_moon=50)
    wrong = torch.tensor([1, 0])  # labels that contradict the geometry still win on their own rows
    predictions = propagate(embeddings, torch.tensor([0, 50]), wrong, num_classes=2, k=5)
    assert predictions.predicted[[0, 50]].tolist() == [1, 0]
    assert predictions.confidence[[0, 50]].tolist() == [1.0, 1.0]
    empty = propagate(embeddings, torch.empty(0, dtype=torch.long), torch.empty(0, dtype=torch.long), num_classes=3)
    assert torch.allclose(empty.probs, torch.full((100, 3), 1 / 3))


def test_it_rejects_labels_outside_the_classes_and_rows_outside_the_embeddings():
    embeddings, _ = _two_moons(per_moon=10)
    with pytest.raises(ValueError, match="labels must lie"):
        propagate(embeddings, torch.tensor([0]), torch.tensor([2]), num_classes=2)
    with pytest.raises(ValueError, match="labeled_rows must lie"):
        propagate(embeddings, torch.tensor([20]), torch.tensor([0]), num_classes=2)


def test_the_inverted_file_search_finds_almost_every_exact_neighbour():
    from sslengine.inference import nearest_neighbours
    from sslengine.propagation import inverted_file_neighbours

    generator = torch.Generator().manual_seed(0)
    centres = torch.randn(40, 16, generator=generator)
    points = centres[torch.randint(0, 40, (3000,), generator=generator)] + 0.5 * torch.randn(3000, 16, generator=generator)
    exact_similarities, exact = nearest_neighbours(points, 10)
    similarities, approximate = inverted_file_neighbours(points, 10)
    found = sum(len(set(a.tolist()) & set(b.tolist())) for a, b in zip(exact, approximate))
    assert found / exact.numel() >= 0.95
    assert not bool((approximate == torch.arange(3000)[:, None]).any())  # never itself
    assert bool((similarities <= exact_similarities[:, :1] + 1e-5).all())  # never better than exact
