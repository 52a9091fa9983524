"""Shared pieces of the training tests (and of the reliability and browser tests that train): real Fashion-MNIST
images as PNGs, a labeled project, real workers, and the checks of a dead worker's aftermath."""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import django_rq
import numpy as np
import pytest
import torch
from django.conf import settings
from django.db import connection
from PIL import Image as PILImage
from rq import SimpleWorker

from labelapp.images.models import Image
from labelapp.images.services import image_add
from labelapp.labeling.models import Annotation, Source
from labelapp.lib.processes import wait_until
from labelapp.projects.models import LabelClass, Project
from labelapp.training import cache, resume, services, store
from labelapp.training.models import ModelVersion, Prediction
from sslengine.datasets import load_npz

REPO = Path(__file__).resolve().parents[2]
NPZ = REPO / "tests" / "data" / "fashion_mnist_small.npz"
# The shared project's classes shirt, trouser, bag are Fashion-MNIST classes 6, 1, 8.
FASHION_INDEX = {"shirt": 6, "trouser": 1, "bag": 8}
IMAGES_PER_CLASS = 100  # 300 images
LABELS_PER_CLASS = 4


@lru_cache(maxsize=1)
def fashion() -> tuple[np.ndarray, np.ndarray]:
    data = load_npz(NPZ)
    return data.images.numpy(), data.labels.numpy()


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    PILImage.fromarray(array[0]).save(buffer, format="PNG")
    return buffer.getvalue()


def add_images(project: Project, per_class: int = IMAGES_PER_CLASS) -> dict[str, list[Image]]:
    """Real Fashion-MNIST images of the project's classes, added through the images app."""
    images, labels = fashion()
    added: dict[str, list[Image]] = {}
    for label_class in project.classes.all():
        rows = np.flatnonzero(labels == FASHION_INDEX[label_class.name])[:per_class]
        added[label_class.name] = [
            image_add(project=project, name=f"{label_class.name}-{row}.png", data=png(images[row]))[0] for row in rows
        ]
    return added


def label(project: Project, image: Image, class_name: str, source: str = Source.HUMAN) -> Annotation:
    """Give an image its true class (as a human label unless said otherwise)."""
    return Annotation.objects.update_or_create(
        image=image,
        defaults={"project": project, "label_class": LabelClass.objects.get(project=project, name=class_name), "source": source},
    )[0]


def add_labeled_images(project: Project, per_class: int) -> Project:
    for name, images in add_images(project, per_class).items():
        for image in images[:LABELS_PER_CLASS]:
            label(project, image, name)
    return project


@pytest.fixture
def labeled_project(project: Project) -> Project:
    """The shared ``project`` with 300 real images and a few human labels per class."""
    return add_labeled_images(project, IMAGES_PER_CLASS)


@pytest.fixture
def small_project(project: Project) -> Project:
    """The shared ``project`` with 60 real images and a few human labels per class."""
    return add_labeled_images(project, 20)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """The test machine's 2 cores are shared: one intra-op thread trains several times faster than two."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def clean_training_state():
    """Project ids repeat between tests: forget the locks, queued rounds, jobs, files and warm state of earlier tests."""
    for folder in (settings.CACHE_DIR, settings.CHECKPOINT_DIR):
        shutil.rmtree(folder, ignore_errors=True)
    resume._warm = None
    resume._warm_pretrainer = None
    cache._warm.clear()
    conn = store.connection()
    for name in conn.scan_iter("labelapp:training:*"):
        conn.delete(name)
    django_rq.get_queue(store.QUEUE_NAME).empty()
    django_rq.get_queue(services.PROPAGATION_QUEUE).empty()
    yield


def run_burst_in_process(queue: str = store.QUEUE_NAME) -> None:
    """A real RQ worker (non-forking) in this process, until the queue (default: training) is empty."""
    django_rq.get_worker(queue, worker_class=SimpleWorker).work(burst=True)


def worker_env(**extra: str) -> dict[str, str]:
    """The environment of a worker subprocess that sees this test's database and Redis."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        url = f"sqlite:///{db['NAME']}"
    else:
        auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
        url = f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    return {
        **os.environ,
        "DATABASE_URL": url,
        "DATA_DIR": str(settings.DATA_DIR),
        "REDIS_URL": settings.REDIS_URL,
        "OMP_NUM_THREADS": "1",
        **extra,
    }


def start_worker(*, burst: bool, **env: str) -> subprocess.Popen:
    """``manage.py rqworker training --worker-class rq.SimpleWorker`` as a real subprocess."""
    command = [sys.executable, "manage.py", "rqworker", store.QUEUE_NAME, "--worker-class", "rq.SimpleWorker"]
    if burst:
        command.append("--burst")
    return subprocess.Popen(command, cwd=REPO, env=worker_env(**env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def assert_current_is_complete(project, number: int) -> ModelVersion:
    project.refresh_from_db()
    current = project.current_version
    assert current.number == number
    assert Prediction.objects.filter(version=current).count() == Image.objects.filter(project=project).count()
    return current


def sigkill_when(worker: subprocess.Popen, ready: Callable[[], bool], timeout: float) -> bool:
    """Wait up to ``timeout`` s for ``ready()``, then SIGKILL the worker; it is killed and reaped either way.
    Returns whether ``ready()`` came true (the worker was killed at that point, not before)."""
    try:
        came = wait_until(ready, timeout=timeout, interval=0.1)
        if came:
            os.kill(worker.pid, signal.SIGKILL)
    finally:
        worker.kill()
        worker.wait()
    return came


@pytest.fixture(autouse=True)
def empty_default_queue():
    """Nothing left on the ``default`` queue (distillations, label propagations) by an earlier test."""
    django_rq.get_queue("default").empty()
    yield
