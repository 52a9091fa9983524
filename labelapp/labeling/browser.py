"""Reads of the images data browser: a filtered, sorted, keyset-paginated grid of a project's images,
and one image's label history and predictions.

Filters and sorts are the ones FiftyOne's and Label Studio's data managers offer for classification:
the current label's class, source and annotator, the current version's predicted class and confidence,
skipped and flagged images; sorted by upload order, confidence or label date. Every sort is a keyset
walk on ``(sort key, id)``, so a page deep in the list costs what the first does and a label changing
under the reader never repeats or drops an image at a page boundary.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, TypedDict

from django.db.models import (
    DateTimeField,
    Exists,
    F,
    FilteredRelation,
    FloatField,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Value,
)
from django.db.models.expressions import Combinable
from django.db.models.functions import Coalesce

from labelapp.images.models import Image
from labelapp.labeling.models import AnnotationEvent, ImageSkip, Source
from labelapp.labeling.selectors import _cursor_text, _cursor_values, unannotated
from labelapp.projects.models import Project
from labelapp.training.models import ModelVersion, Prediction

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

PAGE_SIZE = 60
HISTORY_SHOWN = 100
PREDICTIONS_SHOWN = 6  # the current version and the five before it
NO_CONFIDENCE = -1.0  # the confidence sort key of an image the current version has no prediction for
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # the label-date sort key of an unlabeled image

SOURCES = {
    "human": "Human label",
    "pseudo": "Accepted pseudo-label",
    "labeled": "Any label",
    "predicted": "No label, prediction ≥ τ",
    "none": "No label, prediction < τ or none",
    "unlabeled": "No label",
}
STATES = {"skipped": "Skipped by someone", "flagged": "Left out of training (undecodable)"}


@dataclass(frozen=True)
class BrowserFilters:
    """What the grid shows; ``None`` (or an empty string) leaves a filter off."""

    class_id: int | None = None  # the current label's class
    predicted_index: int | None = None  # the current version's predicted class
    source: str = ""  # a key of SOURCES
    min_confidence: float | None = None  # of the current version's prediction, inclusive
    max_confidence: float | None = None
    annotator_id: int | None = None  # who gave the current label
    state: str = ""  # a key of STATES


@dataclass(frozen=True)
class Sort:
    """One order of the grid: by ``key`` (an annotation on the browser queryset, ``"id"`` for upload
    order), ties broken by id in the same direction.

    ``key`` may stand for a column that is NULL for some images (``nullable``; ``null_value`` is the
    key those images get, below every real value): then the order is walked as two parts, each on an
    index (see :func:`_rows`).
    """

    label: str
    key: str
    descending: bool
    nullable: str = ""
    null_value: object = None

    def encode(self, image: Image) -> str:
        """The cursor of ``image`` in this order: ``"<key>:<id>"``, just ``"<id>"`` in upload order."""
        if self.key == "id":
            return _cursor_text(image.pk)
        value = getattr(image, self.key)
        if isinstance(value, datetime):
            value = _microseconds(value)
        return _cursor_text(value, image.pk)

    def decode(self, text: str) -> tuple | None:
        """``(key value, id)`` of a cursor made by :meth:`encode`, or ``None`` when ``text`` is not one."""
        if self.key == "id":
            values = _cursor_values(text, int)
            return (values[0], values[0]) if values else None
        values = _cursor_values(text, float if self.key == "confidence_key" else int, int)
        if values is None:
            return None
        if self.key == "labeled_key":
            return EPOCH + timedelta(microseconds=values[0]), values[1]
        return values


SORTS = {
    "oldest": Sort("Upload order, oldest first", "id", False),
    "newest": Sort("Upload order, newest first", "id", True),
    "least-confident": Sort("Confidence, lowest first", "confidence_key", False, "confidence", NO_CONFIDENCE),
    "most-confident": Sort("Confidence, highest first", "confidence_key", True, "confidence", NO_CONFIDENCE),
    "recently-labeled": Sort("Label date, newest first", "labeled_key", True, "labeled_at", EPOCH),
}
DEFAULT_SORT = "oldest"


def _microseconds(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)


@dataclass(frozen=True)
class BrowserPage:
    """One page of the grid, in the sort's order; the cursors of the neighbouring pages (``None`` at an end)."""

    images: list[Image]
    next_after: str | None
    previous_before: str | None


