"""Batched inference returns consistent per-image scores."""

from __future__ import annotations

import math

import torch

from sslengine import Trainer
from sslengine.inference import recalibrate_batchnorm


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


def _first_batchnorm(network: torch.nn.Module) -> torch.nn.modules.batchnorm._BatchNorm:
    return next(m for m in network.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm))


def test_batchnorm_recalibration_sets_the_statistics_of_the_images_and_leaves_the_rest(fashion_small, small_config):
    trainer = Trainer(small_config(), device="cpu")
    network, images = trainer.ema_model, fashion_small.images[:40]
    norm = _first_batchnorm(network)
    norm.running_mean.fill_(5.0)
    weights = {name: p.clone() for name, p in network.named_parameters()}
    seen: list[torch.Tensor] = []
    hook = norm.register_forward_hook(lambda module, args, output: seen.append(args[0].detach().clone()))

    used = recalibrate_batchnorm(network, images, count=1000, batch_size=64)

    hook.remove()
    assert used == 40 and len(seen) == 1
    assert torch.allclose(norm.running_mean, seen[0].mean(dim=(0, 2, 3)), atol=1e-3)
    assert torch.allclose(norm.running_var, seen[0].var(dim=(0, 2, 3), unbiased=True), rtol=1e-3, atol=1e-3)
    assert norm.momentum == small_config().bn_momentum and not network.training
    assert all(torch.equal(p, weights[name]) for name, p in network.named_parameters())


def test_batchnorm_recalibration_with_no_budget_changes_nothing(fashion_small, small_config):
    network = Trainer(small_config(), device="cpu").ema_model
    before = {name: b.clone() for name, b in network.named_buffers()}
    assert recalibrate_batchnorm(network, fashion_small.images[:40], count=0) == 0
    assert all(torch.equal(b, before[name]) for name, b in network.named_buffers())


def test_fit_leaves_the_ema_network_with_statistics_of_its_own_weights(fashion_small, small_config):
    """After fit, the EMA network's BatchNorm statistics are re-estimated for the EMA weights on the
    unlabeled images, not the trained network's (which belong to other weights)."""
    trainer = Trainer(small_config(bn_recalibration_images=64), device="cpu")
    unlabeled = fashion_small.images[:200]
    trainer.fit(fashion_small.images[:20], fashion_small.labels[:20], unlabeled, steps=5)
    ema_mean = _first_batchnorm(trainer.ema_model).running_mean.clone()

    assert not torch.allclose(ema_mean, _first_batchnorm(trainer.model).running_mean)
    recalibrate_batchnorm(trainer.ema_model, unlabeled, count=64)
    assert torch.allclose(_first_batchnorm(trainer.ema_model).running_mean, ema_mean)
