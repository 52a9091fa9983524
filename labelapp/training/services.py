"""Writes of the training app: one training round, label propagation, starting/stopping continuous
training, enqueueing rounds.

A round (:func:`round_run`): update the image cache → read the labels → pre-train or train
(:func:`round_phase`). A pre-training round resumes the project's encoder (warm in this process, else
its checkpoint, else fresh), trains it on every image, saves it atomically and embeds every image;
labels, if any, are propagated over those embeddings. An SSL round resumes the project's model (warm,
else the last checkpoint, else fresh from the pre-trained encoder), trains for a bounded slice, stages
its checkpoint and predicts every image. Then :func:`version_publish`, under the publish lock: version
N = the highest number + 1 (a rollback leaves newer versions behind the current one) gets its rows and
files while N is not current → flip the project to N in one transaction; then prune old versions'
bulky data (:func:`versions_prune`; their rows are history and stay).
Label propagation (:func:`propagation_run`, a seconds-long job on the ``default`` queue, queued when
labels change) publishes the same way: the current version's embeddings with freshly propagated scores.
:func:`round_execute` wraps a round with the per-project round lock, the base-version check (a job
delivered twice does nothing the second time) and the continuous chain.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import django_rq
import numpy as np
import torch
from django.conf import settings
from django.db import transaction
from django.db.models import Max, QuerySet
from django.utils import timezone
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq.job import Job
from sslengine import FitResult, PretrainConfig, Pretrainer, Predictions, TrainConfig, Trainer, embedding_quality
from sslengine.checkpoint import atomic_write
from sslengine.pretext import KNN_NEIGHBOURS
from sslengine.propagation import propagate

from labelapp.images.models import Image
from labelapp.labeling.models import Annotation, Source
from labelapp.labeling.services import queue_order_build
from labelapp.projects.models import LabelClass, Project
from labelapp.training import events, metrics, prediction_store, store
from labelapp.training.cache import (
    ImageCache,
    atomic_savez,
    cache_update,
    checkpoint_local,
    checkpoint_path,
    checkpoint_share,
    embeddings_path,
    project_cache_dir,
    version_files_delete,
    version_files_share,
)
from labelapp.training.locks import RoundLock, publish_lock, round_lock, round_running
from labelapp.training.models import ModelVersion, Prediction
from labelapp.training.selectors import version_embeddings

logger = logging.getLogger(__name__)

PREDICTION_BATCH = 1000  # rows per INSERT transaction, so labelers' writes interleave on SQLite
PROGRESS_EVERY_SECONDS = 0.5  # at most two progress events a second
ROUND_JOB = "labelapp.training.jobs.run_training_round"  # by name: jobs.py imports this module
PROPAGATION_JOB = "labelapp.training.jobs.run_label_propagation"
PROPAGATION_QUEUE = "default"  # its worker runs short jobs: a propagation never waits behind a round
PRETRAIN, TRAIN = "pretrain", "train"  # the two kinds of round (round_phase)
PRETRAIN_ACTIVITY = "learning the images"
PROJECT_CONFIG_FIELDS = ("num_classes", "algorithm", "backbone", "in_channels", "image_size", "threshold", "seed")


class NoImages(Exception):
    """The project has fewer than two images: there is nothing to learn from."""


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
    checkpoint: tuple[int, int, int] | None  # identity of the checkpoint file it equals (hard links share it)
    trainer: Trainer


@dataclass
class WarmPretrainer:
    """The pre-trainer kept in this worker process after a pre-training round, with the checkpoint it equals."""

    project_id: int
    checkpoint: tuple[int, int, int] | None
    pretrainer: Pretrainer


@dataclass
class RoundOutcome:
    """What :func:`round_execute` did: ``done``, ``locked``, ``stale``, ``no-images`` or ``gone``."""

    status: str
    version: ModelVersion | None = None
    enqueued: str | None = None  # id of the next round's job, when the chain enqueued one
    detail: dict = field(default_factory=dict)


_warm: WarmTrainer | None = None
_warm_pretrainer: WarmPretrainer | None = None


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
        hflip=project.horizontal_flip,
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
    path = checkpoint_local(base.checkpoint)  # another host may have trained it
    if warm and warm.project_id == project.pk and warm.checkpoint is not None and warm.checkpoint == _file_identity(path):
        if _same_project_config(warm.trainer.config, config):
            return warm.trainer
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

    def __init__(
        self, project_id: int, *, steps: int | None, seconds: float | None, activity: str = "training", note: str = ""
    ) -> None:
        self.project_id = project_id
        self.activity = activity  # what the round does, e.g. "learning the images"
        self.note = note  # appended to each progress text, e.g. ", kNN quality 0.61 after the last round"
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
        epoch = f"epoch {scalars['epoch']:.1f}, " if "epoch" in scalars else ""  # pre-training passes over the pool
        loss = f", loss {scalars['loss']:.3f}" if "loss" in scalars else ""
        activity = f"{self.activity}: {epoch}step {step}{loss}{self.note}"
        event = events.round_progress(
            step=step, steps=planned, fraction=min(fraction, 1.0), losses=scalars, activity=activity
        )
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


def prediction_rows_write(*, version: ModelVersion, ids: np.ndarray, predictions: Predictions) -> None:
    """Bulk-write one prediction per image (row i is Image ``ids[i]``) for a version not yet current
    (``COPY`` on PostgreSQL, INSERT batches elsewhere: :mod:`labelapp.training.prediction_store`)."""
    prediction_store.predictions_write(version=version, ids=ids, predictions=predictions)


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


def project_round_seconds(project: Project) -> int:
    """The project's training budget per round, capped by the server's TRAINING_ROUND_SECONDS."""
    return min(project.round_seconds, settings.TRAINING_ROUND_SECONDS)


def pretrain_config(*, project: Project) -> PretrainConfig:
    """The pre-training config a project asks for (its backbone, size, channels and flip setting)."""
    return PretrainConfig(
        backbone=project.backbone,
        in_channels=project.in_channels,
        image_size=project.image_size,
        hflip=project.horizontal_flip,
        seed=0,
        log_every=10 if torch.cuda.is_available() else 1,
    )


def pretrainer_path(project_id: int) -> Path:
    """The project's one pre-training checkpoint (not per version: the encoder only moves forward)."""
    return checkpoint_local(f"{project_id}/pretrain.pt")


