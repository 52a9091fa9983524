"""The labeling page over a real websocket: daphne serves the ASGI app, events go through Redis and the
training app's consumer to Chromium; the page shows the round's progress and offers the new version."""

from __future__ import annotations

import threading

import pytest

from labelapp.training import events
from tests.helpers import signed_in_page
from tests.labelapp.labeling.helpers import add_images, add_version

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def publish(project, event) -> None:
    """Publish from another thread: this one belongs to Playwright's event loop."""
    sender = threading.Thread(target=events.publish, args=(project.pk, event))
    sender.start()
    sender.join(timeout=10)


def test_label_page_follows_round_progress_and_offers_the_new_version(
    project, annotator, browser, asgi_server, screenshot  # noqa: F811
):
    images = add_images(project, 6)
    add_version(project, {image: (0, 0.5) for image in images})
    page = signed_in_page(browser, asgi_server, annotator, viewport={"width": 1366, "height": 768}, timeout_ms=20_000)
    with page.expect_response(lambda response: "/label/state/" in response.url):  # the socket opened: catch-up
        page.goto(f"{asgi_server}/p/{project.slug}/label/")
    page.wait_for_selector("body[data-ready='1']")
    in_hand = page.get_attribute("#stage", "data-image-id")

    publish(project, events.round_started(2))
    publish(project, events.round_progress(step=15, steps=30, fraction=0.5, losses={"loss": 0.7}))
    page.wait_for_function("() => document.getElementById('round-progress').value === 0.5", polling=50)
    assert page.is_visible("#round")

    add_version(project, {image: (1, 0.6) for image in images})
    publish(project, events.version_ready(2, {"human": 0, "pseudo": 0}))
    page.wait_for_selector("#version-banner:not([hidden])")
    page.wait_for_function("() => document.querySelector('[data-count=\"version\"]').textContent === '2'", polling=50)
    assert "version 2" in page.text_content("#version-text") and page.is_hidden("#round")
    assert page.get_attribute("#stage", "data-image-id") == in_hand  # nothing moved under the annotator
    screenshot(page, "label-page-live-version")
    page.context.close()
