"""SimMatch numerics against the seed talk's hand-worked example, and its labeled memory bank."""

from __future__ import annotations

import torch

from sslengine import Trainer
from sslengine.algorithms.simmatch import unfold_and_aggregate


def test_unfolding_and_aggregation_reproduce_the_worked_example():
    class_probs = torch.tensor([[0.8, 0.01, 0.1, 0.09]])
    bank_labels = torch.tensor([1, 2, 3, 4, 1, 1, 2, 4]) - 1  # the talk numbers classes from 1
    similarity = torch.tensor([[0.2, 0.05, 0.01, 0.04, 0.3, 0.25, 0.05, 0.01]])

    unfolded, pseudo_label = unfold_and_aggregate(class_probs, similarity, bank_labels, alpha=0.9)
    aggregated = torch.zeros(1, 4).scatter_add_(1, bank_labels.view(1, -1), unfolded)

    expected_unfolded = torch.tensor([[0.26, 0.0, 0.0, 0.01, 0.40, 0.33, 0.0, 0.0]])
    assert torch.allclose(unfolded, expected_unfolded, atol=0.005)
    assert torch.allclose(aggregated, torch.tensor([[0.99, 0.0, 0.0, 0.01]]), atol=0.005)
    assert torch.allclose(pseudo_label, torch.tensor([[0.82, 0.01, 0.09, 0.08]]), atol=0.005)
    assert torch.allclose(pseudo_label.sum(), torch.tensor(1.0))


def test_memory_bank_has_one_row_per_labeled_image_and_follows_the_labeled_set(fashion_small, small_config):
    images, labels = fashion_small.images[:80], fashion_small.labels[:80]
    trainer = Trainer(small_config(algorithm="simmatch", algorithm_options={"proj_dim": 16}), device="cpu")
    trainer.fit(images[:20], labels[:20], images, steps=2)
    bank = trainer.algorithm.bank
    assert bank.shape == (20, 16)
    assert torch.allclose(bank.norm(dim=1), torch.ones(20), atol=1e-5)

    kept = bank.clone()
    trainer.fit(images[:20], labels[:20], images, steps=1)  # same labeled set: bank carries over
    assert trainer.algorithm.bank.shape == (20, 16)
    changed_rows = (trainer.algorithm.bank - kept).norm(dim=1) > 0
    assert 0 < int(changed_rows.sum()) <= small_config().batch_size  # only this step's labeled rows moved

    trainer.fit(images[:35], labels[:35], images, steps=1)  # the annotators labeled 15 more
    assert trainer.algorithm.bank.shape == (35, 16)
    assert torch.equal(trainer.algorithm.bank_labels, labels[:35])
