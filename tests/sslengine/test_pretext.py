"""Self-supervised pre-training (SimCLR) learns the pool, resumes exactly and hands over its encoder."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sslengine import PretrainConfig, Pretrainer, TrainConfig, Trainer, embedding_quality, list_pretexts

SIZE = 8


def _images(count: int, seed: int = 0, channels: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (count, channels, SIZE, SIZE), dtype=torch.uint8, generator=generator)


def _tiny(**overrides) -> PretrainConfig:
    fields = dict(in_channels=1, image_size=SIZE, batch_size=8, seed=0)
    fields.update(overrides)
    return PretrainConfig(**fields)


def test_simclr_is_registered_and_the_config_round_trips():
    assert "simclr" in list_pretexts()
    config = _tiny(hflip=True, temperature=0.2)
    assert PretrainConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown PretrainConfig fields"):
        PretrainConfig.from_dict({**config.to_dict(), "epochs": 3})
    with pytest.raises(ValueError, match="unknown pretext method"):
        _tiny(method="nope")


def test_it_rejects_images_of_the_wrong_shape_or_type():
    pretrainer = Pretrainer(_tiny(), device="cpu")
    with pytest.raises(ValueError, match="uint8"):
        pretrainer.fit(_images(4).float(), steps=1)
    with pytest.raises(ValueError, match="uint8"):
        pretrainer.fit(_images(4, channels=3), steps=1)
    with pytest.raises(ValueError, match="at least 2 images"):
        pretrainer.fit(_images(1), steps=1)
    with pytest.raises(ValueError, match="exactly one"):
        pretrainer.fit(_images(4))


def test_a_resumed_pretraining_continues_exactly_like_an_uninterrupted_one(tmp_path: Path):
    pool = _images(20)
    uninterrupted, first = Pretrainer(_tiny(), device="cpu"), Pretrainer(_tiny(), device="cpu")
    for run in (uninterrupted, first):
        run.fit(pool, steps=2)
    first.save(tmp_path / "pretrain.pt")
    resumed = Pretrainer.load(tmp_path / "pretrain.pt", device="cpu")
    assert resumed.global_step == 2
    expected = uninterrupted.fit(pool, steps=3)
    result = resumed.fit(pool, steps=3)
    assert result.scalars == expected.scalars and result.global_step == 5
    assert result.epochs == pytest.approx(5 * 8 / 20)
    for name, tensor in uninterrupted.network.state_dict().items():
        assert torch.equal(tensor, resumed.network.state_dict()[name]), name


def test_progress_reports_loss_and_epoch_every_log_every_steps():
    seen = []
    Pretrainer(_tiny(log_every=2), device="cpu").fit(_images(16), steps=4, on_progress=lambda *args: seen.append(args))
    assert [(done, planned) for done, planned, _ in seen] == [(2, 4), (4, 4)]
    assert {"loss", "pair_accuracy", "epoch"} <= set(seen[-1][2]) and seen[-1][2]["epoch"] == pytest.approx(2.0)


def test_the_encoder_initialises_both_networks_of_a_trainer_and_the_head_stays_fresh():
    pool = _images(20)
    pretrainer = Pretrainer(_tiny(), device="cpu")
    pretrainer.fit(pool, steps=2)
    trainer = Trainer(TrainConfig(num_classes=3, in_channels=1, image_size=SIZE), device="cpu")
    fresh_head = trainer.model.head.weight.clone()
    trainer.load_encoder(pretrainer.encoder_state_dict())
    assert torch.allclose(trainer.predict(pool).embeddings, pretrainer.embed(pool), atol=1e-6)
    for network in (trainer.model, trainer.ema_model):
        with torch.no_grad():
            features = network.eval().features(pool.float() / 255)
        assert torch.allclose(features, pretrainer.embed(pool), atol=1e-6)
    assert torch.equal(trainer.model.head.weight, fresh_head)
    assert not any(name.startswith("projector.") for name in pretrainer.encoder_state_dict()["weights"])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"image_size": 16}, "pre-trained as"),
        ({"in_channels": 3}, "pre-trained as"),
        ({"backbone": "wrn-28-2"}, "pre-trained as"),
    ],
)
def test_load_encoder_rejects_an_encoder_of_another_shape_and_changes_nothing(options, message):
    encoder = Pretrainer(_tiny(), device="cpu").encoder_state_dict()
    config = dict(num_classes=3, in_channels=1, image_size=SIZE)
    config.update(options)
    trainer = Trainer(TrainConfig(**config), device="cpu")
    before = {name: tensor.clone() for name, tensor in trainer.model.state_dict().items()}
    with pytest.raises(ValueError, match=message):
        trainer.load_encoder(encoder)
    assert all(torch.equal(tensor, before[name]) for name, tensor in trainer.model.state_dict().items())
    with pytest.raises(ValueError, match="not an encoder state"):
        trainer.load_encoder(trainer.model.state_dict())


def test_embedding_quality_scores_a_separable_embedding_and_a_collapsed_one():
    labels = torch.arange(60) % 3
    separable = torch.nn.functional.one_hot(labels, 3).float() + 0.01 * torch.randn(60, 3, generator=torch.Generator().manual_seed(0))
    quality = embedding_quality(separable, labels)
    assert quality["knn_accuracy"] == 1.0
    collapsed = embedding_quality(torch.ones(60, 3))
    assert "knn_accuracy" not in collapsed and collapsed["uniformity"] == pytest.approx(0.0, abs=1e-5)
    assert quality["uniformity"] < collapsed["uniformity"]


KNN_GAIN = 0.03  # the bar: pre-training must lift the 20-NN accuracy by 3 points over a random encoder


def _knn_gain_after_pretraining(fashion_small, lr: float) -> float:
    config = PretrainConfig(in_channels=1, image_size=28, batch_size=128, lr=lr, seed=0)
    pretrainer = Pretrainer(config, device="cpu")
    before = embedding_quality(pretrainer.embed(fashion_small.images), fashion_small.labels)["knn_accuracy"]
    pretrainer.fit(fashion_small.images, steps=100)
    after = embedding_quality(pretrainer.embed(fashion_small.images), fashion_small.labels)["knn_accuracy"]
    return after - before


@pytest.mark.slow
@pytest.mark.parametrize(("lr", "clears_the_bar"), [(1e-3, True), (0.0, False)], ids=["simclr", "loss-switched-off"])
def test_pretraining_raises_the_knn_accuracy_of_the_embedding_over_a_random_encoder(fashion_small, lr, clears_the_bar):
    """100 SimCLR steps on 2,000 unlabeled Fashion-MNIST images (6 epochs). With lr 0 the same run
    trains nothing (only BatchNorm statistics adapt) and must stay below the bar."""
    gain = _knn_gain_after_pretraining(fashion_small, lr)
    assert (gain >= KNN_GAIN) is clears_the_bar, gain
