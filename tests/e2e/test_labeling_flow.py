"""An annotator and a reviewer do their day in a real browser; the dashboard shows what the database holds."""

from __future__ import annotations

import pytest

from labelapp.labeling.models import Annotation, ImageSkip, ReviewDecision, Source
from tests.labelapp.labeling.helpers import add_images, add_version

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def day(project, owner):
    """16 real images; version 1 is unsure of 6 of them and confident (≥ τ) about 10; one of the owner's
    labels is confidently contradicted (a suspect). The queue ranks by least confidence."""
    project.strategy = "least-confidence"
    project.save(update_fields=["strategy"])
    images = add_images(project, 17)
    unsure = {image: (i % 3, 0.40 + i / 100) for i, image in enumerate(images[:6])}
    confident = {image: (i % 3, 0.99 - i / 1000) for i, image in enumerate(images[6:16])}
    suspect = images[16]
    Annotation.objects.create(project=project, image=suspect, label_class=project.classes.get(index=0), annotator=owner)
    add_version(project, {**unsure, **confident, suspect: (2, 0.995)})
    return {"unsure": list(unsure), "confident": list(confident), "suspect": suspect}


def shown(page) -> int:
    return int(page.get_attribute("#stage", "data-image-id") or 0)


def wait_until(page, expression: str, arg=None) -> None:
    """Poll a JS predicate (headless Chromium may not run animation frames, Playwright's default polling)."""
    page.wait_for_function(expression, arg=arg, polling=50)


def press_and_wait(page, key: str) -> int:
    """Press a key and wait until the page shows another image; returns the new image's id."""
    before = shown(page)
    page.keyboard.press(key)
    wait_until(page, "before => Number(document.getElementById('stage').dataset.imageId) !== before", before)
    return shown(page)


def test_annotator_labels_with_hotkeys_undoes_and_skips(project, annotator, day, login, screenshot):
    page = login(annotator, f"/p/{project.slug}/label/")
    page.wait_for_selector("body[data-ready='1']")
    first = shown(page)
    assert first in {image.pk for image in day["unsure"]}  # least confident first
    screenshot(page, "label-page")
    second = press_and_wait(page, "1")
    third = press_and_wait(page, "2")
    fourth = press_and_wait(page, "3")
    assert press_and_wait(page, "Control+z") == third  # undo brings the last labeled image back
    assert not Annotation.objects.filter(image_id=third).exists()
    press_and_wait(page, "Space")  # skip it
    press_and_wait(page, "1")
    wait_until(page, "() => document.getElementById('session-count').textContent === '3'")
    assert page.evaluate("() => document.getElementById('recent').start") == 3  # newest first, numbered by the session count
    human = Annotation.objects.filter(project=project, source=Source.HUMAN).count()
    assert page.text_content("[data-count='human']") == str(human)  # the page kept its counts current
    screenshot(page, "label-page-after-work")
    labels = dict(Annotation.objects.filter(project=project, source=Source.HUMAN).exclude(annotator__username="olivia-owner").values_list("image_id", "label_class__name"))
    assert labels == {first: "shirt", second: "trouser", fourth: "shirt"}
    assert list(ImageSkip.objects.values_list("image_id", "user")) == [(third, annotator.pk)]

    # A new version arrives over the websocket: the page offers to re-rank, keeping the image in hand.
    in_hand = shown(page)
    add_version(project, {image: (0, 0.5) for image in day["unsure"] + day["confident"]})
    page.evaluate("() => window.labelPage.live.handle({type: 'version.ready', version: 2})")
    page.wait_for_selector("#version-banner:not([hidden])")
    screenshot(page, "label-page-version-ready")
    page.keyboard.press("r")
    page.wait_for_selector("#version-banner[hidden]", state="attached")
    wait_until(page, "() => document.getElementById('status').textContent.includes('re-ranked')")
    assert shown(page) == in_hand
    # A missed message: catching up by version number still finds version 3.
    add_version(project, {image: (0, 0.5) for image in day["unsure"]})
    page.evaluate("() => window.labelPage.live.catchUp()")
    wait_until(page, "() => document.getElementById('version-text').textContent.includes('version 3')")


def test_reviewer_accepts_a_page_rejects_one_and_sees_the_dashboard(project, reviewer, day, login, screenshot):
    page = login(reviewer, f"/p/{project.slug}/review/")
    page.wait_for_selector("body[data-ready='1']")
    tiles = page.locator(".tile")
    assert tiles.count() == len(day["confident"])
    page.keyboard.press("ArrowRight")
    rejected = int(page.evaluate("() => document.activeElement.dataset.imageId"))
    page.keyboard.press("x")
    assert page.get_attribute(f".tile[data-image-id='{rejected}']", "aria-pressed") == "true"
    screenshot(page, "review-page")
    page.keyboard.press("Enter")
    page.wait_for_selector("#review-empty")
    accepted = set(Annotation.objects.filter(source=Source.PSEUDO).values_list("image_id", flat=True))
    assert accepted == {image.pk for image in day["confident"]} - {rejected}
    assert list(ReviewDecision.objects.values_list("image_id", "kind")) == [(rejected, ReviewDecision.Kind.REJECTED)]

    page.goto(page.url.replace("/review/", "/suspects/"))
    page.wait_for_selector("body[data-ready='1']")
    assert shown(page) == day["suspect"].pk
    screenshot(page, "suspects-page")
    page.keyboard.press("k")
    page.wait_for_selector("#empty:not([hidden])")
    assert ReviewDecision.objects.filter(kind=ReviewDecision.Kind.KEPT, image=day["suspect"]).exists()

    page.goto(page.url.replace("/suspects/", "/low-confidence/"))
    page.wait_for_selector("body[data-ready='1']")
    assert shown(page) == min(day["unsure"], key=lambda image: 0.40 + day["unsure"].index(image) / 100).pk
    screenshot(page, "low-confidence-page")

    page.goto(page.url.replace("/low-confidence/", "/dashboard/"))
    page.wait_for_selector("body[data-ready='1']")
    screenshot(page, "dashboard")
    totals = {name: page.text_content(f"[data-total='{name}']").strip() for name in ("human", "pseudo", "rejected", "images")}
    assert totals == {
        "human": str(Annotation.objects.filter(project=project, source=Source.HUMAN).count()),
        "pseudo": str(Annotation.objects.filter(project=project, source=Source.PSEUDO).count()),
        "rejected": str(ReviewDecision.objects.filter(project=project, kind=ReviewDecision.Kind.REJECTED).count()),
        "images": "17",
    }
    assert totals["pseudo"] == "9" and totals["rejected"] == "1"

    page.goto(page.url.replace("/dashboard/", "/"))
    assert page.is_visible("#labeling-panel a[href$='/review/']")
    screenshot(page, "project-page")
