"""Browser tests' shared parts: Debian's Chromium driven by Playwright (headless), and the ASGI app under
daphne for tests that need websockets (the live server of pytest-django speaks WSGI only)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.training import worker_env
from tests.reliability.servers import WebServer

# Playwright's sync API runs an event loop in this thread; the test's own ORM calls are still synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))  # Debian's package; override to test the skip
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
MISSING = f"Chromium not found at {CHROMIUM}; install Debian's chromium package (CI does)"


@pytest.fixture(scope="module")
def browser() -> Iterator:
    # Module scope, not session: while Playwright's sync API is open its event loop runs in this thread,
    # and every later test that calls async_to_sync (channel layers, consumers) would fail.
    if not CHROMIUM.exists():
        pytest.fail(f"REQUIRE_BROWSER=1 but {MISSING}", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def asgi_server(django_db_setup):
    """The ASGI app under the app's web server (uvicorn, ``labelapp.web_server``) with the test database and
    Redis; yields its URL. Started once per place that imports it (a uvicorn start under load takes 5-13 s):
    it keeps no state of its own between tests (sessions, caches and rows live in the database and Redis,
    which each test resets), and it stops before the test database is dropped (``django_db_setup``)."""
    server = WebServer(env=worker_env(DEBUG="1"))  # DEBUG: static files are served too
    server.start()
    yield f"http://127.0.0.1:{server.port}"
    server.stop()
