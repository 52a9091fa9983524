"""The training worker yields the CPU to the web (issue 17, item 1): a real ``rqworker`` process of the
app's worker class runs its jobs at ``TRAINING_NICE`` with ``TRAINING_TORCH_THREADS`` torch threads."""

from __future__ import annotations

import os
import subprocess
import sys

import django_rq
import torch

from labelapp.training import store
from labelapp.training.worker import WORKER_CLASS
from tests.helpers.training import REPO, worker_env


def cpu_settings() -> dict[str, int]:
    """A job: the niceness and torch thread count it runs with."""
    return {"nice": os.nice(0), "threads": torch.get_num_threads()}


def test_a_training_job_runs_niced_with_the_configured_torch_threads(transactional_db):
    job = django_rq.get_queue(store.QUEUE_NAME).enqueue(cpu_settings)
    worker = subprocess.run(
        [sys.executable, "manage.py", "rqworker", store.QUEUE_NAME, "--worker-class", WORKER_CLASS, "--burst"],
        cwd=REPO, env=worker_env(TRAINING_NICE="7", TRAINING_TORCH_THREADS="1"), capture_output=True, timeout=300,
    )
    assert worker.returncode == 0, worker.stdout[-2000:] + worker.stderr[-2000:]
    job.refresh()
    assert job.return_value() == {"nice": max(7, os.nice(0)), "threads": 1}


def test_the_default_leaves_the_web_a_core(settings):
    cores = len(os.sched_getaffinity(0))
    assert settings.TRAINING_TORCH_THREADS == max(1, cores - 1) and settings.TRAINING_NICE == 10
