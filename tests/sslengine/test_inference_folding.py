"""BatchNorm folding for CPU inference (sslengine.inference.fold_batchnorm)."""

from __future__ import annotations

import torch

from sslengine import TrainConfig, Trainer
from sslengine.inference import fold_batchnorm, predict


def _trained_network() -> torch.nn.Module:
    trainer = Trainer(TrainConfig(backbone="cnn-small", in_channels=1, image_size=28, num_classes=3))
    network = trainer.ema_model
    generator = torch.Generator().manual_seed(0)
    for module in network.modules():  # statistics far from the identity, so a wrong fold shows
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.normal_(0, 0.5, generator=generator)
            module.running_var.uniform_(0.2, 3.0, generator=generator)
            module.weight.data.normal_(1, 0.3, generator=generator)
            module.bias.data.normal_(0, 0.3, generator=generator)
    return network


def test_folded_network_computes_the_same_features_and_logits() -> None:
    network = _trained_network().eval()
    images = torch.rand(16, 1, 28, 28)
    folded = fold_batchnorm(network)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    with torch.no_grad():
        torch.testing.assert_close(folded.features(images), network.features(images), rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(folded.head(folded.features(images)), network.head(network.features(images)),
                                   rtol=1e-4, atol=1e-5)


def test_predict_leaves_the_network_and_its_mode_untouched() -> None:
    network = _trained_network().train()
    before = {name: value.clone() for name, value in network.state_dict().items()}
    images = torch.randint(0, 256, (10, 1, 28, 28), dtype=torch.uint8)
    predictions = predict(network, images, batch_size=4)
    assert network.training
    for name, value in network.state_dict().items():
        assert torch.equal(value, before[name]), name
    with torch.no_grad():
        expected = network.eval().head(network.features(images.float() / 255)).softmax(dim=1)
    torch.testing.assert_close(predictions.probs, expected, rtol=1e-4, atol=1e-5)
    predictions.probs[0, 0] = 0.5  # ordinary tensors: callers may update them in place
