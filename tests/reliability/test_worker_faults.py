"""Worker faults beyond a SIGKILL mid-round (tests/labelapp/training/test_faults.py): a SIGKILL while the
checkpoint is being written, and a round that runs past its RQ job timeout.

Either way: the previous version stays current and complete, its checkpoint loads, and the next round
resumes from it and succeeds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import django_rq
import pytest
from rq.job import Job, JobStatus

from labelapp.images.models import Image
from labelapp.lib.processes import wait_until
from labelapp.projects.models import Project
from labelapp.training import services, store
from labelapp.training.cache import checkpoint_path
from labelapp.training.jobs import run_training_round
from labelapp.training.locks import round_running
from labelapp.training.models import ModelVersion
from sslengine import Trainer
from tests.helpers.training import (  # noqa: F401  (fixtures of the training tests, two autouse)
    REPO,
    assert_current_is_complete,
    clean_training_state,
    label,
    one_torch_thread,
    run_burst_in_process,
    sigkill_when,
    small_project,
    worker_env,
)

pytestmark = pytest.mark.django_db(transaction=True)

# A round in a subprocess whose checkpoint save pauses halfway through writing the temp file: the
# first half of the bytes is written and flushed, then a marker file appears and the process waits
# to be killed (a real SIGKILL, inside ``sslengine.checkpoint.atomic_save``).
KILLED_IN_SAVE = """
import io, os, sys, time
import django
django.setup()
import torch
from sslengine import checkpoint

real_save = torch.save
marker = sys.argv[2]

def half_then_hang(state, handle, *args, **kwargs):
    buffer = io.BytesIO()
    real_save(state, buffer)
    data = buffer.getvalue()
    handle.write(data[: len(data) // 2])
    handle.flush()
    os.fsync(handle.fileno())
    open(marker, "w").close()
    time.sleep(600)

checkpoint.torch.save = half_then_hang
from labelapp.training.jobs import run_training_round
run_training_round(int(sys.argv[1]), steps=3)
"""


def test_a_worker_killed_while_writing_the_checkpoint_leaves_the_last_one_current_and_loadable(small_project):  # noqa: F811  (fixtures imported from tests.helpers)
    assert run_training_round(small_project.pk, steps=3) == "done v1"
    marker = Path(tempfile.mkdtemp(prefix="rel-save-")) / "in-save"
    worker = subprocess.Popen(
        [sys.executable, "-c", KILLED_IN_SAVE, str(small_project.pk), str(marker)],
        cwd=REPO, env=worker_env(TRAINING_LOCK_SECONDS="2", DJANGO_SETTINGS_MODULE="labelapp.settings"),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    assert sigkill_when(worker, marker.exists, timeout=180), worker.communicate(timeout=5)[0][-3000:]
    assert worker.returncode == -signal.SIGKILL

    first = assert_current_is_complete(small_project, 1)
    assert Trainer.load(checkpoint_path(first.checkpoint)).global_step == 3
    folder = checkpoint_path(first.checkpoint).parent
    assert [p.name for p in folder.glob("*.pt")] == ["v1.pt"]  # the half-written v2 never took a real name
    assert list(folder.glob(".*.tmp")), "the killed save left its temp file (what the next round cleans)"
    assert wait_until(lambda: not round_running(small_project.pk), timeout=10)  # the dead worker's lock expires

    assert run_training_round(small_project.pk, steps=3) == "done v2"
    second = assert_current_is_complete(small_project, 2)
    assert Trainer.load(checkpoint_path(second.checkpoint)).global_step == 6
    assert not list(folder.glob(".*.tmp")), "the next round removed the dead round's temp files"


def test_an_interrupted_save_over_an_existing_checkpoint_leaves_the_old_one_whole(tmp_path):
    """The engine's atomic save alone: killed halfway through overwriting, the old file still loads."""
    from sslengine import TrainConfig

    path = tmp_path / "model.pt"
    Trainer(TrainConfig(num_classes=3, in_channels=1, image_size=28, seed=0), device="cpu").save(path)
    before = path.read_bytes()
    script = KILLED_IN_SAVE.split("from labelapp")[0].replace("import django\ndjango.setup()\n", "") + (
        "from sslengine import Trainer\n"
        f"trainer = Trainer.load({str(path)!r})\ntrainer.global_step = 99\ntrainer.save({str(path)!r})\n"
    )
    marker = tmp_path / "in-save"
    saver = subprocess.Popen([sys.executable, "-c", script, "0", str(marker)], cwd=REPO,
                             env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        assert wait_until(marker.exists, timeout=120, interval=0.1)
        os.kill(saver.pid, signal.SIGKILL)
    finally:
        saver.kill()
        saver.wait()
    assert path.read_bytes() == before
    assert Trainer.load(path).global_step == 0


def test_a_round_longer_than_its_job_timeout_fails_cleanly_and_the_next_round_resumes(small_project):  # noqa: F811  (fixtures imported from tests.helpers)
    assert run_training_round(small_project.pk, steps=3) == "done v1"
    Project.objects.filter(pk=small_project.pk).update(training_enabled=True)
    job = django_rq.get_queue(store.QUEUE_NAME).enqueue_call(
        services.ROUND_JOB, kwargs={"project_id": small_project.pk, "base_version": 1, "seconds": 120}, timeout=4,
    )
    run_burst_in_process()  # a real SimpleWorker: RQ's alarm interrupts the round after 4 seconds

    job = Job.fetch(job.id, connection=store.connection())
    assert job.get_status() == JobStatus.FAILED
    assert "JobTimeoutException" in (job.latest_result().exc_string or "")
    assert not round_running(small_project.pk), "the lock is released at once, not after its TTL"
    assert store.progress_get(small_project.pk)["type"] == "round.failed"
    assert_current_is_complete(small_project, 1)
    assert list(ModelVersion.objects.filter(project=small_project).values_list("number", flat=True)) == [1]

    # The next human label queues the next round (training is on), which resumes from v1's checkpoint.
    image = Image.objects.filter(project=small_project, annotation__isnull=True).first()
    label(small_project, image, "bag")
    queued = store.queued_job_id(small_project.pk)
    assert queued is not None
    Job.fetch(queued, connection=store.connection()).cancel()  # its budget is the project's 60 s: run a short one
    Project.objects.filter(pk=small_project.pk).update(training_enabled=False)
    assert run_training_round(small_project.pk, steps=3) == "done v2"
    second = assert_current_is_complete(small_project, 2)
    assert second.steps == 6 and Trainer.load(checkpoint_path(second.checkpoint)).global_step == 6
