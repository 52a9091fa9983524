"""The workday in Chromium (issue 15): the project page's panels follow a real round, Start/Stop show
exactly one button in every state, a review's counts are right at once, and the small things a new user met.

Real parts: daphne serving the ASGI app (websockets through Channels and Redis), real rounds trained by
the job's code in another thread, Debian's Chromium through Playwright at 1280×860.
"""

from __future__ import annotations

import threading

import pytest
from django.conf import settings
from django.test import Client

from labelapp.training.jobs import run_training_round
from tests.e2e.conftest import browser  # noqa: F401  (the shared Chromium fixture)
from tests.labelapp.labeling.helpers import add_images, add_version
from tests.labelapp.training.conftest import clean_training_state, one_torch_thread, small_project  # noqa: F401
from tests.labelapp.training.test_panel_browser import asgi_server  # noqa: F401  (daphne on a free port)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

VIEWPORT = {"width": 1280, "height": 860}


def open_page(browser, server: str, user, path: str):  # noqa: F811
    client = Client()
    client.force_login(user)
    context = browser.new_context(viewport=VIEWPORT)
    context.add_cookies([{
        "name": settings.SESSION_COOKIE_NAME, "value": client.cookies[settings.SESSION_COOKIE_NAME].value, "url": server,
    }])
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(f"{server}{path}")
    return page


def visible_switches(page) -> list[str]:
    return [name for name in ("start", "stop") if page.locator(f'#training-panel form[data-field="{name}"]').is_visible()]


def panel_text(page, panel: str) -> str:
    return page.locator(f"#{panel}").inner_text()


def test_every_panel_follows_a_real_round_and_exactly_one_of_start_and_stop_shows(
    small_project, owner, browser, asgi_server, screenshot  # noqa: F811
):
    page = open_page(browser, asgi_server, owner, f"/p/{small_project.slug}/")
    page.wait_for_selector("html[data-project-socket='open']")
    assert visible_switches(page) == ["start"]
    assert "No model version yet" in panel_text(page, "exports-panel")
    assert "model v" not in panel_text(page, "labeling-panel")
    screenshot(page, "workday-project-before")

    page.click('#training-panel form[data-field="start"] button')  # no worker runs: the round waits in the queue
    page.wait_for_function("() => document.querySelector('#training-panel [data-field=state]').textContent === 'Round queued'")
    assert visible_switches(page) == ["stop"]

    # A real round (the job's code) that is still training when Stop is clicked.
    round_thread = threading.Thread(target=run_training_round, args=(small_project.pk,), kwargs={"steps": 200})
    round_thread.start()
    try:
        page.wait_for_function("() => document.querySelector('#training-panel [data-field=progress]').value > 0")
        assert visible_switches(page) == ["stop"]
        page.click('#training-panel form[data-field="stop"] button')
        page.wait_for_function(
            "() => document.querySelector('#training-panel [data-field=state]').textContent === 'Stopping after this round…'",
            timeout=3_000,  # at once, not after the round
        )
        assert visible_switches(page) == ["start"]
        screenshot(page, "workday-project-stopping")
        page.wait_for_function("() => document.querySelector('#exports-panel select[name=version]') !== null", timeout=180_000)
    finally:
        round_thread.join(timeout=240)
    # Every panel follows the new version without a reload.
    page.wait_for_function("() => document.querySelector('#training-panel [data-field=state]').textContent === 'Training off'")
    assert visible_switches(page) == ["start"]
    assert "v1 (current)" in panel_text(page, "exports-panel") and "No model version yet" not in panel_text(page, "exports-panel")
    assert "model v1" in panel_text(page, "labeling-panel")
    assert page.locator('#training-panel [data-field="version"]').inner_text() == "v1"
    assert page.locator("#version-table tr[data-version]").count() == 1
    screenshot(page, "workday-project-after")
    page.context.close()


def test_counts_and_the_confirmation_are_right_right_after_accepting_a_review_page(
    project, reviewer, browser, asgi_server, screenshot  # noqa: F811
):
    images = add_images(project, 6)
    add_version(project, {image: (index % 3, 0.99) for index, image in enumerate(images)})
    page = open_page(browser, asgi_server, reviewer, f"/p/{project.slug}/review/")
    page.wait_for_selector("body[data-ready='1']")
    assert page.locator('[data-count="pseudo"]').inner_text() == "0"  # the counts are cached now
    page.keyboard.press("x")  # reject the first, accept the other five
    page.keyboard.press("Enter")
    page.wait_for_selector("#review-empty")
    page.wait_for_function("() => document.querySelector('[data-count=pseudo]').textContent === '5'", timeout=2_000)
    assert page.locator('[data-count="review"]').inner_text() == "0"
    assert "Accepted 5, rejected 1." in page.locator("#status").inner_text()  # the confirmation survives the reload
    screenshot(page, "workday-review-after-accept")
    page.context.close()
