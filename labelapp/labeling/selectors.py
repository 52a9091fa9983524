"""Reads for labeling: the queues (label, low-confidence, review, suspects), counts and the dashboard.

Every queue is a keyset query on indexed columns: the label queue walks a precomputed
:class:`QueueOrder` by rank, the model-driven queues walk ``Prediction(version, confidence)`` and
``Prediction(version, predicted_index, confidence)``; none counts the whole table per request.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.cache import cache
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.expressions import Combinable, NegatedExpression
from django.db.models.functions import Coalesce, TruncDay, TruncHour, TruncMinute
from django.utils import timezone

from labelapp.images.models import Image
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
from labelapp.lib.inputs import MAX_ID
from labelapp.lib.users import User
from labelapp.projects.models import Project
from labelapp.training.models import ModelVersion, Prediction

QUEUE_LABEL = "label"
QUEUE_LOW_CONFIDENCE = "low-confidence"
QUEUES = (QUEUE_LABEL, QUEUE_LOW_CONFIDENCE)
COUNTS_CACHE_SECONDS = 10
COUNTS_STALE_SECONDS = 5  # how old others' changes may leave a reader's counts (labeling_counts)
COUNTS_REFRESH_AHEAD_SECONDS = 3  # counts served older than this are recounted after the response is sent
POOL_COUNTS_CACHE_SECONDS = 300


def current_version(project: Project) -> ModelVersion | None:
    """The model version that readers see, or ``None`` before the first round (or if its row is gone).

    Read once per project object: Django keeps the related row on the instance, and assigning another
    ``current_version_id`` (or ``current_version``) replaces it, so a page that asks three times queries once.
    """
    if project.current_version_id is None:
        return None
    try:
        return project.current_version
    except ModelVersion.DoesNotExist:
        return None


def version_number(project: Project) -> int:
    """The current version's number, 0 before the first version."""
    version = current_version(project)
    return version.number if version else 0


def unannotated(image_ref: str = "pk") -> NegatedExpression[Combinable]:
    """Rows whose image (``image_ref``, an outer reference) has no current annotation: a ``NOT EXISTS`` condition
    (``&`` with another condition makes a ``Q``)."""
    return ~Exists(Annotation.objects.filter(image_id=OuterRef(image_ref)))


def available_to(user: User, *, now: datetime, image_ref: str = "pk") -> Q:
    """Rows whose image is unlabeled, not leased by someone else and not skipped by ``user``."""
    return Q(
        unannotated(image_ref),
        ~Exists(ImageLease.objects.filter(image_id=OuterRef(image_ref), expires_at__gt=now).exclude(user=user)),
        ~Exists(ImageSkip.objects.filter(image_id=OuterRef(image_ref), user=user)),
    )


QUEUE_ORDER_CACHE_SECONDS = 3600


@dataclass(frozen=True)
class Guess:
    """The current model version's prediction for an offered image."""

    class_index: int
    confidence: float


def queue_order_cache_key(*, project_id: int, version_id: int | None, strategy: str) -> str:
    """The cache key of the stored order of a project's version (``None``: before the first) and strategy."""
    return f"queue-order:{project_id}:{version_id or 0}:{strategy}"


def queue_order_for(project: Project) -> QueueOrder | None:
    """The stored label-queue order for the project's current version and strategy, if built.

    An order never changes once built, so it is read from the shared cache (no SQL on the hot path);
    :func:`labelapp.labeling.services.queue_order_build` drops the keys of the orders it deletes.
    """
    key = queue_order_cache_key(project_id=project.pk, version_id=project.current_version_id, strategy=project.strategy)
    cached = cache.get(key)
    if cached is not None:
        pk, version_number, last_image_id, size = cached
        return QueueOrder(pk=pk, project=project, version_number=version_number, strategy=project.strategy,
                          last_image_id=last_image_id, size=size)
    number: Combinable = Value(0)  # before the first version
    if project.current_version_id is not None:
        number = Coalesce(
            Subquery(ModelVersion.objects.filter(pk=project.current_version_id).values("number")[:1]), Value(0)
        )
    order = QueueOrder.objects.filter(project=project, version_number=number, strategy=project.strategy).first()
    if order is not None:
        queue_order_remember(project=project, order=order)
    return order


def queue_order_remember(*, project: Project, order: QueueOrder, version_id: int | None = None) -> None:
    """Cache a built order for :func:`queue_order_for`: the order of ``version_id`` (by default the project's
    current version) and the order's strategy."""
    version_id = project.current_version_id if version_id is None else version_id
    key = queue_order_cache_key(project_id=project.pk, version_id=version_id, strategy=order.strategy)
    cache.set(key, (order.pk, order.version_number, order.last_image_id, order.size), QUEUE_ORDER_CACHE_SECONDS)


