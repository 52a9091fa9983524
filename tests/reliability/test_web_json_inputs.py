"""The web JSON endpoints and the pages' cursors validate what they are sent, like the REST API: numbers too
large for the database, infinities, non-ASCII digits and wrong types get a 400 with ``{"detail": ...}``
(the API's error shape), never a 500, and nothing changes."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from labelapp.labeling.models import Annotation, ImageLease, ImageSkip, ReviewDecision
from tests.labelapp.labeling.helpers import add_images, add_version

pytestmark = pytest.mark.django_db

# JSON texts (json.loads reads Infinity and 1e400 as float infinities) and strings of digits that str.isdigit()
# accepts but int() refuses (superscripts) or that name a number no bigint holds.
BAD_NUMBERS = ["Infinity", "-Infinity", "NaN", "1e400", "1" + "0" * 30, "-1" + "0" * 30, "1.5", '"\u0661\u0662"',
               '"\u00b2"', '"1e400"', "true", "null", "[1]", '{"a": 1}', '""']
BAD_QUERY_VALUES = ["\u00b2", "\u0661\u0662", "1" + "0" * 30, "1e400", "inf", "nan", "-1", "1:inf:2", "0:nan:1",
                    "1" + "0" * 30 + ":0.5:1", "0:0.5:" + "1" + "0" * 30, "inf:1", "0.5:" + "9" * 30, "x" * 5000]

# route → bodies with ``%s`` where the bad value goes; where the slot is a whole list or a nullable number,
# ``[1]`` or ``null`` are valid there and are not sent
LIST_SLOT, NULLABLE = {"[1]"}, {"null"}
BODIES = {
    "label/submit/": ['{"image": %s, "class_index": 0}', '{"image": IMAGE, "class_index": %s}',
                      ('{"image": IMAGE, "class_index": 0, "expected_revision": %s}', NULLABLE)],
    "label/next/": ['{"held": [%s]}', ('{"held": %s}', LIST_SLOT), '{"queue": %s}'],
    "label/skip/": ['{"image": %s}'],
    "label/release/": ['{"images": [%s]}', ('{"images": %s}', LIST_SLOT)],
    "review/decide/": ['{"version": %s, "accept": [IMAGE]}', '{"version": 1, "accept": [%s]}',
                       '{"version": 1, "reject": [%s]}', ('{"version": 1, "accept": %s}', LIST_SLOT)],
    "suspects/keep/": ['{"image": %s, "version": 1}', '{"image": IMAGE, "version": %s}'],
}
QUERIES = {"images/": ["after", "before"], "review/": ["class", "after"], "suspects/items/": ["after"]}


@pytest.fixture
def labeled_project(project, owner):
    images = add_images(project, 3)
    add_version(project, {image: (1, 0.99) for image in images})
    return project, images


def _snapshot() -> tuple:
    return (list(Annotation.objects.values_list("id", "label_class_id", "revision")),
            list(ImageLease.objects.values_list("image_id", "expires_at")), ImageSkip.objects.count(),
            ReviewDecision.objects.count())


@pytest.mark.parametrize("route,template", [(route, t) for route, ts in BODIES.items() for t in ts])
def test_it_answers_bad_numbers_in_a_body_with_a_400_and_changes_nothing(labeled_project, owner_client, route, template):
    project, images = labeled_project
    template, valid = template if isinstance(template, tuple) else (template, set())
    before = _snapshot()
    for number in sorted(set(BAD_NUMBERS) - valid):
        body = template.replace("IMAGE", str(images[0].pk)) % number
        response = owner_client.post(f"/p/{project.slug}/{route}", body, content_type="application/json")
        assert response.status_code == 400, (body, response.status_code, response.content[:300])
        assert set(response.json()) == {"detail"} and response.json()["detail"], body
    assert _snapshot() == before


@pytest.mark.parametrize("route,parameter", [(route, p) for route, ps in QUERIES.items() for p in ps])
def test_it_answers_bad_cursors_with_a_400(labeled_project, owner_client, route, parameter):
    project, _ = labeled_project
    for value in BAD_QUERY_VALUES:
        response = owner_client.get(f"/p/{project.slug}/{route}?{parameter}={quote(value)}")
        assert response.status_code == 400, (parameter, value, response.status_code)


@pytest.mark.parametrize("route,parameter", [(route, p) for route, ps in QUERIES.items() for p in ps])
def test_the_pages_still_take_their_own_cursors(labeled_project, owner_client, route, parameter):
    project, images = labeled_project
    value = {"after": str(images[0].pk), "before": str(images[-1].pk), "class": "1"}[parameter]
    if route != "images/" and parameter == "after":
        value = f"1:0.99:{images[0].pk}" if route == "review/" else f"0.99:{images[0].pk}"
    assert owner_client.get(f"/p/{project.slug}/{route}?{parameter}={value}").status_code == 200


def test_the_web_label_next_caps_held_ids_like_the_api(labeled_project, annotator_client, annotator):
    project, images = labeled_project
    held = list(range(1, 5001))
    response = annotator_client.post(f"/p/{project.slug}/label/next/", {"held": held}, content_type="application/json")
    assert response.status_code == 400 and "50" in response.json()["detail"]
    assert not ImageLease.objects.filter(user=annotator).exists()
    within = annotator_client.post(f"/p/{project.slug}/label/next/", {"held": [images[0].pk]}, content_type="application/json")
    assert within.status_code == 200 and within.json()["image"]["id"] != images[0].pk


def test_a_refused_request_answers_in_the_api_error_shape(labeled_project, annotator_client):
    """One shape for the pages' scripts and the API: ``{"detail": "..."}`` (labeling.js reads ``detail``)."""
    project, images = labeled_project
    not_json = annotator_client.post(f"/p/{project.slug}/label/submit/", "{", content_type="application/json")
    unknown = annotator_client.post(f"/p/{project.slug}/label/submit/", {"image": images[0].pk, "class_index": 9},
                                    content_type="application/json")
    assert not_json.status_code == 400 and set(not_json.json()) == {"detail"}
    assert unknown.status_code in (400, 404) and set(unknown.json()) == {"detail"}
