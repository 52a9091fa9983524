"""Writes of the training app: one training round, starting/stopping continuous training, enqueueing rounds.

A round (:func:`round_run`): update the image cache → read the labels → resume the trainer (warm in
this process, else from the last checkpoint, else fresh) → train for a bounded slice → save the
checkpoint atomically → predict every image → write version N's predictions in bulk while N is not
current → flip the project to N in one transaction → prune old versions' bulky data.
:func:`round_execute` wraps it with the per-project lock, the base-version check (a job delivered
twice does nothing the second time) and the continuous chain.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime

import django_rq
import numpy as np
import torch
from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq.job import Job
from sslengine import FitResult, Predictions, TrainConfig, Trainer

from labelapp.images.models import Image
from labelapp.labeling.models import Annotation, Source
from labelapp.labeling.services import queue_order_build
from labelapp.projects.models import LabelClass, Project
from labelapp.training import events, metrics, store
from labelapp.training.cache import (
    ImageCache,
    atomic_savez,
    cache_update,
    checkpoint_path,
    embeddings_path,
    project_cache_dir,
)
from labelapp.training.locks import RoundLock, round_lock, round_running
from labelapp.training.models import ModelVersion, Prediction

logger = logging.getLogger(__name__)

PREDICTION_BATCH = 1000  # rows per INSERT transaction, so labelers' writes interleave on SQLite
PROGRESS_EVERY_SECONDS = 0.5  # at most two progress events a second
ROUND_JOB = "labelapp.training.jobs.run_training_round"  # by name: jobs.py imports this module
PROJECT_CONFIG_FIELDS = ("num_classes", "algorithm", "backbone", "in_channels", "image_size", "threshold", "seed")


class NoLabels(Exception):
    """The project has no training labels yet: there is nothing to learn from."""


class StaleBase(Exception):
    """The project's current version changed while the round ran (another writer flipped it)."""


@dataclass
class TrainingLabels:
    """The labeled set of a round: cache rows and class indices, and where they came from."""

    rows: np.ndarray  # int64 rows into the image cache
    labels: np.ndarray  # int64 class indices
    human: int
    pseudo: int
    read_at: datetime  # labels changed after this instant are unseen by the round


@dataclass
class WarmTrainer:
    """A trainer kept in this worker process after a successful round, with the checkpoint it equals."""

    project_id: int
    version: tuple[int, datetime]  # pk and creation time of the version whose checkpoint it equals
    trainer: Trainer


@dataclass
class RoundOutcome:
    """What :func:`round_execute` did: ``done``, ``locked``, ``stale``, ``no-labels`` or ``gone``."""

    status: str
    version: ModelVersion | None = None
    enqueued: str | None = None  # id of the next round's job, when the chain enqueued one
    detail: dict = field(default_factory=dict)


_warm: WarmTrainer | None = None


# ---- the round -----------------------------------------------------------------------------------


def holdout_assign(*, project: Project) -> int:
    """Mark the held-out slice: image i is held out iff the first 32 bits of its sha256 fall below
    ``holdout_fraction`` (deterministic, stable as images come and go). Returns how many flags changed."""
    threshold = project.holdout_fraction * 2**32
    rows = Image.objects.filter(project=project).values_list("id", "sha256", "holdout")
    should = {image_id: int(digest[:8], 16) < threshold for image_id, digest, _ in rows}
    flip_on = [image_id for image_id, _, held in rows if should[image_id] and not held]
    flip_off = [image_id for image_id, _, held in rows if held and not should[image_id]]
    for ids, value in ((flip_on, True), (flip_off, False)):
        for start in range(0, len(ids), PREDICTION_BATCH):
            Image.objects.filter(id__in=ids[start : start + PREDICTION_BATCH]).update(holdout=value)
    return len(flip_on) + len(flip_off)


def class_names(*, project: Project) -> dict[int, str]:
    """Class index → name."""
    return dict(LabelClass.objects.filter(project=project).values_list("index", "name"))


