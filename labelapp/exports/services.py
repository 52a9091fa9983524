"""Exports: labels as CSV, JSON or an ImageFolder zip (streamed chunk by chunk), and model versions
as TorchScript or ONNX bundles with a model card and a predict example (built once, then cached)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from datetime import timezone as dt_timezone
from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage

from labelapp.exports.selectors import LabelOptions, LabelRow, archive_name, class_folders, label_rows
from labelapp.lib.spreadsheet import SafeCsvWriter
from labelapp.projects.models import Project
from labelapp.training.models import ModelVersion
from labelapp.training.services import version_pin
from sslengine import Trainer
from sslengine.export import FORMATS as MODEL_FORMATS
from sslengine.export import ExportMetadata, ModelCard, card_date, write_bundle

logger = logging.getLogger(__name__)

LABEL_FORMATS = ("csv", "json", "imagefolder")
CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "json": "application/json", "imagefolder": "application/zip"}
EXTENSIONS = {"csv": "csv", "json": "json", "imagefolder": "zip"}
CSV_COLUMNS = ("filename", "label", "source", "confidence", "annotator", "updated", "image_id")
COPY_BUFFER = 1024 * 1024
CHUNK_BYTES = 64 * 1024


class _Line:
    """A write-only "file" for a CSV writer that hands back what it was given."""

    def write(self, value: str) -> str:
        return value


def _csv_chunks(rows: Iterable[LabelRow]) -> Iterator[bytes]:
    writer = SafeCsvWriter(_Line(), lineterminator="\n")
    yield writer.writerow(CSV_COLUMNS).encode()
    for row in rows:
        confidence = "" if row.confidence is None else repr(row.confidence)
        line = [row.filename, row.label, row.source, confidence, row.annotator, row.updated.isoformat(), row.image_id]
        yield writer.writerow(line).encode()


def _row_dict(row: LabelRow) -> dict:
    return {
        "image_id": row.image_id,
        "filename": row.filename,
        "class_index": row.class_index,
        "label": row.label,
        "source": row.source,
        "confidence": row.confidence,
        "annotator": row.annotator,
        "updated": row.updated.isoformat(),
    }


def _json_chunks(project: Project, options: LabelOptions, rows: Iterable[LabelRow]) -> Iterator[bytes]:
    header = {
        "project": project.slug,
        "classes": [{"index": index, "name": name} for index, name in project.classes.values_list("index", "name")],
        "threshold": project.threshold,
        "include_pseudo": options.include_pseudo,
        "include_predictions": options.include_predictions,
    }
    yield json.dumps(header)[:-1].encode() + b', "labels": ['
    separator = b""
    for row in rows:
        yield separator + json.dumps(_row_dict(row)).encode()
        separator = b", "
    yield b"]}\n"


class _ChunkSink:
    """A non-seekable write target for ``zipfile``: bytes are collected, then drained per entry."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        """Nothing is buffered beyond what :meth:`drain` returns."""

    def drain(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


def _imagefolder_chunks(project: Project, rows: Iterable[LabelRow]) -> Iterator[bytes]:
    """One folder per class; entry names come from :func:`archive_name` only (never from uploads)."""
    folders = class_folders(project)
    sink = _ChunkSink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED) as archive:
        for row in rows:
            try:
                source = default_storage.open(row.stored_name, "rb")
            except FileNotFoundError:
                logger.warning("export of %s: image %s has no file %s", project.slug, row.image_id, row.stored_name)
                continue
            updated = row.updated.astimezone(dt_timezone.utc)
            info = zipfile.ZipInfo(archive_name(row, folders), date_time=updated.timetuple()[:6])
            with source, archive.open(info, "w") as entry:
                shutil.copyfileobj(source, entry, COPY_BUFFER)
            yield sink.drain()
    yield sink.drain()


def _coalesced(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Join small pieces (a CSV line, a zip entry) into chunks of about ``CHUNK_BYTES``."""
    size = CHUNK_BYTES
    pending: list[bytes] = []
    length = 0
    for chunk in chunks:
        pending.append(chunk)
        length += len(chunk)
        if length >= size:
            yield b"".join(pending)
            pending, length = [], 0
    if pending:
        yield b"".join(pending)


def labels_export_chunks(*, project: Project, fmt: str, options: LabelOptions) -> Iterator[bytes]:
    """The export in ``fmt`` as a lazy stream of byte chunks of about 64 KiB (for a file or an HTTP response)."""
    rows = label_rows(project=project, options=options)
    if fmt == "csv":
        return _coalesced(_csv_chunks(rows))
    if fmt == "json":
        return _coalesced(_json_chunks(project, options, rows))
    if fmt == "imagefolder":
        return _coalesced(_imagefolder_chunks(project, rows))
    raise ValueError(f"unknown label format {fmt!r}; choose one of {', '.join(LABEL_FORMATS)}")


