"""The images data browser: filters, every sort's keyset cursor, scoping, bad query strings, the detail
page's history and predictions, nearest neighbours and "label all these as …"."""

from __future__ import annotations

import json

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from labelapp.labeling import browser
from labelapp.labeling.browser import SORTS, BrowserFilters, browser_page
from labelapp.labeling.models import Annotation, AnnotationEvent, ImageSkip, Source
from labelapp.labeling.neighbours import (
    INDEXES,
    EmbeddingIndex,
    IndexCache,
    nearest_images,
)
from labelapp.labeling.selectors import current_version
from labelapp.labeling.services import annotation_submit, annotation_undo
from labelapp.training.cache import atomic_savez, embeddings_path

from .helpers import add_images, add_version


@pytest.fixture(autouse=True)
def isolated_cache(settings, tmp_path):
    settings.CACHE_DIR = tmp_path / "cache"
    settings.MEDIA_ROOT = tmp_path / "media"
    INDEXES.clear()
    yield
    INDEXES.clear()


@pytest.fixture
def pool(project, owner, annotator):
    """12 images: 0–3 labeled by people (0, 1 by the annotator), 4 an accepted pseudo-label, 5–7 confident
    predictions (≥ τ), 8–11 unsure; 8 skipped, 9 undecodable. Confidences are distinct but 6 and 7 tie."""
    images = add_images(project, 12)
    classes = {c.index: c for c in project.classes.all()}
    for image, user, index in [(images[0], annotator, 0), (images[1], annotator, 1), (images[2], owner, 1), (images[3], owner, 2)]:
        annotation_submit(project=project, image=image, label_class=classes[index], user=user, expected_revision=None)
    Annotation.objects.create(
        project=project, image=images[4], label_class=classes[2], source=Source.PSEUDO, confidence=0.99, from_version=1
    )
    confidences = [0.50, 0.62, 0.41, 0.70, 0.99, 0.97, 0.96, 0.96, 0.45, 0.55, 0.35, 0.60]
    add_version(project, {image: (i % 3, c) for i, (image, c) in enumerate(zip(images, confidences, strict=True))})
    ImageSkip.objects.create(image=images[8], user=annotator)
    images[9].decode_error = "cannot identify image file"
    images[9].save(update_fields=["decode_error"])
    return images


def ids(page):
    return [image.pk for image in page.images]


def matching(project, **filters):
    page = browser_page(project, version=current_version(project), filters=BrowserFilters(**filters), size=100)
    return ids(page)


def test_filters_by_label_class_source_annotator_and_state(project, annotator, pool):
    shirt, trouser = project.classes.get(index=0), project.classes.get(index=1)
    pk = [image.pk for image in pool]

    assert matching(project, class_id=trouser.pk) == [pk[1], pk[2]]
    assert matching(project, source="human") == pk[:4]
    assert matching(project, source="pseudo") == [pk[4]]
    assert matching(project, source="labeled") == pk[:5]
    assert matching(project, source="predicted") == pk[5:8]  # no label and confidence ≥ τ (0.95)
    assert matching(project, source="none") == pk[8:]
    assert matching(project, source="unlabeled") == pk[5:]
    assert matching(project, annotator_id=annotator.pk) == pk[:2]
    assert matching(project, annotator_id=annotator.pk, class_id=shirt.pk) == [pk[0]]
    assert matching(project, state="skipped") == [pk[8]]
    assert matching(project, state="flagged") == [pk[9]]


def test_filters_by_predicted_class_and_confidence_range(project, pool):
    pk = [image.pk for image in pool]

    assert matching(project, min_confidence=0.6, max_confidence=0.7) == [pk[1], pk[3], pk[11]]
    assert matching(project, predicted_index=2) == [pk[2], pk[5], pk[8], pk[11]]
    assert matching(project, predicted_index=0, min_confidence=0.9) == [pk[6]]
    assert matching(project, source="unlabeled", max_confidence=0.5) == [pk[8], pk[10]]


def _naive_order(project, sort_name):
    """Python's sort of the same rows: the reference every keyset walk must reproduce."""
    rows = list(browser.browser_images(project, current_version(project)))
    sort = SORTS[sort_name]
    key = (lambda r: r.pk) if sort.key == "id" else (lambda r: (getattr(r, sort.key), r.pk))
    return [r.pk for r in sorted(rows, key=key, reverse=sort.descending)]


