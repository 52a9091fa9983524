"""The per-project image cache: every image decoded once to uint8 at the project's size.

One file per project and geometry, ``CACHE_DIR/<project_id>/images-<size>px-<channels>ch.npz``, holding
``ids`` (int64, ascending Image ids) and ``images`` (uint8 [N, C, S, S]). A round decodes only the
images that are not in the file yet, drops deleted ones, and replaces the file atomically (temp file
in the same folder, fsync, os.replace). An image that cannot be decoded (or whose file is gone) is
left out and flagged with the reason (``Image.decode_error``, shown on the images page): one odd file
never fails a round, and flagged images are not retried. The worker process keeps the arrays in memory between rounds
and re-reads the file only when another process changed it. The cache is per host: with media in an object
store (STORAGE_BACKEND=s3) a second training host decodes its own copy from the bucket on its first round.
Checkpoints and per-version embeddings, by contrast, must be the same on every host: the ``*_local`` and
``*_share`` functions below copy them through the shared store (no-ops on a single host).
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.files.storage import default_storage

from labelapp.images.models import Image
from labelapp.lib.images import InvalidImage, decode_image
from labelapp.lib.shared_files import file_delete, file_fetch, file_upload
from labelapp.projects.models import Project
from labelapp.training.models import ModelVersion
from sslengine.checkpoint import atomic_write

logger = logging.getLogger(__name__)

DECODE_THREADS = 4


@dataclass
class ImageCache:
    """Decoded images of a project, row i belongs to Image ``ids[i]``."""

    ids: np.ndarray  # int64 [N], ascending
    images: np.ndarray  # uint8 [N, C, S, S]

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def rows(self, image_ids: np.ndarray) -> np.ndarray:
        """Row numbers of ``image_ids`` (each must be cached)."""
        return np.searchsorted(self.ids, np.asarray(image_ids, dtype=np.int64))


@dataclass
class CacheUpdate:
    """What :func:`cache_update` did."""

    cache: ImageCache
    decoded: int  # images decoded in this call
    dropped: int  # cached images whose Image row is gone
    skipped: int = 0  # images that could not be decoded in this call (now flagged)


# Warm copy in this process: cache file -> (its stamp when read or written, cache).
_warm: dict[Path, tuple[tuple[int, int], ImageCache]] = {}


def project_cache_dir(project_id: int) -> Path:
    """The folder of a project's cache files (images and per-version embeddings)."""
    return Path(settings.CACHE_DIR) / str(project_id)


def embeddings_path(version: ModelVersion) -> Path:
    """Per-version embeddings (``ids``, ``embeddings``), next to the image cache."""
    return project_cache_dir(version.project_id) / f"embeddings-v{version.number}.npz"


def checkpoint_path(relative: str) -> Path:
    """A version's checkpoint file from its ``ModelVersion.checkpoint`` (relative to CHECKPOINT_DIR)."""
    return Path(settings.CHECKPOINT_DIR) / relative


# ---- files every host must see (labelapp.lib.shared_files: no-ops on a single host) ----------------


def _checkpoint_name(relative: str) -> str:
    return f"checkpoints/{relative}"


def _embeddings_name(version: ModelVersion) -> str:
    return f"embeddings/{version.project_id}/{embeddings_path(version).name}"


def checkpoint_local(relative: str) -> Path:
    """:func:`checkpoint_path`, first downloaded from the shared store when this host lacks it (or holds an
    older copy): call it before reading a checkpoint that another host may have written."""
    return file_fetch(_checkpoint_name(relative), checkpoint_path(relative))


def checkpoint_share(relative: str) -> None:
    """Upload a checkpoint just written at :func:`checkpoint_path` for the other hosts."""
    file_upload(checkpoint_path(relative), _checkpoint_name(relative))


def embeddings_local(version: ModelVersion) -> Path:
    """:func:`embeddings_path`, first downloaded from the shared store when this host lacks it."""
    return file_fetch(_embeddings_name(version), embeddings_path(version))


def version_files_share(version: ModelVersion) -> None:
    """Upload a version's checkpoint (when it has one) and embeddings before the version becomes current,
    so a round on any host can resume from it."""
    if checkpoint_path(version.checkpoint).is_file():
        checkpoint_share(version.checkpoint)
    if embeddings_path(version).is_file():
        file_upload(embeddings_path(version), _embeddings_name(version))


