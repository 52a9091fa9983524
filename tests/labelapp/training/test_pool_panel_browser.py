"""The training panel in a real browser says what the worker does while it learns the pool, and the strategy in force.

Real parts as in ``test_panel_browser``: daphne, Channels over Redis, a real pre-training round, Chromium.
"""

from __future__ import annotations

import os
import threading

import pytest

from labelapp.training.jobs import run_training_round
from tests.helpers import signed_in_page
from tests.helpers.browser import CHROMIUM, MISSING, asgi_server, browser  # noqa: F401  (fixtures)
from tests.helpers.training import add_images

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not CHROMIUM.exists() and os.environ.get("REQUIRE_BROWSER") != "1", reason=MISSING),
]


def test_the_panel_shows_the_pool_being_learned_then_the_cold_start_strategy(
    project, owner, browser, asgi_server  # noqa: F811
):
    add_images(project, per_class=20)  # no label: the round pre-trains
    page = signed_in_page(browser, asgi_server, owner)
    page.goto(f"{asgi_server}/p/{project.slug}/")
    page.wait_for_selector("html[data-project-socket='open']")
    page.evaluate("""() => {  // the panel, not the line: panels.js replaces the panel's content on version.ready
        window.activitySeen = [];
        const panel = document.getElementById('training-panel');
        new MutationObserver(() => window.activitySeen.push(panel.querySelector('[data-field="activity"]').textContent))
            .observe(panel, {childList: true, characterData: true, subtree: true});
    }""")

    round_thread = threading.Thread(target=run_training_round, args=(project.pk,), kwargs={"steps": 15})
    round_thread.start()
    try:
        page.wait_for_function("""() => document.querySelector('#training-panel [data-field="version"]').textContent === 'v1'""")
    finally:
        round_thread.join(timeout=120)
    page.wait_for_function("""() => document.querySelector('#training-panel [data-field="activity"]').textContent
        === 'v1: embeddings of the pre-trained encoder'""")
    seen = page.evaluate("window.activitySeen")
    assert any(text.startswith("learning the images: epoch ") and ", step " in text for text in seen), seen
    strategy = page.locator('#training-panel [data-field="strategy"]').inner_text()
    assert strategy == "pool-first (now typicality)"
    page.context.close()
