"""The workday in Chromium (issue 15): the project page's panels follow a real round, Start/Stop show
exactly one button in every state, a review's counts are right at once, and the small things a new user met.

Real parts: daphne serving the ASGI app (websockets through Channels and Redis), real rounds trained by
the job's code in another thread, Debian's Chromium through Playwright at 1280×860.
"""

from __future__ import annotations

import threading

import pytest
from django.test import Client

from labelapp.training.jobs import run_training_round
from tests.helpers import signed_in_page
from tests.helpers.training import clean_training_state, one_torch_thread, small_project  # noqa: F401
from tests.labelapp.labeling.helpers import add_images, add_version

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

VIEWPORT = {"width": 1280, "height": 860}


def open_page(browser, server: str, user, path: str):  # noqa: F811
    page = signed_in_page(browser, server, user, viewport=VIEWPORT)
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

    # A real round (the job's code) that is still training when Stop is clicked: 80 steps outlast the click
    # (several seconds of training on a quiet machine; the first progress event comes at its first step).
    round_thread = threading.Thread(target=run_training_round, args=(small_project.pk,), kwargs={"steps": 80})
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


def overlapping(boxes: list[dict]) -> list[tuple[dict, dict]]:
    return [
        (a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:]
        if a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"]
    ]


def test_the_small_things_charts_confusion_header_empty_suspects_and_counts_above_the_fold(
    project, owner, reviewer, browser, asgi_server, screenshot  # noqa: F811
):
    from datetime import timedelta

    from django.utils import timezone

    from labelapp.labeling.models import Annotation, Source
    from labelapp.projects.models import LabelClass
    from labelapp.projects.services import label_class_add
    from labelapp.training.models import ModelVersion

    LabelClass.objects.filter(project=project, name="bag").update(name="ankle-boot")
    for name in ("pullover", "dress", "coat", "sandal", "sneaker", "t-shirt/top", "handbag-with-strap"):
        label_class_add(project=project, name=name)
    images = add_images(project, 8)
    classes = list(LabelClass.objects.filter(project=project).order_by("index"))
    start = timezone.now() - timedelta(minutes=100)
    for n, (image, minutes) in enumerate(zip(images, (0, 1, 2, 3, 97, 98, 99, 99))):  # clustered label times
        annotation = Annotation.objects.create(project=project, image=image, label_class=classes[n % 3], source=Source.HUMAN)
        Annotation.objects.filter(pk=annotation.pk).update(created_at=start + timedelta(minutes=minutes))
    size = len(classes)
    for humans in (2, 3, 4, 40):  # clustered x values on the accuracy chart
        version = add_version(project, {image: (0, 0.6) for image in images})  # nothing confident: no suspects
        confusion = [[(i + j + humans) % 4 for j in range(size)] for i in range(size)]
        ModelVersion.objects.filter(pk=version.pk).update(human_labels=humans, metrics={
            "running_accuracy": 0.5, "running_count": 4, "prequential_accuracy": 0.6, "prequential_count": 8,
            "confusion": confusion, "per_class": {}, "holdout_count": 0,
        })

    page = open_page(browser, asgi_server, reviewer, f"/p/{project.slug}/dashboard/")
    page.wait_for_selector("body[data-ready='1']")
    for chart in page.locator("svg.chart").all()[:2]:  # the two line charts: their x-axis labels
        height = float(chart.get_attribute("height"))
        labels = [t for t in chart.locator("text").all() if float(t.get_attribute("y")) == height - 10]
        assert len(labels) >= 2
        assert not overlapping([t.bounding_box() for t in labels])
    matrix = page.locator("svg.chart[aria-label='Confusion matrix']")
    frame = matrix.bounding_box()
    for text in matrix.locator("text").all():  # every column and row name fits inside the drawing
        box = text.bounding_box()
        assert frame["x"] <= box["x"] and box["x"] + box["width"] <= frame["x"] + frame["width"] + 0.5
        assert frame["y"] <= box["y"] and box["y"] + box["height"] <= frame["y"] + frame["height"] + 0.5
    screenshot(page, "workday-dashboard")

    page.goto(f"{asgi_server}/p/{project.slug}/suspects/")
    page.wait_for_selector("body[data-ready='1']")
    assert page.locator("#empty").is_visible() and not page.locator("#stage").is_visible()
    screenshot(page, "workday-suspects-empty")

    page.goto(f"{asgi_server}/p/{project.slug}/label/")
    page.wait_for_selector("body[data-ready='1']")
    counts = page.locator("#counts").bounding_box()
    assert counts["y"] + counts["height"] <= VIEWPORT["height"]  # 10 classes, and the counts still show
    screenshot(page, "workday-label-page")
    page.context.close()


def test_404_and_403_pages_have_the_apps_header_and_a_way_back(login, live_server, owner, outsider, project, screenshot):
    page = login(outsider)
    response = page.goto(f"{live_server.url}/p/{project.slug}/")  # another project's page
    assert response.status == 404
    assert page.locator("header.topbar .brand").is_visible() and "Not found" in page.locator("h1").inner_text()
    assert page.locator("#error-page a[href='/']").is_visible()
    screenshot(page, "workday-404")
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    forbidden = client.post(f"/p/{project.slug}/training/start/")  # no CSRF token
    assert forbidden.status_code == 403
    body = forbidden.content.decode()
    assert 'class="topbar"' in body and "Not allowed" in body


def test_question_mark_lists_every_key_and_u_takes_back_the_page_just_reviewed(
    project, reviewer, browser, asgi_server, screenshot  # noqa: F811
):
    images = add_images(project, 6)
    add_version(project, {image: (index % 3, 0.99) for index, image in enumerate(images)})
    for path, expected in (("label/", "undo your last label"), ("suspects/", "keep the label")):
        page = open_page(browser, asgi_server, reviewer, f"/p/{project.slug}/{path}")
        page.wait_for_selector("body[data-ready='1']")
        page.keyboard.press("?")
        assert page.locator("#keys-help").is_visible() and expected in page.locator("#keys-help").inner_text()
        page.keyboard.press("Escape")
        assert not page.locator("#keys-help").is_visible()
        page.context.close()

    page = open_page(browser, asgi_server, reviewer, f"/p/{project.slug}/review/")
    page.wait_for_selector("body[data-ready='1']")
    page.keyboard.press("?")
    help_text = page.locator("#keys-help").inner_text()
    assert all(key in help_text for key in ("Enter", "accept the page", "undo the page", "next page"))
    screenshot(page, "workday-review-keys")
    page.keyboard.press("x")  # ignored while the list is open
    page.keyboard.press("Escape")
    assert page.locator(".tile.rejected").count() == 0
    page.keyboard.press("Enter")
    page.wait_for_selector("#review-empty")
    page.wait_for_selector("#undo-page:not([hidden])")
    page.keyboard.press("u")
    page.wait_for_selector(".tile")
    assert page.locator(".tile").count() == 6 and page.locator('[data-count="pseudo"]').inner_text() == "0"
    assert "Undone: 6 accepted and 0 rejected are back for review." in page.locator("#status").inner_text()
    page.context.close()
