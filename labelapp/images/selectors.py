"""Reads about images: keyset-paginated pages and a project's counts."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count

from labelapp.images.models import Image
from labelapp.labeling.models import Annotation
from labelapp.projects.models import Project

PAGE_SIZE = 60


@dataclass(frozen=True)
class ImagePage:
    """One page of images ordered by id; ``next_after``/``previous_before`` are the keys of the neighbours."""

    images: list[Image]
    next_after: int | None
    previous_before: int | None


def image_page(
    *, project: Project, after: int | None = None, before: int | None = None,
    labeled: bool | None = None, size: int = PAGE_SIZE,
) -> ImagePage:
    """Images of ``project`` after (or before) an id, optionally only labeled or unlabeled ones.

    Keyset pagination on the (project, id) index: the cost of a page does not grow with its depth.
    """
    images = Image.objects.filter(project=project).select_related("annotation__label_class")
    if labeled is not None:
        images = images.filter(annotation__isnull=not labeled)
    if before is not None:
        rows = list(images.filter(id__lt=before).order_by("-id")[: size + 1])
        has_previous, rows = len(rows) > size, rows[:size][::-1]
        return ImagePage(rows, rows[-1].pk if rows else None, rows[0].pk if rows and has_previous else None)
    rows = list(images.filter(id__gt=after or 0).order_by("id")[: size + 1])
    has_next, rows = len(rows) > size, rows[:size]
    return ImagePage(rows, rows[-1].pk if rows and has_next else None, rows[0].pk if rows and after else None)


def image_counts(*, project: Project) -> dict[str, int]:
    """How many images the project has, and how many carry a human or an accepted pseudo-label."""
    by_source = dict(
        Annotation.objects.filter(project=project).values_list("source").annotate(n=Count("id")).order_by()
    )
    human, pseudo = by_source.get("human", 0), by_source.get("pseudo", 0)
    return {
        "images": Image.objects.filter(project=project).count(),
        "labeled": human + pseudo,
        "human": human,
        "pseudo": pseudo,
        "skipped": Image.objects.filter(project=project).exclude(decode_error="").count(),
    }


SKIPPED_SHOWN = 50


def images_skipped(*, project: Project, limit: int = SKIPPED_SHOWN) -> list[Image]:
    """Images the training worker could not decode (and leaves out of training), oldest first."""
    return list(Image.objects.filter(project=project).exclude(decode_error="").order_by("id")[:limit])
