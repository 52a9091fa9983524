"""Pool-first training through real RQ workers: pre-training before any label, propagated predictions
seconds after the first labels, SSL from the pre-trained encoder, resuming pre-training in a new process."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async

from labelapp.images.models import Image
from labelapp.labeling.models import QueueRank
from labelapp.labeling.services import CLUSTER_HEAD, annotation_submit, queue_order_build
from labelapp.projects.models import LabelClass, Project
from labelapp.training import services
from labelapp.training.cache import project_cache_dir
from labelapp.training.jobs import run_training_round
from labelapp.training.locks import publish_lock
from labelapp.training.models import ModelVersion, Prediction
from labelapp.training.selectors import training_status, version_embeddings
from sslengine import Predictions, Pretrainer, select_indices
from tests.helpers.sockets import socket_for
from tests.helpers.training import add_images, run_burst_in_process, start_worker

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def pool(project: Project) -> dict[str, list[Image]]:
    """The shared project with 60 real images and no label (training off: tests run the rounds they need)."""
    return add_images(project, per_class=20)


def training_on(project: Project, enabled: bool = True) -> None:
    """Switch the project's training without queueing anything (labels then queue propagations)."""
    Project.objects.filter(pk=project.pk).update(training_enabled=enabled, round_seconds=1)


def current(project: Project) -> ModelVersion:
    project.refresh_from_db()
    return project.current_version


def submit(project: Project, image: Image, class_name: str, user) -> None:
    label_class = LabelClass.objects.get(project=project, name=class_name)
    annotation_submit(project=project, image=image, label_class=label_class, user=user, expected_revision=None)


def test_a_project_with_images_and_no_labels_gets_a_pretraining_round_that_stores_embeddings(project, pool):
    assert run_training_round(project.pk, steps=3) == "done v1"

    version = current(project)
    assert version.kind == ModelVersion.Kind.PRETRAINED
    assert (version.pretrain_steps, version.round_steps, version.pretrain_images) == (3, 3, 60)
    assert not Prediction.objects.filter(version=version).exists()  # no label: embeddings only
    ids, embeddings = version_embeddings(version)
    assert sorted(ids.tolist()) == sorted(Image.objects.filter(project=project).values_list("id", flat=True))
    assert embeddings.shape[0] == 60 and embeddings.dtype == np.float32 and np.isfinite(embeddings).all()
    assert Pretrainer.load(services.pretrainer_path(project.pk)).global_step == 3
    status = training_status(project)
    assert status["activity"] == "v1: embeddings of the pre-trained encoder"
    assert (status["strategy"], status["strategy_in_force"]) == ("pool-first", "typicality")  # no label: cold start


def test_the_label_queue_ranks_by_the_versions_embeddings(project, pool):
    project.strategy = "typicality"
    project.save(update_fields=["strategy"])
    run_training_round(project.pk, steps=3)
    version = current(project)
    ids, embeddings = version_embeddings(version)
    candidates = torch.arange(len(ids))
    uniform = torch.full((len(ids), 3), 1 / 3)
    k = min(CLUSTER_HEAD, len(ids))
    expected = select_indices("typicality", Predictions.from_probs(uniform, torch.from_numpy(embeddings)), candidates, k,
                              seed=project.pk)

    order = queue_order_build(project=project)
    ranked = list(QueueRank.objects.filter(order=order).order_by("rank").values_list("image_id", flat=True))
    assert ranked[:k] == ids[expected.numpy()].tolist()
    assert order.size == 60


def test_the_first_labels_give_propagated_predictions_without_waiting_for_an_ssl_round(project, pool, owner):
    run_training_round(project.pk, steps=3)
    training_on(project)
    for name in ("shirt", "trouser", "bag"):
        submit(project, pool[name][0], name, owner)

    started = time.perf_counter()
    run_burst_in_process(services.PROPAGATION_QUEUE)  # the default queue's worker; no training round runs
    elapsed = time.perf_counter() - started

    version = current(project)
    assert version.number == 2 and version.kind == ModelVersion.Kind.PROPAGATED
    assert version.human_labels == 3 and version.pretrain_steps == 3 and version.round_steps == 0
    predictions = Prediction.objects.filter(version=version)
    assert predictions.count() == 60
    by_image = dict(predictions.values_list("image_id", "predicted_index"))
    for index, name in ((0, "shirt"), (1, "trouser"), (2, "bag")):
        assert by_image[pool[name][0].pk] == index  # a labeled image keeps its label
    assert version_embeddings(version)[1].shape[0] == 60
    assert elapsed < 30
    assert training_status(project)["activity"] == "v2: labels propagated over the embeddings"