class BrowserColumns(TypedDict):
    """The columns :func:`browser_images` adds to each image (filters and sorts name them)."""

    confidence: float | None
    predicted_index: int | None
    labeled_at: datetime | None
    confidence_key: float
    labeled_key: datetime


if TYPE_CHECKING:
    BrowserImage = WithAnnotations[Image, BrowserColumns]  # an image with those columns


def browser_images(project: Project, version: ModelVersion | None) -> QuerySet[BrowserImage]:
    """The project's images with their current annotation and, as ``confidence`` and ``predicted_index``,
    the prediction of ``version`` (``None`` without one): one LEFT JOIN on ``Prediction(version, image)``."""
    images = Image.objects.filter(project=project).select_related(
        "annotation__label_class", "annotation__annotator"
    )
    if version is None:
        images = images.annotate(
            confidence=Value(None, output_field=FloatField()), predicted_index=Value(None, output_field=IntegerField())
        )
    else:
        images = images.annotate(
            shown=FilteredRelation("predictions", condition=Q(predictions__version_id=version.pk))
        ).annotate(confidence=F("shown__confidence"), predicted_index=F("shown__predicted_index"))
    return images.annotate(
        labeled_at=F("annotation__updated_at"),
        confidence_key=Coalesce(F("confidence"), Value(NO_CONFIDENCE), output_field=FloatField()),
        labeled_key=Coalesce(F("annotation__updated_at"), Value(EPOCH), output_field=DateTimeField()),
    )


# "No label" is NOT EXISTS, not a LEFT JOIN … IS NULL: PostgreSQL estimates an anti-join well, and the
# IS NULL form once made it plan a nested loop over the whole pool (~1 s at 60k images).
_SOURCE_FILTERS: dict[str, Callable[[float], Q | Combinable]] = {
    "human": lambda tau: Q(annotation__source=Source.HUMAN),
    "pseudo": lambda tau: Q(annotation__source=Source.PSEUDO),
    "labeled": lambda tau: ~unannotated(),
    "predicted": lambda tau: unannotated() & Q(confidence__gte=tau),
    "none": lambda tau: unannotated() & (Q(confidence__lt=tau) | Q(confidence__isnull=True)),
    "unlabeled": lambda tau: unannotated(),
}


def _filtered(images: QuerySet[BrowserImage], project: Project, filters: BrowserFilters) -> QuerySet[BrowserImage]:
    if filters.class_id is not None:
        images = images.filter(annotation__label_class_id=filters.class_id)
    if filters.predicted_index is not None:
        images = images.filter(predicted_index=filters.predicted_index)
    if filters.source:
        images = images.filter(_SOURCE_FILTERS[filters.source](project.threshold))
    if filters.min_confidence is not None:
        images = images.filter(confidence__gte=filters.min_confidence)
    if filters.max_confidence is not None:
        images = images.filter(confidence__lte=filters.max_confidence)
    if filters.annotator_id is not None:
        images = images.filter(annotation__annotator_id=filters.annotator_id)
    if filters.state == "skipped":
        images = images.filter(Exists(ImageSkip.objects.filter(image_id=OuterRef("pk"))))
    elif filters.state == "flagged":
        images = images.exclude(decode_error="")
    return images


def _beyond(sort: Sort, cursor: tuple, *, forward: bool) -> Q:
    """Rows after ``cursor`` in the sort's order (``forward``) or before it."""
    value, image_id = cursor
    later = sort.descending != forward  # True: larger keys come next
    op = "gt" if later else "lt"
    if sort.key == "id":
        return Q(**{f"id__{op}": image_id})
    # The first term repeats the bound alone so that the database can start an index range scan there.
    return Q(**{f"{sort.key}__{op}e": value}) & (
        Q(**{f"{sort.key}__{op}": value}) | Q(**{sort.key: value, f"id__{op}": image_id})
    )


def _ordered(images: QuerySet[Image], sort: Sort, *, forward: bool) -> QuerySet[Image]:
    descending = sort.descending == forward
    keys = ["id"] if sort.key == "id" else [sort.key, "id"]
    return images.order_by(*(f"-{key}" if descending else key for key in keys))


