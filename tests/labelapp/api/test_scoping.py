"""Every endpoint with the shared cast: outsiders and members below the action's role get 404 (never
403), ids of another project are 404, and allowed roles get through."""

from __future__ import annotations

import pytest

from labelapp.images.models import Image
from labelapp.images.services import image_add
from labelapp.labeling.models import Annotation
from tests.labelapp.exports.helpers import class_pixels, png

ROLES = ["annotator", "reviewer", "owner"]
# (method, path under /api/projects/clothes/, minimum role, body)
ENDPOINTS = [
    ("get", "", "annotator", None),
    ("get", "classes/", "annotator", None),
    ("get", "images/", "annotator", None),
    ("post", "images/", "reviewer", "upload"),
    ("get", "images/{image}/", "annotator", None),
    ("get", "images/{image}/file/", "annotator", None),
    ("get", "images/{image}/thumbnail/", "annotator", None),
    ("post", "images/next/", "annotator", {}),
    ("get", "annotations/", "annotator", None),
    ("post", "annotations/", "annotator", {"image": "{image}", "class_index": 1}),
    ("get", "pseudo-labels/", "reviewer", None),
    ("post", "pseudo-labels/", "reviewer", {"version": 1, "reject": ["{image}"]}),
    ("get", "versions/", "annotator", None),
    ("get", "versions/1/", "annotator", None),
    ("get", "versions/1/predictions/", "reviewer", None),
    ("get", "exports/labels/?format=csv", "owner", None),
    ("get", "exports/model/?format=onnx", "owner", None),
    ("post", "training/start/", "owner", None),
    ("post", "training/stop/", "owner", None),
]


def call(client, method: str, path: str, body, image_id: int, slug: str = "clothes"):
    url = f"/api/projects/{slug}/" + path.replace("{image}", str(image_id))
    if body == "upload":
        return client.post(url, {"file": _upload()}, format="multipart")
    if isinstance(body, dict):
        body = {k: (image_id if v == "{image}" else [image_id] if v == ["{image}"] else v) for k, v in body.items()}
        return client.post(url, body, format="json")
    return getattr(client, method)(url)


def _upload():
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("new.png", png(class_pixels("bag", 1, start=100)[0]), content_type="image/png")


@pytest.mark.parametrize(("method", "path", "minimum", "body"), ENDPOINTS)
def test_outsiders_and_members_below_the_role_get_404(trained_project, api, outsider, annotator, reviewer, method, path, minimum, body) -> None:
    image_id = Image.objects.filter(project=trained_project, annotation__isnull=True).values_list("id", flat=True).first()
    users = {"annotator": annotator, "reviewer": reviewer}
    denied = [outsider] + [users[role] for role in ROLES[: ROLES.index(minimum)]]
    for user in denied:
        response = call(api(user), method, path, body, image_id)
        assert response.status_code == 404, (user.username, response.status_code, response.content[:200])


@pytest.mark.parametrize(("method", "path", "minimum", "body"), [e for e in ENDPOINTS if "exports/model" not in e[1]])
def test_members_with_the_role_get_through(trained_project, api, owner, annotator, reviewer, method, path, minimum, body) -> None:
    unlabeled = list(Image.objects.filter(project=trained_project, annotation__isnull=True).values_list("id", flat=True))
    users = {"annotator": annotator, "reviewer": reviewer, "owner": owner}
    for position, role in enumerate(ROLES[ROLES.index(minimum):]):  # one image each: nobody overwrites another
        response = call(api(users[role]), method, path, body, unlabeled[position])
        assert response.status_code in (200, 201), (role, response.status_code, response.content[:300])


@pytest.mark.parametrize("path", ["", "classes/", "images/", "annotations/", "versions/", "exports/labels/?format=csv"])
def test_members_of_one_project_get_404_for_another_projects_slug(project, other_project, api, owner, path) -> None:
    assert api(owner).get(f"/api/projects/{other_project.slug}/{path}").status_code == 404


def test_ids_of_another_project_are_404_or_ignored(trained_project, other_project, api, owner, outsider) -> None:
    foreign, _ = image_add(project=other_project, name="cat.png", data=png(class_pixels("shirt", 1, start=150)[0]))
    client = api(owner)
    for suffix in ("", "file/", "thumbnail/"):
        assert client.get(f"/api/projects/clothes/images/{foreign.pk}/{suffix}").status_code == 404
    response = client.post("/api/projects/clothes/annotations/", {"image": foreign.pk, "class_index": 0}, format="json")
    assert response.status_code == 404
    response = client.post("/api/projects/clothes/pseudo-labels/", {"version": 1, "accept": [foreign.pk]}, format="json")
    assert response.json() == {"accepted": 0, "rejected": 0}
    assert not Annotation.objects.filter(image=foreign).exists()
    assert client.get("/api/projects/clothes/versions/2/").status_code == 404
    assert client.get("/api/projects/clothes/versions/2/predictions/").status_code == 404
