"""Reads about images: a project's counts and the images training left out."""

from __future__ import annotations

from django.db.models import Count

from labelapp.images.models import Image
from labelapp.labeling.models import Annotation
from labelapp.projects.models import Project


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