def test_a_propagation_published_during_a_round_makes_the_round_rebase_not_fail(project, pool, owner):
    run_training_round(project.pk, steps=3)  # v1: embeddings
    training_on(project)
    submit(project, pool["shirt"][0], "shirt", owner)  # queues a round on base v1 and a propagation
    training_on(project, enabled=False)  # the round that runs queues no next one
    run_burst_in_process(services.PROPAGATION_QUEUE)  # v2 (propagated) lands before the round starts
    run_burst_in_process()

    numbers = dict(ModelVersion.objects.filter(project=project).values_list("number", "kind"))
    kinds = ModelVersion.Kind
    assert numbers == {1: kinds.PRETRAINED, 2: kinds.PROPAGATED, 3: kinds.PRETRAINED}  # versions are history
    assert current(project).number == 3 and current(project).pretrain_steps > 3
    assert Prediction.objects.filter(version=current(project)).count() == 60  # the round propagated its label too


def test_enough_labels_train_the_ssl_model_from_the_pretrained_encoder(project, pool, owner, annotator_client):
    run_training_round(project.pk, steps=3)
    for name in ("shirt", "trouser", "bag"):
        for image in pool[name][:2]:
            submit(project, image, name, owner)  # 2 per class: TRAINING_SSL_MIN_LABELS_PER_CLASS

    async def scenario() -> list[dict]:
        socket = socket_for(project.slug, annotator_client)
        assert (await socket.connect())[0]
        await database_sync_to_async(run_training_round)(project.pk, steps=3)
        received = []
        while not received or received[-1]["type"] not in ("version.ready", "round.failed"):
            received.append(await socket.receive_json_from(timeout=60))
        await socket.disconnect()
        return received

    received = async_to_sync(scenario)()
    version = current(project)
    assert version.kind == ModelVersion.Kind.TRAINED and version.algorithm == "fixmatch"
    assert (version.steps, version.pretrain_steps) == (3, 3)
    assert received[0] == {"type": "round.started", "version": 2,
                           "activity": "training fixmatch from the pre-trained encoder"}
    progress = [event for event in received if event["type"] == "round.progress"]
    assert progress and progress[-1]["activity"].startswith("training fixmatch from the pre-trained encoder: step ")

    run_training_round(project.pk, steps=3)  # afterwards the model continues from its own checkpoint
    assert (current(project).kind, current(project).steps) == (ModelVersion.Kind.TRAINED, 6)


def test_a_pool_that_grew_by_a_fifth_resumes_pretraining_for_a_round(project, pool, owner):
    run_training_round(project.pk, steps=3)
    for name in ("shirt", "trouser", "bag"):
        for image in pool[name][:2]:
            submit(project, image, name, owner)
    run_training_round(project.pk, steps=3)
    assert current(project).kind == ModelVersion.Kind.TRAINED
    add_images(project, per_class=24)  # 4 more of each class: 72 images, +20 %
    run_training_round(project.pk, steps=3)
    version = current(project)
    assert version.kind == ModelVersion.Kind.PRETRAINED and version.pretrain_images == 72
    assert Prediction.objects.filter(version=version).count() == 72  # labels propagated over the new embeddings
    run_training_round(project.pk, steps=3)
    assert (current(project).kind, current(project).steps) == (ModelVersion.Kind.TRAINED, 6)  # the SSL model carried on


def test_a_restarted_worker_resumes_pretraining_from_its_checkpoint(project, pool):
    for expected_steps in (3, 6):  # two worker processes: no warm state survives between them
        assert services.round_enqueue(project_id=project.pk, steps=3)
        worker = start_worker(burst=True)
        output, _ = worker.communicate(timeout=240)
        assert worker.returncode == 0, output.decode()[-3000:]
        assert current(project).pretrain_steps == expected_steps
    assert Pretrainer.load(services.pretrainer_path(project.pk)).global_step == 6


def test_a_round_leaves_the_temp_files_of_a_publishing_propagation_alone(project, pool):
    run_training_round(project.pk, steps=3)
    in_flight = project_cache_dir(project.pk) / ".embeddings-v2.npz.k3j9x.tmp"  # a propagation's atomic write
    outcome: list[str] = []
    with publish_lock(project.pk):  # the propagation publishes
        in_flight.write_bytes(b"half")
        round_thread = threading.Thread(target=lambda: outcome.append(run_training_round(project.pk, steps=3)))
        round_thread.start()
        round_thread.join(timeout=2)
        assert in_flight.exists() and round_thread.is_alive()  # the round waits to clean up
    round_thread.join(timeout=120)
    assert outcome == ["done v2"]
    assert not in_flight.exists()  # once published, a temp file left behind is a dead writer's