def trainer_config(*, project: Project, num_classes: int) -> TrainConfig:
    """The engine config a project asks for (seed fixed, so rounds are reproducible on CPU).

    Progress callbacks come every step on CPU (slow steps: the bar still moves) and every 10 steps on
    a GPU (each callback syncs the device to read the losses). Only called inside a round: querying
    CUDA at import time would break a forking worker's children.
    """
    return TrainConfig(
        num_classes=num_classes,
        algorithm=project.algorithm,
        backbone=project.backbone,
        in_channels=project.in_channels,
        image_size=project.image_size,
        threshold=project.threshold,
        seed=0,
        log_every=10 if torch.cuda.is_available() else 1,
    )


def _same_project_config(a: TrainConfig, b: TrainConfig) -> bool:
    return all(getattr(a, name) == getattr(b, name) for name in PROJECT_CONFIG_FIELDS)


def trainer_resume(*, project: Project, base: ModelVersion | None, config: TrainConfig) -> Trainer:
    """The warm trainer when it equals the base checkpoint, else the base checkpoint, else a fresh trainer.

    A checkpoint whose project-level config differs (classes added, backbone or size changed) is not
    resumed: the round starts a fresh model instead of crashing on mismatched shapes.
    """
    global _warm
    warm, _warm = _warm, None  # a failing round must not leave a half-trained model behind
    if base is None:
        return Trainer(config)
    if warm and warm.project_id == project.pk and warm.version == (base.pk, base.created_at):
        if _same_project_config(warm.trainer.config, config):
            return warm.trainer
    path = checkpoint_path(base.checkpoint)
    if path.exists():
        trainer = Trainer.load(path)
        if _same_project_config(trainer.config, config):
            return trainer
        logger.info("project %s: config changed since v%s; training a fresh model", project.pk, base.number)
    return Trainer(config)


def training_labels(*, project: Project, cache: ImageCache) -> TrainingLabels:
    """Human labels and accepted pseudo-labels of cached, not held-out images."""
    read_at = timezone.now()
    rows = list(
        Annotation.objects.filter(project=project, image__holdout=False).values_list(
            "image_id", "label_class__index", "source"
        )
    )
    ids = np.array([image_id for image_id, _, _ in rows], dtype=np.int64)
    cached = np.isin(ids, cache.ids)
    sources = np.array([source for _, _, source in rows])[cached] if rows else np.array([])
    return TrainingLabels(
        rows=cache.rows(ids[cached]),
        labels=np.array([index for _, index, _ in rows], dtype=np.int64)[cached],
        human=int((sources == Source.HUMAN).sum()),
        pseudo=int((sources == Source.PSEUDO).sum()),
        read_at=read_at,
    )


class ProgressReporter:
    """The ``on_progress`` callback of ``Trainer.fit``: throttled ``round.progress`` events."""

    def __init__(self, project_id: int, *, steps: int | None, seconds: float | None) -> None:
        self.project_id = project_id
        self.steps = steps
        self.seconds = seconds
        self.started = time.perf_counter()
        self.last_sent = 0.0

    def __call__(self, step: int, planned: int, scalars: dict[str, float]) -> None:
        now = time.perf_counter()
        if now - self.last_sent < PROGRESS_EVERY_SECONDS:
            return
        self.last_sent = now
        fraction = step / planned if planned else (now - self.started) / float(self.seconds or 1.0)
        event = events.round_progress(step=step, steps=planned, fraction=min(fraction, 1.0), losses=scalars)
        _announce(self.project_id, event)


def _announce(project_id: int, event: events.Event) -> None:
    """Publish to open pages and remember it for the status endpoint."""
    store.progress_set(project_id, dict(event))
    events.publish(project_id, event)


