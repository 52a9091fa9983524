"""Exports: labels as CSV, JSON, COCO JSON or an ImageFolder zip (streamed chunk by chunk), and model
versions as TorchScript or ONNX bundles with a model card and a predict example (built once, then cached).

Background export jobs (progress, expiry) are in :mod:`labelapp.exports.background`; they call these."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC
from pathlib import Path

import django_rq
import numpy as np
import torch
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from labelapp.exports.models import Distillation
from labelapp.exports.selectors import LabelOptions, LabelRow, archive_name, class_folders, label_rows
from labelapp.labeling.models import Annotation, Source
from labelapp.lib.spreadsheet import SafeCsvWriter
from labelapp.projects.models import Project
from labelapp.training.cache import ImageCache, cache_update, checkpoint_local, checkpoint_path
from labelapp.training.metrics import agreement
from labelapp.training.models import ModelVersion
from labelapp.training.services import training_labels, version_pin
from sslengine import Trainer
from sslengine.distill import DistillOptions, distillation_trainer, load_distillation, teacher_targets
from sslengine.export import FORMATS as MODEL_FORMATS
from sslengine.export import (
    ExportMetadata,
    ModelCard,
    card_date,
    evenly_spaced,
    write_bundle,
    write_measured_onnx_bundle,
)

logger = logging.getLogger(__name__)

LABEL_FORMATS = ("csv", "json", "coco", "imagefolder")
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8", "json": "application/json", "coco": "application/json", "imagefolder": "application/zip",
}
EXTENSIONS = {"csv": "csv", "json": "json", "coco": "coco.json", "imagefolder": "zip"}
CSV_COLUMNS = ("filename", "label", "source", "confidence", "annotator", "updated", "image_id")
COPY_BUFFER = 1024 * 1024
CHUNK_BYTES = 64 * 1024
PROGRESS_WRITE_SECONDS = 0.5  # at most two progress writes a second (distillations, label exports)
SPOOL_BYTES = 1024 * 1024  # COCO annotations are spooled in memory up to this size, then to a temp file

ProgressCallback = Callable[[float, str], None]  # (fraction done 0..1, what is being done, for people)


@dataclass
class ExportProgress:
    """Counts of a label export while it streams: rows written of ``total``, images left out.

    ``report`` (if any) hears of the count at most twice a second (each call is a database write).
    """

    total: int = 0
    rows: int = 0
    skipped: int = 0
    report: ProgressCallback | None = None

    @property
    def message(self) -> str:
        text = f"{min(self.rows, self.total)} of {self.total} labels written"
        return text + (f", {self.skipped} unreadable image(s) left out" if self.skipped else "")

    def counted(self, rows: Iterable[LabelRow]) -> Iterator[LabelRow]:
        """``rows`` unchanged, counted; ``report`` hears of the count at most every ``PROGRESS_WRITE_SECONDS``."""
        last = time.perf_counter()
        for row in rows:
            yield row
            self.rows += 1
            if self.report is not None and time.perf_counter() - last >= PROGRESS_WRITE_SECONDS:
                last = time.perf_counter()
                self.report(min(self.rows / self.total, 1.0) if self.total else 1.0, self.message)

    def skip(self) -> None:
        self.skipped += 1


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

    def close(self) -> None:
        """Nothing to release (zipfile does not close a file object it was given; the method completes the
        writable-file protocol its types ask for)."""

    def drain(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


def _imagefolder_chunks(project: Project, rows: Iterable[LabelRow], progress: ExportProgress) -> Iterator[bytes]:
    """One folder per class; entry names come from :func:`archive_name` only (never from uploads).
    An image whose file cannot be opened is left out (logged and counted), never the whole export."""
    folders = class_folders(project)
    sink = _ChunkSink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED) as archive:
        for row in rows:
            try:
                source = default_storage.open(row.stored_name, "rb")
            except OSError as exc:
                logger.warning("export of %s: image %s left out, file %s: %s", project.slug, row.image_id, row.stored_name, exc)
                progress.skip()
                continue
            updated = row.updated.astimezone(UTC)
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


def coco_category_id(class_index: int) -> int:
    """COCO numbers categories from 1 (many readers take 0 for "background"): class index + 1."""
    return class_index + 1


def _coco_chunks(project: Project, rows: Iterable[LabelRow]) -> Iterator[bytes]:
    """COCO's JSON layout for classification: ``images`` (id, file_name, width, height), ``categories``
    (id, name, supercategory) and ``annotations`` (id, image_id, category_id), one per image, without
    ``bbox``/``segmentation``/``area`` (there are no boxes). Departures from the detection format:
    the annotation's ``attributes`` carry source, confidence, annotator and date (as CVAT's COCO export
    carries attributes); ``file_name`` is the uploader's file name and ``id`` the app's image id.

    One pass over the rows: images are streamed, annotations spooled (memory, then a temp file) and
    appended, so both lists describe the same snapshot.
    """
    classes = list(project.classes.order_by("index").values_list("index", "name"))
    header = {
        "info": {
            "description": f"{project.name}: image classification labels", "version": "1.0",
            "year": timezone.now().year, "date_created": timezone.now().isoformat(), "contributor": project.slug,
        },
        "licenses": [],
        "categories": [{"id": coco_category_id(index), "name": name, "supercategory": "none"} for index, name in classes],
    }
    yield json.dumps(header)[:-1].encode() + b', "images": ['
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as annotations:
        separator = b""
        for number, row in enumerate(rows, start=1):
            image = {"id": row.image_id, "file_name": row.filename, "width": row.width, "height": row.height}
            annotation = {
                "id": number, "image_id": row.image_id, "category_id": coco_category_id(row.class_index),
                "attributes": {
                    "source": row.source, "confidence": row.confidence, "annotator": row.annotator,
                    "updated": row.updated.isoformat(),
                },
            }
            yield separator + json.dumps(image).encode()
            annotations.write(separator + json.dumps(annotation).encode())
            separator = b", "
        yield b'], "annotations": ['
        annotations.seek(0)
        while chunk := annotations.read(CHUNK_BYTES):
            yield chunk
    yield b"]}\n"


def labels_export_chunks(
    *, project: Project, fmt: str, options: LabelOptions, progress: ExportProgress | None = None
) -> Iterator[bytes]:
    """The export in ``fmt`` as a lazy stream of byte chunks of about 64 KiB (for a file or an HTTP response).
    ``progress`` (optional) counts the rows as they are written and the images left out."""
    progress = progress if progress is not None else ExportProgress()
    rows = progress.counted(label_rows(project=project, options=options))
    if fmt == "csv":
        return _coalesced(_csv_chunks(rows))
    if fmt == "json":
        return _coalesced(_json_chunks(project, options, rows))
    if fmt == "coco":
        return _coalesced(_coco_chunks(project, rows))
    if fmt == "imagefolder":
        return _coalesced(_imagefolder_chunks(project, rows, progress))
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


def labels_export_write(
    *, project: Project, fmt: str, options: LabelOptions, path: Path, progress: ExportProgress | None = None
) -> Path:
    """Write the export to ``path`` (temp file in the same folder, then renamed)."""
    return _atomic_write(Path(path), labels_export_chunks(project=project, fmt=fmt, options=options, progress=progress))


# ---- model exports ----------------------------------------------------------------------------


def _checkpoint_path(version: ModelVersion) -> Path:
    root = Path(settings.CHECKPOINT_DIR).resolve()
    path = (root / version.checkpoint).resolve()
    if not version.checkpoint or not path.is_relative_to(root):
        raise ValueError(f"version {version.number} has no checkpoint inside CHECKPOINT_DIR")
    checkpoint_local(version.checkpoint)  # a version trained on another host: copied from the shared store
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


def _no_progress(fraction: float, message: str) -> None:
    """The progress callback of a synchronous export (command line, direct download): nobody watches."""


def model_bundle_write(
    *, version: ModelVersion, fmt: str, directory: Path, variant: str = "trained", progress: ProgressCallback = _no_progress
) -> list[Path]:
    """Write the model file, ``model_card.json``, ``model_card.md`` and ``predict.py`` of ``version`` into ``directory``.

    ``variant``: ``trained`` (the version's own network; an ONNX card gives its measured size and
    latency), ``int8`` or ``distilled:<student>`` (see :func:`measured_bundle_write`). ``progress`` hears
    of each stage (the stages are few and uneven: the fraction is coarse, the message says what runs).
    """
    if fmt not in MODEL_FORMATS:
        raise ValueError(f"unknown model format {fmt!r}; choose one of {', '.join(MODEL_FORMATS)}")
    if variant != "trained":
        return measured_bundle_write(version=version, fmt=fmt, variant=variant, directory=directory, progress=progress)
    progress(0.05, f"loading the checkpoint of v{version.number}")
    trainer = Trainer.load(_checkpoint_path(version), device="cpu")
    classes = _class_names(version, trainer.config.num_classes)
    meta = ExportMetadata.for_trainer(trainer, classes=classes, version=version.number)
    card = model_card_build(version=version, meta=meta, config=trainer.config.to_dict())
    if fmt == "onnx":
        progress(0.15, "reading the project's images for the latency measurement")
        images = evenly_spaced(cache_update(project=version.project).cache.images, 64)
        progress(0.3, "exporting to ONNX, checking it and measuring its latency")
        return write_measured_onnx_bundle(trainer, directory, card, images, latency_seconds=LATENCY_SECONDS)
    progress(0.3, f"writing the {fmt} model")
    return write_bundle(trainer, directory, card, fmt)


class VersionPruned(Exception):
    """The version's checkpoint was pruned (its row and metrics remain) and no export of it was built before."""


