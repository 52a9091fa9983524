"""Where imported files come from: a zip (streamed member by member), a folder tree, or one file.

Entry names are only ever used for messages, display names and ImageFolder labels: nothing here
writes to the filesystem, so a member called ``../../x.png`` cannot land anywhere.
"""

from __future__ import annotations

import os
import stat
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from django.conf import settings

MIB = 1024 * 1024


@dataclass(frozen=True)
class SourceFile:
    """One entry to import: its name inside the source, and either its bytes or why it could not be read."""

    name: str
    data: bytes | None
    error: str = ""


# A member may inflate to this much whatever its ratio: small files compress arbitrarily well.
RATIO_FREE_BYTES = MIB
# The smallest span of a zip entry: its 30-byte local header, then its compressed data.
LOCAL_HEADER_BYTES = 30


@dataclass(frozen=True)
class ImportLimits:
    """Caps that keep an archive or a folder from exhausting memory or disk."""

    max_members: int  # entries in one zip
    max_total_bytes: int  # uncompressed bytes read from all the zips of one budget (a run, unless given one)
    max_file_bytes: int  # bytes of one image file
    max_ratio: int = 200  # inflated / compressed bytes of one member (past RATIO_FREE_BYTES); deflate reaches ~1032


class InvalidArchive(ValueError):
    """The whole archive is refused (not a zip, too many members, overlapping entries); the message says why."""