def queue_sources(
    *, project: Project, user: User, queue: str, order: QueueOrder | None, own_leases: bool = True
) -> list[QuerySet]:
    """The ordered querysets a queue draws from, first source first; each row is an image
    (:class:`Image`) or names one (``image_id``: see :func:`source_image_field`).

    Label queue: the user's own unexpired leases (after a reload; ``own_leases``), then images whose
    pseudo-label was rejected, then the stored order by rank, then images added after the order was built (by id).
    Low-confidence queue: the user's own leases, then current predictions below the project's
    low-confidence threshold, lowest first.
    """
    now = timezone.now()
    own = (
        ImageLease.objects.filter(project=project, user=user, expires_at__gt=now)
        .filter(unannotated("image_id"))
        .order_by("id")
    )
    sources: list[QuerySet] = [own] if own_leases else []
    free = available_to(user, now=now, image_ref="image_id")
    if queue == QUEUE_LOW_CONFIDENCE:
        if project.current_version_id is not None:
            sources.append(
                Prediction.objects.filter(
                    version_id=project.current_version_id, confidence__lt=project.low_confidence_threshold
                )
                .filter(free)
                .order_by("confidence", "image_id")
            )
        return sources
    if has_rejections(project.pk):
        rejected = ReviewDecision.objects.filter(image_id=OuterRef("pk"), kind=ReviewDecision.Kind.REJECTED)
        sources.append(
            Image.objects.filter(project=project).filter(Exists(rejected), available_to(user, now=now)).order_by("id")
        )
    if order is not None:
        sources.append(QueueRank.objects.filter(order=order).filter(free).order_by("rank"))
    sources.append(
        Image.objects.filter(project=project, id__gt=order.last_image_id if order else 0)
        .filter(available_to(user, now=now))
        .order_by("id")
    )
    return sources


def _rejections_key(project_id: int) -> str:
    return f"has-rejections:{project_id}"


def has_rejections(project_id: int) -> bool:
    """Whether any pseudo-label of the project was ever rejected (cached: once true it stays true, so the
    label queue looks for rejected images only in projects that have some)."""
    known = cache.get(_rejections_key(project_id))
    if known is None:
        known = ReviewDecision.objects.filter(project_id=project_id, kind=ReviewDecision.Kind.REJECTED).exists()
        cache.add(_rejections_key(project_id), known, QUEUE_ORDER_CACHE_SECONDS)  # never over a concurrent "true"
    return known


def rejections_remember(*, project_id: int) -> None:
    """Record that the project now has a rejected pseudo-label (after the rejection commits)."""
    cache.set(_rejections_key(project_id), True, QUEUE_ORDER_CACHE_SECONDS)


def source_image_field(source: QuerySet) -> str:
    """The field of a :func:`queue_sources` row that holds the image id."""
    return "id" if source.model is Image else "image_id"


def queue_candidate_ids(
    *, project: Project, user: User, queue: str, order: QueueOrder | None, held: list[int], limit: int
) -> list[int]:
    """Up to ``limit`` image ids to offer ``user`` next, best first, leaving out ``held``. A page that
    holds images is mid-session: its other leases are not looked up."""
    found: list[int] = []
    for source in queue_sources(project=project, user=user, queue=queue, order=order, own_leases=not held):
        field = source_image_field(source)
        ids = source.exclude(**{f"{field}__in": held + found}).values_list(field, flat=True)
        found.extend(ids[: limit - len(found)])
        if len(found) >= limit:
            break
    return found


def _cursor_text(*values: float) -> str:
    """A keyset position for a URL: the sort values of the last item seen, exact (``repr`` of floats)."""
    return ":".join(repr(value) for value in values)


def _cursor_values(text: str, *types: type) -> tuple | None:
    """The values of :func:`_cursor_text`, converted to ``types``; ``None`` when the text is not one
    (other than ASCII, an infinity or a NaN, an int outside 0..2^63-1: no database compares those)."""
    parts = text.split(":")
    if len(parts) != len(types) or not text.isascii():
        return None
    try:
        values = tuple(kind(part) for kind, part in zip(types, parts, strict=True))
    except ValueError:
        return None
    if any(not math.isfinite(v) if isinstance(v, float) else not 0 <= v <= MAX_ID for v in values):
        return None
    return values


