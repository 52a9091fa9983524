"""Background exports: each label or model export started from the project page is an
:class:`~labelapp.exports.models.ExportJob` run by the ``default`` RQ queue's worker
(``manage.py rqworker default``, the queue that runs distillations), with progress on the row.

A finished file is kept ``EXPORT_KEEP_HOURS`` (default 24) and then deleted: each job's run first
sweeps every expired export, and a download of an expired one deletes its file on the spot and
answers 410. The command-line exports and the REST API's export endpoints stay synchronous (they
call :mod:`labelapp.exports.services` directly, and a script waits for its response anyway).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import django_rq
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from labelapp.exports.models import ExportJob
from labelapp.exports.selectors import LabelOptions, label_row_count, version_for_export
from labelapp.exports.services import (
    DISTILL_QUEUE,
    ExportProgress,
    labels_export_filename,
    labels_export_write,
    model_export_archive,
    model_export_filename,
    model_export_refusal,
)
from labelapp.projects.models import Project

EXPORT_JOB = "labelapp.exports.jobs.run_export"  # by name: jobs.py imports this module
EXPORT_QUEUE = DISTILL_QUEUE  # the ``default`` queue
EXPORT_JOB_TIMEOUT = 3600  # an int8 export of a large project quantises and checks on thousands of images


class ExportUnavailable(Exception):
    """A background export's file cannot be served; ``status_code`` is 409 (not built yet) or 410 (gone)."""

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


def export_job_start(*, project: Project, kind: str, options: dict, user=None) -> ExportJob:
    """Record an export of ``kind`` (``labels`` or ``model``) with validated ``options`` (the direct
    download's query) and queue it on the ``default`` queue (on commit).

    A model export records the version it builds (the current one when none is named): a version
    made later does not change what was asked for. Raises ``ValueError`` when there is no such version.
    """
    options = dict(options)
    if kind == ExportJob.Kind.LABELS:
        filename = labels_export_filename(project=project, fmt=options["format"])
    elif kind == ExportJob.Kind.MODEL:
        version = version_for_export(project=project, number=options.get("version"))
        if version is None:
            raise ValueError("No such model version.")
        if (refusal := model_export_refusal(version)) is not None:
            raise ValueError(str(refusal))
        options["version"] = version.number
        filename = model_export_filename(version=version, fmt=options["format"], variant=options["variant"])
    else:
        raise ValueError(f"unknown export kind {kind!r}; choose labels or model")
    job = ExportJob.objects.create(
        project=project, kind=kind, options=options, filename=filename, created_by=user, message="waiting for the worker"
    )

    def enqueue() -> None:
        django_rq.get_queue(EXPORT_QUEUE).enqueue_call(EXPORT_JOB, args=(job.pk,), timeout=EXPORT_JOB_TIMEOUT)

    transaction.on_commit(enqueue)
    return job


class _JobProgress:
    """A progress callback that writes the fraction and the message to the job's row."""

    def __init__(self, job: ExportJob) -> None:
        self.job = job

    def __call__(self, fraction: float, message: str) -> None:
        ExportJob.objects.filter(pk=self.job.pk).update(progress=min(max(fraction, 0.0), 1.0), message=message[:200])


def _relative(path: Path) -> str:
    return str(Path(path).resolve().relative_to(Path(settings.EXPORT_DIR).resolve()))


def _labels_build(job: ExportJob) -> tuple[Path, ExportProgress | None]:
    options = LabelOptions(job.options.get("include_pseudo", False), job.options.get("include_predictions", False))
    progress = ExportProgress(total=label_row_count(project=job.project, options=options), report=_JobProgress(job))
    target = Path(settings.EXPORT_DIR) / str(job.project_id) / "jobs" / str(job.pk) / job.filename
    return labels_export_write(project=job.project, fmt=job.options["format"], options=options, path=target, progress=progress), progress


def _model_build(job: ExportJob) -> tuple[Path, ExportProgress | None]:
    version = version_for_export(project=job.project, number=job.options["version"])
    if version is None:
        raise ValueError(f"version {job.options['version']} no longer exists")
    archive = model_export_archive(
        version=version, fmt=job.options["format"], variant=job.options.get("variant", "trained"), progress=_JobProgress(job)
    )
    return archive, None


