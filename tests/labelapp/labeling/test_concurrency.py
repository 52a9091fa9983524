"""Many annotators at once on PostgreSQL: nobody is served an image someone else holds, no label is lost.

Each thread has its own database connection (Django's connections are per thread) and the test
commits for real (``transaction=True``), so the row locks and ``SKIP LOCKED`` are exercised as in
production. SQLite serialises every write transaction, so there is nothing to race there.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections

from labelapp.labeling import services
from labelapp.labeling.models import Annotation, AnnotationEvent
from labelapp.projects.models import Membership, Role
from tests.helpers.accounts import make_user

from .helpers import add_images, add_version

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="row-lock concurrency needs PostgreSQL (SQLite serialises writes); CI runs it with DATABASE_URL",
    ),
]

ANNOTATORS = 8
IMAGES = 40


def _annotators(project):
    users = [make_user(f"concurrent-{i}") for i in range(ANNOTATORS)]
    Membership.objects.bulk_create(Membership(project=project, user=u, role=Role.ANNOTATOR) for u in users)
    return users


def _in_thread(work):
    def run(*args):
        try:
            return work(*args)
        finally:
            connections.close_all()  # this thread's connection

    return run


def test_annotators_requesting_at_once_are_served_different_images(project):
    images = add_images(project, IMAGES)
    add_version(project, {image: (i % 3, 0.4 + (i % 7) / 20) for i, image in enumerate(images)})
    users = _annotators(project)
    barrier = threading.Barrier(ANNOTATORS)

    @_in_thread
    def first_two(user):
        barrier.wait()
        current = services.lease_next(project=project, user=user)
        preloaded = services.lease_next(project=project, user=user, held=[current.image_id])
        return [current.image_id, preloaded.image_id]

    with ThreadPoolExecutor(ANNOTATORS) as pool:
        served = [image_id for pair in pool.map(first_two, users) for image_id in pair]
    assert len(served) == 2 * ANNOTATORS and len(set(served)) == len(served)


def test_annotators_labeling_at_once_label_every_image_exactly_once(project):
    images = add_images(project, IMAGES)
    users = _annotators(project)
    classes = list(project.classes.order_by("index"))
    barrier = threading.Barrier(ANNOTATORS)

    @_in_thread
    def label_until_empty(user):
        barrier.wait()
        saved, conflicts = [], 0
        while (lease := services.lease_next(project=project, user=user)) is not None:
            image = lease.image
            try:
                for _ in range(2):  # a double-click: the second submit is a no-op
                    services.annotation_submit(
                        project=project, image=image, label_class=classes[image.pk % 3], user=user,
                        expected_revision=None, lease_token=lease.token,
                    )
                saved.append(image.pk)
            except services.AnnotationConflict:
                conflicts += 1
        return saved, conflicts

    with ThreadPoolExecutor(ANNOTATORS) as pool:
        results = list(pool.map(label_until_empty, users))
    saved = [image_id for ids, _ in results for image_id in ids]
    assert sum(conflicts for _, conflicts in results) == 0  # nobody was handed an image another was labeling
    assert sorted(saved) == sorted(image.pk for image in images)  # each image once, none lost
    assert Annotation.objects.filter(project=project).count() == IMAGES
    assert AnnotationEvent.objects.filter(project=project).count() == IMAGES  # double submits left no trace
    assert all(a.annotator_id for a in Annotation.objects.filter(project=project))
