"""Writes of the images data browser: one class for a selection of images ("label all these as …").

Each image goes through :func:`labelapp.labeling.services.annotation_submit`, so every label is
conflict-checked, recorded in the history and undoable one by one, exactly like a label given with a
key on the label page.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.http import Http404

from labelapp.images.models import Image
from labelapp.labeling.services import AnnotationConflict, annotation_submit
from labelapp.lib.users import User
from labelapp.projects.models import LabelClass, Project


@dataclass
class BulkLabelResult:
    """The images labeled, and those refused because someone else labeled them since they were shown."""

    labeled: list[int] = field(default_factory=list)
    conflicts: dict[int, str] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "labeled": self.labeled,
            "conflicts": [{"image": image_id, "detail": detail} for image_id, detail in self.conflicts.items()],
        }


def annotations_submit_bulk(
    *, project: Project, user: User, label_class: LabelClass, seen: dict[int, int | None]
) -> BulkLabelResult:
    """Label every image of ``seen`` (image id → the revision the person saw, ``None`` for unlabeled)
    ``label_class``. Raises :class:`~django.http.Http404` when an id is not an image of ``project``,
    before anything is written; a conflict on one image leaves the others labeled."""
    images = Image.objects.filter(project=project).in_bulk(list(seen))
    if len(images) != len(seen):
        raise Http404("No such image in this project.")
    result = BulkLabelResult()
    for image_id, revision in seen.items():
        try:
            annotation_submit(
                project=project, image=images[image_id], label_class=label_class, user=user, expected_revision=revision
            )
        except AnnotationConflict as conflict:
            result.conflicts[image_id] = str(conflict)
        else:
            result.labeled.append(image_id)
    return result