def version_files_delete(version: ModelVersion) -> None:
    """Delete a version's checkpoint and embeddings, here and in the shared store."""
    file_delete(checkpoint_path(version.checkpoint), _checkpoint_name(version.checkpoint))
    file_delete(embeddings_path(version), _embeddings_name(version))


def cache_path(project: Project) -> Path:
    return project_cache_dir(project.pk) / f"images-{project.image_size}px-{project.in_channels}ch.npz"


def atomic_savez(path: Path, **arrays: np.ndarray) -> None:
    """``np.savez`` written atomically: readers never see half a file."""
    atomic_write(path, lambda handle: np.savez(handle, **arrays))  # type: ignore[arg-type]  # numpy's stub: **kwds as allow_pickle


def _stamp(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size


def _empty(project: Project) -> ImageCache:
    size = project.image_size
    return ImageCache(np.zeros(0, np.int64), np.zeros((0, project.in_channels, size, size), np.uint8))


def _load(project: Project, path: Path) -> ImageCache:
    warm = _warm.get(path)
    if not path.exists():
        return _empty(project)
    stamp = _stamp(path)
    if warm is not None and warm[0] == stamp:
        return warm[1]
    with np.load(path) as data:
        cache = ImageCache(ids=data["ids"], images=data["images"])
    _warm[path] = (stamp, cache)
    return cache


def _decode(name: str, *, size: int, grayscale: bool) -> np.ndarray | InvalidImage:
    """The image as uint8 [C, S, S], or the error that says why it cannot be (returned, not raised)."""
    try:
        with default_storage.open(name, "rb") as handle:
            picture = decode_image(handle.read(), size=size, grayscale=grayscale)
    except InvalidImage as exc:
        return exc
    except OSError as exc:
        return InvalidImage(f"the stored file cannot be read ({exc.strerror or exc})")
    except MemoryError:
        raise  # the machine's state, not the image's: the round fails and the next one retries
    except Exception as exc:  # a decoder's surprise about one file must not stop every later round
        logger.exception("decoding %s failed unexpectedly", name)
        return InvalidImage(f"cannot be decoded ({type(exc).__name__}: {exc})")
    array = np.asarray(picture, dtype=np.uint8)
    return array[None, :, :] if array.ndim == 2 else array.transpose(2, 0, 1)


def _flag(project: Project, image_id: int, error: InvalidImage) -> None:
    reason = str(error)[: Image._meta.get_field("decode_error").max_length]
    logger.warning("project %s: image %s left out of training: %s", project.pk, image_id, reason)
    Image.objects.filter(pk=image_id).update(decode_error=reason)


def cache_update(*, project: Project) -> CacheUpdate:
    """Bring the project's cache up to date with its Image rows; decode only the new images, flag the
    ones that cannot be decoded."""
    path = cache_path(project)
    cached = _load(project, path)
    rows = list(Image.objects.filter(project=project, decode_error="").order_by("id").values_list("id", "file"))
    live_ids = np.array([image_id for image_id, _ in rows], dtype=np.int64)
    keep = np.isin(cached.ids, live_ids)
    known = set(cached.ids.tolist())
    new_rows = [(image_id, name) for image_id, name in rows if image_id not in known]
    dropped = int((~keep).sum())
    if not new_rows and not dropped:
        return CacheUpdate(cache=cached, decoded=0, dropped=0)
    with ThreadPoolExecutor(max_workers=DECODE_THREADS) as pool:
        results = list(
            pool.map(lambda name: _decode(name, size=project.image_size, grayscale=project.grayscale), [n for _, n in new_rows])
        )
    good = [(image_id, result) for (image_id, _), result in zip(new_rows, results) if isinstance(result, np.ndarray)]
    for (image_id, _), result in zip(new_rows, results):
        if isinstance(result, InvalidImage):
            _flag(project, image_id, result)
    ids = np.concatenate([cached.ids[keep], np.array([i for i, _ in good], dtype=np.int64)])
    images = np.concatenate([cached.images[keep], np.stack([a for _, a in good])]) if good else cached.images[keep]
    order = np.argsort(ids, kind="stable")
    cache = ImageCache(ids=ids[order], images=np.ascontiguousarray(images[order]))
    atomic_savez(path, ids=cache.ids, images=cache.images)
    _warm[path] = (_stamp(path), cache)
    return CacheUpdate(cache=cache, decoded=len(good), dropped=dropped, skipped=len(new_rows) - len(good))