def _rows(images: QuerySet[Image], sort: Sort, cursor: tuple | None, *, forward: bool, limit: int) -> list[Image]:
    """Up to ``limit`` rows beyond ``cursor`` in ``sort``'s order (or before it when not ``forward``).

    An order on a nullable column is walked as two parts so that each can use an index rather than
    sort the whole pool per page: the images that have the column, by ``(column, id)`` (confidence:
    the ``Prediction(version, confidence)`` index; label date: ``Annotation(project, updated_at)``),
    and the images that lack it (key ``null_value``, lowest), by id.
    """
    if not sort.nullable:
        if cursor is not None:
            images = images.filter(_beyond(sort, cursor, forward=forward))
        return list(_ordered(images, sort, forward=forward)[:limit])
    # Unlabeled as NOT EXISTS (see _SOURCE_FILTERS); images without a prediction stay a LEFT JOIN … IS NULL.
    lacking = unannotated() if sort.nullable == "labeled_at" else Q(**{f"{sort.nullable}__isnull": True})
    parts = [
        (images.filter(lacking), Sort(sort.label, "id", sort.descending)),
        (images.filter(**{f"{sort.nullable}__isnull": False}), Sort(sort.label, sort.nullable, sort.descending)),
    ]
    if sort.descending == forward:  # walking from high keys to low: the images with a value first
        parts.reverse()
    rows: list[Image] = []
    reached = cursor is None
    for part, part_sort in parts:
        if cursor is not None and (cursor[0] == sort.null_value) == (part_sort.key == "id"):
            part, reached = part.filter(_beyond(part_sort, cursor, forward=forward)), True
        elif not reached:
            continue
        rows += _ordered(part, part_sort, forward=forward)[: limit - len(rows)]
        if len(rows) >= limit:
            break
    return rows


def browser_page(
    project: Project,
    *,
    version: ModelVersion | None,
    filters: BrowserFilters = BrowserFilters(),
    sort: Sort = SORTS[DEFAULT_SORT],
    after: tuple | None = None,
    before: tuple | None = None,
    size: int = PAGE_SIZE,
) -> BrowserPage:
    """The page of matching images after ``after`` (or before ``before``, or the first page), in ``sort``'s
    order. Cursors are ``sort.decode``'d ``(key value, id)`` pairs; the page's own are ``sort.encode``'d."""
    images = _filtered(browser_images(project, version), project, filters)
    if before is not None:
        rows = _rows(images, sort, before, forward=False, limit=size + 1)
        has_previous, rows = len(rows) > size, rows[:size][::-1]
        return BrowserPage(
            rows, sort.encode(rows[-1]) if rows else None, sort.encode(rows[0]) if rows and has_previous else None
        )
    rows = _rows(images, sort, after, forward=True, limit=size + 1)
    has_next, rows = len(rows) > size, rows[:size]
    return BrowserPage(
        rows, sort.encode(rows[-1]) if rows and has_next else None, sort.encode(rows[0]) if rows and after else None
    )


def browser_count(project: Project, *, version: ModelVersion | None, filters: BrowserFilters) -> int:
    """How many images match ``filters`` (one COUNT over the same joins as a page)."""
    return _filtered(browser_images(project, version), project, filters).count()


def browser_image(project: Project, *, version: ModelVersion | None, image_id: int) -> Image | None:
    """One image of ``project`` shaped like a grid item, or ``None`` when it is not the project's."""
    return browser_images(project, version).filter(pk=image_id).first()


def browser_images_by_id(project: Project, *, version: ModelVersion | None, image_ids: list[int]) -> list[Image]:
    """The project's images among ``image_ids``, in that order (ids of other projects or deleted images are left out)."""
    found = {image.pk: image for image in browser_images(project, version).filter(pk__in=image_ids)}
    return [found[i] for i in image_ids if i in found]


def image_history(image: Image, *, limit: int = HISTORY_SHOWN) -> list[AnnotationEvent]:
    """Every change of the image's label, newest first: who, what it became, what it replaced, when."""
    events = AnnotationEvent.objects.filter(image=image).select_related("user", "label_class", "previous_class")
    return list(events.order_by("-created_at", "-id")[:limit])


def image_predictions(image: Image, *, limit: int = PREDICTIONS_SHOWN) -> list[Prediction]:
    """The image's predictions under the project's latest versions that still keep them, newest first."""
    predictions = Prediction.objects.filter(image=image, version__project_id=image.project_id).select_related("version")
    return list(predictions.order_by("-version__number")[:limit])
