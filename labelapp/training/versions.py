"""Writes of model versions: publishing one, flipping the project to it, pruning, pinning, rolling back.

:func:`version_publish`, under the publish lock: version N = the highest number + 1 (a rollback leaves
newer versions behind the current one) gets its rows and files while N is not current → flip the project
to N in one transaction (:func:`version_flip`); then the caller prunes old versions' bulky data
(:func:`versions_prune`; their rows are history and stay).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
from django.conf import settings
from django.db import transaction
from django.db.models import Max, QuerySet
from django.utils import timezone

from labelapp.projects.models import Project
from labelapp.training import events, prediction_store
from labelapp.training.cache import (
    ImageCache,
    atomic_savez,
    checkpoint_local,
    checkpoint_path,
    embeddings_path,
    project_cache_dir,
    version_files_delete,
    version_files_share,
)
from labelapp.training.locks import RoundLock, publish_lock, round_lock
from labelapp.training.models import ModelVersion, Prediction
from labelapp.training.signals import version_publishing, version_ready
from sslengine import Predictions
from sslengine.checkpoint import atomic_write

logger = logging.getLogger(__name__)

PREDICTION_BATCH = 1000  # rows per INSERT transaction, so labelers' writes interleave on SQLite


class StaleBase(Exception):
    """The project's current version changed while the round ran (another writer flipped it)."""


class VersionUnavailable(Exception):
    """A version cannot be made current: its bulky data was pruned, or a round is running."""


@dataclass
class Publication:
    """What a new version holds before it has a number."""

    kind: str  # a ModelVersion.Kind
    cache: ImageCache  # row i of the predictions and embeddings belongs to Image cache.ids[i]
    predictions: Predictions | None  # None: embeddings only (no label yet)
    embeddings: torch.Tensor  # float32 [N, D]
    fields: dict  # the other ModelVersion fields
    staged_checkpoint: Path | None = None  # the SSL model's new checkpoint; None: share the current version's
    # training seconds behind a fresh model before this publication's (its pre-trained encoder's);
    # None: the model carries on from the current version, whose ``total_seconds`` it adds to
    fresh_seconds: float | None = None
    shared_embeddings: Path | None = None  # an embeddings file to share instead of writing ``embeddings``