def _same_pretrain_config(a: PretrainConfig, b: PretrainConfig) -> bool:
    return all(getattr(a, name) == getattr(b, name) for name in ("backbone", "in_channels", "image_size"))


def pretrainer_keep_warm(*, project_id: int, pretrainer: Pretrainer, path: Path) -> None:
    """Keep ``pretrainer`` in this process as equal to the checkpoint just saved at ``path``."""
    global _warm_pretrainer
    _warm_pretrainer = WarmPretrainer(project_id=project_id, checkpoint=_file_identity(path), pretrainer=pretrainer)


def pretrainer_resume(*, project: Project) -> Pretrainer:
    """The warm pre-trainer when it equals the project's checkpoint, else the checkpoint, else a fresh one.

    A checkpoint of another backbone, size or channel count (the project's settings changed) is not
    resumed; the flip setting follows the project on resume.
    """
    global _warm_pretrainer
    warm, _warm_pretrainer = _warm_pretrainer, None
    config = pretrain_config(project=project)
    path = pretrainer_path(project.pk)
    identity = _file_identity(path)
    if warm and warm.project_id == project.pk and identity is not None and warm.checkpoint == identity:
        pretrainer = warm.pretrainer
    elif identity is not None:
        pretrainer = Pretrainer.load(path)
    else:
        return Pretrainer(config)
    if not _same_pretrain_config(pretrainer.config, config):
        logger.info("project %s: image settings changed; pre-training a fresh encoder", project.pk)
        return Pretrainer(config)
    pretrainer.config.hflip = config.hflip
    return pretrainer


