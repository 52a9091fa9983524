"""Atomic checkpoint files: a crash while saving never destroys the previous checkpoint."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import torch


def _fsync_directory(directory: Path) -> None:
    """Persist the rename itself (the directory entry), where the platform allows it."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike[str], write: Callable[[BinaryIO], None]) -> None:
    """Write a file through ``write(handle)`` into a temp file in the same folder, fsync, then os.replace.

    Readers see either the old file or the complete new one; on any error the temp file is removed
    and the old file is left untouched.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, target)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    _fsync_directory(target.parent)


def atomic_save(state: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Write ``state`` with ``torch.save`` atomically (see :func:`atomic_write`)."""
    atomic_write(path, lambda handle: torch.save(state, handle))


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load a checkpoint written by :func:`atomic_save` onto the CPU (tensors and plain data only)."""
    return torch.load(Path(path), map_location="cpu", weights_only=True)


def generators_state(sample: torch.Generator, augment: torch.Generator, device: torch.device) -> dict[str, Any]:
    """The two random streams of a training loop (batch sampling on the CPU, augmentation on ``device``)
    as a checkpoint entry."""
    return {"sample": sample.get_state(), "augment": augment.get_state(), "augment_device": device.type}


def generators_restore(
    rng: dict[str, Any], sample: torch.Generator, augment: torch.Generator, device: torch.device, reseed: int
) -> None:
    """Restore :func:`generators_state` into ``sample`` and ``augment``. Generator states do not transfer
    between device types: an augmentation stream saved on another kind of device is reseeded with ``reseed``
    (deterministic, not the same stream)."""
    sample.set_state(rng["sample"])
    if rng["augment_device"] == device.type:
        augment.set_state(rng["augment"])
    else:
        augment.manual_seed(reseed)
