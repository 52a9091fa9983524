"""Writes for labeling: leases, labels (idempotent, conflict-checked, undoable), skips, pseudo-label
review, suspect decisions and the label queue's stored order.

Concurrency: every write that concerns one image first locks that image's row
(``SELECT … FOR NO KEY UPDATE`` on PostgreSQL, so it does not wait on the foreign-key share locks
that inserting predictions takes; SQLite serialises write transactions anyway). ``lease_next``
skips rows another transaction holds (``SKIP LOCKED``) and re-checks the lease after locking, so
two annotators are never served the same image.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta

import numpy as np
import torch
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef, QuerySet, Subquery
from django.db.models.signals import post_save
from django.utils import timezone

from labelapp.images.models import Image
from labelapp.labeling import selectors
from labelapp.labeling.models import (
    Annotation,
    AnnotationEvent,
    ImageLease,
    ImageSkip,
    QueueOrder,
    QueueRank,
    ReviewDecision,
    Source,
)
from labelapp.lib.table_statistics import table_statistics_refresh
from labelapp.lib.users import User
from labelapp.projects.models import LabelClass, Project
from labelapp.training import store
from labelapp.training.chain import propagation_enqueue_on_commit, round_enqueue_on_commit
from labelapp.training.models import ModelVersion, Prediction
from labelapp.training.selectors import version_embeddings
from sslengine import Predictions, list_strategies, select_indices
from sslengine.selection import strategy_in_force

logger = logging.getLogger(__name__)

LEASE_SECONDS = 120
REVIEW_UNDO_SECONDS = 60  # a reviewed page can be taken back this long after it was decided
LEASE_ATTEMPTS = 4
K_CENTER_HEAD = 2000  # k-center is O(k·N): rank this many by it, the rest by least confidence
CLUSTER_HEAD = 256  # typicality, cluster-margin, pool-first cluster into (labeled + k) groups: rank this many by them
RANK_BATCH = 5000
# Strategies that need only the stored per-image scores (confidence, margin, entropy), not probabilities.
SCORE_STRATEGIES = frozenset({"least-confidence", "margin", "entropy", "random"})


class LabelingError(Exception):
    """A labeling request refused with a message meant for the person (HTTP ``status``)."""

    status = 400


class AnnotationConflict(LabelingError):
    """Someone else labeled the image since the submitter last saw it."""

    status = 409


def labeling_counts_forget(*, project_id: int, images: bool = False) -> None:
    """Drop the project's cached counts once the current transaction commits (at once outside one), so
    the next page or count request after a label or a decision reads fresh numbers; ``images`` (an image
    added or deleted) drops the pool's counts too."""
    keys = [selectors.counts_cache_key(project_id)]
    if images:
        keys += [selectors.pool_counts_cache_key(project_id), selectors.counts_shared_cache_key(project_id)]
    transaction.on_commit(lambda: cache.delete_many(keys))


def labeling_counts_own_change(*, project_id: int, user_id: int) -> None:
    """Note that the user changed something in the project (once the transaction commits), so that the
    counts shown to them next include it (:func:`selectors.labeling_counts`'s ``reader``)."""
    key = selectors.counts_own_change_cache_key(project_id, user_id)
    transaction.on_commit(lambda: cache.set(key, time.time(), selectors.COUNTS_CACHE_SECONDS))


def _lock_image(image_id: int) -> Image | None:
    """Lock one image row for the rest of the transaction; ``None`` if it is gone."""
    return Image.objects.select_for_update(no_key=True).filter(pk=image_id).first()


def _lock_image_with_annotation(image_id: int) -> Annotation | None:
    """Lock one image row (as :func:`_lock_image`), then read its current annotation, class and annotator;
    ``None`` when it has no annotation.

    Two statements on purpose: in one ``SELECT … FOR UPDATE OF image`` joined to the annotation, a
    statement that waited for the lock re-reads the image row but not the joined annotation (PostgreSQL
    re-checks only the locked rows), so two people correcting the same revision would both see the old
    one and both save. After the lock, the second read sees the committed label."""
    if Image.objects.select_for_update(no_key=True).filter(pk=image_id).values_list("pk", flat=True).first() is None:
        return None
    return Annotation.objects.select_related("label_class", "annotator").filter(image_id=image_id).first()


def _lease_expiry() -> datetime:
    return timezone.now() + timedelta(seconds=LEASE_SECONDS)