class VersionUntrained(VersionPruned):
    """The version comes from before the SSL model's first round (a pre-training round, or labels propagated
    over the pre-trained encoder's embeddings): it has no trained classifier, hence nothing to export."""


def model_export_refusal(version: ModelVersion) -> VersionPruned | None:
    """Why ``version`` cannot be exported as a model (pruned, or never trained), else ``None``."""
    if version.is_pruned:
        return VersionPruned(
            f"Version {version.number} was pruned: its counts and metrics are kept, but not its checkpoint, so "
            "it cannot be exported. Export a kept version, or pin versions to keep them."
        )
    if not version.steps:
        return VersionUntrained(
            f"Version {version.number} ({version.get_kind_display()}) comes from before the model's first "
            "training round: it has no trained classifier to export. Export a version from an SSL round."
        )
    return None


def model_export_archive(
    *, version: ModelVersion, fmt: str, variant: str = "trained", progress: ProgressCallback = _no_progress
) -> Path:
    """A zip of the bundle under ``EXPORT_DIR/<project id>/``, built on first request and reused after.
    An exported version is pinned: its checkpoint and predictions are never pruned.

    The cache key holds the class names, so renaming a class produces a fresh export, and for a
    distilled model the distillation's id, so a newer distillation replaces the older one.
    """
    if fmt not in MODEL_FORMATS:
        raise ValueError(f"unknown model format {fmt!r}; choose one of {', '.join(MODEL_FORMATS)}")
    names = "\n".join(version.project.classes.order_by("index").values_list("name", flat=True))
    student = _variant_student(variant)
    if student is not None:
        names += f"\ndistillation {finished_distillation(version=version, student=student).pk}"
    digest = hashlib.sha256(names.encode()).hexdigest()[:10]
    folder = Path(settings.EXPORT_DIR) / str(version.project_id)
    label = "" if variant == "trained" else "-" + variant_slug(variant)
    target = folder / f"{version.project.slug}-v{version.number}{label}-{fmt}-{digest}.zip"
    if target.is_file():
        return target
    refusal = model_export_refusal(version)
    if refusal is not None:
        raise refusal
    version_pin(version=version)
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as work:
        files = model_bundle_write(version=version, fmt=fmt, directory=Path(work), variant=variant, progress=progress)
        progress(0.95, "zipping the bundle")
        buffer_path = Path(work) / "bundle.zip"
        with zipfile.ZipFile(buffer_path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for file in files:
                archive.write(file, arcname=f"{version.project.slug}-v{version.number}/{file.name}")
        os.replace(buffer_path, target)
    return target


def variant_slug(variant: str) -> str:
    """``int8`` or ``distilled-<student>``: a file-name-safe form of a variant."""
    return variant.replace(":", "-")


def model_export_filename(*, version: ModelVersion, fmt: str, variant: str = "trained") -> str:
    """The download's file name, e.g. ``clothes-v3-onnx.zip``, ``clothes-v3-int8-onnx.zip``."""
    label = "" if variant == "trained" else "-" + variant_slug(variant)
    return f"{version.project.slug}-v{version.number}{label}-{fmt}.zip"


# ---- distillation and measured (int8, distilled) model exports ------------------------------------

DISTILL_JOB = "labelapp.exports.jobs.run_distillation"  # by name: jobs.py imports this module
DISTILL_QUEUE = "default"
VARIANTS = ("trained", "int8", "distilled")  # what the export form offers; "distilled:<student>" picks one
LATENCY_SECONDS = 0.5  # timed onnxruntime calls per batch size when a card measures latency
AGREEMENT_IMAGES = 4096  # project images (evenly spaced) on which the int8 model is checked against fp32


class DistillationUnavailable(Exception):
    """An export asked for a distilled model that does not exist (yet)."""


def distillation_start(
    *, version: ModelVersion, student: str, mode: str, user=None, seconds: float | None = None, steps: int | None = None
) -> Distillation:
    """Record a distillation of ``version`` into ``student`` and queue it on the ``default`` queue (on commit).

    Raises ``ValueError`` (with the reason) for an unknown student or mode, or a budget that is not
    exactly one positive number of seconds or steps.
    """
    DistillOptions(student=student, mode=mode).validate()
    if (seconds is None) == (steps is None) or (seconds is not None and seconds <= 0) or (steps is not None and steps <= 0):
        raise ValueError("give exactly one positive budget: seconds or steps")
    distillation = Distillation.objects.create(
        project=version.project, version=version, student=student, mode=mode, seconds=seconds, steps=steps, created_by=user
    )
    # the budget (a step takes well under a second) plus labeling the pool with the teacher and saving
    timeout = int((seconds or 0) + (steps or 0) + 600)

    def enqueue() -> None:
        django_rq.get_queue(DISTILL_QUEUE).enqueue_call(DISTILL_JOB, args=(distillation.pk,), timeout=timeout)

    transaction.on_commit(enqueue)
    return distillation


class _ProgressWriter:
    """``on_progress`` of the student's ``fit``: throttled writes of progress and steps to the row."""

    def __init__(self, distillation: Distillation) -> None:
        self.distillation = distillation
        self.started = time.perf_counter()
        self.last = 0.0

    def __call__(self, step: int, planned: int, scalars: dict[str, float]) -> None:
        now = time.perf_counter()
        if now - self.last < PROGRESS_WRITE_SECONDS:
            return
        self.last = now
        fraction = step / planned if planned else (now - self.started) / float(self.distillation.seconds or 1.0)
        Distillation.objects.filter(pk=self.distillation.pk).update(progress=min(fraction, 1.0), steps_done=step)


def _holdout_rows(project: Project, cache: ImageCache) -> tuple[np.ndarray, np.ndarray]:
    """Cache rows and true classes of the held-out human labels (never trained on)."""
    held = list(
        Annotation.objects.filter(project=project, source=Source.HUMAN, image__holdout=True).values_list(
            "image_id", "label_class__index"
        )
    )
    ids = np.array([image_id for image_id, _ in held], dtype=np.int64)
    cached = np.isin(ids, cache.ids)
    return cache.rows(ids[cached]), np.array([index for _, index in held], dtype=np.int64)[cached]


def distillation_run(*, distillation_id: int) -> Distillation:
    """Run a queued distillation: label the pool with the teacher once, distil, save, measure.

    The transfer set is the round's: the training labels (human and accepted pseudo-labels of
    images outside the holdout) and every cached image as unlabeled. A failure marks the row
    ``failed`` with the reason (the teacher version and its exports are untouched) and re-raises.
    """
    distillation = Distillation.objects.select_related("version", "project").get(pk=distillation_id)
    Distillation.objects.filter(pk=distillation.pk).update(status=Distillation.Status.RUNNING, error="")
    try:
        project, version = distillation.project, distillation.version
        cache = cache_update(project=project).cache
        labels = training_labels(project=project, cache=cache)
        if len(labels.rows) == 0:
            raise ValueError("the project has no training labels")
        teacher = Trainer.load(checkpoint_local(version.checkpoint), device="cpu")
        images = torch.from_numpy(cache.images)
        labeled = images[torch.from_numpy(labels.rows)]
        targets = teacher_targets([teacher], labeled, images)
        options = DistillOptions(student=distillation.student, mode=distillation.mode)
        student = distillation_trainer(teacher.config, options, targets, device="cpu")
        fit = student.fit(
            labeled, torch.from_numpy(labels.labels), images, steps=distillation.steps, seconds=distillation.seconds,
            on_progress=_ProgressWriter(distillation),
        )
        relative = f"{project.pk}/distill-{distillation.pk}.pt"
        student.save(checkpoint_path(relative))
        teacher_pred = teacher.predict(images).predicted.numpy()
        student_pred = student.predict(images).predicted.numpy()
        rows, truth = _holdout_rows(project, cache)
        metrics = {
            "teacher": {
                "name": f"v{version.number} {version.backbone} ({version.algorithm})",
                "running_accuracy": version.metrics.get("running_accuracy"),
                "holdout_accuracy": agreement(truth, teacher_pred[rows]),
                "holdout_size": int(len(rows)),
            },
            "student": {
                "name": f"{distillation.student} ({distillation.mode} distillation)",
                "running_accuracy": None,  # no label was given while the student was current
                "holdout_accuracy": agreement(truth, student_pred[rows]),
                "holdout_size": int(len(rows)),
                "agreement_with_teacher": agreement(teacher_pred, student_pred),
            },
            "images": len(cache),
            "labeled": int(len(labels.rows)),
            "steps": fit.steps,
            "seconds": fit.seconds,
        }
        Distillation.objects.filter(pk=distillation.pk).update(
            status=Distillation.Status.DONE, progress=1.0, steps_done=fit.steps, checkpoint=relative,
            metrics=metrics, finished_at=timezone.now(),
        )
    except Exception as exc:
        Distillation.objects.filter(pk=distillation.pk).update(
            status=Distillation.Status.FAILED, error=str(exc)[:2000], finished_at=timezone.now()
        )
        raise
    distillation.refresh_from_db()
    return distillation


def _distillation_summary(distillation: Distillation) -> dict:
    metrics = distillation.metrics
    summary = (
        f"{metrics['student']['name']} of {metrics['teacher']['name']}: {metrics['steps']} steps, "
        f"{metrics['seconds']:.0f} s, on {metrics['labeled']} labeled + {metrics['images']} images; "
        "an unlabeled image's missing label is the teacher's predicted class. A student has no running "
        "accuracy (no label was given while it was current): compare the holdout figures."
    )
    return {"summary": summary, "teacher": metrics["teacher"], "student": metrics["student"]}


def _variant_student(variant: str) -> str | None:
    return variant.split(":", 1)[1] if variant.startswith("distilled:") else None


def finished_distillation(*, version: ModelVersion, student: str) -> Distillation:
    """The latest finished distillation of ``version`` into ``student``."""
    found = (
        Distillation.objects.filter(version=version, student=student, status=Distillation.Status.DONE)
        .order_by("-finished_at", "-id")
        .first()
    )
    if found is None:
        raise DistillationUnavailable(f"v{version.number} has no finished distillation to {student}: start one on the project page")
    return found


def measured_bundle_write(
    *, version: ModelVersion, fmt: str, variant: str, directory: Path, progress: ProgressCallback = _no_progress
) -> list[Path]:
    """The bundle of ``variant``: ``int8`` (ONNX quantised, calibrated on the project's images) or
    ``distilled:<student>`` (the latest finished distillation), with measured size and latency."""
    progress(0.05, "reading the project's images")
    images = cache_update(project=version.project).cache.images
    if variant == "int8":
        if fmt != "onnx":
            raise ValueError("int8 models are exported as ONNX only")
        progress(0.2, "quantising to int8, checking agreement with fp32 and measuring latency")
        trainer = Trainer.load(_checkpoint_path(version), device="cpu")
        meta = ExportMetadata.for_trainer(trainer, classes=_class_names(version, trainer.config.num_classes), version=version.number)
        card = model_card_build(version=version, meta=meta, config=trainer.config.to_dict())
        check = evenly_spaced(images, AGREEMENT_IMAGES)
        return write_measured_onnx_bundle(trainer, directory, card, check, int8=True, latency_seconds=LATENCY_SECONDS)
    student_name = _variant_student(variant)
    if student_name is None:
        raise ValueError(f"unknown model variant {variant!r}")
    distillation = finished_distillation(version=version, student=student_name)
    progress(0.2, f"exporting the {student_name} student and measuring its latency")
    trainer = load_distillation(checkpoint_path(distillation.checkpoint), device="cpu")
    meta = ExportMetadata.for_trainer(trainer, classes=_class_names(version, trainer.config.num_classes), version=version.number)
    meta = replace(meta, algorithm=f"{version.algorithm}, distilled ({distillation.mode}) from {version.backbone}")
    card = replace(
        model_card_build(version=version, meta=meta, config=trainer.config.to_dict()),
        deployment={"distillation": _distillation_summary(distillation)},
    )
    if fmt == "onnx":
        return write_measured_onnx_bundle(trainer, directory, card, evenly_spaced(images, 64), latency_seconds=LATENCY_SECONDS)
    return write_bundle(trainer, directory, card, fmt)