class InflateBudget:
    """Uncompressed bytes that may still be read from zips, shared by every zip of one request or import run,
    so many small zips cannot add up to more than one is allowed."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    @property
    def remaining(self) -> int:
        return max(self.limit - self.used, 0)

    def spend(self, size: int) -> None:
        self.used += size


def import_limits() -> ImportLimits:
    """The limits in force: settings ``IMPORT_MAX_ZIP_MEMBERS``, ``IMPORT_MAX_ZIP_BYTES``, ``IMPORT_MAX_FILE_BYTES``,
    ``IMPORT_MAX_ZIP_RATIO``."""
    return ImportLimits(
        max_members=getattr(settings, "IMPORT_MAX_ZIP_MEMBERS", 200_000),
        max_total_bytes=getattr(settings, "IMPORT_MAX_ZIP_BYTES", 8 * 1024 * MIB),
        max_file_bytes=getattr(settings, "IMPORT_MAX_FILE_BYTES", 64 * MIB),
        max_ratio=getattr(settings, "IMPORT_MAX_ZIP_RATIO", 200),
    )


def request_budget() -> InflateBudget:
    """The budget of one web request: setting ``IMPORT_MAX_REQUEST_BYTES`` across all the zips it carries."""
    return InflateBudget(getattr(settings, "IMPORT_MAX_REQUEST_BYTES", 2 * 1024 * MIB))


def folder_label(name: str) -> str | None:
    """The ImageFolder label of an entry: the name of the folder that directly holds it."""
    parts = [part for part in name.replace("\\", "/").split("/") if part not in ("", ".")]
    return parts[-2] if len(parts) >= 2 and parts[-2] != ".." else None


def _size_text(size: int) -> str:
    return f"{size // MIB} MiB" if size >= MIB else f"{size} bytes"


def _too_large(name: str, limits: ImportLimits) -> SourceFile:
    return SourceFile(name, None, f"larger than {_size_text(limits.max_file_bytes)}")


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def _zip_entries(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    return [
        info for info in archive.infolist()
        if not info.is_dir() and not _is_symlink(info) and not info.filename.startswith("__MACOSX/")
    ]


def zip_member_count(fileobj: IO[bytes]) -> int:
    """How many files :func:`iter_zip` would yield (for progress bars); 0 when it is not a zip."""
    try:
        with zipfile.ZipFile(fileobj) as archive:
            return len(_zip_entries(archive))
    except zipfile.BadZipFile:
        return 0
    finally:
        fileobj.seek(0)


def _check_no_overlap(archive: zipfile.ZipFile) -> None:
    """Refuse a zip whose entries share bytes (local header offset + compressed size run into the next
    entry, or past the data into the central directory): one deflate stream listed many times inflates
    once per listing (Fifield's "better zip bomb", 2019)."""
    spans = sorted((info.header_offset, info.header_offset + LOCAL_HEADER_BYTES + info.compress_size, info.filename)
                   for info in archive.infolist())
    spans.append((archive.start_dir, archive.start_dir, "the central directory"))  # sizes cannot run past the data
    for (_, end, name), (start, _, next_name) in zip(spans, spans[1:]):
        if start < end:
            raise InvalidArchive(
                f"the zip's entries overlap ({name!r} and {next_name!r} share compressed data), as in a zip bomb; "
                "refused: re-create the zip with an ordinary tool"
            )


def iter_zip(fileobj: IO[bytes], *, limits: ImportLimits, budget: InflateBudget | None = None) -> Iterator[SourceFile]:
    """Stream a zip's files one at a time, in memory, skipping directories and symlinks.

    A zip with overlapping entries is refused whole. Each member is read through a bounded ``read``
    (its header's sizes are not trusted) that stops at the file limit, at ``limits.max_ratio`` times
    its compressed size, and at what is left of ``budget`` (shared by all the zips of one request or
    run; a fresh one of ``limits.max_total_bytes`` when not given). Past the budget, the rest of the
    archive is reported as not imported.
    """
    budget = budget if budget is not None else InflateBudget(limits.max_total_bytes)
    try:
        archive = zipfile.ZipFile(fileobj)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InvalidArchive(f"not a readable zip file ({exc})") from exc
    with archive:
        entries = _zip_entries(archive)
        if len(entries) > limits.max_members:
            raise InvalidArchive(f"the zip has {len(entries)} files, over the limit of {limits.max_members}")
        _check_no_overlap(archive)
        for position, info in enumerate(entries):
            if info.file_size > limits.max_file_bytes:
                yield _too_large(info.filename, limits)
                continue
            ratio_cap = max(limits.max_ratio * info.compress_size, RATIO_FREE_BYTES)
            remaining = budget.remaining
            cap = min(limits.max_file_bytes, ratio_cap, remaining)
            try:
                with archive.open(info) as member:
                    data = member.read(cap + 1)
            except (RuntimeError, NotImplementedError, zipfile.BadZipFile, zlib.error, OSError, EOFError) as exc:
                yield SourceFile(info.filename, None, f"cannot be read from the zip ({exc})")
                continue
            budget.spend(len(data))
            if len(data) > remaining:
                left = len(entries) - position
                yield SourceFile(
                    info.filename, None,
                    f"the import unpacks to more than {_size_text(budget.limit)} in all; "
                    f"this file and the {left - 1} after it in this zip were not imported",
                )
                return
            if len(data) > limits.max_file_bytes:
                yield _too_large(info.filename, limits)
            elif len(data) > ratio_cap:
                yield SourceFile(info.filename, None, f"inflates more than {limits.max_ratio}:1 (as in a zip bomb); refused")
            else:
                yield SourceFile(info.filename, data)


def _read_file(path: Path, name: str, limits: ImportLimits) -> SourceFile:
    if path.is_symlink():
        return SourceFile(name, None, "is a symbolic link (not followed)")
    try:
        size = path.stat().st_size
        if size > limits.max_file_bytes:
            return _too_large(name, limits)
        return SourceFile(name, path.read_bytes())
    except OSError as exc:
        return SourceFile(name, None, f"cannot be read ({exc.strerror or exc})")


def _folder_files(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(name for name in dirnames if not name.startswith("."))
        for filename in sorted(filenames):
            if not filename.startswith("."):
                yield Path(dirpath) / filename


def path_entry_count(path: Path) -> int:
    """How many entries :func:`iter_path` would yield (for progress bars)."""
    if path.is_dir():
        return sum(1 for _ in _folder_files(path))
    if zipfile.is_zipfile(path):
        with path.open("rb") as handle:
            return zip_member_count(handle)
    return 1


def iter_path(path: Path, *, limits: ImportLimits) -> Iterator[SourceFile]:
    """The files of a folder tree (hidden files and symlinks skipped), of a zip, or one file.

    Names are relative to ``path`` with ``/`` separators, so ImageFolder labels can be read from them.
    One call is one run: its zip reads at most ``limits.max_total_bytes`` uncompressed.
    """
    if path.is_dir():
        for file_path in _folder_files(path):
            yield _read_file(file_path, file_path.relative_to(path).as_posix(), limits)
    elif zipfile.is_zipfile(path):
        with path.open("rb") as handle:
            yield from iter_zip(handle, limits=limits)
    else:
        yield _read_file(path, path.name, limits)


def iter_upload(
    fileobj: IO[bytes], *, name: str, size: int, max_upload_bytes: int, limits: ImportLimits, budget: InflateBudget
) -> Iterator[SourceFile]:
    """One file of a browser upload: a zip's members (streamed, a refused archive reported by name), or the
    file itself. ``budget`` is shared by all the files of the request (:func:`request_budget`)."""
    if size > max_upload_bytes:
        yield SourceFile(name, None, f"larger than {_size_text(max_upload_bytes)}")
        return
    head = fileobj.read(4)
    fileobj.seek(0)
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        try:
            yield from iter_zip(fileobj, limits=limits, budget=budget)
        except InvalidArchive as exc:
            yield SourceFile(name, None, str(exc))
        return
    yield _sized(name, fileobj.read(limits.max_file_bytes + 1), limits)


def _sized(name: str, data: bytes, limits: ImportLimits) -> SourceFile:
    return _too_large(name, limits) if len(data) > limits.max_file_bytes else SourceFile(name, data)