@pytest.mark.parametrize("sort_name", list(SORTS))
def test_keyset_pages_walk_every_sort_forward_and_back_without_repeats_or_gaps(project, pool, sort_name):
    add_images(project, 3, start=12)  # uploaded after the version: no prediction, so a page spans both parts
    version, sort = current_version(project), SORTS[sort_name]
    expected = _naive_order(project, sort_name)
    pages, after = [], None
    while True:
        page = browser_page(project, version=version, sort=sort, after=sort.decode(after) if after else None, size=5)
        pages.append(page)
        if page.next_after is None:
            break
        after = page.next_after
    assert [pk for page in pages for pk in ids(page)] == expected
    assert pages[0].previous_before is None and len(pages) == 3

    back = browser_page(project, version=version, sort=sort, before=sort.decode(pages[-1].previous_before), size=5)
    assert ids(back) == ids(pages[-2])
    first = browser_page(project, version=version, sort=sort, before=sort.decode(back.previous_before), size=5)
    assert ids(first) == ids(pages[0]) and first.previous_before is None


def test_recently_labeled_sort_puts_new_labels_first_and_unlabeled_last(project, owner, pool):
    annotation_submit(project=project, image=pool[7], label_class=project.classes.get(index=0), user=owner, expected_revision=None)

    order = ids(browser_page(project, version=None, sort=SORTS["recently-labeled"], size=100))

    assert order[0] == pool[7].pk
    assert set(order[6:]) == {image.pk for image in pool[5:] if image != pool[7]}


def test_confidence_sort_without_a_version_keeps_upload_order(project, pool):
    project.current_version = None
    project.save(update_fields=["current_version"])

    page = browser_page(project, version=None, sort=SORTS["least-confident"], size=100)

    assert ids(page) == [image.pk for image in pool]


def test_a_cursor_is_tied_to_its_sort(project, pool):
    assert SORTS["least-confident"].decode("0.5:12") == (0.5, 12)
    assert SORTS["least-confident"].decode("nan:12") is None
    assert SORTS["oldest"].decode("0.5:12") is None and SORTS["oldest"].decode("12") == (12, 12)
    assert SORTS["recently-labeled"].decode("12:4")[1] == 4


# --- pages and endpoints ------------------------------------------------------------------------------


def test_grid_page_shows_filtered_images_with_pager_links_that_keep_the_filters(project, pool, annotator_client):
    url = reverse("labeling:images", args=[project.slug])

    response = annotator_client.get(url, {"source": "unlabeled", "sort": "most-confident"})

    shown = [image.pk for image in response.context["page"].images]
    assert shown == [pool[5].pk, pool[7].pk, pool[6].pk, pool[11].pk, pool[9].pk, pool[8].pk, pool[10].pk]
    assert response.context["matching"] == 7
    html = response.content.decode()
    assert reverse("labeling:image", args=[project.slug, pool[5].pk]) + "?source=unlabeled&amp;sort=most-confident" in html


def test_grid_pages_through_sixty_at_a_time_with_the_sort_in_the_links(project, annotator_client):
    images = add_images(project, 70)
    url = reverse("labeling:images", args=[project.slug])

    first = annotator_client.get(url, {"sort": "newest"})
    second = annotator_client.get(url, {"sort": "newest", "after": first.context["page"].next_after})
    back = annotator_client.get(url, {"sort": "newest", "before": second.context["page"].previous_before})

    newest_first = [image.pk for image in reversed(images)]
    assert [i.pk for i in first.context["page"].images] == newest_first[:60]
    assert [i.pk for i in second.context["page"].images] == newest_first[60:]
    assert [i.pk for i in back.context["page"].images] == newest_first[:60]
    assert f"sort=newest&amp;after={first.context['page'].next_after}" in first.content.decode()


def test_grid_queries_do_not_grow_with_the_page(project, pool, annotator_client):
    def queries() -> int:
        with CaptureQueriesContext(connection) as context:
            annotator_client.get(reverse("labeling:images", args=[project.slug]), {"sort": "least-confident"})
        return len(context)

    few = queries()
    add_images(project, 30, start=12)
    assert queries() == few <= 16


