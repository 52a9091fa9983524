"""Tiny seeded uint8 images and labels for engine tests that train the real Trainer for a few steps."""

from __future__ import annotations

import torch

SIZE = 8


def images(count: int, seed: int = 0) -> torch.Tensor:
    """``count`` random 1×SIZE×SIZE uint8 images, the same for the same seed."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (count, 1, SIZE, SIZE), dtype=torch.uint8, generator=generator)


LABELED = images(6)
LABELS = torch.tensor([0, 1, 2, 0, 1, 2])
