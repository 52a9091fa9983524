"""Files that every host of one installation must see: model checkpoints and per-version embeddings.

With ``STORAGE_BACKEND=local`` (the default) there is one host and its folders under DATA_DIR are the
truth: every function here is a no-op. With ``STORAGE_BACKEND=s3`` the ``shared`` storage (an
S3-compatible bucket, see settings.py) is the truth and each host keeps local copies: a writer writes the
local file as before, then :func:`file_upload` copies it to the bucket; a reader calls
:func:`file_fetch`, which downloads the object when the local copy is missing or differs from it (size or
modification time), so a second training host resumes a round another host published.

A local copy is stamped with the object's modification time after an upload or a download, so an
unchanged object is never downloaded again and a replaced one (same name, newer object) always is.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import Storage, storages

from sslengine.checkpoint import atomic_write

SHARED = "shared"  # the STORAGES alias of the bucket that holds checkpoints and embeddings


def shared_storage() -> Storage | None:
    """The storage that all hosts share, or ``None`` on a single host (local folders are the truth)."""
    return storages[SHARED] if SHARED in settings.STORAGES else None


def _stamp(storage: Storage, name: str, path: Path) -> None:
    """Give the local copy the object's modification time, the mark :func:`file_fetch` compares."""
    modified = storage.get_modified_time(name).timestamp()
    os.utime(path, (modified, modified))


def _same(storage: Storage, name: str, path: Path) -> bool | None:
    """Whether the local copy equals the object (``None``: there is no object)."""
    try:
        size = storage.size(name)
        modified = storage.get_modified_time(name).timestamp()
    except FileNotFoundError:  # django-storages' answer to a 404; other errors fail the caller loudly
        return None
    try:
        stat = path.stat()
    except FileNotFoundError:
        return False
    return stat.st_size == size and abs(stat.st_mtime - modified) < 1e-3


def file_upload(path: Path, name: str) -> None:
    """Copy the local file ``path`` to the shared object ``name`` (replacing it); no-op on a single host."""
    storage = shared_storage()
    if storage is None:
        return
    with path.open("rb") as handle:
        storage.save(name, File(handle, name=path.name))
    _stamp(storage, name, path)


def file_fetch(name: str, path: Path) -> Path:
    """The local copy of the shared object ``name`` at ``path``, downloaded (atomically) when missing or
    stale. Returns ``path``; it does not exist when neither the object nor a local file does."""
    storage = shared_storage()
    if storage is None or _same(storage, name, path) in (True, None):
        return path
    with storage.open(name, "rb") as source:
        atomic_write(path, lambda handle: shutil.copyfileobj(source, handle, 1 << 20))
    _stamp(storage, name, path)
    return path


def file_delete(path: Path, name: str) -> None:
    """Delete the local file and the shared object (each only if it exists)."""
    path.unlink(missing_ok=True)
    storage = shared_storage()
    if storage is not None:
        storage.delete(name)