@dataclass(frozen=True)
class ReviewCursor:
    """Keyset position in the review queue: (predicted class, confidence, image id) of the last item seen."""

    predicted_index: int
    confidence: float
    image_id: int

    def encode(self) -> str:
        return _cursor_text(self.predicted_index, self.confidence, self.image_id)

    @classmethod
    def decode(cls, text: str) -> ReviewCursor | None:
        values = _cursor_values(text, int, float, int)
        return cls(*values) if values else None


def review_queue(
    project: Project, *, version: ModelVersion, class_index: int | None = None, after: ReviewCursor | None = None
) -> QuerySet[Prediction]:
    """Confident pseudo-labels to review: the version's predictions with confidence ≥ τ on images
    nobody labeled and that were not rejected under this version; grouped by predicted class,
    most confident first."""
    rejected = ReviewDecision.objects.filter(
        image_id=OuterRef("image_id"), kind=ReviewDecision.Kind.REJECTED, version_number=version.number
    )
    queryset = Prediction.objects.filter(version=version, confidence__gte=project.threshold).filter(
        unannotated("image_id"), ~Exists(rejected)
    )
    if class_index is not None:
        queryset = queryset.filter(predicted_index=class_index)
    if after is not None:
        queryset = queryset.filter(
            Q(predicted_index__gt=after.predicted_index)
            | Q(predicted_index=after.predicted_index, confidence__lt=after.confidence)
            | Q(predicted_index=after.predicted_index, confidence=after.confidence, image_id__gt=after.image_id)
        )
    return queryset.select_related("image").order_by("predicted_index", "-confidence", "image_id")


@dataclass(frozen=True)
class SuspectCursor:
    """Keyset position in the suspects queue: (confidence, image id) of the last item seen."""

    confidence: float
    image_id: int

    def encode(self) -> str:
        return _cursor_text(self.confidence, self.image_id)

    @classmethod
    def decode(cls, text: str) -> SuspectCursor | None:
        values = _cursor_values(text, float, int)
        return cls(*values) if values else None


def suspects_queue(
    project: Project, *, version: ModelVersion, after: SuspectCursor | None = None
) -> QuerySet[Prediction]:
    """Suspected label errors: human-labeled images whose prediction under ``version`` is another class
    with confidence ≥ τ, and whose current label nobody kept; most confident contradiction first."""
    kept = ReviewDecision.objects.filter(
        image_id=OuterRef("image_id"), kind=ReviewDecision.Kind.KEPT, revision=OuterRef("image__annotation__revision")
    )
    queryset = (
        Prediction.objects.filter(
            version=version, confidence__gte=project.threshold, image__annotation__source=Source.HUMAN
        )
        .exclude(predicted_index=F("image__annotation__label_class__index"))
        .filter(~Exists(kept))
    )
    if after is not None:
        queryset = queryset.filter(
            Q(confidence__lt=after.confidence) | Q(confidence=after.confidence, image_id__gt=after.image_id)
        )
    return queryset.select_related("image__annotation__label_class", "image__annotation__annotator").order_by(
        "-confidence", "image_id"
    )


def low_confidence_queue(project: Project, *, version: ModelVersion) -> QuerySet[Prediction]:
    """Unlabeled images whose prediction under ``version`` is below the low-confidence threshold, lowest first."""
    return (
        Prediction.objects.filter(version=version, confidence__lt=project.low_confidence_threshold)
        .filter(unannotated("image_id"))
        .order_by("confidence", "image_id")
    )


def counts_cache_key(project_id: int) -> str:
    """The cache key of a project's :func:`labeling_counts` (dropped by every label, decision and image)."""
    return f"labeling-counts:{project_id}"


def pool_counts_cache_key(project_id: int) -> str:
    """The cache key of the counts no label changes (:func:`_pool_counts`; dropped by every image)."""
    return f"labeling-pool-counts:{project_id}"


def _pool_counts(project: Project, version: ModelVersion | None, *, fresh: bool) -> dict:
    """The project's images and the current version's confident (≥ τ) and unsure (< the low-confidence
    threshold) predictions, labeled or not: counts over every image that a label leaves as they are.

    A version's predictions never change once written, so these are cached per version and thresholds
    until an image is added or deleted: a label then recounts only what depends on labels, which scales
    with the labels, not with the pool (at 100k images the whole recount took ~33 ms, most of it here).
    """
    key = pool_counts_cache_key(project.pk)
    stamp = (version.pk if version else None, project.threshold, project.low_confidence_threshold)
    counts = None if fresh else cache.get(key)
    if counts is None or counts["stamp"] != stamp:
        predictions = Prediction.objects.filter(version=version)
        counts = {
            "stamp": stamp,
            "images": Image.objects.filter(project=project).count(),
            "confident": predictions.filter(confidence__gte=project.threshold).count() if version else 0,
            "unsure": predictions.filter(confidence__lt=project.low_confidence_threshold).count() if version else 0,
        }
        cache.set(key, counts, POOL_COUNTS_CACHE_SECONDS)
    return counts