def trainer_from_encoder(*, project: Project, trainer: Trainer) -> bool:
    """Initialise a fresh trainer's backbone from the project's pre-trained encoder; ``False`` without one
    (or one of another backbone, size or channel count)."""
    path = pretrainer_path(project.pk)
    if not path.exists():
        return False
    warm = _warm_pretrainer
    same = warm is not None and warm.project_id == project.pk and warm.checkpoint == _file_identity(path)
    pretrainer = warm.pretrainer if same else Pretrainer.load(path)
    if not _same_pretrain_config(pretrainer.config, PretrainConfig(
        backbone=trainer.config.backbone, in_channels=trainer.config.in_channels, image_size=trainer.config.image_size
    )):
        return False
    trainer.load_encoder(pretrainer.encoder_state_dict())
    return True


def round_phase(*, base: ModelVersion | None, labels: int, images: int, classes: int) -> str:
    """``PRETRAIN`` or ``TRAIN``: what the next round of a project does (the rule is stated in the README).

    Pre-train while the labeled set is smaller than ``TRAINING_SSL_MIN_LABELS_PER_CLASS`` per class, or the
    encoder has pre-trained for less than ``TRAINING_PRETRAIN_MIN_SECONDS`` (``_GPU`` on CUDA) in all, or the
    pool grew by ``TRAINING_PRETRAIN_GROWTH_PERCENT`` since the encoder last saw it; else train the SSL model.
    """
    if labels == 0 or labels < settings.TRAINING_SSL_MIN_LABELS_PER_CLASS * max(1, classes):
        return PRETRAIN
    minimum = settings.TRAINING_PRETRAIN_MIN_SECONDS_GPU if torch.cuda.is_available() else settings.TRAINING_PRETRAIN_MIN_SECONDS
    seconds, seen = (base.pretrain_seconds, base.pretrain_images) if base else (0.0, 0)
    if seconds < minimum:
        return PRETRAIN
    if seen and images * 100 >= seen * (100 + settings.TRAINING_PRETRAIN_GROWTH_PERCENT):
        return PRETRAIN
    return TRAIN


def _labeled_tensors(labels: TrainingLabels) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.from_numpy(labels.rows), torch.from_numpy(labels.labels)


def labels_propagate(*, embeddings: torch.Tensor, labels: TrainingLabels, num_classes: int) -> Predictions:
    """Class scores for every row diffused from the labeled rows over the embeddings' kNN graph (Iscen et
    al., CVPR 2019; ``sslengine.propagation``); the embeddings travel with the predictions unchanged."""
    rows, classes = _labeled_tensors(labels)
    return propagate(embeddings, rows, classes, num_classes)


def unlabeled_predictions(*, embeddings: torch.Tensor, num_classes: int) -> Predictions:
    """Uniform class scores with real embeddings: what a version holds before its project's first label."""
    uniform = torch.full((embeddings.shape[0], num_classes), 1.0 / num_classes)
    return Predictions.from_probs(uniform, embeddings)


def _quality(embeddings: torch.Tensor, labels: TrainingLabels) -> dict[str, float]:
    """The encoder's embedding quality: the leave-one-out kNN accuracy over the labeled rows once every
    labeled class has more labels than the vote has neighbours (fewer make a majority of 20 meaningless),
    else label-free figures only."""
    counts = np.bincount(labels.labels) if len(labels.labels) else np.zeros(0, np.int64)
    present = counts[counts > 0]
    if len(present) > 1 and present.min() > KNN_NEIGHBOURS:
        rows, classes = _labeled_tensors(labels)
        return {name: float(value) for name, value in embedding_quality(embeddings[rows], classes).items()}
    return {name: float(value) for name, value in embedding_quality(embeddings).items()}


def quality_note(quality: dict[str, float]) -> str:
    """The last round's embedding quality for progress texts: ", kNN quality 0.61", or a label-free figure."""
    if "knn_accuracy" in quality:
        return f", kNN quality {quality['knn_accuracy']:.2f}"
    return "".join(f", {name.replace('_', ' ')} {value:.2f}" for name, value in list(quality.items())[:1])