def _prequential_scores(*, base: ModelVersion | None, labels_until: datetime) -> list[tuple[int, int]]:
    """``(true, predicted)`` of the human labels given after ``base`` read its training labels and up to
    ``labels_until`` (when this round read its own), each scored by ``base``'s prediction.

    Prequential evaluation (Dawid 1984, "Present position and potential developments"; Gama et al. 2013,
    "On evaluating stream learning algorithms"): every label is tested by a model that had not trained on
    it, before any model trains on it. Departure: the scorer is the newest version that had not seen the
    label when the next round read it, which can be one version newer than the one the annotator saw
    (older versions' predictions may be pruned). The intervals of successive rounds do not overlap, so
    every label counts once; held-out images are left to the held-out figures.
    """
    if base is None or base.labels_until is None:
        return []
    return list(
        Prediction.objects.filter(
            version=base,
            image__holdout=False,
            image__annotation__source=Source.HUMAN,
            image__annotation__updated_at__gt=base.labels_until,
            image__annotation__updated_at__lte=labels_until,
        ).values_list("image__annotation__label_class__index", "predicted_index")
    )


def _padded(matrix: list[list[int]] | None, num_classes: int) -> np.ndarray:
    """A stored confusion matrix as an array grown to ``num_classes`` (classes are only ever added at the end)."""
    grown = np.zeros((num_classes, num_classes), dtype=np.int64)
    if matrix:
        old = np.asarray(matrix, dtype=np.int64)[:num_classes, :num_classes]
        grown[: old.shape[0], : old.shape[1]] = old
    return grown


def round_metrics(
    *,
    project: Project,
    base: ModelVersion | None,
    cache: ImageCache,
    predictions: Predictions,
    fit: FitResult,
    num_classes: int,
    labels_until: datetime,
) -> dict:
    """The version's metrics (keys are a contract with the dashboard; see the module README).

    ``running_*``: the base version's agreement with the human labels given since it read its own.
    ``per_class``, ``confusion``, ``prequential_*``: prequential scores (:func:`_prequential_scores`)
    accumulated over every version up to this one, so they need no held-out labels. ``holdout_*``: this
    version on the optional held-out slice (``holdout_fraction``).
    """
    running = (
        list(
            Prediction.objects.filter(
                version=base,
                image__annotation__source=Source.HUMAN,
                image__annotation__updated_at__gt=base.labels_until,
            ).values_list("image__annotation__label_class__index", "predicted_index")
        )
        if base is not None and base.labels_until is not None
        else []
    )
    scored = _prequential_scores(base=base, labels_until=labels_until)
    earlier = base.metrics.get("confusion") if base is not None and "prequential_count" in base.metrics else None
    prequential = _padded(earlier, num_classes)  # a version from before prequential metrics starts from zero
    prequential += metrics.confusion_matrix(
        np.array([t for t, _ in scored], dtype=np.int64), np.array([p for _, p in scored], dtype=np.int64), num_classes
    )
    prequential_count = int(prequential.sum())
    held = list(
        Annotation.objects.filter(project=project, source=Source.HUMAN, image__holdout=True).values_list(
            "image_id", "label_class__index"
        )
    )
    held_ids = np.array([image_id for image_id, _ in held], dtype=np.int64)
    in_cache = np.isin(held_ids, cache.ids)
    held_true = np.array([index for _, index in held], dtype=np.int64)[in_cache]
    held_pred = predictions.predicted.numpy()[cache.rows(held_ids[in_cache])]
    held_matrix = metrics.confusion_matrix(held_true, held_pred, num_classes)
    names = class_names(project=project)
    unlabeled = ~np.isin(cache.ids, np.array(Annotation.objects.filter(project=project).values_list("image_id", flat=True)))
    confident = predictions.confidence.numpy() >= project.threshold
    return {
        "running_accuracy": metrics.agreement(np.array([t for t, _ in running]), np.array([p for _, p in running])),
        "running_count": len(running),
        "prequential_accuracy": float(np.trace(prequential) / prequential_count) if prequential_count else None,
        "prequential_count": prequential_count,
        "per_class": metrics.per_class_report(prequential, names),
        "confusion": prequential.tolist(),
        "holdout_accuracy": metrics.agreement(held_true, held_pred),
        "holdout_count": int(len(held_true)),
        "holdout_per_class": metrics.per_class_report(held_matrix, names),
        "holdout_confusion": held_matrix.tolist(),
        "mask_ratio": fit.scalars.get("mask_ratio"),
        "pseudo_label_rate": float(confident[unlabeled].mean()) if unlabeled.any() else None,
    }


