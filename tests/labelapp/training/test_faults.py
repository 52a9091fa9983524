"""Faults: a worker killed with SIGKILL mid-round, and a round that died while writing predictions."""

from __future__ import annotations

import signal

import pytest

from labelapp.images.models import Image
from labelapp.lib.processes import wait_until
from labelapp.training import services, store
from labelapp.training.cache import checkpoint_path
from labelapp.training.jobs import run_training_round
from labelapp.training.locks import round_running
from labelapp.training.models import ModelVersion, Prediction
from sslengine import Trainer
from tests.helpers.training import assert_current_is_complete, sigkill_when, start_worker

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_worker_killed_mid_round_leaves_the_previous_version_current_and_the_next_round_succeeds(labeled_project):
    assert run_training_round(labeled_project.pk, steps=3) == "done v1"
    assert services.round_enqueue(project_id=labeled_project.pk, seconds=120)
    worker = start_worker(burst=True, TRAINING_LOCK_SECONDS="2")
    in_training = sigkill_when(
        worker, lambda: (store.progress_get(labeled_project.pk) or {}).get("type") == "round.progress", timeout=120
    )
    assert in_training, "the worker never reported training progress"
    assert worker.returncode == -signal.SIGKILL

    first = assert_current_is_complete(labeled_project, 1)
    assert Trainer.load(checkpoint_path(first.checkpoint)).global_step == 3
    assert round_running(labeled_project.pk)  # the dead worker's lock is still there...
    assert wait_until(lambda: not round_running(labeled_project.pk), timeout=10)  # ...until its TTL runs out

    assert run_training_round(labeled_project.pk, steps=3) == "done v2"
    second = assert_current_is_complete(labeled_project, 2)
    assert second.steps == 6
    assert list(ModelVersion.objects.filter(project=labeled_project).values_list("number", flat=True)) == [1, 2]


def test_a_version_left_half_written_by_a_dead_round_is_never_current_and_is_replaced(small_project):
    run_training_round(small_project.pk, steps=3)
    first = ModelVersion.objects.get(project=small_project)
    orphan = ModelVersion.objects.create(project=small_project, number=2, algorithm="fixmatch", backbone="cnn-small", checkpoint="x")
    Prediction.objects.bulk_create(
        Prediction(version=orphan, image=image, predicted_index=0, confidence=1, margin=1, entropy=0, probs=[1, 0, 0])
        for image in Image.objects.filter(project=small_project)[:100]
    )
    assert_current_is_complete(small_project, 1)

    assert run_training_round(small_project.pk, steps=3) == "done v2"
    second = assert_current_is_complete(small_project, 2)
    assert second.pk != orphan.pk
    assert not ModelVersion.objects.filter(pk=orphan.pk).exists()
    assert ModelVersion.objects.filter(pk=first.pk).exists()