def _lease_write(*, image: Image, user: User, lease_id: int | None) -> ImageLease:
    """Give ``user`` a fresh lease on a locked image: its lease row ``lease_id`` is taken over, or one inserted."""
    lease = ImageLease(image=image, project_id=image.project_id, user=user, expires_at=_lease_expiry())
    fields = {"user": user, "token": lease.token, "expires_at": lease.expires_at}
    if lease_id is not None and ImageLease.objects.filter(pk=lease_id).update(**fields):
        lease.pk = lease_id
    else:  # none, or its holder released it just now
        lease.save(force_insert=True)
    return lease


def queue_order_build(*, project: Project, upcoming: ModelVersion | None = None) -> QueueOrder:
    """The stored label-queue order for the project's current version and strategy, built once.

    Before the first version: a random permutation seeded by the project. After: ``sslengine``'s
    strategy over the version's predictions and its embeddings (uniform scores before the first label),
    with unlabeled images as candidates, then the rest by least confidence, labeled images last (they
    come back only if a label is undone).
    Concurrent callers wait for the first builder and reuse its result.

    ``upcoming``: a version about to become current (training's ``version_publishing``): its order is
    built now, from scratch (an order of that number can only be a failed publication's), and the
    current version's order is kept for the requests served until the flip, so none waits for a ranking.
    """
    version = upcoming if upcoming is not None else selectors.current_version(project)
    number = version.number if version else 0
    key = {"project": project, "version_number": number, "strategy": project.strategy}
    serving: list[int] = []  # the version numbers whose orders requests may still use
    if upcoming is not None:
        QueueOrder.objects.filter(**key).delete()
        current = Project.objects.filter(pk=project.pk).values_list("current_version__number", flat=True).first()
        serving.append(current or 0)
    existing = QueueOrder.objects.filter(**key).first() if upcoming is None else None
    if existing is not None:  # e.g. the order a version_publishing built: the previous version's goes now
        with transaction.atomic():
            _stale_orders_drop(project, keep=existing)
        return existing
    try:
        with transaction.atomic():
            _commit_without_waiting_for_disk()  # derived data: a crash loses at most this order, rebuilt on demand
            order = QueueOrder.objects.create(**key, last_image_id=0)
            image_ids = _ranked_image_ids(project, version)
            _ranks_insert(order, image_ids)
            order.size = len(image_ids)
            order.last_image_id = max(image_ids, default=0)
            if version is None:  # every image existing now is in the permutation
                order.last_image_id = Image.objects.filter(project=project).order_by("-id").values_list("id", flat=True).first() or 0
            order.save(update_fields=["size", "last_image_id"])
            _stale_orders_drop(project, keep=order, serving=serving)
            table_statistics_refresh(QueueRank)  # so the planner walks the rank index
    except IntegrityError:
        return QueueOrder.objects.get(**key)
    selectors.queue_order_remember(project=project, order=order, version_id=version.pk if version else None)
    return order


def _stale_orders_drop(project: Project, *, keep: QueueOrder, serving: Iterable[int] = ()) -> None:
    """Delete the project's orders other than ``keep`` and those of the version numbers in ``serving``
    (same strategy), and their cached lookups once committed."""
    stale = QueueOrder.objects.filter(project=project).exclude(pk=keep.pk).exclude(
        version_number__in=list(serving), strategy=project.strategy
    )
    _queue_order_cache_forget(project, list(stale.values_list("version_number", "strategy")))
    stale.delete()


def _queue_order_cache_forget(project: Project, orders: list[tuple[int, str]]) -> None:
    """Once committed, drop the cached lookups (:func:`selectors.queue_order_for`) of these deleted orders,
    given as (version number, strategy)."""
    version_ids = dict(
        ModelVersion.objects.filter(project=project, number__in={n for n, _ in orders}).values_list("number", "pk")
    )
    keys = [
        selectors.queue_order_cache_key(project_id=project.pk, version_id=version_ids.get(number), strategy=strategy)
        for number, strategy in orders
    ]
    if keys:
        transaction.on_commit(lambda: cache.delete_many(keys))