def _prediction_rows(
    version: ModelVersion, cache: ImageCache, predictions: Predictions, rows: slice
) -> list[Prediction]:
    """Prediction objects for one slice of cache rows (built per batch: 100k model objects at once are heavy)."""
    probs = np.round(predictions.probs[rows].numpy().astype(np.float64), 4).tolist()
    columns = zip(
        cache.ids[rows].tolist(),
        predictions.predicted[rows].tolist(),
        predictions.confidence[rows].tolist(),
        predictions.margin[rows].tolist(),
        predictions.entropy[rows].tolist(),
        probs,
    )
    return [
        Prediction(
            version=version, image_id=image_id, predicted_index=index, confidence=confidence, margin=margin,
            entropy=entropy, probs=row_probs,
        )
        for image_id, index, confidence, margin, entropy, row_probs in columns
    ]


def predictions_write(*, version: ModelVersion, cache: ImageCache, predictions: Predictions) -> None:
    """Bulk-insert one prediction per cached image, and the embeddings file, for a version not yet current."""
    for start in range(0, len(cache), PREDICTION_BATCH):
        batch = _prediction_rows(version, cache, predictions, slice(start, start + PREDICTION_BATCH))
        with transaction.atomic():
            Prediction.objects.bulk_create(batch)
    atomic_savez(embeddings_path(version), ids=cache.ids, embeddings=predictions.embeddings.numpy())


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
    Only for dead rounds' leftovers (never current): a finished version's row is history and stays."""
    doomed = list(versions.filter(project=project))
    for version in doomed:
        checkpoint_path(version.checkpoint).unlink(missing_ok=True)
        embeddings_path(version).unlink(missing_ok=True)
    ModelVersion.objects.filter(pk__in=[version.pk for version in doomed]).delete()
    return len(doomed)


class VersionUnavailable(Exception):
    """A version cannot be made current: its bulky data was pruned, or a round is running."""


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
        .exclude(pk=project.current_version_id)
    )
    for version in doomed:
        Prediction.objects.filter(version=version).delete()
        checkpoint_path(version.checkpoint).unlink(missing_ok=True)
        embeddings_path(version).unlink(missing_ok=True)
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
    if version.is_pruned or not checkpoint_path(version.checkpoint).is_file():
        raise VersionUnavailable(
            f"Version {version.number} was pruned (only the newest {settings.TRAINING_KEEP_VERSIONS} versions and "
            "pinned ones keep their predictions and checkpoint): it cannot be made current again."
        )
    with round_lock(project.pk) as lock:
        if lock is None:
            raise VersionUnavailable("A training round is running: stop training or wait for it, then roll back.")
        version_pin(version=version)
        with transaction.atomic():
            locked = Project.objects.select_for_update().get(pk=project.pk)
            locked.current_version = version
            locked.save(update_fields=["current_version"])
        project.current_version = version
        queue_order_build(project=project)
    counts = {"human": version.human_labels, "pseudo": version.pseudo_labels, "images": version.images}
    _announce(project.pk, events.version_ready(version.number, counts))
    return version


def temp_files_delete(*, project: Project) -> int:
    """Delete the temp files of atomic writes (checkpoints, caches) that a killed round left in the project's
    folders. Only a round holding the project's lock writes there, so any temp file found is a dead round's."""
    leftovers = [
        path
        for folder in (checkpoint_path(str(project.pk)), project_cache_dir(project.pk))
        for path in folder.glob(".*.tmp")
    ]
    for path in leftovers:
        path.unlink(missing_ok=True)
    return len(leftovers)


def project_round_seconds(project: Project) -> int:
    """The project's training budget per round, capped by the server's TRAINING_ROUND_SECONDS."""
    return min(project.round_seconds, settings.TRAINING_ROUND_SECONDS)


def round_run(
    *, project_id: int, steps: int | None = None, seconds: float | None = None, lock: RoundLock | None = None
) -> ModelVersion:
    """Run one training round for the project and make its new version current (the caller holds the lock).

    Budget: ``steps`` optimizer steps, or ``seconds`` of training (default: the project's round_seconds,
    at most settings.TRAINING_ROUND_SECONDS).
    """
    global _warm
    started = time.perf_counter()
    project = Project.objects.select_related("current_version").get(pk=project_id)
    base = project.current_version
    if steps is None and seconds is None:
        seconds = float(project_round_seconds(project))
    # Leftovers of a round that died before its flip (never current, maybe half-written).
    versions_delete(
        project=project, versions=ModelVersion.objects.filter(finished_at__isnull=True).exclude(pk=project.current_version_id)
    )
    temp_files_delete(project=project)
    # After a rollback the base is older than the newest version: numbers keep growing.
    latest = ModelVersion.objects.filter(project=project).order_by("-number").values_list("number", flat=True).first()
    number = (latest or 0) + 1
    _announce(project.pk, events.round_started(number))

    holdout_assign(project=project)
    cache = cache_update(project=project).cache
    timings = {"cache": time.perf_counter() - started}

    mark = time.perf_counter()
    labels = training_labels(project=project, cache=cache)
    if len(labels.rows) == 0:
        raise NoLabels(f"project {project.slug} has no training labels yet")
    names = class_names(project=project)
    num_classes = max(2, max(names) + 1)
    trainer = trainer_resume(project=project, base=base, config=trainer_config(project=project, num_classes=num_classes))
    images = torch.from_numpy(cache.images)
    fit = trainer.fit(
        images[torch.from_numpy(labels.rows)],
        torch.from_numpy(labels.labels),
        images,
        steps=steps,
        seconds=seconds,
        on_progress=ProgressReporter(project.pk, steps=steps, seconds=seconds),
    )
    relative = f"{project.pk}/v{number}.pt"
    trainer.save(checkpoint_path(relative))
    timings["train"] = time.perf_counter() - mark  # reading labels, resuming, fit, saving the checkpoint

    mark = time.perf_counter()
    predictions = trainer.predict(images)
    timings["inference"] = time.perf_counter() - mark

    mark = time.perf_counter()
    version = ModelVersion.objects.create(
        project=project,
        number=number,
        algorithm=project.algorithm,
        backbone=project.backbone,
        checkpoint=relative,
        human_labels=labels.human,
        pseudo_labels=labels.pseudo,
        images=len(cache),
        steps=fit.global_step,
        round_steps=fit.steps,
        seconds=fit.seconds,
        # resumed (the trainer's steps exceed this round's): the base's total time plus this round's
        total_seconds=fit.seconds + (base.total_seconds if base is not None and fit.global_step > fit.steps else 0.0),
        device=str(trainer.device),
        losses=fit.scalars,
        metrics=round_metrics(
            project=project, base=base, cache=cache, predictions=predictions, fit=fit, num_classes=num_classes,
            labels_until=labels.read_at,
        ),
        labels_until=labels.read_at,
    )
    predictions_write(version=version, cache=cache, predictions=predictions)
    if lock is not None:
        lock.ensure_held()
    timings["write"] = time.perf_counter() - mark  # version row, predictions, embeddings (the flip adds ms)
    timings["total"] = time.perf_counter() - started
    version.timings = {name: round(value, 3) for name, value in timings.items()}
    version_flip(project=project, base=base, version=version)
    _warm = WarmTrainer(project_id=project.pk, version=(version.pk, version.created_at), trainer=trainer)

    pruned = versions_prune(project=project)
    logger.info("project %s: v%s is current (%s); %s old versions' bulky data pruned", project.pk, number, version.timings, pruned)
    queue_order_build(project=project)  # rank the label queue now, so no annotator waits for it
    return version


# ---- the job's body, the chain and the switches --------------------------------------------------


def round_execute(
    *, project_id: int, base_version: int | None = None, steps: int | None = None, seconds: float | None = None
) -> RoundOutcome:
    """One round job: take the project's lock, skip when the round was already done (``base_version`` no
    longer current), run it, and enqueue the next round while training is on."""
    with round_lock(project_id) as lock:
        if lock is None:
            return RoundOutcome("locked")
        found = list(Project.objects.filter(pk=project_id).values_list("current_version__number", flat=True))
        if not found:
            return RoundOutcome("gone")
        current = found[0] or 0
        if base_version is not None and current != base_version:
            outcome = RoundOutcome("stale", detail={"current": current, "base": base_version})
        else:
            try:
                outcome = RoundOutcome("done", version=round_run(project_id=project_id, steps=steps, seconds=seconds, lock=lock))
            except NoLabels as exc:
                _announce(project_id, events.round_failed(str(exc)))
                return RoundOutcome("no-labels")
            except Exception as exc:
                logger.exception("training round of project %s failed", project_id)
                _announce(project_id, events.round_failed(f"{type(exc).__name__}: {exc}"))
                raise
    if Project.objects.filter(pk=project_id, training_enabled=True).exists():
        outcome.enqueued = round_enqueue(project_id=project_id)
    if outcome.version is not None:
        # Announced once the lock is released and the next round queued: a page that re-reads the status
        # on this event sees the state that follows the round ("Round queued", or "Training off").
        version = outcome.version
        counts = {"human": version.human_labels, "pseudo": version.pseudo_labels, "images": version.images}
        _announce(project_id, events.version_ready(version.number, counts))
    return outcome


def round_job_timeout(*, seconds: float | None) -> int:
    """RQ timeout of a round job: well above its training budget (cache, inference and writes come on top)."""
    default = int(settings.RQ_QUEUES[store.QUEUE_NAME]["DEFAULT_TIMEOUT"])
    return max(default, int(3 * (seconds or 0)) + 600)


def round_enqueue(*, project_id: int, steps: int | None = None, seconds: float | None = None) -> str | None:
    """Enqueue a round now unless one is running or waiting; returns the new job's id, or ``None``."""
    if round_running(project_id):
        return None
    job_id = f"round-{project_id}-{uuid.uuid4().hex[:16]}"
    if not store.queued_claim(project_id, job_id):
        return None
    project = Project.objects.select_related("current_version").get(pk=project_id)
    base = project.current_version.number if project.current_version else 0
    budget = seconds if seconds is not None else (None if steps is not None else float(project_round_seconds(project)))
    django_rq.get_queue(store.QUEUE_NAME, commit_mode="auto").enqueue_call(
        ROUND_JOB,
        kwargs={"project_id": project_id, "base_version": base, "steps": steps, "seconds": seconds},
        job_id=job_id,
        timeout=round_job_timeout(seconds=budget),
        result_ttl=24 * 3600,
        failure_ttl=7 * 24 * 3600,
    )
    return job_id


