"""A labeling history with hand-worked annotator statistics, written through the labeling services (real
labels, overwrites and an undo) with chosen timestamps. The expected numbers are worked out in ``EXPECTED``.

People: anna (annotator), ben (a second annotator), rita (reviewer). Classes: shirt 0, trouser 1, bag 2.

  t (s)  who   image  class   note
  0      anna  0      0
  10     anna  1      1
  20     anna  2      2
  30     anna  3      0
  3600   anna  4      1       after a one-hour break (not active time)
  3610   anna  5      1
  3620   anna  6      0
  3625   anna  —      —       undo of image 6 (activity; the label no longer counts)
  100    ben   0      0       agrees with anna (same class: no event is a change)
  120    ben   1      2       overwrites anna: an annotator, so not "changed by a reviewer"
  140    ben   4      1       agrees
  200    rita  3      2       a reviewer changes anna's label: anna's one changed label
  205    rita  5      1       agrees

Version 1 (current) predicts: image 2 → 0 @0.99 (contradicts anna's bag), image 0 → 0 @0.99, image 1 → 1
@0.97 (contradicts ben's bag), image 4 → 0 @0.60 (below τ = 0.95: not a contradiction), image 3 → 2 @0.99,
image 5 → 1 @0.99.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.contrib.auth.models import User

from labelapp.images.models import Image
from labelapp.labeling.models import Annotation, AnnotationEvent
from labelapp.labeling.services import annotation_submit, annotation_undo
from labelapp.projects.models import Membership, Project, Role
from tests.conftest import make_user
from tests.labelapp.labeling.helpers import add_images, add_version

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)

# Per person: labels, active seconds, labels per hour as shown, (changed, labels), (contradicted, labels the
# current version predicts), (agreeing, pairwise comparisons).
EXPECTED = {
    "anna-annotator": {"labels": 6, "active_seconds": 55.0, "per_hour": "393", "changed": (1, 6),
                       "contradicted": (1, 1), "agreement": (3, 5)},
    "ben-annotator": {"labels": 3, "active_seconds": 40.0, "per_hour": "270", "changed": (0, 3),
                      "contradicted": (1, 3), "agreement": (2, 3)},
    "rita-reviewer": {"labels": 2, "active_seconds": 5.0, "per_hour": "1440", "changed": (0, 2),
                      "contradicted": (0, 2), "agreement": (1, 2)},
}
# (first, second) in name order: (images both labeled, agreeing, Cohen's kappa), from the table above
EXPECTED_PAIRS = {
    ("anna-annotator", "ben-annotator"): (3, 2, 0.5),  # p_o = 2/3, p_e = (1·1 + 2·1)/9 = 1/3
    ("anna-annotator", "rita-reviewer"): (2, 1, 1 / 3),  # p_o = 1/2, p_e = 1/4
}


def _stamp(seconds: float) -> None:
    """Date the newest event ``seconds`` after T0."""
    newest = AnnotationEvent.objects.order_by("-id").values_list("pk", flat=True)[0]
    AnnotationEvent.objects.filter(pk=newest).update(created_at=T0 + timedelta(seconds=seconds))


def _label(project: Project, user: User, image: Image, index: int, seconds: float) -> None:
    current = Annotation.objects.filter(image=image).values_list("revision", flat=True).first()
    annotation_submit(project=project, image=image, label_class=project.classes.get(index=index), user=user,
                      expected_revision=current)
    _stamp(seconds)


def seed_history(project: Project, annotator: User, reviewer: User) -> dict:
    """The history above in ``project`` (the shared cast's project); returns the people and images."""
    ben = make_user("ben-annotator")
    Membership.objects.create(project=project, user=ben, role=Role.ANNOTATOR)
    images = add_images(project, 7)
    anna, rita = annotator, reviewer
    for seconds, image, index in [(0, 0, 0), (10, 1, 1), (20, 2, 2), (30, 3, 0), (3600, 4, 1), (3610, 5, 1),
                                  (3620, 6, 0)]:
        _label(project, anna, images[image], index, seconds)
    annotation_undo(project=project, user=anna)
    _stamp(3625)
    for seconds, image, index in [(100, 0, 0), (120, 1, 2), (140, 4, 1)]:
        _label(project, ben, images[image], index, seconds)
    for seconds, image, index in [(200, 3, 2), (205, 5, 1)]:
        _label(project, rita, images[image], index, seconds)
    add_version(project, {images[2]: (0, 0.99), images[0]: (0, 0.99), images[1]: (1, 0.97), images[4]: (0, 0.60),
                          images[3]: (2, 0.99), images[5]: (1, 0.99)})
    return {"anna": anna, "ben": ben, "rita": rita, "images": images}