def _ranks_insert(order: QueueOrder, image_ids: list[int]) -> None:
    """Store ``image_ids`` as ranks 0, 1, …: one statement on PostgreSQL, batched inserts elsewhere."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {connection.ops.quote_name(QueueRank._meta.db_table)} (order_id, image_id, rank) "
                "SELECT %s, ids.id, ids.ord - 1 FROM unnest(%s::bigint[]) WITH ORDINALITY AS ids(id, ord)",
                [order.pk, image_ids],
            )
        return
    QueueRank.objects.bulk_create(
        (QueueRank(order=order, image_id=image_id, rank=rank) for rank, image_id in enumerate(image_ids)),
        batch_size=RANK_BATCH,
    )


def _version_predictions(project: Project, version: ModelVersion) -> tuple[torch.Tensor, Predictions]:
    """(image ids, predictions) of a version in image-id order. Strategies that rank by a stored score
    read only the score columns; the others get the probability vectors and the version's embeddings
    (a version from before embeddings were stored lends its probability vectors as embeddings)."""
    rows = Prediction.objects.filter(version=version).order_by("image_id")
    stored = version_embeddings(version)
    if stored is not None and not rows.exists():  # no label yet: real embeddings, uniform scores
        stored_ids, embeddings = stored
        live = np.isin(stored_ids, np.array(Image.objects.filter(project=project).values_list("id", flat=True), dtype=np.int64))
        classes = max(2, 1 + max(project.classes.values_list("index", flat=True), default=1))
        uniform = torch.full((int(live.sum()), classes), 1.0 / classes)
        return torch.from_numpy(stored_ids[live]), Predictions.from_probs(uniform, torch.from_numpy(embeddings[live]))
    if project.strategy in SCORE_STRATEGIES:
        table = torch.tensor(
            list(rows.values_list("image_id", "predicted_index", "confidence", "margin", "entropy")), dtype=torch.float64
        ).reshape(-1, 5)
        empty = torch.empty((table.shape[0], 0))
        return table[:, 0].long(), Predictions(
            probs=empty, predicted=table[:, 1].long(), confidence=table[:, 2].float(), margin=table[:, 3].float(),
            entropy=table[:, 4].float(), embeddings=empty,
        )
    pairs = list(rows.values_list("image_id", "probs"))
    probs = torch.tensor([probs for _, probs in pairs], dtype=torch.float32).reshape(len(pairs), -1)
    ids = torch.tensor([image_id for image_id, _ in pairs], dtype=torch.int64)
    if stored is None:
        return ids, Predictions.from_probs(probs, probs)
    stored_ids, embeddings = stored  # ascending ids; a prediction row exists only for an image embedded with it
    return ids, Predictions.from_probs(probs, torch.from_numpy(embeddings[np.searchsorted(stored_ids, ids.numpy())]))


def _ranked_image_ids(project: Project, version: ModelVersion | None) -> list[int]:
    if version is None:
        shuffled = list(Image.objects.filter(project=project).order_by("id").values_list("id", flat=True))
        random.Random(project.pk).shuffle(shuffled)
        return shuffled
    image_ids, predictions = _version_predictions(project, version)
    if not len(image_ids):
        return []
    labeled = set(Annotation.objects.filter(project=project).values_list("image_id", flat=True))
    is_labeled = torch.tensor([image_id in labeled for image_id in image_ids.tolist()], dtype=torch.bool)
    candidates = torch.nonzero(~is_labeled).flatten()
    strategy = project.strategy
    if strategy not in list_strategies():  # a name the engine no longer has must not stop labeling
        logger.warning("project %s: unknown strategy %r, ranking by least confidence", project.pk, strategy)
        strategy = "least-confidence"
    head = {"k-center": K_CENTER_HEAD}.get(strategy, CLUSTER_HEAD)
    k = candidates.numel() if strategy in SCORE_STRATEGIES else min(head, candidates.numel())
    picked = select_indices(strategy, predictions, candidates, k, seed=project.pk)
    in_force = strategy_in_force(strategy, predictions, candidates) if candidates.numel() else strategy
    store.strategy_set(project.pk, version=version.number, strategy=project.strategy, in_force=in_force)
    taken = torch.zeros(len(image_ids), dtype=torch.bool)
    taken[picked] = True
    by_confidence = torch.sort(predictions.confidence, stable=True).indices
    rest = by_confidence[~taken[by_confidence] & ~is_labeled[by_confidence]]
    last = by_confidence[is_labeled[by_confidence]]
    return image_ids[torch.cat([picked, rest, last])].tolist()


def _commit_without_waiting_for_disk() -> None:
    """In the current transaction, don't wait for the WAL flush on commit (PostgreSQL; for rows that may
    be lost in a crash at no cost, like leases and the stored queue order)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def _offer_lock(source: QuerySet, *, exclude: list[int], guess_version_id: int | None) -> tuple[Image, selectors.Guess | None] | None:
    """The first image of a queue source that no other transaction holds, locked for the rest of the
    transaction (``FOR NO KEY UPDATE … SKIP LOCKED`` on PostgreSQL, so concurrent requests spread over the
    queue instead of queueing behind one row), with the model's guess for it read in the same statement."""
    field = selectors.source_image_field(source)
    rows = source.exclude(**{f"{field}__in": exclude})
    if source.model is Image:
        rows = rows.select_for_update(no_key=True, skip_locked=True, of=("self",))
    else:
        rows = rows.select_related("image").select_for_update(no_key=True, skip_locked=True, of=("image",))
    if guess_version_id is not None:
        prediction = Prediction.objects.filter(version_id=guess_version_id, image_id=OuterRef(field))
        rows = rows.annotate(
            guess_index=Subquery(prediction.values("predicted_index")[:1]),
            guess_confidence=Subquery(prediction.values("confidence")[:1]),
        )
    row = next(iter(rows[:1]), None)
    if row is None:
        return None
    image = row if source.model is Image else row.image
    found = guess_version_id is not None and row.guess_index is not None
    return image, selectors.Guess(class_index=row.guess_index, confidence=row.guess_confidence) if found else None