def round_enqueue_on_commit(*, project_id: int) -> None:
    """After the current transaction commits (never if it rolls back): enqueue a round if training is on
    and no round of the project is queued or running. Call it after saving human labels. While Redis is
    down nothing is queued (logged), and the write that called it still succeeds."""

    def enqueue() -> None:
        if Project.objects.filter(pk=project_id, training_enabled=True).exists():
            try:
                round_enqueue(project_id=project_id)
            except (RedisConnectionError, RedisTimeoutError) as exc:  # the label is committed: don't fail its request
                logger.warning("project %s: Redis is unavailable, no round queued (the next label queues one): %s",
                               project_id, exc)

    transaction.on_commit(enqueue)


def training_start(*, project: Project) -> None:
    """Turn continuous training on and queue a round (on commit)."""
    Project.objects.filter(pk=project.pk).update(training_enabled=True)
    project.training_enabled = True
    round_enqueue_on_commit(project_id=project.pk)


def training_stop(*, project: Project) -> None:
    """Turn continuous training off: the running round finishes, the waiting one is cancelled."""
    Project.objects.filter(pk=project.pk).update(training_enabled=False)
    project.training_enabled = False
    job_id = store.queued_job_id(project.pk)
    if job_id is not None:
        Job.fetch(job_id, connection=store.connection()).cancel()