def round_pretrain(
    *, project: Project, base: ModelVersion | None, cache: ImageCache, labels: TrainingLabels, num_classes: int,
    steps: int | None, seconds: float | None, timings: dict[str, float],
) -> Publication:
    """A pre-training round: resume the project's encoder, train it on every image, save it, embed every
    image; predictions are propagated from the labels when there are any."""
    mark = time.perf_counter()
    pretrainer = pretrainer_resume(project=project)
    images = torch.from_numpy(cache.images)
    note = quality_note((base.metrics.get("embedding_quality") or {}) if base else {})
    result = pretrainer.fit(
        images, steps=steps, seconds=seconds,
        on_progress=ProgressReporter(project.pk, steps=steps, seconds=seconds, activity=PRETRAIN_ACTIVITY, note=note),
    )
    path = pretrainer_path(project.pk)
    pretrainer.save(path)
    checkpoint_share(f"{project.pk}/pretrain.pt")  # before keep_warm: the upload stamps the file
    pretrainer_keep_warm(project_id=project.pk, pretrainer=pretrainer, path=path)
    timings["train"] = time.perf_counter() - mark

    mark = time.perf_counter()
    embeddings = pretrainer.embed(images)
    quality = _quality(embeddings, labels)
    if len(labels.rows):
        predictions = labels_propagate(embeddings=embeddings, labels=labels, num_classes=num_classes)
    else:
        predictions = unlabeled_predictions(embeddings=embeddings, num_classes=num_classes)
    timings["inference"] = time.perf_counter() - mark  # embedding, quality figures and propagation
    metrics = {"embedding_quality": quality}
    if len(labels.rows):
        metrics = {**round_metrics(project=project, base=base, cache=cache, predictions=predictions, fit=result,
                                   num_classes=num_classes, labels_until=labels.read_at), **metrics}
    return Publication(
        kind=ModelVersion.Kind.PRETRAINED,
        cache=cache,
        predictions=predictions if len(labels.rows) else None,
        embeddings=predictions.embeddings,
        fields={
            "algorithm": pretrainer.config.method, "backbone": project.backbone,
            "human_labels": labels.human, "pseudo_labels": labels.pseudo, "images": len(cache),
            "steps": base.steps if base else 0, "round_steps": result.steps, "seconds": result.seconds,
            "pretrain_steps": result.global_step,
            "pretrain_seconds": (base.pretrain_seconds if base else 0.0) + result.seconds,
            "pretrain_images": len(cache), "device": str(pretrainer.device), "losses": result.scalars,
            "metrics": metrics, "labels_until": labels.read_at,
        },
    )


def round_train(
    *, project: Project, base: ModelVersion | None, cache: ImageCache, labels: TrainingLabels, num_classes: int,
    steps: int | None, seconds: float | None, timings: dict[str, float],
) -> tuple[Publication, Trainer]:
    """An SSL round: resume the project's model (warm, else its checkpoint, else a fresh one initialised
    from the pre-trained encoder when there is one), train, stage the checkpoint, predict every image."""
    mark = time.perf_counter()
    trainer = trainer_resume(project=project, base=base, config=trainer_config(project=project, num_classes=num_classes))
    trainer.config.hflip = project.horizontal_flip  # augmentation only: a resumed model follows the setting
    from_encoder = trainer.global_step == 0 and trainer_from_encoder(project=project, trainer=trainer)
    activity = f"training {project.algorithm}" + (" from the pre-trained encoder" if from_encoder else "")
    _announce(project.pk, events.round_started(version_next_number(project=project), activity))
    images = torch.from_numpy(cache.images)
    fit = trainer.fit(
        images[torch.from_numpy(labels.rows)],
        torch.from_numpy(labels.labels),
        images,
        steps=steps,
        seconds=seconds,
        on_progress=ProgressReporter(project.pk, steps=steps, seconds=seconds, activity=activity),
    )
    staged = checkpoint_path(f"{project.pk}/.staged-{uuid.uuid4().hex}.tmp")  # numbered when published
    trainer.save(staged)
    timings["train"] = time.perf_counter() - mark  # reading labels, resuming, fit, saving the checkpoint

    mark = time.perf_counter()
    predictions = trainer.predict(images)
    timings["inference"] = time.perf_counter() - mark
    publication = Publication(
        kind=ModelVersion.Kind.TRAINED,
        cache=cache,
        predictions=predictions,
        embeddings=predictions.embeddings,
        staged_checkpoint=staged,
        # a fresh model (the trainer's steps are this round's) carries only its pre-trained encoder's time
        fresh_seconds=None if fit.global_step > fit.steps else (base.pretrain_seconds if base and from_encoder else 0.0),
        fields={
            "algorithm": project.algorithm, "backbone": project.backbone,
            "human_labels": labels.human, "pseudo_labels": labels.pseudo, "images": len(cache),
            "steps": fit.global_step, "round_steps": fit.steps, "seconds": fit.seconds,
            "pretrain_steps": base.pretrain_steps if base else 0,
            "pretrain_seconds": base.pretrain_seconds if base else 0.0,
            "pretrain_images": base.pretrain_images if base else 0,
            "device": str(trainer.device), "losses": fit.scalars,
            "metrics": round_metrics(
                project=project, base=base, cache=cache, predictions=predictions, fit=fit, num_classes=num_classes,
                labels_until=labels.read_at,
            ),
            "labels_until": labels.read_at,
        },
    )
    return publication, trainer


