"""One smoke test per registered algorithm, backbone and selection strategy (timm-style)."""

from __future__ import annotations

import math

import pytest
import torch

from sslengine import Predictions, Trainer, list_algorithms, list_backbones, list_strategies, select_indices
from sslengine.backbones import BackboneSpec, build_network


@pytest.mark.parametrize("algorithm", list_algorithms())
def test_every_algorithm_trains_with_finite_losses_and_predicts_every_image(algorithm, fashion_small, small_config):
    trainer = Trainer(small_config(algorithm=algorithm), device="cpu")
    images, labels = fashion_small.images[:60], fashion_small.labels[:60]
    result = trainer.fit(images[:20], labels[:20], images, steps=3)

    assert result.steps == 3 and result.global_step == 3 == trainer.global_step
    assert {"loss", "loss_x", "loss_u"} <= result.scalars.keys()
    assert all(math.isfinite(value) for value in result.scalars.values())
    assert 0.0 <= result.scalars.get("mask_ratio", 0.0) <= 1.0
    assert result.images_per_second > 0
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())

    predictions = trainer.predict(images, batch_size=25)
    assert predictions.probs.shape == (60, 10) and predictions.embeddings.shape[0] == 60
    assert torch.isfinite(predictions.probs).all() and torch.isfinite(predictions.embeddings).all()


def test_supervised_accepts_and_ignores_unlabeled_images(fashion_small, small_config):
    images, labels = fashion_small.images, fashion_small.labels
    with_unlabeled = Trainer(small_config(algorithm="supervised"), device="cpu")
    without_unlabeled = Trainer(small_config(algorithm="supervised"), device="cpu")
    with_unlabeled.fit(images[:20], labels[:20], images[100:400], steps=2)
    without_unlabeled.fit(images[:20], labels[:20], images[:20], steps=2)
    for a, b in zip(with_unlabeled.model.parameters(), without_unlabeled.model.parameters()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("name", list_backbones())
@pytest.mark.parametrize(("channels", "size"), [(1, 28), (3, 32)])
def test_every_backbone_maps_images_to_embedding_logits_and_projection(name, channels, size):
    network = build_network(name, BackboneSpec(channels, size), num_classes=5, proj_dim=16).eval()
    images = torch.rand(3, channels, size, size)
    with torch.no_grad():
        features = network.features(images)
        logits = network.head(features)
        projected = network.project(features)
    assert features.shape == (3, network.feature_dim)
    assert logits.shape == (3, 5) and torch.equal(logits, network(images))
    assert projected.shape == (3, 16)
    assert torch.allclose(projected.norm(dim=1), torch.ones(3), atol=1e-5)


def test_backbones_use_the_configured_batchnorm_momentum():
    network = build_network("wrn-28-2", BackboneSpec(3, 32, bn_momentum=0.01), num_classes=10)
    momenta = {m.momentum for m in network.modules() if isinstance(m, torch.nn.BatchNorm2d)}
    assert momenta == {0.01}


def test_resnet18_initialises_from_a_local_weights_file_without_downloading(tmp_path):
    from torchvision.models import resnet18

    reference = resnet18(weights=None)
    path = tmp_path / "resnet18.pth"
    torch.save(reference.state_dict(), path)
    network = build_network("resnet18", BackboneSpec(1, 96, pretrained_path=str(path)), num_classes=3)
    assert torch.allclose(network.body.conv1.weight, reference.conv1.weight.sum(dim=1, keepdim=True))
    assert torch.equal(network.body.layer4[1].conv2.weight, reference.layer4[1].conv2.weight)


def _random_predictions(rows: int, classes: int = 4, dim: int = 8, seed: int = 0) -> Predictions:
    generator = torch.Generator().manual_seed(seed)
    probs = torch.rand(rows, classes, generator=generator).softmax(dim=1)
    return Predictions.from_probs(probs, torch.randn(rows, dim, generator=generator))


@pytest.mark.parametrize("strategy", list_strategies())
def test_every_strategy_returns_k_distinct_candidates(strategy):
    predictions = _random_predictions(50)
    candidates = torch.arange(10, 50)
    picked = select_indices(strategy, predictions, candidates, k=7, seed=0)
    assert picked.dtype == torch.int64 and picked.shape == (7,)
    assert len(set(picked.tolist())) == 7 and set(picked.tolist()) <= set(candidates.tolist())
    everything = select_indices(strategy, predictions, candidates, k=100, seed=0)
    assert sorted(everything.tolist()) == candidates.tolist()
    assert torch.equal(picked, select_indices(strategy, predictions, candidates, k=7, seed=0))
