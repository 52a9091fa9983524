"""Augmentation draws fresh parameters per sample, on uint8 batches, grayscale and RGB."""

from __future__ import annotations

import pytest
import torch

from sslengine.augment import COLOR_OPS, GEOMETRIC_OPS, identity, strong_augment, weak_augment

SHAPES = [(1, 28), (3, 32)]


def _same_image_repeated(channels: int, size: int, count: int = 64) -> torch.Tensor:
    image = torch.randint(0, 256, (1, channels, size, size), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    return image.expand(count, -1, -1, -1).contiguous()


def _distinct(batch: torch.Tensor) -> int:
    return len({tuple(row.tolist()) for row in (batch * 255).round().to(torch.uint8).flatten(1)})


@pytest.mark.parametrize(("channels", "size"), SHAPES)
@pytest.mark.parametrize("view", [weak_augment, strong_augment])
def test_each_sample_of_a_batch_gets_its_own_random_parameters(view, channels, size):
    images = _same_image_repeated(channels, size)
    out = view(images, torch.Generator().manual_seed(1))
    assert out.shape == images.shape and out.dtype == torch.float32
    assert 0.0 <= float(out.min()) and float(out.max()) <= 1.0
    # 64 copies of one image: one parameter set per call would give 1 distinct output
    assert _distinct(out) >= 40


@pytest.mark.parametrize("view", [weak_augment, strong_augment])
def test_views_are_reproducible_from_the_generator_seed(view):
    images = _same_image_repeated(3, 32, count=8)
    first = view(images, torch.Generator().manual_seed(7))
    again = view(images, torch.Generator().manual_seed(7))
    other = view(images, torch.Generator().manual_seed(8))
    assert torch.equal(first, again) and not torch.equal(first, other)


def test_weak_view_only_moves_pixels():
    images = torch.arange(28 * 28, dtype=torch.int64).remainder(256).to(torch.uint8).view(1, 1, 28, 28).repeat(16, 1, 1, 1)
    out = (weak_augment(images, torch.Generator().manual_seed(0)) * 255).round().to(torch.uint8)
    assert set(out.unique().tolist()) <= set(images.unique().tolist())


@pytest.mark.parametrize("op", [op for op in COLOR_OPS if op is not identity], ids=lambda op: op.__name__)
@pytest.mark.parametrize("channels", [1, 3])
def test_colour_ops_keep_shape_and_range(op, channels):
    images = torch.rand(4, channels, 16, 16)
    out = op(images.clone(), torch.tensor([0.0, 0.3, 0.7, 1.0]))
    assert out.shape == images.shape
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0


@pytest.mark.parametrize("op", GEOMETRIC_OPS, ids=lambda op: op.__name__)
def test_geometric_ops_give_one_matrix_per_sample_and_identity_at_zero_strength(op):
    matrices = op(torch.tensor([0.0, 0.5, 1.0]))
    assert matrices.shape == (3, 3, 3)
    assert torch.allclose(matrices[1], torch.eye(3), atol=1e-6)  # magnitude 0.5 is the signed zero
    assert not torch.allclose(matrices[0], matrices[2])