def labels_export_filename(*, project: Project, fmt: str) -> str:
    """The download's file name, e.g. ``clothes-labels.csv``."""
    return f"{project.slug}-labels.{EXTENSIONS[fmt]}"


def _atomic_write(path: Path, chunks: Iterable[bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path


def labels_export_write(*, project: Project, fmt: str, options: LabelOptions, path: Path) -> Path:
    """Write the export to ``path`` (temp file in the same folder, then renamed)."""
    return _atomic_write(Path(path), labels_export_chunks(project=project, fmt=fmt, options=options))


# ---- model exports ----------------------------------------------------------------------------


def _checkpoint_path(version: ModelVersion) -> Path:
    root = Path(settings.CHECKPOINT_DIR).resolve()
    path = (root / version.checkpoint).resolve()
    if not version.checkpoint or not path.is_relative_to(root):
        raise ValueError(f"version {version.number} has no checkpoint inside CHECKPOINT_DIR")
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint of version {version.number} is missing ({version.checkpoint})")
    return path


def _class_names(version: ModelVersion, num_classes: int) -> list[str]:
    return list(version.project.classes.order_by("index").values_list("name", flat=True)[:num_classes])


def model_card_build(*, version: ModelVersion, meta: ExportMetadata, config: dict) -> ModelCard:
    """The model card of ``version``: its counts, metrics, training time and date, verbatim."""
    return ModelCard(
        meta=meta,
        config=config,
        data={"human_labels": version.human_labels, "pseudo_labels": version.pseudo_labels, "images": version.images},
        metrics=version.metrics,
        training_seconds=float(version.total_seconds),
        steps=version.steps,
        last_round_steps=version.round_steps,
        last_round_seconds=float(version.seconds),
        created_at=card_date(version.created_at),
        project=version.project.slug,
    )


def model_bundle_write(*, version: ModelVersion, fmt: str, directory: Path) -> list[Path]:
    """Write the model file, ``model_card.json``, ``model_card.md`` and ``predict.py`` of ``version`` into ``directory``."""
    if fmt not in MODEL_FORMATS:
        raise ValueError(f"unknown model format {fmt!r}; choose one of {', '.join(MODEL_FORMATS)}")
    trainer = Trainer.load(_checkpoint_path(version), device="cpu")
    classes = _class_names(version, trainer.config.num_classes)
    meta = ExportMetadata.for_trainer(trainer, classes=classes, version=version.number)
    card = model_card_build(version=version, meta=meta, config=trainer.config.to_dict())
    return write_bundle(trainer, directory, card, fmt)


class VersionPruned(Exception):
    """The version's checkpoint was pruned (its row and metrics remain) and no export of it was built before."""


def model_export_archive(*, version: ModelVersion, fmt: str) -> Path:
    """A zip of the bundle under ``EXPORT_DIR/<project id>/``, built on first request and reused after.
    An exported version is pinned: its checkpoint and predictions are never pruned.

    The cache key holds the class names, so renaming a class produces a fresh export.
    """
    if fmt not in MODEL_FORMATS:
        raise ValueError(f"unknown model format {fmt!r}; choose one of {', '.join(MODEL_FORMATS)}")
    names = "\n".join(version.project.classes.order_by("index").values_list("name", flat=True))
    digest = hashlib.sha256(names.encode()).hexdigest()[:10]
    folder = Path(settings.EXPORT_DIR) / str(version.project_id)
    target = folder / f"{version.project.slug}-v{version.number}-{fmt}-{digest}.zip"
    if target.is_file():
        return target
    if version.is_pruned:
        raise VersionPruned(
            f"Version {version.number} was pruned: its counts and metrics are kept, but not its checkpoint, so "
            "it cannot be exported. Export a kept version, or pin versions to keep them."
        )
    version_pin(version=version)
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as work:
        files = model_bundle_write(version=version, fmt=fmt, directory=Path(work))
        buffer_path = Path(work) / "bundle.zip"
        with zipfile.ZipFile(buffer_path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for file in files:
                archive.write(file, arcname=f"{version.project.slug}-v{version.number}/{file.name}")
        os.replace(buffer_path, target)
    return target


def model_export_filename(*, version: ModelVersion, fmt: str) -> str:
    """The download's file name, e.g. ``clothes-v3-onnx.zip``."""
    return f"{version.project.slug}-v{version.number}-{fmt}.zip"
