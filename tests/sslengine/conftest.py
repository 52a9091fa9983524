"""Shared fixtures for engine tests: real Fashion-MNIST slices and a small, fast config."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from sslengine import TrainConfig, Trainer
from sslengine.datasets import ImageSet, load_npz, stratified_subset

DATA_DIR = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="session", autouse=True)
def one_cpu_thread() -> None:
    """One intra-op thread: on a shared 2-core machine two spin-waiting threads run up to 10× slower."""
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def fashion_small() -> ImageSet:
    """2,000 Fashion-MNIST train images, 200 per class, 1×28×28 uint8."""
    return load_npz(DATA_DIR / "fashion_mnist_small.npz")


@pytest.fixture(scope="session")
def fashion_test_small() -> ImageSet:
    """1,000 images of the official Fashion-MNIST test split, 100 per class (never trained on)."""
    return load_npz(DATA_DIR / "fashion_mnist_test_small.npz")


@pytest.fixture
def small_config() -> Callable[..., TrainConfig]:
    """Factory for a fast grayscale 28×28 config; keyword arguments override fields."""

    def make(**overrides: object) -> TrainConfig:
        fields: dict[str, object] = dict(num_classes=10, in_channels=1, image_size=28, batch_size=8, mu=2, seed=0)
        fields.update(overrides)
        return TrainConfig(**fields)  # type: ignore[arg-type]

    return make


@pytest.fixture(scope="session")
def accuracy_after_training(fashion_small, fashion_test_small) -> Callable[..., float]:
    """Train on ``labels_per_class`` labels of the 2,000-image slice (all 2,000 unlabeled) for exactly
    ``steps`` steps (batch 16, μ = 3, cosine horizon = ``steps``, seed 0) and return the EMA weights'
    accuracy on the 1,000 test images; keyword arguments override config fields."""

    def train(algorithm: str, labels_per_class: int, steps: int, **overrides: object) -> float:
        fields: dict[str, object] = dict(
            num_classes=10, algorithm=algorithm, in_channels=1, image_size=28,
            batch_size=16, mu=3, threshold=0.95, schedule_steps=steps, seed=0,
        )
        fields.update(overrides)
        config = TrainConfig(**fields)  # type: ignore[arg-type]
        labeled = stratified_subset(fashion_small.labels, labels_per_class, seed=0)
        trainer = Trainer(config, device="cpu")
        result = trainer.fit(fashion_small.images[labeled], fashion_small.labels[labeled], fashion_small.images, steps=steps)
        assert result.steps == steps
        return trainer.evaluate(fashion_test_small.images, fashion_test_small.labels)

    return train
