"""Rounds through a real RQ worker: versions, one current prediction per image, resuming, warmth, idempotency."""

from __future__ import annotations

import django_rq
import pytest
from django.db.models import Count

from labelapp.images.models import Image
from labelapp.labeling.models import QueueOrder
from labelapp.projects.models import LabelClass, Project
from labelapp.training import resume, services
from labelapp.training.cache import checkpoint_path
from labelapp.training.jobs import run_training_round
from labelapp.training.models import ModelVersion, Prediction
from labelapp.training.rounds import PRETRAIN, TRAIN, round_seconds
from labelapp.training.selectors import version_embeddings
from sslengine import Trainer
from tests.helpers.training import run_burst_in_process, start_worker

pytestmark = pytest.mark.django_db(transaction=True)


def current_predictions(project: Project):
    project.refresh_from_db()
    return Prediction.objects.filter(version=project.current_version)


def assert_one_current_prediction_per_image(project: Project) -> None:
    predictions = current_predictions(project)
    assert predictions.count() == Image.objects.filter(project=project).count()
    assert not predictions.values("image").annotate(n=Count("id")).filter(n__gt=1).exists()


def test_a_subprocess_worker_makes_a_version_and_the_next_round_resumes_from_its_checkpoint(small_project):
    assert services.round_enqueue(project_id=small_project.pk, steps=5)
    worker = start_worker(burst=True)
    output, _ = worker.communicate(timeout=240)
    assert worker.returncode == 0, output.decode()[-3000:]

    first = ModelVersion.objects.get(project=small_project)
    assert (first.number, first.steps, first.round_steps) == (1, 5, 5)
    assert (first.human_labels, first.pseudo_labels, first.images) == (12, 0, 60)
    assert first.device == "cpu" and first.algorithm == "fixmatch"
    assert set(first.timings) >= {"cache", "train", "inference", "write", "total"}
    assert set(first.losses) >= {"loss", "loss_x", "loss_u"}
    assert_one_current_prediction_per_image(small_project)
    assert small_project.current_version == first
    ids, embeddings = version_embeddings(first)
    assert len(ids) == embeddings.shape[0] == 60

    assert services.round_enqueue(project_id=small_project.pk, steps=5)
    run_burst_in_process()  # a fresh process state: no warm trainer, so it must load v1's checkpoint
    second = ModelVersion.objects.get(project=small_project, number=2)
    assert (second.steps, second.round_steps) == (10, 5)
    assert_one_current_prediction_per_image(small_project)
    assert Trainer.load(checkpoint_path(second.checkpoint)).global_step == 10


def test_the_worker_keeps_the_trainer_warm_between_rounds_of_the_same_project(small_project):
    run_training_round(small_project.pk, steps=3)
    warm = resume._warm.trainer
    run_training_round(small_project.pk, steps=3)
    assert resume._warm.trainer is warm
    assert warm.global_step == 6



def test_running_the_same_round_job_twice_creates_one_version(small_project):
    for _ in range(2):
        django_rq_job = django_rq.get_queue("training").enqueue(
            run_training_round, project_id=small_project.pk, base_version=0, steps=3
        )
    run_burst_in_process()
    assert django_rq_job.return_value() == "stale"
    assert ModelVersion.objects.filter(project=small_project).count() == 1
    assert_one_current_prediction_per_image(small_project)


def test_a_round_while_another_holds_the_project_lock_exits_cleanly(small_project):
    from labelapp.training.locks import RoundLock

    held = RoundLock(small_project.pk)
    assert held.acquire()
    try:
        assert run_training_round(small_project.pk, steps=3) == "locked"
    finally:
        held.release()
    assert not ModelVersion.objects.filter(project=small_project).exists()


def test_a_project_without_images_gets_no_version(project):
    assert run_training_round(project.pk, steps=3) == "no-images"
    assert not ModelVersion.objects.filter(project=project).exists()


def test_a_new_class_starts_a_fresh_model_instead_of_crashing(small_project):
    run_training_round(small_project.pk, steps=3)
    LabelClass.objects.create(project=small_project, index=3, name="sneaker")
    run_training_round(small_project.pk, steps=3)
    second = ModelVersion.objects.get(project=small_project, number=2)
    assert (second.steps, second.round_steps) == (3, 3)
    assert len(Prediction.objects.filter(version=second).first().probs) == 4


def test_a_rounds_default_budget_is_the_projects_seconds_capped_by_the_server(small_project, settings):
    settings.TRAINING_ROUND_SECONDS = 1
    small_project.round_seconds = 3600
    small_project.save()
    assert run_training_round(small_project.pk) == "done v1"
    version = ModelVersion.objects.get(project=small_project)
    assert 1.0 <= version.seconds < 30


def test_first_rounds_are_short_pretraining_stops_at_its_minimum_later_rounds_take_the_projects_seconds(small_project, settings):
    settings.TRAINING_FIRST_ROUND_SECONDS = 2
    small_project.round_seconds = 5
    small_project.save()
    assert round_seconds(project=small_project, base=None, phase=PRETRAIN) == 2.0
    assert round_seconds(project=small_project, base=None, phase=TRAIN) == 2.0
    assert run_training_round(small_project.pk, steps=2) == "done v1"
    first = ModelVersion.objects.get(project=small_project, number=1)
    assert first.kind == ModelVersion.Kind.TRAINED
    assert round_seconds(project=small_project, base=first, phase=TRAIN) == 5.0
    assert round_seconds(project=small_project, base=first, phase=PRETRAIN) == 5.0
    settings.TRAINING_PRETRAIN_MIN_SECONDS = 3  # the encoder has pre-trained 0 s: the round stops at the minimum
    assert round_seconds(project=small_project, base=first, phase=PRETRAIN) == 3.0
    settings.TRAINING_ROUND_SECONDS = 1
    assert round_seconds(project=small_project, base=first, phase=TRAIN) == 1.0


def test_a_round_ranks_the_label_queue_of_its_new_version_before_announcing_it(small_project):
    assert run_training_round(small_project.pk, steps=2) == "done v1"
    order = QueueOrder.objects.get(project=small_project, version_number=1, strategy=small_project.strategy)
    assert order.size == Image.objects.filter(project=small_project).count()
