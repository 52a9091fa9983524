"""Augmentation draws fresh parameters per sample, on uint8 batches, grayscale and RGB."""

from __future__ import annotations

import pytest
import torch

from sslengine.augment import COLOR_OPS, GEOMETRIC_OPS, identity, simclr_augment, strong_augment, weak_augment

SHAPES = [(1, 28), (3, 32)]


def _same_image_repeated(channels: int, size: int, count: int = 64) -> torch.Tensor:
    image = torch.randint(0, 256, (1, channels, size, size), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    return image.expand(count, -1, -1, -1).contiguous()


def _distinct(batch: torch.Tensor) -> int:
    return len({tuple(row.tolist()) for row in (batch * 255).round().to(torch.uint8).flatten(1)})


@pytest.mark.parametrize(("channels", "size"), SHAPES)
@pytest.mark.parametrize("view", [weak_augment, strong_augment, simclr_augment])
def test_each_sample_of_a_batch_gets_its_own_random_parameters(view, channels, size):
    images = _same_image_repeated(channels, size)
    out = view(images, torch.Generator().manual_seed(1), hflip=True)
    assert out.shape == images.shape and out.dtype == torch.float32
    assert 0.0 <= float(out.min()) and float(out.max()) <= 1.0
    # 64 copies of one image: one parameter set per call would give 1 distinct output
    assert _distinct(out) >= 40


@pytest.mark.parametrize("view", [weak_augment, strong_augment, simclr_augment])
def test_views_are_reproducible_from_the_generator_seed(view):
    images = _same_image_repeated(3, 32, count=8)
    first = view(images, torch.Generator().manual_seed(7))
    again = view(images, torch.Generator().manual_seed(7))
    other = view(images, torch.Generator().manual_seed(8))
    assert torch.equal(first, again) and not torch.equal(first, other)


def _left_to_right_ramp(count: int = 64, size: int = 28) -> torch.Tensor:
    """Grayscale images whose brightness grows from the left edge to the right one."""
    ramp = torch.linspace(0, 255, size).round().to(torch.uint8)
    return ramp.view(1, 1, 1, size).expand(count, 1, size, size).contiguous()


def _rising_left_to_right(views: torch.Tensor) -> torch.Tensor:
    """Per view: is the middle of the image brighter on its right than on its left?"""
    middle = views.shape[-1] // 2
    return views[..., middle + 2].mean(dim=(1, 2)) > views[..., middle - 2].mean(dim=(1, 2))


@pytest.mark.parametrize("view", [weak_augment, simclr_augment])
def test_hflip_off_never_flips_and_on_flips_about_half(view):
    """A translation of up to 12.5 %, a crop, colour jitter and blur keep a ramp rising; only a
    horizontal flip reverses it."""
    images = _left_to_right_ramp()
    kept = _rising_left_to_right(view(images, torch.Generator().manual_seed(0), hflip=False))
    assert bool(kept.all())
    flipped = ~_rising_left_to_right(view(images, torch.Generator().manual_seed(0), hflip=True))
    assert 16 <= int(flipped.sum()) <= 48


def test_hflip_changes_no_other_random_draw():
    images = _left_to_right_ramp(count=8)
    unflipped = weak_augment(images, torch.Generator().manual_seed(3), hflip=False)
    maybe_flipped = weak_augment(images, torch.Generator().manual_seed(3), hflip=True)
    same = (unflipped == maybe_flipped).flatten(1).all(dim=1)
    assert bool(same.any()) and not bool(same.all())


def test_the_trainer_passes_the_hflip_setting_to_every_view(small_config):
    from sslengine import Trainer

    ramp = _left_to_right_ramp(count=16)
    for hflip in (False, True):
        trainer = Trainer(small_config(num_classes=2, hflip=hflip, batch_size=16, mu=1), device="cpu")
        batch = trainer._draw_batch(ramp, torch.zeros(16, dtype=torch.long), ramp)
        rising = _rising_left_to_right(torch.cat([batch.labeled, batch.unlabeled_weak]))
        assert bool(rising.all()) is (not hflip)


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
