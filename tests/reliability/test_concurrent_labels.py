"""Concurrent writers on one image and duplicate delivery of a round job: idempotent, no lost update,
and a human label is never overwritten by a pseudo-label or by a training round.

Threads each hold their own database connection and the test commits for real, so this runs the
app's row locking on PostgreSQL and its serialised write transactions on SQLite.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections

from labelapp.images.models import Image
from labelapp.labeling import services
from labelapp.labeling.models import Annotation, AnnotationEvent, Source
from labelapp.lib.processes import wait_until
from labelapp.projects.models import LabelClass, Membership, Project, Role
from labelapp.training import store
from labelapp.training.jobs import run_training_round
from labelapp.training.models import ModelVersion
from tests.helpers.accounts import make_user
from tests.helpers.training import (  # noqa: F401  (fixtures of the training tests, two autouse)
    clean_training_state,
    one_torch_thread,
    small_project,
)
from tests.labelapp.labeling.helpers import add_images, add_version

pytestmark = pytest.mark.django_db(transaction=True)
WRITERS = 6


def at_once(work, args: list) -> list:
    """Run ``work(arg)`` for every arg in its own thread, released together; results or exceptions, in order."""
    barrier = threading.Barrier(len(args))

    def run(arg):
        try:
            barrier.wait()
            return work(arg)
        except Exception as exc:  # noqa: BLE001  (the caller inspects it)
            return exc
        finally:
            connections.close_all()

    with ThreadPoolExecutor(len(args)) as pool:
        return list(pool.map(run, args))


def annotators(project: Project, count: int) -> list:
    users = [make_user(f"writer-{i}") for i in range(count)]
    Membership.objects.bulk_create(Membership(project=project, user=u, role=Role.ANNOTATOR) for u in users)
    return users


def test_people_labeling_one_image_at_once_leave_one_label_and_the_rest_are_told(project):
    image = add_images(project, 1)[0]
    classes = list(project.classes.order_by("index"))
    users = annotators(project, WRITERS)

    results = at_once(lambda i: services.annotation_submit(project=project, image=image, label_class=classes[i % 3],
                                                           user=users[i], expected_revision=None), list(range(WRITERS)))

    saved = [r for r in results if isinstance(r, Annotation)]
    refused = [r for r in results if isinstance(r, services.AnnotationConflict)]
    assert len(saved) == 1 and len(refused) == WRITERS - 1, results
    final = Annotation.objects.get(image=image)
    assert (final.annotator_id, final.label_class_id, final.revision) == (saved[0].annotator_id, saved[0].label_class_id, 1)
    assert AnnotationEvent.objects.filter(image=image).count() == 1


def test_a_double_submitted_label_is_saved_once(project, annotator):
    image = add_images(project, 1)[0]
    shirt = LabelClass.objects.get(project=project, index=0)

    results = at_once(lambda _: services.annotation_submit(project=project, image=image, label_class=shirt,
                                                           user=annotator, expected_revision=None), list(range(4)))

    assert all(isinstance(r, Annotation) for r in results), results
    assert Annotation.objects.get(image=image).revision == 1
    assert AnnotationEvent.objects.filter(image=image).count() == 1


def test_two_people_correcting_the_same_revision_do_not_lose_an_update(project, annotator):
    image = add_images(project, 1)[0]
    classes = list(project.classes.order_by("index"))
    services.annotation_submit(project=project, image=image, label_class=classes[0], user=annotator, expected_revision=None)
    users = annotators(project, 2)

    results = at_once(lambda i: services.annotation_submit(project=project, image=image, label_class=classes[i + 1],
                                                           user=users[i], expected_revision=1), [0, 1])

    saved = [r for r in results if isinstance(r, Annotation)]
    assert len(saved) == 1 and isinstance(next(r for r in results if r not in saved), services.AnnotationConflict)
    final = Annotation.objects.get(image=image)
    assert final.revision == 2 and final.label_class_id == saved[0].label_class_id
    assert AnnotationEvent.objects.filter(image=image).count() == 2  # both changes that happened are in the history


def test_a_pseudo_label_accepted_while_a_person_labels_never_replaces_the_human_label(project, annotator, reviewer):
    images = add_images(project, 8)
    add_version(project, {image: (2, 0.99) for image in images})
    shirt = LabelClass.objects.get(project=project, index=0)

    def work(job):
        kind, image = job
        if kind == "human":
            return services.annotation_submit(project=project, image=image, label_class=shirt, user=annotator,
                                              expected_revision=None)
        return services.pseudo_labels_accept(project=project, user=reviewer, image_ids=[image.pk], version_number=1)

    for image in images:
        results = at_once(work, [("pseudo", image), ("human", image)])
        assert not any(isinstance(r, Exception) for r in results), results
    finals = Annotation.objects.filter(image__in=images)
    assert finals.count() == len(images)
    assert set(finals.values_list("source", "label_class_id", "annotator_id")) == {(Source.HUMAN, shirt.pk, annotator.pk)}


def test_a_duplicate_round_job_while_the_first_runs_and_after_it_makes_one_version_and_keeps_human_labels(small_project, annotator):  # noqa: F811  (fixtures imported from tests.helpers)
    project = small_project
    outcome: list[str] = []
    first = threading.Thread(target=lambda: (outcome.append(run_training_round(project.pk, base_version=0, seconds=6)),
                                             connections.close_all()))
    first.start()
    try:
        assert wait_until(lambda: (store.progress_get(project.pk) or {}).get("type") == "round.progress", timeout=120)
        assert run_training_round(project.pk, base_version=0, steps=3) == "locked"  # delivered again mid-round
        unlabeled = Image.objects.filter(project=project, annotation__isnull=True)[:5]
        trouser = LabelClass.objects.get(project=project, name="trouser")
        for image in unlabeled:  # people keep labeling during the round
            services.annotation_submit(project=project, image=image, label_class=trouser, user=annotator,
                                       expected_revision=None)
        human_before = sorted(Annotation.objects.filter(project=project).values_list("image_id", "label_class_id", "source"))
    finally:
        first.join()
    assert outcome == ["done v1"]
    assert run_training_round(project.pk, base_version=0, steps=3) == "stale"  # delivered again after it
    assert list(ModelVersion.objects.filter(project=project).values_list("number", flat=True)) == [1]
    after = sorted(Annotation.objects.filter(project=project).values_list("image_id", "label_class_id", "source"))
    assert after == human_before and {source for _, _, source in after} == {Source.HUMAN}

