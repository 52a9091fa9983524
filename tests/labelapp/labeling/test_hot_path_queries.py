"""The labeling hot path stays cheap: "next image" and "submit" each run at most four SQL statements
(issue 17, item 3). A count, not a time: timings belong to ``benchmarks/web/queue_latency.py``."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from labelapp.labeling import presenters, services
from labelapp.labeling.models import Annotation, ImageLease

from .helpers import add_images, add_version

# BEGIN and COMMIT count, and so do the training app's two after-commit checks of a saved label ("is
# training on?"). PostgreSQL writes a first label in one statement (data-modifying CTEs); SQLite has none,
# so there a label is BEGIN, lock-and-read, label, event, lease, COMMIT.
MAX_STATEMENTS = {"next": {"postgresql": 4, "sqlite": 4}, "submit": {"postgresql": 4, "sqlite": 8}}


@pytest.fixture
def labeling_day(transactional_db, project, annotator):
    """A project with a current version, the model's guess shown, and the annotator holding one image
    (outside a test transaction, as in a request: no savepoints)."""
    images = add_images(project, 8)
    add_version(project, {image: (n % 3, 0.5 + n / 20) for n, image in enumerate(images)})
    project.refresh_from_db()
    project.show_model_guess = True
    project.save(update_fields=["show_model_guess"])
    current = services.lease_next(project=project, user=annotator)  # builds the stored order once
    return project, current


def statements(captured: CaptureQueriesContext) -> list[str]:
    return [query["sql"] for query in captured.captured_queries]


def test_the_next_image_with_its_guess_costs_at_most_four_statements(labeling_day, annotator):
    project, current = labeling_day
    with CaptureQueriesContext(connection) as captured:
        upcoming = services.lease_next(project=project, user=annotator, held=[current.image_id])
        offered = presenters.leased_image(project, upcoming)
    assert len(captured) <= MAX_STATEMENTS["next"][connection.vendor], "\n".join(statements(captured))
    assert offered["id"] != current.image_id and offered["guess"] is not None and offered["current"] is None
    assert set(ImageLease.objects.filter(user=annotator).values_list("image_id", flat=True)) == {
        current.image_id, upcoming.image_id}


def test_submitting_a_label_costs_at_most_four_statements(labeling_day, annotator):
    project, current = labeling_day
    label_class = project.classes.get(index=1)
    with CaptureQueriesContext(connection) as captured:
        services.annotation_submit(project=project, image=current.image, label_class=label_class, user=annotator,
                                   expected_revision=None)
    assert len(captured) <= MAX_STATEMENTS["submit"][connection.vendor], "\n".join(statements(captured))
    assert Annotation.objects.get(image=current.image).label_class == label_class
    assert not ImageLease.objects.filter(image=current.image).exists()
