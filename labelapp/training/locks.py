"""One training round per project at a time, and one publisher of versions at a time, across every
worker process and machine.

A Redis lock with a random token (``redis.lock.Lock``: ``SET NX PX``, token-checked release and
extension in Lua). A daemon thread renews it every third of its time-to-live while the round runs,
so a long round keeps it and a worker killed with SIGKILL frees it after at most one TTL.

The publish lock (:func:`publish_lock`, same kind, its own key) is held only while a version gets its
number, its rows and files, and becomes current: a training round and a label propagation job then never
interleave their publications, and numbers stay in publication order.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from redis.exceptions import LockError
from redis.lock import Lock

from labelapp.training import store

logger = logging.getLogger(__name__)


PUBLISH_WAIT_SECONDS = 600  # a publisher waits this long for another one (its prediction writes) to finish


class LockLost(RuntimeError):
    """The round's lock expired or was taken over: the round must not publish its version."""


class RoundLock:
    """The per-project round lock; use :func:`round_lock` rather than this class directly."""

    def __init__(self, project_id: int, *, ttl_seconds: float | None = None, name: str = "lock") -> None:
        ttl = float(ttl_seconds or settings.TRAINING_LOCK_SECONDS)
        self.project_id = project_id
        self._lock = Lock(store.connection(), store.key(project_id, name), timeout=ttl, thread_local=False)
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        self._interval = ttl / 3.0

    def acquire(self, *, wait_seconds: float = 0.0) -> bool:
        """Take the lock, waiting up to ``wait_seconds`` (0: not at all); start renewing it when taken."""
        if not self._lock.acquire(blocking=wait_seconds > 0, blocking_timeout=wait_seconds or None):
            return False
        self._renewer = threading.Thread(target=self._renew, name=f"round-lock-{self.project_id}", daemon=True)
        self._renewer.start()
        return True

    def _renew(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._lock.reacquire()
            except LockError:
                logger.warning("training lock of project %s was lost", self.project_id)
                return

    def ensure_held(self) -> None:
        """Raise :class:`LockLost` unless this process still owns the lock."""
        if not self._lock.owned():
            raise LockLost(f"the training lock of project {self.project_id} was lost")

    def release(self) -> None:
        """Stop renewing and release (a lock that already expired is not an error)."""
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
        try:
            self._lock.release()
        except LockError:
            logger.warning("training lock of project %s had expired before release", self.project_id)


@contextmanager
def round_lock(project_id: int) -> Iterator[RoundLock | None]:
    """Yield the held lock, or ``None`` when another round of this project is running."""
    lock = RoundLock(project_id)
    if not lock.acquire():
        yield None
        return
    try:
        yield lock
    finally:
        lock.release()


def round_running(project_id: int) -> bool:
    """Whether some process holds the project's round lock right now."""
    return bool(store.connection().exists(store.key(project_id, "lock")))


@contextmanager
def publish_lock(project_id: int, *, wait_seconds: float = PUBLISH_WAIT_SECONDS) -> Iterator[RoundLock]:
    """Hold the project's publish lock, waiting for the current publisher; :class:`LockLost` if it never frees."""
    lock = RoundLock(project_id, name="publish")
    if not lock.acquire(wait_seconds=wait_seconds):
        raise LockLost(f"project {project_id}: no publish lock after {wait_seconds:.0f} s")
    try:
        yield lock
    finally:
        lock.release()