@pytest.mark.parametrize(("query", "message"), [
    ({"min_confidence": "nan"}, "min_confidence"),
    ({"max_confidence": "1e-3"}, "max_confidence"),
    ({"min_confidence": "2"}, "min_confidence"),
    ({"min_confidence": "0.9", "max_confidence": "0.1"}, "min_confidence is above max_confidence"),
    ({"class": "9"}, "class: this project has no class 9"),
    ({"class": "x"}, "class"),
    ({"predicted": "7"}, "predicted: this project has no class 7"),
    ({"source": "robot"}, "source"),
    ({"state": "lost"}, "state"),
    ({"sort": "random"}, "sort"),
    ({"annotator": "oscar-outsider"}, "annotator: nobody named “oscar-outsider”"),
    ({"sort": "least-confident", "after": "12"}, "after: Not a position in this order"),
    ({"after": "5", "before": "9"}, "Give after or before, not both"),
])
def test_bad_query_values_get_a_400_that_names_the_field(project, pool, outsider, annotator_client, query, message):
    response = annotator_client.get(reverse("labeling:images", args=[project.slug]), query)

    assert response.status_code == 400
    assert message in response.content.decode()


def test_a_refused_query_is_the_apps_page_with_the_reason_and_a_way_back(project, pool, annotator_client):
    response = annotator_client.get(reverse("labeling:images", args=[project.slug]), {"sort": "confidence"})

    page = response.content.decode()
    assert response.status_code == 400 and response["Content-Type"].startswith("text/html")
    assert 'class="topbar"' in page and "sort:" in page
    assert f'href="{reverse("labeling:images", args=[project.slug])}"' in page  # the page without the query


def bulk(client, project, class_index, seen):
    body = {"class_index": class_index, "images": [{"image": pk, "expected_revision": rev} for pk, rev in seen]}
    return client.post(reverse("labeling:images_label", args=[project.slug]), json.dumps(body), content_type="application/json")


def test_outsiders_get_404_for_the_grid_the_detail_page_and_bulk_labels(project, pool, outsider_client):
    assert outsider_client.get(reverse("labeling:images", args=[project.slug])).status_code == 404
    assert outsider_client.get(reverse("labeling:image", args=[project.slug, pool[0].pk])).status_code == 404
    assert bulk(outsider_client, project, 0, [(pool[5].pk, None)]).status_code == 404
    assert not Annotation.objects.filter(image=pool[5]).exists()


def test_an_image_of_another_project_is_404_on_the_detail_page_and_in_bulk(project, other_project, pool, annotator_client):
    theirs = add_images(other_project, 1, start=20)[0]

    assert annotator_client.get(reverse("labeling:image", args=[project.slug, theirs.pk])).status_code == 404
    response = bulk(annotator_client, project, 0, [(pool[5].pk, None), (theirs.pk, None)])
    assert response.status_code == 404 and "detail" in response.json()
    assert not Annotation.objects.filter(image__in=[pool[5], theirs]).exists()  # nothing written


def test_detail_page_shows_history_and_the_current_and_previous_predictions(project, owner, annotator, pool, annotator_client):
    add_version(project, {pool[0]: (2, 0.81)})  # version 2 disagrees with the annotator's label
    annotation_submit(project=project, image=pool[0], label_class=project.classes.get(index=1), user=owner, expected_revision=1)

    response = annotator_client.get(reverse("labeling:image", args=[project.slug, pool[0].pk]))

    history = response.context["history"]
    assert [(e.user.username, e.label_class.name, e.previous_class and e.previous_class.name) for e in history] == [
        ("olivia-owner", "trouser", "shirt"), ("anna-annotator", "shirt", None),
    ]
    predictions = response.context["predictions"]
    assert [(p["version"].number, p["predicted"], p["current"]) for p in predictions] == [(2, "bag", True), (1, "shirt", False)]
    html = response.content.decode()
    assert "olivia-owner" in html and 'id="labeling-config"' in html and "js/browser.js" in html