def round_run(
    *, project_id: int, steps: int | None = None, seconds: float | None = None, lock: RoundLock | None = None
) -> ModelVersion:
    """Run one round for the project and make its new version current (the caller holds the round lock).

    A pre-training round or an SSL round (:func:`round_phase`). Budget: ``steps`` optimizer steps, or
    ``seconds`` of training (default: the project's round_seconds, at most settings.TRAINING_ROUND_SECONDS).
    """
    global _warm
    started = time.perf_counter()
    project = Project.objects.select_related("current_version").get(pk=project_id)
    base = project.current_version
    if steps is None and seconds is None:
        seconds = float(project_round_seconds(project))
    with publish_lock(project.pk):  # a label propagation publishing now is writing temp files of its own
        temp_files_delete(project=project)

    holdout_assign(project=project)
    cache = cache_update(project=project).cache
    if len(cache) < 2:  # pre-training contrasts images with each other
        raise NoImages(f"project {project.slug} has fewer than 2 images")
    timings = {"cache": time.perf_counter() - started}
    labels = training_labels(project=project, cache=cache)
    names = class_names(project=project)
    num_classes = max(2, max(names) + 1)
    phase = round_phase(base=base, labels=len(labels.rows), images=len(cache), classes=len(names))
    budget = {"steps": steps, "seconds": seconds, "timings": timings}
    if phase == PRETRAIN:
        _announce(project.pk, events.round_started(version_next_number(project=project), PRETRAIN_ACTIVITY))
        publication = round_pretrain(project=project, base=base, cache=cache, labels=labels, num_classes=num_classes, **budget)
        trainer = None
    else:
        publication, trainer = round_train(project=project, base=base, cache=cache, labels=labels, num_classes=num_classes, **budget)
    version = version_publish(project=project, publication=publication, timings=timings, started=started, lock=lock)
    if trainer is not None:
        _warm = WarmTrainer(project_id=project.pk, checkpoint=_file_identity(checkpoint_path(version.checkpoint)), trainer=trainer)

    pruned = versions_prune(project=project)
    logger.info("project %s: v%s (%s) is current (%s); %s old versions' bulky data pruned", project.pk, version.number,
                version.kind, version.timings, pruned)
    queue_order_build(project=project)  # rank the label queue now (round_execute announces the version after the lock)
    if Annotation.objects.filter(project=project, updated_at__gt=labels.read_at).exists():
        propagation_enqueue(project_id=project.pk)  # labels given during the round reach predictions in seconds
    return version


