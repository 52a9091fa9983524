"""The job chain of continuous training: enqueueing rounds and label propagations, training on and off.

Rounds run on the ``training`` queue, one per project at a time (a claim in Redis deduplicates waiting
rounds); label propagations run on the ``default`` queue, whose worker runs short jobs, so a
propagation never waits behind a round. Jobs are named by their dotted path: ``jobs.py`` imports the
modules that run them.
"""

from __future__ import annotations

import logging
import uuid

import django_rq
from django.conf import settings
from django.db import transaction
from django.db.models import Max
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq.job import Job

from labelapp.projects.models import Project
from labelapp.training import store
from labelapp.training.locks import round_running
from labelapp.training.models import ModelVersion

logger = logging.getLogger(__name__)

ROUND_JOB = "labelapp.training.jobs.run_training_round"  # by name: jobs.py imports this module

PROPAGATION_JOB = "labelapp.training.jobs.run_label_propagation"

PROPAGATION_QUEUE = "default"  # its worker runs short jobs: a propagation never waits behind a round


def project_round_seconds(project: Project) -> int:
    """The project's training budget per round, capped by the server's TRAINING_ROUND_SECONDS."""
    return min(project.round_seconds, settings.TRAINING_ROUND_SECONDS)


def round_job_timeout(*, seconds: float | None) -> int:
    """RQ timeout of a round job: well above its training budget (cache, inference and writes come on top)."""
    default = int(str(settings.RQ_QUEUES[store.QUEUE_NAME]["DEFAULT_TIMEOUT"]))
    return max(default, int(3 * (seconds or 0)) + 600)


def version_latest_number(*, project: Project) -> int:
    """The newest finished version's number (0 before the first): the base of a queued round. After a
    rollback it is above the current version's; rounds published after it make the job stale."""
    finished = ModelVersion.objects.filter(project=project, finished_at__isnull=False)
    return finished.aggregate(top=Max("number"))["top"] or 0


def round_enqueue(*, project_id: int, steps: int | None = None, seconds: float | None = None) -> str | None:
    """Enqueue a round now unless one is running or waiting; returns the new job's id, or ``None``."""
    if round_running(project_id):
        return None
    job_id = f"round-{project_id}-{uuid.uuid4().hex[:16]}"
    if not store.queued_claim(project_id, job_id):
        return None
    project = Project.objects.get(pk=project_id)
    base = version_latest_number(project=project)
    budget = seconds if seconds is not None else (None if steps is not None else float(project_round_seconds(project)))
    django_rq.get_queue(store.QUEUE_NAME, commit_mode="auto").enqueue_call(
        ROUND_JOB,
        kwargs={"project_id": project_id, "base_version": base, "steps": steps, "seconds": seconds},
        job_id=job_id,
        timeout=round_job_timeout(seconds=budget),
        result_ttl=24 * 3600,
        failure_ttl=7 * 24 * 3600,
    )
    return job_id


def round_enqueue_on_commit(*, project_id: int) -> None:
    """After the current transaction commits (never if it rolls back): enqueue a round if training is on
    and no round of the project is queued or running. Call it after saving human labels. While Redis is
    down nothing is queued (logged), and the write that called it still succeeds."""

    def enqueue() -> None:
        if Project.objects.filter(pk=project_id, training_enabled=True).exists():
            try:
                round_enqueue(project_id=project_id)
            except (RedisConnectionError, RedisTimeoutError) as exc:  # the label is committed: don't fail its request
                logger.warning("project %s: Redis is unavailable, no round queued (the next label queues one): %s",
                               project_id, exc)

    transaction.on_commit(enqueue)


def training_start(*, project: Project) -> None:
    """Turn continuous training on and queue a round (on commit)."""
    Project.objects.filter(pk=project.pk).update(training_enabled=True)
    project.training_enabled = True
    round_enqueue_on_commit(project_id=project.pk)


def training_stop(*, project: Project) -> None:
    """Turn continuous training off: the running round finishes, the waiting one is cancelled."""
    Project.objects.filter(pk=project.pk).update(training_enabled=False)
    project.training_enabled = False
    job_id = store.queued_job_id(project.pk)
    if job_id is not None:
        Job.fetch(job_id, connection=store.connection()).cancel()


def propagation_enqueue(*, project_id: int) -> str | None:
    """Queue a label propagation on the ``default`` queue unless one already waits; returns the job's id."""
    if not store.propagation_claim(project_id):
        return None
    try:
        job = django_rq.get_queue(PROPAGATION_QUEUE, commit_mode="auto").enqueue_call(
            PROPAGATION_JOB, kwargs={"project_id": project_id}, result_ttl=3600, failure_ttl=7 * 24 * 3600
        )
    except BaseException:
        store.propagation_unclaim(project_id)
        raise
    return job.id


def propagation_enqueue_on_commit(*, project_id: int) -> None:
    """After the current transaction commits: queue a label propagation while the project's training is on
    and its current version has embeddings to propagate over. Redis being down loses nothing but this run."""

    def enqueue() -> None:
        if Project.objects.filter(pk=project_id, training_enabled=True, current_version__isnull=False).exists():
            try:
                propagation_enqueue(project_id=project_id)
            except (RedisConnectionError, RedisTimeoutError) as exc:
                logger.warning("project %s: Redis is unavailable, no label propagation queued: %s", project_id, exc)

    transaction.on_commit(enqueue)