def test_bulk_label_goes_through_annotation_submit_with_history_undo_and_conflicts(project, owner, annotator, pool, annotator_client):
    # pool[2] is the owner's label (revision 1); the annotator saw revision 0, so it is refused.
    body = bulk(annotator_client, project, 2, [(pool[5].pk, None), (pool[6].pk, None), (pool[2].pk, 0)]).json()

    assert body["labeled"] == [pool[5].pk, pool[6].pk]
    assert [c["image"] for c in body["conflicts"]] == [pool[2].pk] and "olivia-owner" in body["conflicts"][0]["detail"]
    assert set(Annotation.objects.filter(annotator=annotator, label_class__index=2).values_list("image_id", flat=True)) == {pool[5].pk, pool[6].pk}
    assert AnnotationEvent.objects.filter(user=annotator, image__in=[pool[5], pool[6]], action="labeled").count() == 2
    annotation_undo(project=project, user=annotator)  # the latest label of the selection comes back off
    assert not Annotation.objects.filter(image=pool[6]).exists()


@pytest.mark.parametrize("body", [
    {"class_index": 0, "images": []},
    {"class_index": 0, "images": [{"image": "x"}]},
    {"images": [{"image": 1}]},
])
def test_bulk_label_refuses_a_bad_body_with_a_detail(project, pool, annotator_client, body):
    response = annotator_client.post(
        reverse("labeling:images_label", args=[project.slug]), json.dumps(body), content_type="application/json"
    )
    assert response.status_code == 400 and response.json()["detail"]


# --- nearest neighbours --------------------------------------------------------------------------------


def store_embeddings(version, ids_, vectors):
    atomic_savez(embeddings_path(version), ids=np.asarray(ids_, dtype=np.int64), embeddings=np.asarray(vectors, dtype=np.float32))


def test_nearest_images_match_a_naive_cosine_ranking(project, pool):
    version = current_version(project)
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(len(pool), 16)).astype(np.float32)
    shuffled = rng.permutation(len(pool))  # stored in any order
    store_embeddings(version, [pool[i].pk for i in shuffled], vectors[shuffled])

    found = nearest_images(version, pool[3].pk, k=5)

    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    cosine = unit @ unit[3]
    naive = [i for i in np.argsort(-cosine) if i != 3][:5]
    assert [pk for pk, _ in found] == [pool[i].pk for i in naive]
    assert np.allclose([s for _, s in found], cosine[naive], atol=1e-5)


def test_nearest_images_is_none_without_embeddings_or_for_an_image_after_the_version(project, pool):
    version = current_version(project)
    assert nearest_images(version, pool[0].pk) is None
    store_embeddings(version, [image.pk for image in pool[:6]], np.eye(6, 8))
    assert nearest_images(version, pool[9].pk) is None
    assert len(nearest_images(version, pool[0].pk)) == 5


def test_index_cache_keeps_recent_versions_within_its_memory_budget(project, pool):
    versions = [add_version(project, {}) for _ in range(3)]
    for version in versions:
        store_embeddings(version, [image.pk for image in pool], np.ones((len(pool), 64)))
    one = EmbeddingIndex.build(np.arange(len(pool)), np.ones((len(pool), 64))).nbytes
    cache = IndexCache()

    for version in versions:
        assert cache.get(version, budget_bytes=2 * one) is not None
    assert len(cache) == 2  # the least recently used version left
    assert [key[0] for key in cache._entries] == [versions[1].pk, versions[2].pk]
    small = IndexCache()
    assert small.get(versions[0], budget_bytes=one - 1) is not None and len(small) == 0  # built, not kept


def test_detail_page_lists_neighbours_with_their_labels_and_checkboxes(project, pool, annotator_client):
    version = current_version(project)
    vectors = np.zeros((len(pool), 4))
    vectors[:, 0] = 1.0
    vectors[:, 1] = np.arange(len(pool)) / 10  # the farther the index, the less similar to image 0
    store_embeddings(version, [image.pk for image in pool], vectors)

    response = annotator_client.get(reverse("labeling:image", args=[project.slug, pool[0].pk]))

    neighbours = response.context["neighbours"]
    assert [n["image"].pk for n in neighbours] == [image.pk for image in pool[1:]]
    assert neighbours[0]["image"].annotation.label_class.name == "trouser"
    assert response.content.decode().count('class="neighbour-pick"') == len(pool) - 1
