"""The app's web server: uvicorn serving :mod:`labelapp.asgi` from ``WEB_PROCESSES`` worker processes.

One Python process has one GIL: while it renders a page or runs a query's Python side, every other
request waits. uvicorn's ``--workers`` starts N processes that accept on the same socket (and restarts one
that dies); they share every piece of state through PostgreSQL (or the SQLite file) and Redis: sessions in
the database, websockets through channels-redis, login counts and the other caches in the Redis cache
(``CACHES`` in :mod:`labelapp.settings`). uvicorn streams a request body to the application as it arrives,
so :class:`labelapp.request_limits.RequestBodyLimit` refuses an oversized one before it is stored
(daphne buffers the whole body first, hence its transport-level limit in :mod:`labelapp.server_limits`).

``make run`` (``manage.py run_app``) and docker-compose both start it; ``python -m labelapp.web_server``
runs it in the foreground with ``HOST``/``PORT``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from labelapp.lib import env

MAX_DEFAULT_PROCESSES = 8
WEB_DB_POOL_SIZE = 8  # database connections per web process at most (DB_POOL_SIZE in labelapp.settings)
KEEP_ALIVE_SECONDS = 75  # as nginx's default


def cores() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def web_processes() -> int:
    """``WEB_PROCESSES``; unset or empty: one per core (at most ``MAX_DEFAULT_PROCESSES``)."""
    default = min(cores(), MAX_DEFAULT_PROCESSES)
    return env.env_int("WEB_PROCESSES", default, minimum=1) if os.environ.get("WEB_PROCESSES") else default


def web_command(*, host: str, port: int, processes: int | None = None) -> list[str]:
    """The command line of the web server on ``host:port`` with ``processes`` (default :func:`web_processes`).

    Lifespan events are off (Channels' router has none); proxy headers are not trusted, so the login
    throttle sees the real peer address (as under daphne). Idle keep-alive connections stay open
    ``KEEP_ALIVE_SECONDS`` (uvicorn's default, 5 s, closes them while a person looks at an image, and a
    browser's next POST on the closed connection fails)."""
    return [
        sys.executable, "-m", "uvicorn", "labelapp.asgi:application",
        "--host", host, "--port", str(port), "--workers", str(processes or web_processes()),
        "--lifespan", "off", "--no-proxy-headers", "--no-server-header", "--timeout-graceful-shutdown", "10",
        "--timeout-keep-alive", str(KEEP_ALIVE_SECONDS),
    ]


def web_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` for the web server: a database connection pool per process (``DB_POOL_SIZE``, default
    :data:`WEB_DB_POOL_SIZE`; on PostgreSQL, :mod:`labelapp.settings`) unless ``environ`` sets one. Under ASGI each
    request runs in a thread of its own, so a pool, not ``DB_CONN_MAX_AGE``, is what spares every request a
    new PostgreSQL connection."""
    return {"DB_POOL_SIZE": str(WEB_DB_POOL_SIZE), **environ}


def main() -> None:
    """Replace this process with the web server on ``HOST``:``PORT`` (compose's ``web`` service)."""
    command = web_command(host=env.env_str("HOST", "127.0.0.1"), port=env.env_int("PORT", 8000, minimum=1))
    os.execve(command[0], command, web_environment(os.environ))


if __name__ == "__main__":
    main()
