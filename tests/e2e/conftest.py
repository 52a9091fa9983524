"""Browser tests: Playwright's sync API driving Debian's Chromium (headless) against a live server.

Without /usr/bin/chromium the tests are skipped with the reason, unless REQUIRE_BROWSER=1 (CI),
where a missing browser is a failure. Screenshots go to ``test-artifacts/`` at the repository root.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers.accounts import PASSWORD
from tests.helpers.browser import CHROMIUM, MISSING, asgi_server, browser  # noqa: F401  (fixtures)

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if CHROMIUM.exists():
        return
    required = os.environ.get("REQUIRE_BROWSER") == "1"
    for item in items:
        if "e2e" in item.keywords and not required:
            item.add_marker(pytest.mark.skip(reason=MISSING))


@pytest.fixture
def screenshot() -> callable:
    """``screenshot(page, "name")`` saves ``test-artifacts/<name>.png``."""
    ARTIFACTS.mkdir(exist_ok=True)

    def save(page, name: str) -> Path:
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return save


@pytest.fixture
def login(browser, live_server):  # noqa: F811  (fixtures imported from tests.helpers)
    """``login(user)`` → a new page of a fresh browser context, logged in through the login form."""
    contexts = []

    def open_as(user, next_path: str = "/"):
        context = browser.new_context(viewport={"width": 1366, "height": 768})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.goto(f"{live_server.url}/accounts/login/?next={next_path}")
        page.fill("#id_username", user.username)
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server.url}{next_path}")
        return page

    yield open_as
    for context in contexts:
        context.close()
