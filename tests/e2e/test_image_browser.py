"""The images data browser in Chromium: filter, sort and page the grid; open an image, read its history
and predictions, relabel it with a class key and undo; pick nearest neighbours and label them at once.

Real parts: Django's live server, Debian's Chromium through Playwright, real Fashion-MNIST images, and
embeddings that are the images' own pixels (so the neighbours are really the most alike images).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from labelapp.labeling.models import Annotation, AnnotationEvent, Source
from labelapp.labeling.neighbours import INDEXES, nearest_images
from labelapp.labeling.services import annotation_submit
from labelapp.training.cache import atomic_savez, embeddings_path
from tests.helpers import signed_in_page
from tests.labelapp.labeling.helpers import _pixels, add_images, add_version

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

VIEWPORT = {"width": 1280, "height": 860}
SHOTS = Path("/tmp/h15browser")
COUNT = 70


@pytest.fixture
def shot(screenshot):
    """``shot(page, name)``: the test-artifacts screenshot, copied to /tmp/h15browser/ to look at."""
    SHOTS.mkdir(parents=True, exist_ok=True)

    def save(page, name: str) -> None:
        page.evaluate("() => document.querySelectorAll('img[loading=lazy]').forEach((img) => { img.loading = 'eager'; })")
        page.wait_for_function("() => [...document.images].every((img) => img.complete)", polling=50)
        shutil.copy(screenshot(page, f"browser-{name}"), SHOTS / f"{name}.png")

    return save


@pytest.fixture
def pool(project, owner, settings, tmp_path):
    """70 real images; the owner labeled the first 8; version 1 then version 2 predicted all of them, and
    version 2 stores one embedding per image (its pixels)."""
    settings.CACHE_DIR = tmp_path / "cache"
    INDEXES.clear()
    images = add_images(project, COUNT)
    classes = list(project.classes.order_by("index"))
    for i, image in enumerate(images[:8]):
        annotation_submit(project=project, image=image, label_class=classes[i % 3], user=owner, expected_revision=None)
    add_version(project, {image: ((i + 1) % 3, 0.5) for i, image in enumerate(images)})
    version = add_version(project, {image: (i % 3, 0.40 + (i * 37 % 59) / 100) for i, image in enumerate(images)})
    pixels = _pixels()[:COUNT].reshape(COUNT, -1).astype(np.float32)
    atomic_savez(embeddings_path(version), ids=np.array([image.pk for image in images]), embeddings=pixels)
    yield images
    INDEXES.clear()


def grid_ids(page) -> list[int]:
    return [int(i) for i in page.eval_on_selector_all("#image-grid figure", "els => els.map(e => e.dataset.imageId)")]


def test_filter_sort_and_page_the_grid_with_shareable_urls(project, annotator, pool, live_server, browser, shot):
    page = signed_in_page(browser, live_server.url, annotator, viewport=VIEWPORT)
    page.goto(f"{live_server.url}/p/{project.slug}/images/")
    assert grid_ids(page) == [image.pk for image in pool[:60]]
    shot(page, "grid")

    page.select_option("select[name=source]", "unlabeled")
    page.select_option("select[name=sort]", "most-confident")
    with page.expect_navigation():
        page.click("#browser-filters button[type=submit]")
    assert "source=unlabeled" in page.url and "sort=most-confident" in page.url
    unlabeled = pool[8:]
    confidence = {image.pk: 0.40 + (i * 37 % 59) / 100 for i, image in enumerate(pool)}
    expected = sorted((image.pk for image in unlabeled), key=lambda pk: (-confidence[pk], -pk))
    assert grid_ids(page) == expected[:60]
    assert "62 images match" in page.inner_text("#matching")
    shot(page, "grid-unlabeled-most-confident")

    with page.expect_navigation():
        page.click("#next-page")
    assert grid_ids(page) == expected[60:]
    assert "sort=most-confident" in page.url
    with page.expect_navigation():
        page.click("#previous-page")
    assert grid_ids(page) == expected[:60]

    shared = signed_in_page(browser, live_server.url, annotator, viewport=VIEWPORT)  # the URL is the view
    shared.goto(f"{live_server.url}/p/{project.slug}/images/?class=1&source=human&max_confidence=0.9")
    assert grid_ids(shared) == [pool[i].pk for i in (1, 4, 7) if confidence[pool[i].pk] <= 0.9]
    shot(shared, "grid-shared-filter")

    response = shared.goto(f"{live_server.url}/p/{project.slug}/images/?min_confidence=nan")
    assert response.status == 400 and "min_confidence" in shared.inner_text("body")


def test_detail_page_shows_history_and_predictions_and_relabels_by_key_with_undo(
    project, owner, annotator, pool, live_server, browser, shot
):
    image = pool[0]  # the owner's "shirt"; version 2 says shirt, version 1 said trouser
    page = signed_in_page(browser, live_server.url, annotator, viewport=VIEWPORT)
    page.goto(f"{live_server.url}/p/{project.slug}/images/{image.pk}/")
    page.wait_for_selector("body[data-ready='1']")
    assert "shirt" in page.inner_text("#current-label") and "olivia-owner" in page.inner_text("#current-label")
    rows = page.locator("#predictions tbody tr")
    assert rows.count() == 2
    assert "v2" in rows.nth(0).inner_text() and "(current)" in rows.nth(0).inner_text()
    assert "trouser" in rows.nth(1).inner_text()
    assert page.locator("#history tbody tr").count() == 1
    shot(page, "detail")

    with page.expect_navigation():
        page.keyboard.press("3")  # the label page's key for "bag"
    page.wait_for_selector("body[data-ready='1']")
    assert "bag" in page.inner_text("#current-label") and "anna-annotator" in page.inner_text("#current-label")
    assert page.locator("#history tbody tr").count() == 2
    assert "shirt" in page.locator("#history tbody tr").nth(0).locator("td").nth(4).inner_text()
    annotation = Annotation.objects.get(image=image)
    assert (annotation.label_class.name, annotation.annotator, annotation.source) == ("bag", annotator, Source.HUMAN)
    shot(page, "detail-relabeled")

    with page.expect_navigation():
        page.keyboard.press("Control+z")
    page.wait_for_selector("body[data-ready='1']")
    assert f"/images/{image.pk}/" in page.url
    annotation.refresh_from_db()
    assert (annotation.label_class.name, annotation.annotator) == ("shirt", owner)
    assert "shirt" in page.inner_text("#current-label")
    assert page.locator("#history tbody tr.undone").count() == 1
    shot(page, "detail-undone")


def test_neighbours_are_listed_with_labels_and_labeled_all_at_once(project, annotator, pool, live_server, browser, shot):
    image = pool[20]
    nearest = [pk for pk, _ in nearest_images(project.current_version, image.pk)]
    page = signed_in_page(browser, live_server.url, annotator, viewport=VIEWPORT)
    page.goto(f"{live_server.url}/p/{project.slug}/images/{image.pk}/")
    page.wait_for_selector("body[data-ready='1']")
    shown = [int(i) for i in page.eval_on_selector_all(".neighbour-grid figure", "els => els.map(e => e.dataset.imageId)")]
    assert shown == nearest and len(shown) == 12
    shot(page, "detail-neighbours")

    chosen = shown[:3]
    for pk in chosen:
        page.check(f'.neighbour-pick[data-image-id="{pk}"]')
    page.select_option("#bulk-class", "1")
    page.click("#bulk-submit")
    page.wait_for_function("() => document.getElementById('bulk-status').textContent.startsWith('Labeled')", polling=50)
    assert "Labeled 3 “trouser”" in page.inner_text("#bulk-status")
    labels = dict(Annotation.objects.filter(image_id__in=chosen).values_list("image_id", "label_class__name"))
    assert labels == dict.fromkeys(chosen, "trouser")
    assert AnnotationEvent.objects.filter(image_id__in=chosen, user=annotator, action="labeled").count() == 3
    for pk in chosen:
        assert page.inner_text(f'.neighbour-grid figure[data-image-id="{pk}"] figcaption span') == "trouser"
    page.locator("#neighbours").scroll_into_view_if_needed()
    shot(page, "detail-neighbours-labeled")
