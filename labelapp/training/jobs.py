"""The RQ jobs: training rounds on the ``training`` queue (run it with a non-forking worker, see README):

    python manage.py rqworker training --worker-class rq.SimpleWorker

``rq.SimpleWorker`` runs jobs in the worker process itself, so the trainer, its optimizer and the
image cache stay warm between rounds of the same project, and CUDA is initialised in the process
that uses it (a forked work horse would fail with "Cannot re-initialize CUDA in forked subprocess").
Label propagation (seconds, on the CPU) runs on the ``default`` queue, beside a running round.
"""

from __future__ import annotations

from django.db import close_old_connections

from labelapp.training.rounds import propagation_run, round_execute


def run_training_round(
    project_id: int, base_version: int | None = None, steps: int | None = None, seconds: float | None = None
) -> str:
    """One training round of the project; returns the outcome (``done``, ``locked``, ``stale``, ...)."""
    close_old_connections()  # a long-lived worker must not reuse a connection the server closed
    try:
        outcome = round_execute(project_id=project_id, base_version=base_version, steps=steps, seconds=seconds)
    finally:
        close_old_connections()
    return outcome.status if outcome.version is None else f"{outcome.status} v{outcome.version.number}"


def run_label_propagation(project_id: int) -> str:
    """Propagate the project's labels over its current embeddings; returns ``v<N>`` or ``nothing to do``."""
    close_old_connections()
    try:
        version = propagation_run(project_id=project_id)
    finally:
        close_old_connections()
    return "nothing to do" if version is None else f"v{version.number}"