def version_announce(*, project: Project, version: ModelVersion) -> None:
    """Rank the label queue of the new current version (so no annotator waits for it), then tell open pages
    (a label propagation's version; a round's is announced by :func:`round_execute` once its lock is free)."""
    queue_order_build(project=project)
    counts = {"human": version.human_labels, "pseudo": version.pseudo_labels, "images": version.images}
    _announce(project.pk, events.version_ready(version.number, counts))


# ---- publishing a version: numbers, files and the flip under the publish lock --------------------


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


def _file_identity(path: Path) -> tuple[int, int, int] | None:
    """(device, inode, mtime) of a file: equal for hard links of one file, different for a rewritten one."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_dev, stat.st_ino, stat.st_mtime_ns


def _file_share(source: Path, target: Path) -> None:
    """``target`` becomes a hard link of ``source`` (a copy, written atomically, where links are refused)."""
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)
    except OSError:
        atomic_write(target, lambda handle: handle.write(source.read_bytes()))


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
    versions_delete(
        project=project,
        versions=ModelVersion.objects.filter(finished_at__isnull=True).exclude(pk=current.pk if current else None),
    )
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
        _file_share(checkpoint_path(current.checkpoint), checkpoint_path(relative))  # the SSL model carries on
    version = ModelVersion.objects.create(
        project=project, number=number, kind=publication.kind, checkpoint=relative, **fields
    )
    if publication.predictions is not None:
        prediction_rows_write(version=version, ids=publication.cache.ids, predictions=publication.predictions)
    if publication.shared_embeddings is not None:
        _file_share(publication.shared_embeddings, embeddings_path(version))
    else:
        atomic_savez(embeddings_path(version), ids=publication.cache.ids, embeddings=publication.embeddings.numpy())
    version_files_share(version)  # other hosts resume from it (no-op on a single host)
    if lock is not None:
        lock.ensure_held()
    timings["write"] = time.perf_counter() - mark  # version row, predictions, embeddings (the flip adds ms)
    timings["total"] = time.perf_counter() - started
    version.timings = {name: round(value, 3) for name, value in timings.items()}
    version_flip(project=project, base=current, version=version)
    return version


# ---- the job's body, the chain and the switches --------------------------------------------------


def round_execute(
    *, project_id: int, base_version: int | None = None, steps: int | None = None, seconds: float | None = None
) -> RoundOutcome:
    """One round job: take the project's lock, skip when the round was already done (a round published a
    version numbered above ``base_version``, the newest finished version when the job was queued; label
    propagations don't count), run it, and enqueue the next round while training is on."""
    with round_lock(project_id) as lock:
        if lock is None:
            return RoundOutcome("locked")
        found = list(Project.objects.filter(pk=project_id).values_list("current_version__number", flat=True))
        if not found:
            return RoundOutcome("gone")
        current = found[0] or 0
        rounds_since = (
            ModelVersion.objects.filter(project_id=project_id, number__gt=base_version, finished_at__isnull=False)
            .exclude(kind=ModelVersion.Kind.PROPAGATED)
            .exists()
            if base_version is not None
            else False
        )
        if rounds_since:
            outcome = RoundOutcome("stale", detail={"current": current, "base": base_version})
        else:
            try:
                outcome = RoundOutcome("done", version=round_run(project_id=project_id, steps=steps, seconds=seconds, lock=lock))
            except NoImages as exc:
                _announce(project_id, events.round_failed(str(exc)))
                return RoundOutcome("no-images")
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


def version_latest_number(*, project: Project) -> int:
    """The newest finished version's number (0 before the first): the base of a queued round. After a
    rollback it is above the current version's; rounds published after it make the job stale."""
    finished = ModelVersion.objects.filter(project=project, finished_at__isnull=False)
    return finished.aggregate(top=Max("number"))["top"] or 0


def round_enqueue(*, project_id: int, steps: int | None = None, seconds: float | None = None) -> str | None:
    """Enqueue a round now unless one is running or waiting; returns the new job's id, or ``None``."""
    if round_running(project_id):
        return None
    job_id = f"round-{project_id}-{uuid.uuid4().hex[:16]}"
    if not store.queued_claim(project_id, job_id):
        return None
    project = Project.objects.get(pk=project_id)
    base = version_latest_number(project=project)
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


