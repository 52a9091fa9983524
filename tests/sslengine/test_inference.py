"""Batched inference returns consistent per-image scores."""

from __future__ import annotations

import math

import torch

from sslengine import Trainer


def test_predictions_are_consistent_and_independent_of_batch_size(fashion_small, small_config):
    trainer = Trainer(small_config(), device="cpu")
    trainer.fit(fashion_small.images[:20], fashion_small.labels[:20], fashion_small.images[:100], steps=2)
    images = fashion_small.images[:53]
    big, small = trainer.predict(images, batch_size=512), trainer.predict(images, batch_size=7)

    assert torch.allclose(big.probs, small.probs, atol=1e-5)
    assert torch.allclose(big.embeddings, small.embeddings, atol=1e-4)
    assert torch.allclose(big.probs.sum(dim=1), torch.ones(53), atol=1e-5)
    assert torch.equal(big.predicted, big.probs.argmax(dim=1))
    assert torch.equal(big.confidence, big.probs.max(dim=1).values)
    assert (big.margin >= 0).all() and (big.margin <= big.confidence).all()
    assert (big.entropy >= 0).all() and (big.entropy <= math.log(10) + 1e-5).all()
    assert big.embeddings.shape == (53, trainer.model.feature_dim) and big.embeddings.dtype == torch.float32


def test_evaluate_is_the_accuracy_of_the_predictions(fashion_small, small_config):
    trainer = Trainer(small_config(), device="cpu")
    images, labels = fashion_small.images[:50], fashion_small.labels[:50]
    accuracy = trainer.evaluate(images, labels)
    assert accuracy == float((trainer.predict(images).predicted == labels).float().mean())
