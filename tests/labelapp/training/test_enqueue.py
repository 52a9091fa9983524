"""Enqueueing rounds: on commit only, deduplicated, triggered by human labels and by the end of a round."""

from __future__ import annotations

import django_rq
import pytest
from django.db import transaction

from labelapp.labeling.models import Source
from labelapp.projects.models import Project
from labelapp.training import services, store
from labelapp.training.jobs import run_training_round
from labelapp.training.locks import RoundLock
from labelapp.training.models import ModelVersion
from tests.helpers.training import add_images, label, run_burst_in_process

pytestmark = pytest.mark.django_db(transaction=True)


def queued_jobs() -> list:
    return django_rq.get_queue(store.QUEUE_NAME).get_jobs()


def training_on(project: Project) -> None:
    Project.objects.filter(pk=project.pk).update(training_enabled=True)


def test_enqueueing_inside_a_transaction_that_rolls_back_runs_no_job(small_project):
    training_on(small_project)
    with pytest.raises(RuntimeError), transaction.atomic():
        services.round_enqueue_on_commit(project_id=small_project.pk)
        raise RuntimeError("roll back")
    assert queued_jobs() == []
    run_burst_in_process()
    assert not ModelVersion.objects.filter(project=small_project).exists()

    with transaction.atomic():
        services.round_enqueue_on_commit(project_id=small_project.pk)
        assert queued_jobs() == []  # not before the commit
    assert len(queued_jobs()) == 1


def test_new_human_labels_enqueue_one_round_while_training_is_on(project):
    images = add_images(project, per_class=3)
    training_on(project)
    label(project, images["shirt"][0], "shirt")
    label(project, images["bag"][0], "bag")
    label(project, images["trouser"][0], "trouser", source=Source.PSEUDO)
    jobs = queued_jobs()
    assert len(jobs) == 1
    assert jobs[0].kwargs == {"project_id": project.pk, "base_version": 0, "steps": None, "seconds": None}


def test_labels_enqueue_nothing_while_training_is_off(project):
    images = add_images(project, per_class=1)
    label(project, images["shirt"][0], "shirt")
    assert queued_jobs() == []


def test_labels_enqueue_nothing_while_a_round_runs(project):
    images = add_images(project, per_class=1)
    training_on(project)
    running = RoundLock(project.pk)
    assert running.acquire()
    try:
        label(project, images["shirt"][0], "shirt")
    finally:
        running.release()
    assert queued_jobs() == []


def test_a_round_that_ends_while_training_is_on_enqueues_the_next(small_project):
    training_on(small_project)
    outcome = services.round_execute(project_id=small_project.pk, steps=3)
    assert outcome.status == "done" and outcome.enqueued
    (job,) = queued_jobs()
    assert job.id == outcome.enqueued and job.kwargs["base_version"] == 1
    assert job.timeout > small_project.round_seconds


def test_rounds_are_deduplicated_until_the_queued_one_starts(small_project):
    first = services.round_enqueue(project_id=small_project.pk, steps=3)
    assert first and services.round_enqueue(project_id=small_project.pk) is None
    run_burst_in_process()  # training is off: the round does not chain, the burst ends
    assert ModelVersion.objects.filter(project=small_project).count() == 1
    assert queued_jobs() == []
    second = services.round_enqueue(project_id=small_project.pk)  # the record of the finished job is stale
    assert second and second != first
    (job,) = queued_jobs()
    assert job.kwargs["base_version"] == 1


def test_stopping_training_cancels_the_queued_round(small_project):
    services.training_start(project=small_project)
    assert len(queued_jobs()) == 1
    services.training_stop(project=small_project)
    assert queued_jobs() == []
    small_project.refresh_from_db()
    assert not small_project.training_enabled
    assert run_training_round(small_project.pk, steps=3) == "done v1"  # a one-off round still works
    assert queued_jobs() == []  # and does not chain while training is off