# ---- label propagation right after labels change (the ``default`` queue) -------------------------


def propagation_run(*, project_id: int) -> ModelVersion | None:
    """Publish a ``propagated`` version: the current version's embeddings, with class scores propagated from
    the labels as they are now (:func:`labels_propagate`). Seconds, not a training round: the review queues
    and the label queue follow new labels at once. ``None`` when there is nothing to do (no version with
    embeddings yet, or no label)."""
    store.propagation_unclaim(project_id)  # labels changed from now on queue another run
    started = time.perf_counter()
    with publish_lock(project_id):
        project = Project.objects.select_related("current_version").filter(pk=project_id).first()
        current = project.current_version if project else None
        stored = version_embeddings(current) if current else None
        if stored is None:
            return None
        ids, embeddings = stored
        live = np.isin(ids, np.array(Image.objects.filter(project=project).values_list("id", flat=True), dtype=np.int64))
        index = ImageCache(ids=ids[live], images=np.empty((int(live.sum()), 0, 0, 0), np.uint8))  # ids without pixels
        labels = training_labels(project=project, cache=index)
        if not len(labels.rows):
            return None
        names = class_names(project=project)
        num_classes = max(2, max(names) + 1)
        mark = time.perf_counter()
        predictions = labels_propagate(embeddings=torch.from_numpy(embeddings[live]), labels=labels, num_classes=num_classes)
        timings = {"propagation": time.perf_counter() - mark}
        fit = FitResult(steps=0, global_step=current.steps, seconds=0.0, images_per_second=0.0)
        metrics = round_metrics(project=project, base=current, cache=index, predictions=predictions, fit=fit,
                                num_classes=num_classes, labels_until=labels.read_at)
        if "embedding_quality" in current.metrics:
            metrics["embedding_quality"] = current.metrics["embedding_quality"]
        publication = Publication(
            kind=ModelVersion.Kind.PROPAGATED,
            cache=index,
            predictions=predictions,
            embeddings=predictions.embeddings,
            shared_embeddings=embeddings_path(current) if live.all() else None,
            fields={
                "algorithm": current.algorithm, "backbone": current.backbone, "human_labels": labels.human,
                "pseudo_labels": labels.pseudo, "images": len(index), "steps": current.steps, "round_steps": 0,
                "seconds": 0.0, "pretrain_steps": current.pretrain_steps, "pretrain_seconds": current.pretrain_seconds,
                "pretrain_images": current.pretrain_images, "device": "cpu", "losses": {}, "metrics": metrics,
                "labels_until": labels.read_at,
            },
        )
        version = version_publish(project=project, publication=publication, timings=timings, started=started, held=True)
    if not round_running(project_id):  # a running round still scores its metrics by its base's predictions
        versions_prune(project=project)
    version_announce(project=project, version=version)
    return version


def propagation_enqueue(*, project_id: int) -> str | None:
    """Queue a label propagation on the ``default`` queue unless one already waits; returns the job's id."""
    if not store.propagation_claim(project_id):
        return None
    try:
        job = django_rq.get_queue(PROPAGATION_QUEUE, commit_mode="auto").enqueue_call(
            PROPAGATION_JOB, kwargs={"project_id": project_id}, result_ttl=3600, failure_ttl=7 * 24 * 3600
        )
    except BaseException:
        store.propagation_unclaim(project_id)
        raise
    return job.id


def propagation_enqueue_on_commit(*, project_id: int) -> None:
    """After the current transaction commits: queue a label propagation while the project's training is on
    and its current version has embeddings to propagate over. Redis being down loses nothing but this run."""

    def enqueue() -> None:
        if Project.objects.filter(pk=project_id, training_enabled=True, current_version__isnull=False).exists():
            try:
                propagation_enqueue(project_id=project_id)
            except (RedisConnectionError, RedisTimeoutError) as exc:
                logger.warning("project %s: Redis is unavailable, no label propagation queued: %s", project_id, exc)

    transaction.on_commit(enqueue)
