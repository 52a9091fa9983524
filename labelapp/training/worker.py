"""The training worker yields the CPU to people: the RQ worker class of the ``training`` queue.

A round saturates every core it is given, and the web processes then wait for the CPU at equal
priority: an annotator's "next image" took 600 ms at p95 while a round ran on the same 2-core machine
(issue 17). This worker, at start-up and before any job runs, lowers its own scheduling priority to
``TRAINING_NICE`` (``os.nice``; the web keeps priority 0, so the kernel's scheduler runs a web request
first whenever both want a core) and caps torch's intra-op threads at ``TRAINING_TORCH_THREADS``
(default: all cores but one, at least one), which leaves the web a core even before nice applies.
It stays a non-forking worker (``rq.SimpleWorker``): the model and the image cache stay warm between rounds.

    manage.py rqworker training --worker-class labelapp.training.worker.TrainingWorker
"""

from __future__ import annotations

import logging
import os

import torch
from django.conf import settings
from rq.worker import SimpleWorker

logger = logging.getLogger(__name__)

WORKER_CLASS = "labelapp.training.worker.TrainingWorker"


def yield_to_people(*, nice: int, torch_threads: int) -> tuple[int, int]:
    """Lower this process's priority to at least ``nice`` and set torch's thread count; returns
    (niceness now, threads now). Raising niceness needs no privilege; a process already nicer stays so."""
    current = os.nice(0)
    if nice > current:
        current = os.nice(nice - current)
    torch.set_num_threads(torch_threads)
    return current, torch.get_num_threads()


class TrainingWorker(SimpleWorker):
    """``rq.SimpleWorker`` that runs at ``TRAINING_NICE`` with ``TRAINING_TORCH_THREADS`` torch threads."""

    def bootstrap(self, *args, **kwargs) -> None:
        nice, threads = yield_to_people(nice=settings.TRAINING_NICE, torch_threads=settings.TRAINING_TORCH_THREADS)
        logger.info("training worker: nice %d, %d torch threads", nice, threads)
        super().bootstrap(*args, **kwargs)
