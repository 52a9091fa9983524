"""Several web processes behave as one (issue 17, item 2): the app's real server with two processes shares
the login throttle and the cache through Redis, so a guesser gets the limit once, not once per process.
And each process lends its requests pooled database connections instead of opening one per request."""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request

import pytest
from django.conf import settings
from django.db import connection

from labelapp.lib import login_throttle
from tests.helpers.training import worker_env
from tests.reliability.servers import CSRF, WebServer

LIMIT = 3
GUESSES = 8


@pytest.fixture
def two_processes(transactional_db):
    server = WebServer(env=worker_env(LOGIN_FAILURE_LIMIT=str(LIMIT)), processes=2)
    server.start()
    yield server
    server.stop()


def children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as listing:
        return [int(child) for child in listing.read().split()]


def wrong_login(port: int, username: str, n: int) -> int:
    """A wrong-password post to the login page on a fresh connection; its status."""
    body = urllib.parse.urlencode({"username": username, "password": f"wrong-{n}", "csrfmiddlewaretoken": CSRF})
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/accounts/login/", data=body.encode(), method="POST",
        headers={"Cookie": f"{settings.CSRF_COOKIE_NAME}={CSRF}", "Content-Type": "application/x-www-form-urlencoded"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_two_web_processes_share_one_login_budget_and_one_cache(two_processes, owner):
    assert len(children(two_processes.process.pid)) >= 2, "uvicorn runs two worker processes"
    # One connection per guess: the kernel hands them to either process. Counted per process, up to
    # 2 × LIMIT guesses would reach the password check; shared, exactly LIMIT do, and the LIMIT-th already
    # answers 429 (the budget is spent).
    statuses = [wrong_login(two_processes.port, owner.username, n) for n in range(GUESSES)]
    assert statuses == [200] * (LIMIT - 1) + [429] * (GUESSES - LIMIT + 1), statuses
    # A third process (this test) reads the count the servers wrote: the cache is Redis, not per process.
    assert settings.CACHES["default"]["BACKEND"].endswith("SharedRedisCache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(settings, "LOGIN_FAILURE_LIMIT", LIMIT)
        assert login_throttle.login_locked(username=owner.username, source="ip:127.0.0.1")


def database_sessions() -> int:
    """Connections ever opened to the test database (PostgreSQL's statistics; a closed backend counts at exit)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
        return int(cursor.fetchone()[0])


@pytest.mark.skipif(settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql", reason="a PostgreSQL pool")
def test_the_web_server_serves_many_requests_from_a_few_pooled_database_connections(transactional_db, project, annotator):
    server = WebServer(env=worker_env(), processes=1)
    server.start()
    try:
        server.log_in(annotator)
        assert server.request("GET", f"/p/{project.slug}/label/state/").status == 200  # the pool is open now
        before = database_sessions()
        answers = [server.request("GET", f"/p/{project.slug}/label/state/").status for _ in range(30)]
    finally:
        server.stop()
    assert answers == [200] * 30
    # one connection per request would be 30 new sessions; the pool keeps what it opened (1 to DB_POOL_SIZE)
    assert database_sessions() - before <= 3