def file_identity(path: Path) -> tuple[int, int, int] | None:
    """(device, inode, mtime) of a file: equal for hard links of one file, different for a rewritten one."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_dev, stat.st_ino, stat.st_mtime_ns


def file_share(source: Path, target: Path) -> None:
    """``target`` becomes a hard link of ``source`` (a copy, written atomically, where links are refused)."""
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)
    except OSError:

        def copy(handle: BinaryIO) -> None:
            handle.write(source.read_bytes())

        atomic_write(target, copy)


def version_next_number(*, project: Project) -> int:
    """The number the project's next version gets: after the highest one, not after the current one (after a
    rollback newer versions stay as history). Exact under the publish lock, an estimate for progress events."""
    return (ModelVersion.objects.filter(project=project).aggregate(top=Max("number"))["top"] or 0) + 1


def version_publish(
    *, project: Project, publication: Publication, timings: dict[str, float], started: float,
    lock: RoundLock | None = None, held: bool = False,
) -> ModelVersion:
    """Give the publication the next number (:func:`version_next_number`), write its rows and files, and make
    it current, all under the project's publish lock (``held``: the caller holds it already). Every kind gets
    ``total_seconds`` here and ``finished_at`` at the flip.

    A label propagation and a training round publish in turn, never interleaved, so numbers follow the
    order of publication and a round whose base moved (a propagation published meanwhile) rebases on
    the newer version instead of failing. Unfinished versions other than the current one are a dead
    publisher's leftovers (never current, maybe half-written) and are deleted first.
    """
    if not held:
        with publish_lock(project.pk):
            return version_publish(project=project, publication=publication, timings=timings, started=started,
                                   lock=lock, held=True)
    mark = time.perf_counter()
    current = Project.objects.select_related("current_version").get(pk=project.pk).current_version
    unfinished = ModelVersion.objects.filter(finished_at__isnull=True)
    versions_delete(project=project, versions=unfinished.exclude(pk=current.pk) if current else unfinished)
    number = version_next_number(project=project)
    carried = current.total_seconds if current is not None else 0.0
    fields = {
        **publication.fields,
        "total_seconds": publication.fields["seconds"]
        + (carried if publication.fresh_seconds is None else publication.fresh_seconds),
    }
    relative = f"{project.pk}/v{number}.pt"
    if publication.staged_checkpoint is not None:
        os.replace(publication.staged_checkpoint, checkpoint_path(relative))
    elif current is not None and checkpoint_local(current.checkpoint).is_file():
        file_share(checkpoint_path(current.checkpoint), checkpoint_path(relative))  # the SSL model carries on
    version = ModelVersion.objects.create(
        project=project, number=number, kind=publication.kind, checkpoint=relative, **fields
    )
    if publication.predictions is not None:
        prediction_rows_write(version=version, ids=publication.cache.ids, predictions=publication.predictions)
    if publication.shared_embeddings is not None:
        file_share(publication.shared_embeddings, embeddings_path(version))
    else:
        atomic_savez(embeddings_path(version), ids=publication.cache.ids, embeddings=publication.embeddings.numpy())
    version_files_share(version)  # other hosts resume from it (no-op on a single host)
    if lock is not None:
        lock.ensure_held()
    timings["write"] = time.perf_counter() - mark  # version row, predictions, embeddings (the flip adds ms)
    mark = time.perf_counter()
    version_prepare(project=project, version=version)
    if lock is not None:
        lock.ensure_held()
    timings["prepare"] = time.perf_counter() - mark  # what the apps above ready for it (the label queue's order)
    timings["total"] = time.perf_counter() - started
    version.timings = {name: round(value, 3) for name, value in timings.items()}
    version_flip(project=project, base=current, version=version)
    return version


def prediction_rows_write(*, version: ModelVersion, ids: np.ndarray, predictions: Predictions) -> None:
    """Bulk-write one prediction per image (row i is Image ``ids[i]``) for a version not yet current
    (``COPY`` on PostgreSQL, INSERT batches elsewhere: :mod:`labelapp.training.prediction_store`)."""
    prediction_store.predictions_write(version=version, ids=ids, predictions=predictions)


def version_prepare(*, project: Project, version: ModelVersion) -> None:
    """Let the apps above prepare for ``version`` before it becomes current (``version_publishing``); a
    receiver's error is logged and the version is published all the same."""
    for receiver, result in version_publishing.send_robust(ModelVersion, project=project, version=version):
        if isinstance(result, Exception):
            logger.error("project %s: preparing v%s failed in %s (it is published anyway): %r", project.pk,
                         version.number, getattr(receiver, "__qualname__", receiver), result, exc_info=result)


def version_flip(*, project: Project, base: ModelVersion | None, version: ModelVersion) -> None:
    """Make ``version`` current in one transaction, only if the project is still at ``base``; its timings
    are saved in the same transaction, so a reader that sees the version sees them too."""
    with transaction.atomic():
        locked = Project.objects.select_for_update().get(pk=project.pk)
        if locked.current_version_id != (base.pk if base else None):
            raise StaleBase(f"project {project.pk} moved to another version during the round")
        version.finished_at = timezone.now()
        version.save(update_fields=["timings", "finished_at"])
        locked.current_version = version
        locked.save(update_fields=["current_version"])
    project.current_version = version


def versions_delete(*, project: Project, versions: QuerySet[ModelVersion]) -> int:
    """Delete some versions of the project: their predictions (cascade), checkpoints and embeddings files.
    Only for dead publishers' leftovers (never current, see :func:`version_publish`): a finished version's
    row is history and stays."""
    doomed = list(versions.filter(project=project))
    for version in doomed:
        version_files_delete(version)
    ModelVersion.objects.filter(pk__in=[version.pk for version in doomed]).delete()
    return len(doomed)


