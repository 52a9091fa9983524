"""Reads for exports: label rows streamed from the database in chunks, never a full list in memory."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath

from labelapp.exports.models import Distillation, ExportJob
from labelapp.labeling.models import Annotation, Source
from labelapp.labeling.selectors import review_queue
from labelapp.projects.models import Project
from labelapp.training.models import ModelVersion

CHUNK_SIZE = 2000
PREDICTION = "prediction"  # the ``source`` of an unreviewed prediction (not a label anyone gave)
_UNSAFE = re.compile(r"[^\w \-.+()&,']", flags=re.UNICODE)
_EXTENSION = re.compile(r"^[a-z0-9]{1,5}$")


@dataclass(frozen=True)
class LabelOptions:
    """Which rows an export holds: human labels always; optionally accepted pseudo-labels and
    unreviewed predictions of the current version at or above the project's τ (flagged as such)."""

    include_pseudo: bool = False
    include_predictions: bool = False


@dataclass(frozen=True)
class LabelRow:
    """One exported label. ``stored_name`` is the server-made storage name of the image file."""

    image_id: int
    filename: str  # the uploader's file name (display only, may repeat)
    class_index: int
    label: str
    source: str  # "human", "pseudo" (accepted pseudo-label) or "prediction" (unreviewed, ≥ τ)
    confidence: float | None
    annotator: str
    updated: datetime
    stored_name: str
    width: int
    height: int

    @property
    def extension(self) -> str:
        """The stored file's extension (server-made), e.g. ``png``."""
        suffix = PurePosixPath(self.stored_name).suffix.lstrip(".").lower()
        return suffix if _EXTENSION.match(suffix) else "bin"


def label_rows(*, project: Project, options: LabelOptions) -> Iterator[LabelRow]:
    """Current labels of the project ordered by image id, then (if asked) the unreviewed predictions of
    the current version: the pseudo-label review queue (≥ τ, no label, not rejected under that version).

    Both queries are read with ``iterator(chunk_size=...)``: memory stays flat whatever the size.
    """
    names = dict(project.classes.values_list("index", "name"))
    sources = [Source.HUMAN, Source.PSEUDO] if options.include_pseudo else [Source.HUMAN]
    annotations = (
        Annotation.objects.filter(project=project, source__in=sources)
        .select_related("image", "label_class", "annotator")
        .order_by("image_id")
    )
    for annotation in annotations.iterator(chunk_size=CHUNK_SIZE):
        yield LabelRow(
            image_id=annotation.image_id,
            filename=annotation.image.original_name,
            class_index=annotation.label_class.index,
            label=annotation.label_class.name,
            source=annotation.source,
            confidence=annotation.confidence,
            annotator=annotation.annotator.get_username() if annotation.annotator else "",
            updated=annotation.updated_at,
            stored_name=annotation.image.file.name,
            width=annotation.image.width,
            height=annotation.image.height,
        )
    if options.include_predictions and project.current_version_id is not None:
        version = ModelVersion.objects.get(pk=project.current_version_id)
        predictions = review_queue(project, version=version).order_by("image_id")
        for prediction in predictions.iterator(chunk_size=CHUNK_SIZE):
            yield LabelRow(
                image_id=prediction.image_id,
                filename=prediction.image.original_name,
                class_index=prediction.predicted_index,
                label=names.get(prediction.predicted_index, str(prediction.predicted_index)),
                source=PREDICTION,
                confidence=prediction.confidence,
                annotator="",
                updated=version.created_at,
                stored_name=prediction.image.file.name,
                width=prediction.image.width,
                height=prediction.image.height,
            )


def label_row_count(*, project: Project, options: LabelOptions) -> int:
    """How many rows :func:`label_rows` yields (two counts; an export's progress is measured against it)."""
    sources = [Source.HUMAN, Source.PSEUDO] if options.include_pseudo else [Source.HUMAN]
    count = Annotation.objects.filter(project=project, source__in=sources).count()
    if options.include_predictions and project.current_version_id is not None:
        version = ModelVersion.objects.get(pk=project.current_version_id)
        count += review_queue(project, version=version).count()
    return count


