"""The training round and the label propagation: what the worker computes before a version is published.

A round (:func:`round_run`): update the image cache → read the labels → pre-train or train
(:func:`round_phase`). A pre-training round resumes the project's encoder (warm in this process, else
its checkpoint, else fresh; :mod:`labelapp.training.resume`), trains it on every image, saves it
atomically and embeds every image; labels, if any, are propagated over those embeddings. An SSL round
resumes the project's model (warm, else the last checkpoint, else fresh from the pre-trained encoder),
trains for a bounded slice, stages its checkpoint and predicts every image. Then
:func:`labelapp.training.versions.version_publish` makes it the project's current version.
Label propagation (:func:`propagation_run`, a seconds-long job on the ``default`` queue, queued when
labels change) publishes the same way: the current version's embeddings with freshly propagated scores.
:func:`round_execute` wraps a round with the per-project round lock, the base-version check (a job
delivered twice does nothing the second time) and the continuous chain (:mod:`labelapp.training.chain`).
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import torch
from django.conf import settings
from django.utils import timezone

from labelapp.images.models import Image
from labelapp.labeling.models import Annotation, Source
from labelapp.projects.models import LabelClass, Project
from labelapp.training import events, metrics, resume, store
from labelapp.training.cache import (
    ImageCache,
    cache_update,
    checkpoint_path,
    checkpoint_share,
    embeddings_path,
)
from labelapp.training.chain import project_round_seconds, propagation_enqueue, round_enqueue
from labelapp.training.locks import RoundLock, publish_lock, round_lock, round_running
from labelapp.training.models import ModelVersion, Prediction
from labelapp.training.resume import (
    pretrainer_keep_warm,
    pretrainer_path,
    pretrainer_resume,
    trainer_config,
    trainer_from_encoder,
    trainer_resume,
)
from labelapp.training.selectors import version_embeddings
from labelapp.training.signals import version_ready
from labelapp.training.versions import (
    PREDICTION_BATCH,
    Publication,
    temp_files_delete,
    version_announce,
    version_next_number,
    version_publish,
    versions_prune,
)
from sslengine import FitResult, Predictions, PretrainResult, Trainer, embedding_quality
from sslengine.pretext import KNN_NEIGHBOURS
from sslengine.propagation import propagate

logger = logging.getLogger(__name__)

PROGRESS_EVERY_SECONDS = 0.5  # at most two progress events a second

PRETRAIN, TRAIN = "pretrain", "train"  # the two kinds of round (round_phase)

PRETRAIN_ACTIVITY = "learning the images"


class NoImages(Exception):
    """The project has fewer than two images: there is nothing to learn from."""


@dataclass
class TrainingLabels:
    """The labeled set of a round: cache rows and class indices, and where they came from."""

    rows: np.ndarray  # int64 rows into the image cache
    labels: np.ndarray  # int64 class indices
    human: int
    pseudo: int
    read_at: datetime  # labels changed after this instant are unseen by the round


@dataclass
class RoundOutcome:
    """What :func:`round_execute` did: ``done``, ``locked``, ``stale``, ``no-images`` or ``gone``."""

    status: str
    version: ModelVersion | None = None
    enqueued: str | None = None  # id of the next round's job, when the chain enqueued one
    detail: dict = field(default_factory=dict)


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
        events.announce(self.project_id, event)


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
    fit: FitResult | PretrainResult,
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


def pretrain_minimum() -> float:
    """Seconds the encoder pre-trains in all before rounds train the SSL model (on this device)."""
    return float(settings.TRAINING_PRETRAIN_MIN_SECONDS_GPU if torch.cuda.is_available() else settings.TRAINING_PRETRAIN_MIN_SECONDS)


def round_phase(*, base: ModelVersion | None, labels: int, images: int, classes: int) -> str:
    """``PRETRAIN`` or ``TRAIN``: what the next round of a project does (the rule is stated in the README).

    Pre-train while the labeled set is smaller than ``TRAINING_SSL_MIN_LABELS_PER_CLASS`` per class, or the
    encoder has pre-trained for less than ``TRAINING_PRETRAIN_MIN_SECONDS`` (``_GPU`` on CUDA) in all, or the
    pool grew by ``TRAINING_PRETRAIN_GROWTH_PERCENT`` since the encoder last saw it; else train the SSL model.
    """
    if labels == 0 or labels < settings.TRAINING_SSL_MIN_LABELS_PER_CLASS * max(1, classes):
        return PRETRAIN
    seconds, seen = (base.pretrain_seconds, base.pretrain_images) if base else (0.0, 0)
    if seconds < pretrain_minimum():
        return PRETRAIN
    if seen and images * 100 >= seen * (100 + settings.TRAINING_PRETRAIN_GROWTH_PERCENT):
        return PRETRAIN
    return TRAIN


def round_seconds(*, project: Project, base: ModelVersion | None, phase: str) -> float:
    """The budget of a round nobody sized: the project's ``round_seconds`` (capped by TRAINING_ROUND_SECONDS),
    but at most TRAINING_FIRST_ROUND_SECONDS for the first round of each phase (the project's first
    pre-training round, its first SSL round), and a pre-training round short of :func:`pretrain_minimum`
    stops there. In the first minutes labels arrive fast: a short first round puts the encoder's embeddings
    (the typicality queue), then a trained model, in front of the user sooner, and the next round trains on
    the labels given meanwhile."""
    full = float(project_round_seconds(project))
    first = float(settings.TRAINING_FIRST_ROUND_SECONDS)
    if phase == PRETRAIN:
        if base is None:
            return min(full, first)
        short_of_minimum = pretrain_minimum() - base.pretrain_seconds
        return min(full, short_of_minimum) if short_of_minimum >= 1.0 else full
    if not ModelVersion.objects.filter(project=project, kind=ModelVersion.Kind.TRAINED).exists():
        return min(full, first)
    return full


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
    events.announce(project.pk, events.round_started(version_next_number(project=project), activity))
    images = torch.from_numpy(cache.images)
    fit = trainer.fit(
        images[torch.from_numpy(labels.rows)],
        torch.from_numpy(labels.labels),
        images,
        steps=steps,
        seconds=seconds,
        on_progress=ProgressReporter(project.pk, steps=steps, seconds=seconds, activity=activity),
        labeled_ids=torch.from_numpy(cache.ids[labels.rows]),  # Image pks: per-image state follows the image
        unlabeled_ids=torch.from_numpy(cache.ids),
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
    ``seconds`` of training (default: :func:`round_seconds`).
    """
    started = time.perf_counter()
    project = Project.objects.select_related("current_version").get(pk=project_id)
    base = project.current_version
    sized = steps is not None or seconds is not None
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
    if not sized:
        seconds = round_seconds(project=project, base=base, phase=phase)
    if phase == PRETRAIN:
        events.announce(project.pk, events.round_started(version_next_number(project=project), PRETRAIN_ACTIVITY))
        publication = round_pretrain(project=project, base=base, cache=cache, labels=labels, num_classes=num_classes,
                                     steps=steps, seconds=seconds, timings=timings)
        trainer = None
    else:
        publication, trainer = round_train(project=project, base=base, cache=cache, labels=labels, num_classes=num_classes,
                                           steps=steps, seconds=seconds, timings=timings)
    version = version_publish(project=project, publication=publication, timings=timings, started=started, lock=lock)
    if trainer is not None:
        resume.trainer_keep_warm(project_id=project.pk, trainer=trainer, path=checkpoint_path(version.checkpoint))

    pruned = versions_prune(project=project)
    logger.info("project %s: v%s (%s) is current (%s); %s old versions' bulky data pruned", project.pk, version.number,
                version.kind, version.timings, pruned)
    version_ready.send(ModelVersion, project=project, version=version)  # before round_execute announces it
    if Annotation.objects.filter(project=project, updated_at__gt=labels.read_at).exists():
        propagation_enqueue(project_id=project.pk)  # labels given during the round reach predictions in seconds
    return version


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
                events.announce(project_id, events.round_failed(str(exc)))
                return RoundOutcome("no-images")
            except Exception as exc:
                logger.exception("training round of project %s failed", project_id)
                events.announce(project_id, events.round_failed(f"{type(exc).__name__}: {exc}"))
                raise
    if Project.objects.filter(pk=project_id, training_enabled=True).exists():
        outcome.enqueued = round_enqueue(project_id=project_id)
    if outcome.version is not None:
        # Announced once the lock is released and the next round queued: a page that re-reads the status
        # on this event sees the state that follows the round ("Round queued", or "Training off").
        version = outcome.version
        counts = {"human": version.human_labels, "pseudo": version.pseudo_labels, "images": version.images}
        events.announce(project_id, events.version_ready(version.number, counts))
    return outcome


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
        if project is None or current is None or stored is None:
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
