"""Browser tests: Playwright's sync API driving Debian's Chromium (headless) against a live server.

Without /usr/bin/chromium the tests are skipped with the reason, unless REQUIRE_BROWSER=1 (CI),
where a missing browser is a failure. Screenshots go to ``test-artifacts/`` at the repository root.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in this thread; the test's own ORM calls are still synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))  # Debian's package; override to test the skip
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
MISSING = f"Chromium not found at {CHROMIUM}; install Debian's chromium package (CI does)"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if CHROMIUM.exists():
        return
    required = os.environ.get("REQUIRE_BROWSER") == "1"
    for item in items:
        if "e2e" in item.keywords and not required:
            item.add_marker(pytest.mark.skip(reason=MISSING))


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
def login(browser, live_server):
    """``login(user)`` → a new page of a fresh browser context, logged in through the login form."""
    from tests.conftest import PASSWORD

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