def safe_component(name: str) -> str:
    """``name`` reduced to one harmless path component: no separators, control characters or leading dots."""
    cleaned = "".join(ch for ch in unicodedata.normalize("NFC", name) if unicodedata.category(ch)[0] != "C")
    cleaned = re.sub(r"\.{2,}", ".", _UNSAFE.sub("_", cleaned)).strip(" .")
    return cleaned[:80].rstrip(" .")


def class_folders(project: Project) -> dict[int, str]:
    """ImageFolder folder of each class index, made by the server only.

    A class whose name is already a safe path component keeps it (so a re-import maps folders back
    to the same class names); any other gets ``<index>_<safe name>``. If two folders would clash
    (case-insensitively), every folder is prefixed with its zero-padded index.
    """
    classes = list(project.classes.order_by("index").values_list("index", "name"))
    width = max(2, len(str(len(classes))))
    prefixed = {index: f"{index:0{width}d}_{safe_component(name)}".rstrip("_") for index, name in classes}
    folders = {index: name if safe_component(name) == name and name else prefixed[index] for index, name in classes}
    lowered = [folder.lower() for folder in folders.values()]
    return prefixed if len(set(lowered)) != len(lowered) else folders


def archive_name(row: LabelRow, folders: dict[int, str]) -> str:
    """The zip entry of a row: ``<class folder>/<image id>.<ext>`` (``.predicted`` marks a prediction)."""
    flag = ".predicted" if row.source == PREDICTION else ""
    folder = folders.get(row.class_index) or f"{row.class_index:02d}_unknown"
    return f"{folder}/{row.image_id}{flag}.{row.extension}"


def version_for_export(*, project: Project, number: int | None = None) -> ModelVersion | None:
    """Version ``number`` of the project; without a number the current version, else the latest one."""
    versions = ModelVersion.objects.filter(project=project).select_related("project")
    if number is not None:
        return versions.filter(number=number).first()
    if project.current_version_id is not None:
        return versions.filter(pk=project.current_version_id).first()
    return versions.order_by("-number").first()


def distillations_of(*, project: Project, limit: int = 10) -> list[Distillation]:
    """The project's latest distillations, newest first, with their teacher version."""
    return list(Distillation.objects.filter(project=project).select_related("version")[:limit])


def distilled_students(*, project: Project) -> list[str]:
    """Students with at least one finished distillation in the project (the export form offers them)."""
    done = Distillation.objects.filter(project=project, status=Distillation.Status.DONE)
    return sorted(set(done.values_list("student", flat=True)))


def distillation_state(*, distillation: Distillation) -> dict:
    """What the panel shows of a distillation: status, progress, results or the error."""
    return {
        "id": distillation.pk,
        "version": distillation.version.number,
        "student": distillation.student,
        "mode": distillation.mode,
        "status": distillation.status,
        "progress": distillation.progress,
        "steps": distillation.steps_done,
        "metrics": distillation.metrics,
        "error": distillation.error,
    }


def export_jobs_of(*, project: Project, limit: int = 10) -> list[ExportJob]:
    """The project's latest background exports, newest first (the exports panel lists them)."""
    return list(ExportJob.objects.filter(project=project)[:limit])


def export_job_state(*, job: ExportJob) -> dict:
    """What the exports panel shows of a background export while it follows it."""
    return {
        "id": job.pk,
        "kind": job.kind,
        "title": job.title,
        "status": job.status,
        "progress": job.progress,
        "message": job.message,
        "error": job.error,
        "skipped": job.skipped,
        "filename": job.filename,
        "size": job.size,
        "expires_at": job.expires_at.isoformat() if job.expires_at else None,
        "expired": job.is_expired,
    }
