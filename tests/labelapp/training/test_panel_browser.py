"""The project page's training panel in a real browser: a real round's progress and new version appear live.

Real parts: daphne serving the ASGI app (websockets through Channels and the Redis channel layer), the
round job's code training for real, Debian's Chromium through Playwright.
"""

from __future__ import annotations

import os
import threading

import pytest

from labelapp.training.jobs import run_training_round
from tests.e2e.conftest import CHROMIUM, MISSING, browser  # noqa: F401  (the shared Chromium fixture)
from tests.labelapp.training.conftest import worker_env
from tests.reliability.servers import WebServer
from tests.helpers import signed_in_page

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not CHROMIUM.exists() and os.environ.get("REQUIRE_BROWSER") != "1", reason=MISSING),
]


@pytest.fixture
def asgi_server():
    """The ASGI app under the app's web server (uvicorn) with this test's database and Redis; yields its URL."""
    server = WebServer(env=worker_env(DEBUG="1"))  # DEBUG: static files are served too
    server.start()
    yield f"http://127.0.0.1:{server.port}"
    server.stop()


def test_the_panel_shows_a_real_rounds_progress_and_new_version_without_reloading(
    small_project, owner, browser, asgi_server  # noqa: F811
):
    page = signed_in_page(browser, asgi_server, owner)
    page.goto(f"{asgi_server}/p/{small_project.slug}/")
    page.wait_for_selector("html[data-project-socket='open']")
    version = page.locator('#training-panel [data-field="version"]')
    assert version.inner_text() == "none yet"
    page.evaluate("""() => {
        window.progressSeen = [];
        setInterval(() => {  // looked up each time: the panel is rendered again by the server on round events
            const bar = document.querySelector('#training-panel [data-field="progress"]');
            if (bar && !bar.hidden) window.progressSeen.push(bar.value);
        }, 20);
    }""")

    # The job's code in another thread (this one runs Playwright's event loop); the worker process
    # itself is covered by test_rounds and test_faults.
    round_thread = threading.Thread(target=run_training_round, args=(small_project.pk,), kwargs={"steps": 15})
    round_thread.start()
    try:
        page.wait_for_function("""() => document.querySelector('#training-panel [data-field="version"]').textContent === 'v1'""")
    finally:
        round_thread.join(timeout=120)
    assert max(page.evaluate("window.progressSeen")) > 0
    page.wait_for_function("""() => document.querySelector('#training-panel [data-field="labels"]').textContent.startsWith('12 human')""")
    assert page.locator('#training-panel [data-field="progress"]').is_hidden()
    page.context.close()