def versions_prune(*, project: Project, keep: int | None = None) -> int:
    """Delete the bulky data (prediction rows, checkpoint, embeddings file) of the project's finished
    versions except the newest ``keep`` (``settings.TRAINING_KEEP_VERSIONS``), the current one and
    pinned ones. Rows, counts, metrics, losses and timings stay. Returns how many versions were pruned."""
    keep = settings.TRAINING_KEEP_VERSIONS if keep is None else keep
    finished = ModelVersion.objects.filter(project=project, finished_at__isnull=False)
    newest = list(finished.order_by("-number").values_list("pk", flat=True)[:keep])
    doomed = list(
        finished.filter(pruned_at__isnull=True, pinned=False)
        .exclude(pk__in=newest)
        .exclude(pk__in=[project.current_version_id] if project.current_version_id else [])
    )
    for version in doomed:
        Prediction.objects.filter(version=version).delete()
        version_files_delete(version)
        ModelVersion.objects.filter(pk=version.pk).update(pruned_at=timezone.now())
    return len(doomed)


def version_pin(*, version: ModelVersion, pinned: bool = True) -> ModelVersion:
    """Keep (or stop keeping) a version's bulky data whatever its age; unpinning prunes it at the next round."""
    ModelVersion.objects.filter(pk=version.pk).update(pinned=pinned)
    version.pinned = pinned
    return version


def project_rollback(*, project: Project, version: ModelVersion) -> ModelVersion:
    """Make an older (or newer) kept version current again: its predictions serve the queues and the next
    round resumes from its checkpoint. Refused while a round runs (its flip would fail) and for a version
    whose bulky data was pruned. The version is pinned, so rolling back never loses it to pruning."""
    if version.project_id != project.pk:
        raise VersionUnavailable("That version belongs to another project.")
    # a version from before the SSL model's first round (pre-trained, propagated) has no checkpoint
    if version.is_pruned or (version.steps and not checkpoint_local(version.checkpoint).is_file()):
        raise VersionUnavailable(
            f"Version {version.number} was pruned (only the newest {settings.TRAINING_KEEP_VERSIONS} versions and "
            "pinned ones keep their predictions and checkpoint): it cannot be made current again."
        )
    with round_lock(project.pk) as lock:
        if lock is None:
            raise VersionUnavailable("A training round is running: stop training or wait for it, then roll back.")
        version_pin(version=version)
        with publish_lock(project.pk):  # a label propagation publishes over the current version in turn
            version_prepare(project=project, version=version)
            with transaction.atomic():
                locked = Project.objects.select_for_update().get(pk=project.pk)
                locked.current_version = version
                locked.save(update_fields=["current_version"])
        project.current_version = version
        version_ready.send(ModelVersion, project=project, version=version)
    counts = {"human": version.human_labels, "pseudo": version.pseudo_labels, "images": version.images}
    events.announce(project.pk, events.version_ready(version.number, counts))
    return version


def temp_files_delete(*, project: Project) -> int:
    """Delete the temp files of atomic writes (checkpoints, caches, embeddings) that a killed round or label
    propagation left in the project's folders. Call it holding the round lock and the publish lock: then
    nobody else writes there, so any temp file found is a dead writer's."""
    leftovers = [
        path
        for folder in (checkpoint_path(str(project.pk)), project_cache_dir(project.pk))
        for path in folder.glob(".*.tmp")
    ]
    for path in leftovers:
        path.unlink(missing_ok=True)
    return len(leftovers)


def version_announce(*, project: Project, version: ModelVersion) -> None:
    """Let the apps above prepare for the new current version (``version_ready``: the labeling app ranks its
    label queue, so no annotator waits for it), then tell open pages (a label propagation's version; a
    round's is announced by :func:`~labelapp.training.rounds.round_execute` once its lock is free)."""
    version_ready.send(ModelVersion, project=project, version=version)
    counts = {"human": version.human_labels, "pseudo": version.pseudo_labels, "images": version.images}
    events.announce(project.pk, events.version_ready(version.number, counts))