def counts_shared_cache_key(project_id: int) -> str:
    """The cache key of the project's last counts with the time their count began, kept across labels for
    :data:`COUNTS_STALE_SECONDS` (see :func:`labeling_counts`'s ``reader``)."""
    return f"labeling-counts-shared:{project_id}"


def counts_own_change_cache_key(project_id: int, user_id: int) -> str:
    """The cache key of when the user last changed something in the project (a labeling POST)."""
    return f"labeling-counts-own:{project_id}:{user_id}"


def labeling_counts(project: Project, *, fresh: bool = False, reader: User | None = None) -> dict[str, int]:
    """Sizes of the project's queues and labels, cached for a few seconds per project: a new version, a
    label, a review decision or an image drops the cached value (``labeling.signals``).

    The queue sizes are the pool's counts (:func:`_pool_counts`) less the labeled (and, for review,
    rejected) images among them, so that a recount after a label reads rows per label, not per image.

    ``reader`` (the person the counts are shown to): counts that someone else's label or decision dropped
    may be served up to :data:`COUNTS_STALE_SECONDS` old, unless the reader changed something since their
    count began; one's own changes always show at once. With a dozen people labeling, a page would
    otherwise recount after every label of anyone (12 annotators label about 10 images a second).
    Counts served older than :data:`COUNTS_REFRESH_AHEAD_SECONDS` are recounted once the response is
    sent (refresh-ahead, :func:`counts_refresh_due`), so that under steady use no page waits for the
    recount that the 5 s bound would otherwise put on about one page in twenty.
    """
    version = current_version(project)
    number = version.number if version else 0
    key, shared_key = counts_cache_key(project.pk), counts_shared_cache_key(project.pk)
    if not fresh:
        own_key = counts_own_change_cache_key(project.pk, reader.pk) if reader is not None else ""
        found = cache.get_many([key, shared_key, own_key] if own_key else [key])
        counts = found.get(key)
        if counts is not None and counts["version"] == number:
            return counts
        if own_key and shared_key in found:
            counted_at, counts = found[shared_key]
            age = time.time() - counted_at
            if counts["version"] == number and age <= COUNTS_STALE_SECONDS and counted_at > found.get(own_key, 0.0):
                if age > COUNTS_REFRESH_AHEAD_SECONDS:
                    _counts_refresh_after_response(project.pk)
                return counts
    return _counts_store(project, version, fresh=fresh)


def _counts_store(project: Project, version: ModelVersion | None, *, fresh: bool) -> dict[str, int]:
    """Count now and cache the counts, exact and shared (:func:`labeling_counts`)."""
    counted_at = time.time()  # before counting: a change committed while it counts is newer than these counts
    counts = _counts_now(project, version, fresh=fresh)
    cache.set_many(
        {counts_cache_key(project.pk): counts, counts_shared_cache_key(project.pk): (counted_at, counts)},
        COUNTS_CACHE_SECONDS,
    )
    return counts


_refresh_due: set[int] = set()  # projects this process recounts after its current response
_refresh_due_lock = threading.Lock()


def counts_refresh_cache_key(project_id: int) -> str:
    """The cache key held while one process recounts a project's shared counts ahead of their bound."""
    return f"labeling-counts-refresh:{project_id}"


def _counts_refresh_after_response(project_id: int) -> None:
    """Claim the project's refresh (one process at a time, whichever serves aged counts first) and mark it
    due in this process."""
    if cache.add(counts_refresh_cache_key(project_id), True, COUNTS_STALE_SECONDS):
        with _refresh_due_lock:
            _refresh_due.add(project_id)


def counts_refresh_due() -> None:
    """Recount the projects whose counts this process served aged (``request_finished``: the response is
    already on its way)."""
    with _refresh_due_lock:
        due = list(_refresh_due)
        _refresh_due.clear()
    if not due:
        return
    for project in Project.objects.filter(pk__in=due).select_related("current_version"):
        _counts_store(project, current_version(project), fresh=False)
        cache.delete(counts_refresh_cache_key(project.pk))