# Keyed by ``ExportJob.kind`` (a ``Kind`` value, read back from the row as a plain ``str``).
BUILDERS: dict[str, Callable[[ExportJob], tuple[Path, ExportProgress | None]]] = {
    ExportJob.Kind.LABELS: _labels_build, ExportJob.Kind.MODEL: _model_build,
}


def export_job_run(*, job_id: int) -> ExportJob:
    """Build a queued export: sweep expired exports, write the file, record its size and expiry.

    A failure marks the row ``failed`` with the reason and re-raises (RQ keeps the traceback). A label
    export leaves out an image whose file cannot be read and says how many it left out.
    """
    export_jobs_expire()
    job = ExportJob.objects.select_related("project").get(pk=job_id)
    ExportJob.objects.filter(pk=job.pk).update(status=ExportJob.Status.RUNNING, error="", message="starting")
    try:
        path, progress = BUILDERS[job.kind](job)
        finished = timezone.now()
        done = f"{progress.rows} labels" if progress is not None else "bundle ready"
        if progress is not None and progress.skipped:
            done += f"; {progress.skipped} unreadable image(s) left out"
        ExportJob.objects.filter(pk=job.pk).update(
            status=ExportJob.Status.DONE, progress=1.0, message=done[:200], path=_relative(path),
            size=path.stat().st_size, skipped=progress.skipped if progress is not None else 0,
            finished_at=finished, expires_at=finished + timedelta(hours=settings.EXPORT_KEEP_HOURS),
        )
    except Exception as exc:
        ExportJob.objects.filter(pk=job.pk).update(
            status=ExportJob.Status.FAILED, error=str(exc)[:2000] or type(exc).__name__, message="", finished_at=timezone.now()
        )
        raise
    job.refresh_from_db()
    return job


def _file_delete(relative: str) -> None:
    """Delete an export file inside ``EXPORT_DIR`` (and its job folder once empty)."""
    root = Path(settings.EXPORT_DIR).resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root) or path == root:
        return
    path.unlink(missing_ok=True)
    if path.parent.parent.name == "jobs":  # a label export's own folder
        try:
            path.parent.rmdir()
        except OSError:
            pass


def export_jobs_expire(*, now: datetime | None = None) -> int:
    """Delete the files of finished exports past ``expires_at``; returns how many expired now.

    A model bundle is shared by every export of the same version and format (and by the direct
    download's cache): its file goes only when no export that still holds it is unexpired.
    """
    now = now or timezone.now()
    expired = list(ExportJob.objects.filter(status=ExportJob.Status.DONE, expires_at__lte=now).exclude(path=""))
    for job in expired:
        kept = ExportJob.objects.filter(status=ExportJob.Status.DONE, path=job.path, expires_at__gt=now).exists()
        if not kept:
            _file_delete(job.path)
        ExportJob.objects.filter(pk=job.pk).update(path="")
    return len(expired)


def export_job_file(*, job: ExportJob) -> Path:
    """The finished file of ``job``; :class:`ExportUnavailable` (409 or 410 with the reason) otherwise."""
    if job.status != ExportJob.Status.DONE:
        reason = f"failed: {job.error}" if job.status == ExportJob.Status.FAILED else f"{job.status}, not built yet"
        raise ExportUnavailable(f"This export is {reason}.", 409)
    hours = settings.EXPORT_KEEP_HOURS
    if job.expires_at is not None and job.expires_at <= timezone.now():
        export_jobs_expire()
        raise ExportUnavailable(
            f"This export expired at {job.expires_at:%Y-%m-%d %H:%M} UTC: a finished export can be downloaded "
            f"for {hours} hours, then its file is deleted. Start the export again on the project page.", 410,
        )
    path = Path(settings.EXPORT_DIR) / job.path
    if not job.path or not path.is_file():
        raise ExportUnavailable("This export's file is gone. Start the export again on the project page.", 410)
    return path
