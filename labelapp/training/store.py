"""Training state that lives in Redis, not in the database: the round lock, the queued round, the latest progress.

Every key of a project starts with ``labelapp:training:<project_id>:``.
"""

from __future__ import annotations

import json
from typing import Any

import django_rq
from redis import Redis
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

QUEUE_NAME = "training"
PROGRESS_TTL_SECONDS = 3600


def connection() -> Redis:
    """The Redis connection of the training queue."""
    return django_rq.get_connection(QUEUE_NAME)


def key(project_id: int, name: str) -> str:
    """One Redis key of a project's training state: ``lock``, ``publish``, ``queued``, ``propagation``, ``strategy``, ``progress``."""
    return f"labelapp:training:{project_id}:{name}"


def progress_set(project_id: int, event: dict[str, Any]) -> None:
    """Remember the latest round event, for pages that join late (status endpoint)."""
    connection().set(key(project_id, "progress"), json.dumps(event), ex=PROGRESS_TTL_SECONDS)


def progress_get(project_id: int) -> dict[str, Any] | None:
    """The latest round event of the project, if any in the last hour."""
    raw = connection().get(key(project_id, "progress"))
    return json.loads(raw) if raw else None


QUEUED_TTL_SECONDS = 24 * 3600
_WAITING = {JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED}
_COMPARE_AND_DELETE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


def queued_job_id(project_id: int) -> str | None:
    """The id of the project's round job while it waits in the queue; ``None`` once it started or vanished."""
    conn = connection()
    raw = conn.get(key(project_id, "queued"))
    if raw is None:
        return None
    job_id = raw.decode() if isinstance(raw, bytes) else str(raw)
    try:
        status = Job.fetch(job_id, connection=conn).get_status()
    except NoSuchJobError:
        return None
    return job_id if status in _WAITING else None


def queued_claim(project_id: int, job_id: str) -> bool:
    """Record ``job_id`` as the project's queued round, unless another round is still waiting (deduplication)."""
    conn = connection()
    name = key(project_id, "queued")
    recorded = conn.get(name)
    if recorded is not None:
        if queued_job_id(project_id) is not None:
            return False
        conn.eval(_COMPARE_AND_DELETE, 1, name, recorded)  # stale: that job started, finished or vanished
    return bool(conn.set(name, job_id, nx=True, ex=QUEUED_TTL_SECONDS))


PROPAGATION_CLAIM_TTL_SECONDS = 600


def propagation_claim(project_id: int) -> bool:
    """Record that a label-propagation job of the project waits in the queue; ``False`` if one already does."""
    return bool(connection().set(key(project_id, "propagation"), "1", nx=True, ex=PROPAGATION_CLAIM_TTL_SECONDS))


def propagation_unclaim(project_id: int) -> None:
    """The waiting propagation job started: labels changed from now on need another one."""
    connection().delete(key(project_id, "propagation"))


def strategy_set(project_id: int, *, version: int, strategy: str, in_force: str) -> None:
    """Remember which strategy ranked the label queue of ``version`` and what a hybrid used (for the panel)."""
    value = {"version": version, "strategy": strategy, "in_force": in_force}
    connection().set(key(project_id, "strategy"), json.dumps(value), ex=QUEUED_TTL_SECONDS)


def strategy_get(project_id: int) -> dict[str, Any] | None:
    """What :func:`strategy_set` remembered last, if anything."""
    raw = connection().get(key(project_id, "strategy"))
    return json.loads(raw) if raw else None