def _counts_now(project: Project, version: ModelVersion | None, *, fresh: bool) -> dict[str, int]:
    """The counts of :func:`labeling_counts`, read from the database (the pool's part may be cached)."""
    pool = _pool_counts(project, version, fresh=fresh)
    by_source = dict(
        Annotation.objects.filter(project=project).values_list("source").annotate(n=Count("id")).order_by()
    )
    labeled = sum(by_source.values())
    return {
        "version": version.number if version else 0,
        "images": pool["images"],
        "human": by_source.get(Source.HUMAN, 0),
        "pseudo": by_source.get(Source.PSEUDO, 0),
        "unlabeled": pool["images"] - labeled,
        "rejected": ReviewDecision.objects.filter(project=project, kind=ReviewDecision.Kind.REJECTED).count(),
        "review": pool["confident"] - _confident_taken(project, version) if version else 0,
        "low_confidence": pool["unsure"] - _labeled_predictions(project, version).filter(
            confidence__lt=project.low_confidence_threshold
        ).count() if version else 0,
        "suspects": suspects_queue(project, version=version).count() if version else 0,
    }


def _labeled_predictions(project: Project, version: ModelVersion) -> QuerySet[Prediction]:
    """The version's predictions of images that have a label."""
    return Prediction.objects.filter(
        version=version, image_id__in=Annotation.objects.filter(project=project).values("image_id")
    )


def _confident_taken(project: Project, version: ModelVersion) -> int:
    """Confident predictions out of the review queue: labeled images, and unlabeled ones rejected under
    ``version`` (the two sets are disjoint)."""
    confident = {"confidence__gte": project.threshold}
    labeled = _labeled_predictions(project, version).filter(**confident).count()
    rejected = ReviewDecision.objects.filter(
        project=project, kind=ReviewDecision.Kind.REJECTED, version_number=version.number
    ).values("image_id")
    rejected_unlabeled = (
        Prediction.objects.filter(version=version, image_id__in=rejected, **confident)
        .filter(unannotated("image_id"))
        .count()
    )
    return labeled + rejected_unlabeled


@dataclass(frozen=True)
class TimelinePoint:
    """Cumulative label counts at the end of one time bucket."""

    at: datetime
    human: int
    pseudo: int
    rejected: int


def label_timeline(project: Project) -> list[TimelinePoint]:
    """Cumulative human labels, accepted pseudo-labels and rejections over time, from zero.

    Buckets: minutes over the first three hours of a project, then hours up to three days, then days.
    """
    first = Annotation.objects.filter(project=project).order_by("created_at").values_list("created_at", flat=True).first()
    if first is None:
        return []
    age = timezone.now() - first
    trunc, step = (
        (TruncMinute, timedelta(minutes=1)) if age <= timedelta(hours=3)
        else (TruncHour, timedelta(hours=1)) if age <= timedelta(days=3)
        else (TruncDay, timedelta(days=1))
    )
    per_bucket: dict[datetime, dict[str, int]] = {}
    labels = (
        Annotation.objects.filter(project=project)
        .annotate(bucket=trunc("created_at"))
        .values_list("bucket", "source")
        .annotate(n=Count("id"))
        .order_by()
    )
    for bucket, source, n in labels:
        per_bucket.setdefault(bucket, {})[source] = n
    rejections = (
        ReviewDecision.objects.filter(project=project, kind=ReviewDecision.Kind.REJECTED)
        .annotate(bucket=trunc("created_at"))
        .values_list("bucket")
        .annotate(n=Count("id"))
        .order_by()
    )
    for bucket, n in rejections:
        per_bucket.setdefault(bucket, {})["rejected"] = n
    buckets = sorted(per_bucket)
    points, human, pseudo, rejected = [TimelinePoint(buckets[0] - step, 0, 0, 0)], 0, 0, 0
    for bucket in buckets:
        human += per_bucket[bucket].get(Source.HUMAN, 0)
        pseudo += per_bucket[bucket].get(Source.PSEUDO, 0)
        rejected += per_bucket[bucket].get("rejected", 0)
        points.append(TimelinePoint(bucket, human, pseudo, rejected))
    return points


def pseudo_acceptance(project: Project) -> tuple[int, int]:
    """(accepted, rejected) pseudo-label decisions over the project's life (undone accepts excluded)."""
    accepted = AnnotationEvent.objects.filter(
        project=project, action=AnnotationEvent.Action.PSEUDO_ACCEPTED, undone=False
    ).count()
    rejected = ReviewDecision.objects.filter(project=project, kind=ReviewDecision.Kind.REJECTED).count()
    return accepted, rejected


def version_history(project: Project) -> QuerySet[ModelVersion]:
    """The project's model versions, oldest first."""
    return ModelVersion.objects.filter(project=project).order_by("number")