def _leases_upsert(*, project: Project, user: User, image_ids: list[int]) -> dict[int, tuple[int, uuid.UUID]]:
    """Lease these images of the project to ``user`` in one statement: each unlabeled one whose lease is
    missing, expired or already ``user``'s gets (or keeps) a lease until ``LEASE_SECONDS`` from now.

    ``INSERT … SELECT … ON CONFLICT (image_id) DO UPDATE … WHERE`` is an atomic compare-and-set on the
    lease row: a lease someone else holds is never taken over, however requests interleave, and the
    "unlabeled" check is a fresh statement after the image was locked (so it sees a label committed
    before the lock was granted). Returns {image id: (lease id, token)} for the images now leased to ``user``.
    """
    if not image_ids:
        return {}
    now, expires = timezone.now(), _lease_expiry()
    token_field, expiry_field = ImageLease._meta.get_field("token"), ImageLease._meta.get_field("expires_at")
    tokens = {image_id: token_field.get_db_prep_value(uuid.uuid4(), connection) for image_id in image_ids}
    quote = connection.ops.quote_name
    lease, annotation = quote(ImageLease._meta.db_table), quote(Annotation._meta.db_table)
    marks = ", ".join(["%s"] * len(image_ids))
    # PostgreSQL: this transaction's commit does not wait for the WAL flush (``SET LOCAL synchronous_commit``
    # inside the statement: a lease lost in a crash costs nothing, and it saves a round trip).
    durability = connection.vendor == "postgresql"
    sql = (
        ("WITH durability AS (SELECT set_config('synchronous_commit', 'off', true)) " if durability else "")
        + f"INSERT INTO {lease} (image_id, project_id, user_id, token, expires_at) "
        f"SELECT i.id, i.project_id, %s, CASE i.id {' '.join(['WHEN %s THEN %s'] * len(image_ids))} END, %s "
        f"FROM {quote(Image._meta.db_table)} i {'CROSS JOIN durability ' if durability else ''}"
        f"WHERE i.id IN ({marks}) AND i.project_id = %s "
        f"AND NOT EXISTS (SELECT 1 FROM {annotation} a WHERE a.image_id = i.id) "
        f"ON CONFLICT (image_id) DO UPDATE SET user_id = excluded.user_id, expires_at = excluded.expires_at, "
        f"token = CASE WHEN {lease}.user_id = excluded.user_id THEN {lease}.token ELSE excluded.token END "
        f"WHERE {lease}.user_id = excluded.user_id OR {lease}.expires_at <= %s "
        f"RETURNING id, image_id, token"
    )
    params = [user.pk, *[value for pair in tokens.items() for value in pair],
              expiry_field.get_db_prep_value(expires, connection), *image_ids, project.pk,
              expiry_field.get_db_prep_value(now, connection)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return {image_id: (lease_id, token_field.to_python(token)) for lease_id, image_id, token in rows}


def lease_next(
    *, project: Project, user: User, queue: str = selectors.QUEUE_LABEL, held: Iterable[int] = ()
) -> ImageLease | None:
    """Lease the next image of ``queue`` to ``user`` for a short while, or ``None`` when the queue is empty.

    ``held`` are images the user's page already has in hand (current and preloaded): their leases
    are renewed (in the statement that writes the new lease) and they are not offered again.
    The returned lease carries ``guess`` (:class:`selectors.Guess` or ``None``): the current version's prediction
    for the image, read while locking it, so presenting the offer needs no further query.

    The hot path is one transaction of two statements: the locking read of the stored order and the lease
    upsert. The stored order and whether the project has rejected pseudo-labels at all (the source before
    the order) are looked up in the shared cache.
    """
    held = list(dict.fromkeys(int(i) for i in held))  # one row per image: the upsert may touch a row once
    order = None
    if queue == selectors.QUEUE_LABEL:
        order = selectors.queue_order_for(project) or queue_order_build(project=project)
    guess_version_id = project.current_version_id if project.show_model_guess else None
    skipped: list[int] = []  # won by another request between our read and our lease write
    for _ in range(LEASE_ATTEMPTS):
        with transaction.atomic():
            offer = None
            for source in selectors.queue_sources(project=project, user=user, queue=queue, order=order, own_leases=not held):
                offer = _offer_lock(source, exclude=held + skipped, guess_version_id=guess_version_id)
                if offer is not None:
                    break
            wanted = ([offer[0].pk] if offer else []) + held
            leased = _leases_upsert(project=project, user=user, image_ids=wanted)
        if offer is None:
            return None
        image, guess = offer
        if image.pk in leased:
            lease_id, token = leased[image.pk]
            lease = ImageLease(pk=lease_id, image=image, project_id=project.pk, user=user, token=token,
                               expires_at=_lease_expiry())
            lease.guess = guess
            return lease
        skipped.append(image.pk)
    return None


def lease_release(*, user: User, image_ids: Iterable[int]) -> None:
    """Drop ``user``'s leases on these images (a page closing, a re-rank)."""
    ImageLease.objects.filter(user=user, image_id__in=list(image_ids)).delete()


def _record(
    *, annotation: Annotation | None, image: Image, user: User, action: str, previous: Annotation | None
) -> AnnotationEvent:
    return AnnotationEvent.objects.create(
        project_id=image.project_id,
        image=image,
        user=user,
        action=action,
        label_class=annotation.label_class if annotation else None,
        source=annotation.source if annotation else "",
        revision=annotation.revision if annotation else 0,
        previous_class=previous.label_class if previous else None,
        previous_source=previous.source if previous else "",
        previous_annotator=previous.annotator if previous else None,
        previous_confidence=previous.confidence if previous else None,
        previous_from_version=previous.from_version if previous else None,
    )


def annotation_submit(
    *,
    project: Project,
    image: Image,
    label_class: LabelClass,
    user: User,
    expected_revision: int | None,
    lease_token: uuid.UUID | None = None,
) -> Annotation:
    """Save ``user``'s label for ``image``.

    Idempotent: the same person submitting the same class again changes nothing. A person's own
    label and an accepted pseudo-label may be replaced; another person's label only if the submitter
    saw it (``expected_revision`` equals its revision), otherwise :class:`AnnotationConflict`.
    ``lease_token`` is accepted for the record but not required: a label is never refused for a lease.
    """
    if image.project_id != project.pk or label_class.project_id != project.pk:
        raise LabelingError("That image or class belongs to another project.")
    if connection.vendor == "postgresql":
        first = _first_label_insert(project=project, image=image, label_class=label_class, user=user)
        if first is not None:
            return first
    with transaction.atomic():
        current = _lock_image_with_annotation(image.pk)
        if current is None:
            annotation = Annotation.objects.create(
                project=project, image=image, label_class=label_class, source=Source.HUMAN, annotator=user
            )
            previous = None
        else:
            mine = current.source == Source.HUMAN and current.annotator_id == user.pk
            if mine and current.label_class_id == label_class.pk:
                ImageLease.objects.filter(image=image, user=user).delete()
                return current
            if not mine and current.source == Source.HUMAN and current.revision != expected_revision:
                who = current.annotator.get_username() if current.annotator else "someone"
                raise AnnotationConflict(
                    f"{who} already labeled this image “{current.label_class.name}”; "
                    "your label was not saved. Reload to see it and decide."
                )
            previous = Annotation(
                label_class=current.label_class,
                source=current.source,
                annotator=current.annotator,
                confidence=current.confidence,
                from_version=current.from_version,
            )
            annotation = current
            annotation.label_class, annotation.source, annotation.annotator = label_class, Source.HUMAN, user
            annotation.confidence = annotation.from_version = None
            annotation.revision += 1
            annotation.save()
        _record(annotation=annotation, image=image, user=user, action=AnnotationEvent.Action.LABELED, previous=previous)
        ImageLease.objects.filter(image=image, user=user).delete()
    return annotation


def annotations_import(
    *, project: Project, labels: list[tuple[int, int]], user: User | None
) -> list[Annotation]:
    """The bulk variant of :func:`annotation_submit` for labels that arrive with new images (an ImageFolder
    import, the demo seed; the images app hands them over with its ``images_labeled`` signal).

    Each ``(image id, label class id)`` becomes a human label by ``user`` with its ``labeled`` history
    event, so it shows in the history and its author can undo it like any label. Imports never
    overwrite: an image labeled meanwhile keeps its label (and the pair is skipped). The images are locked
    as :func:`annotation_submit` locks them, and a bulk insert sends no signal, so the receivers' work is
    done here: the cached counts are forgotten, a round and a label propagation are queued on commit.
    Returns the labels saved.
    """
    wanted = dict(labels)  # one label per image (the last given)
    classes = set(LabelClass.objects.filter(project=project, pk__in=set(wanted.values())).values_list("pk", flat=True))
    if set(wanted.values()) - classes:
        raise LabelingError("That image or class belongs to another project.")
    with transaction.atomic():
        images = list(
            Image.objects.select_for_update(no_key=True).filter(project=project, pk__in=wanted).values_list("pk", flat=True)
        )
        if len(images) != len(wanted):
            raise LabelingError("That image or class belongs to another project.")
        taken = set(Annotation.objects.filter(image_id__in=images).values_list("image_id", flat=True))
        saved = Annotation.objects.bulk_create([
            Annotation(project=project, image_id=image_id, label_class_id=class_id, source=Source.HUMAN, annotator=user)
            for image_id, class_id in wanted.items()
            if image_id not in taken
        ])
        AnnotationEvent.objects.bulk_create([
            AnnotationEvent(
                project=project, image_id=annotation.image_id, user=user, action=AnnotationEvent.Action.LABELED,
                label_class_id=annotation.label_class_id, source=Source.HUMAN, revision=annotation.revision,
            )
            for annotation in saved
        ])
    if saved:
        labeling_counts_forget(project_id=project.pk)
        round_enqueue_on_commit(project_id=project.pk)
        propagation_enqueue_on_commit(project_id=project.pk)
    return saved
def _first_label_insert(
    *, project: Project, image: Image, label_class: LabelClass, user: User
) -> Annotation | None:
    """PostgreSQL, an image nobody labeled yet: lock the image, insert the label, record the event and drop
    the labeler's lease in one statement (data-modifying CTEs; atomic on its own, so no BEGIN/COMMIT).
    ``None`` when the image has a label already (``ON CONFLICT DO NOTHING``): the caller then takes the
    general path. Sends ``post_save`` as ``Annotation.save`` would (cached counts, training queue)."""
    now = timezone.now()
    quote = connection.ops.quote_name
    tables = {name: quote(model._meta.db_table) for name, model in
              (("image", Image), ("annotation", Annotation), ("event", AnnotationEvent), ("lease", ImageLease))}
    sql = (
        f"WITH locked AS (SELECT id FROM {tables['image']} WHERE id = %(image)s FOR NO KEY UPDATE), "
        f"added AS (INSERT INTO {tables['annotation']} (project_id, image_id, label_class_id, source, annotator_id, "
        "confidence, from_version, revision, created_at, updated_at) "
        "SELECT %(project)s, id, %(label_class)s, %(source)s, %(user)s, NULL, NULL, 1, %(now)s, %(now)s FROM locked "
        "ON CONFLICT (image_id) DO NOTHING RETURNING id), "
        f"recorded AS (INSERT INTO {tables['event']} (project_id, image_id, user_id, action, label_class_id, source, "
        "revision, previous_class_id, previous_source, previous_annotator_id, previous_confidence, "
        "previous_from_version, undone, created_at) "
        "SELECT %(project)s, %(image)s, %(user)s, %(action)s, %(label_class)s, %(source)s, 1, NULL, '', NULL, NULL, "
        "NULL, false, %(now)s FROM added), "
        f"released AS (DELETE FROM {tables['lease']} WHERE image_id = %(image)s AND user_id = %(user)s "
        "AND EXISTS (SELECT 1 FROM added)) "
        "SELECT id FROM added"
    )
    params: dict[str, int | str | datetime] = {
        "image": image.pk, "project": project.pk, "label_class": label_class.pk, "source": Source.HUMAN,
        "user": user.pk, "now": now, "action": AnnotationEvent.Action.LABELED,
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    annotation = Annotation(pk=row[0], project=project, image=image, label_class=label_class, source=Source.HUMAN,
                            annotator=user, revision=1, created_at=now, updated_at=now)
    annotation._state.adding, annotation._state.db = False, connection.alias
    post_save.send(sender=Annotation, instance=annotation, created=True, update_fields=None, raw=False,
                   using=connection.alias)
    return annotation


def annotation_undo(*, project: Project, user: User) -> ImageLease:
    """Undo ``user``'s latest label in the project that is still in place; the image is leased back to them.

    The label before it (none, a pseudo-label, or someone's label) is restored. Raises
    :class:`LabelingError` when there is nothing to undo and :class:`AnnotationConflict` when someone
    changed the label since.
    """
    with transaction.atomic():
        event = (
            AnnotationEvent.objects.select_for_update()
            .filter(project=project, user=user, action=AnnotationEvent.Action.LABELED, undone=False)
            .order_by("-id")
            .first()
        )
        if event is None:
            raise LabelingError("Nothing to undo.")
        image = _lock_image(event.image_id)
        current = Annotation.objects.filter(image=image).first()
        if image is None or current is None or current.revision != event.revision:
            raise AnnotationConflict("Someone changed this label after you; it was not undone.")
        if event.previous_class_id is None:
            current.delete()
            restored = None
        else:
            current.label_class_id = event.previous_class_id
            current.source = event.previous_source
            current.annotator_id = event.previous_annotator_id
            current.confidence = event.previous_confidence
            current.from_version = event.previous_from_version
            current.revision += 1
            current.save()
            restored = current
        event.undone = True
        event.save(update_fields=["undone"])
        AnnotationEvent.objects.create(
            project=project,
            image=image,
            user=user,
            action=AnnotationEvent.Action.UNDONE,
            label_class=restored.label_class if restored else None,
            source=restored.source if restored else "",
            revision=restored.revision if restored else 0,
            previous_class_id=event.label_class_id,
            previous_source=event.source,
            previous_annotator=user,
        )
        lease_id = ImageLease.objects.filter(image=image).values_list("pk", flat=True).first()
        return _lease_write(image=image, user=user, lease_id=lease_id)


def image_skip(*, project: Project, user: User, image: Image) -> None:
    """``user`` skips ``image``: it leaves their queue and their lease is released for others."""
    if image.project_id != project.pk:
        raise LabelingError("That image belongs to another project.")
    ImageSkip.objects.get_or_create(image=image, user=user)
    ImageLease.objects.filter(image=image, user=user).delete()


def _version_of(project: Project, number: int) -> ModelVersion:
    version = ModelVersion.objects.filter(project=project, number=number).first()
    if version is None:
        raise LabelingError(f"Model version {number} does not exist in this project.")
    return version


def pseudo_labels_accept(
    *, project: Project, user: User, image_ids: Iterable[int], version_number: int
) -> int:
    """Turn the version's confident predictions (≥ τ) for these unlabeled images into training labels
    (source pseudo, with version and confidence). Images labeled meanwhile are left alone: a pseudo-label
    never replaces a label. Returns how many were accepted."""
    version = _version_of(project, version_number)
    ids = sorted({int(i) for i in image_ids})
    classes = {label_class.index: label_class for label_class in project.classes.all()}
    accepted = 0
    with transaction.atomic():
        images = {image.pk: image for image in Image.objects.select_for_update(no_key=True).filter(project=project, pk__in=ids).order_by("pk")}
        predictions = Prediction.objects.filter(
            version=version, image_id__in=list(images), confidence__gte=project.threshold
        ).filter(selectors.unannotated("image_id"))
        for prediction in predictions:
            annotation = Annotation.objects.create(
                project=project,
                image=images[prediction.image_id],
                label_class=classes[prediction.predicted_index],
                source=Source.PSEUDO,
                annotator=user,
                confidence=prediction.confidence,
                from_version=version.number,
            )
            _record(
                annotation=annotation,
                image=images[prediction.image_id],
                user=user,
                action=AnnotationEvent.Action.PSEUDO_ACCEPTED,
                previous=None,
            )
            accepted += 1
    return accepted


def pseudo_labels_reject(
    *, project: Project, user: User, image_ids: Iterable[int], version_number: int
) -> int:
    """Record that the version's predictions for these unlabeled images are wrong: they leave the review
    queue for this version and go to the front of the label queue. Returns how many were recorded."""
    version = _version_of(project, version_number)
    already = ReviewDecision.objects.filter(
        image_id=OuterRef("image_id"), kind=ReviewDecision.Kind.REJECTED, version_number=version.number
    )
    predictions = (
        Prediction.objects.filter(version=version, image__project=project, image_id__in=[int(i) for i in image_ids])
        .filter(selectors.unannotated("image_id"))
        .filter(~Exists(already))
    )
    decisions = [
        ReviewDecision(
            project=project,
            image_id=prediction.image_id,
            user=user,
            kind=ReviewDecision.Kind.REJECTED,
            version_number=version.number,
            predicted_index=prediction.predicted_index,
            confidence=prediction.confidence,
        )
        for prediction in predictions
    ]
    ReviewDecision.objects.bulk_create(decisions)
    labeling_counts_forget(project_id=project.pk)  # bulk_create sends no signal
    if decisions:
        transaction.on_commit(lambda: selectors.rejections_remember(project_id=project.pk))
    return len(decisions)


def pseudo_labels_decide(
    *,
    project: Project,
    user: User,
    version_number: int,
    accept_ids: Iterable[int],
    reject_ids: Iterable[int],
) -> dict[str, int]:
    """A reviewed page: accept some pseudo-labels and reject others, all or nothing."""
    with transaction.atomic():
        rejected = pseudo_labels_reject(project=project, user=user, image_ids=reject_ids, version_number=version_number)
        accepted = pseudo_labels_accept(project=project, user=user, image_ids=accept_ids, version_number=version_number)
    return {"accepted": accepted, "rejected": rejected}


def pseudo_labels_undo(*, project: Project, user: User, image_ids: Iterable[int]) -> dict[str, int]:
    """Take back ``user``'s decisions on these images from the last ``REVIEW_UNDO_SECONDS`` (the review page
    they just decided): accepted pseudo-labels are removed, unless someone changed them since, and
    rejections are forgotten, so the images are back in the review queue. Older or other people's
    decisions are left alone. Returns how many accepts and rejects were undone."""
    since = timezone.now() - timedelta(seconds=REVIEW_UNDO_SECONDS)
    ids = sorted({int(i) for i in image_ids})
    unaccepted = 0
    with transaction.atomic():
        accepts = AnnotationEvent.objects.select_for_update().filter(
            project=project, user=user, action=AnnotationEvent.Action.PSEUDO_ACCEPTED, undone=False,
            image_id__in=ids, created_at__gte=since,
        ).order_by("image_id")
        for event in accepts:
            image = _lock_image(event.image_id)
            current = Annotation.objects.filter(image=image).first()
            if image is None or current is None or current.source != Source.PSEUDO or current.revision != event.revision:
                continue  # relabeled since: that label stays
            current.delete()
            event.undone = True
            event.save(update_fields=["undone"])
            AnnotationEvent.objects.create(
                project=project, image=image, user=user, action=AnnotationEvent.Action.UNDONE, revision=0,
                previous_class_id=event.label_class_id, previous_source=event.source, previous_annotator=user,
            )
            unaccepted += 1
        unrejected, _ = ReviewDecision.objects.filter(
            project=project, user=user, kind=ReviewDecision.Kind.REJECTED, image_id__in=ids, created_at__gte=since
        ).delete()
    return {"unaccepted": unaccepted, "unrejected": unrejected}


def suspect_keep(*, project: Project, user: User, image: Image, version_number: int) -> ReviewDecision:
    """A reviewer confirms a human label the model contradicts: it leaves the suspects queue until it changes."""
    version = _version_of(project, version_number)
    annotation = Annotation.objects.filter(project=project, image=image).first()
    prediction = Prediction.objects.filter(version=version, image=image).first()
    if annotation is None or prediction is None:
        raise LabelingError("This image has no label or no prediction to compare.")
    return ReviewDecision.objects.create(
        project=project,
        image=image,
        user=user,
        kind=ReviewDecision.Kind.KEPT,
        version_number=version.number,
        predicted_index=prediction.predicted_index,
        confidence=prediction.confidence,
        revision=annotation.revision,
    )
