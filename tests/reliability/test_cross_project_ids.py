"""Every URL of the app (walked from ``get_resolver()``, so routes added later are covered too), asked
with another project's ids, by an outsider, and anonymously: 404 (or 302 to login / 401 for
anonymous visitors, the same for a real and an unknown slug), and no row of the database changes.

Objects: images, annotations, predictions, model versions (by number), memberships, exports (a
model export of another project's version number), distillations, background exports, training switches; RQ job ids are never exposed.
"""

from __future__ import annotations

import json

import pytest
from django.apps import apps
from django.test import Client
from django.urls import get_resolver

from labelapp.exports.models import Distillation, ExportJob
from labelapp.images.services import image_add
from labelapp.labeling.models import Annotation, Source
from labelapp.projects.models import Membership, Project, Role
from labelapp.projects.services import invitation_create
from labelapp.training.models import ModelVersion, Prediction
from tests.helpers import fill, snapshot, walk
from tests.labelapp.images.helpers import demo_pngs

PROJECT_APPS = {"projects", "images", "labeling", "training", "exports", "api"}
USER_ROWS = {"api.ApiToken"}  # a user's, not a project's: their isolation is test_api_tokens.py's
METHODS = ("get", "post", "put", "patch", "delete")


def routes() -> list[str]:
    found = [r for r in walk(get_resolver().url_patterns) if not r.startswith(("admin/", "static/", "media/"))]
    assert any(r.startswith("p/") for r in found) and any(r.startswith("api/projects/") for r in found)
    return found


def scoped_routes() -> list[str]:
    """Routes that name a project (slug) and/or an object id."""
    return [r for r in routes() if "<" in r and not r.startswith("accounts/")]


def id_routes() -> list[str]:
    return [r for r in scoped_routes() if "<int:" in r]


def body_with(ids: list[int], version: int) -> dict:
    """A JSON body naming the ids under every key the app's endpoints read."""
    return {"image": ids[0], "images": ids, "accept": ids, "reject": ids, "held": ids, "version": version,
            "class_index": 0, "queue": "label", "expected_revision": 1}


def add_version(project: Project, number: int) -> ModelVersion:
    version = ModelVersion.objects.create(project=project, number=number, algorithm="fixmatch", backbone="cnn-small",
                                          checkpoint=f"{project.pk}/v{number}.pt")
    Prediction.objects.bulk_create(
        Prediction(version=version, image=image, predicted_index=0, confidence=0.99, margin=0.9, entropy=0.1,
                   probs=[0.99, 0.01]) for image in project.images.all()
    )
    return version


@pytest.fixture
def two_projects(project, other_project, reviewer):
    """``clothes`` (2 images, both labeled, version 1) and ``elsewhere`` (3 images, versions 1-3, a label)."""
    pngs = demo_pngs(5)
    for name, data in pngs[:2]:
        image, _ = image_add(project=project, name=name, data=data)
        Annotation.objects.create(project=project, image=image, label_class=project.classes.first(), source=Source.HUMAN)
    for name, data in pngs[2:]:
        image_add(project=other_project, name=name, data=data)
    Annotation.objects.create(project=other_project, image=other_project.images.first(),
                              label_class=other_project.classes.first())
    Membership.objects.create(project=other_project, user=reviewer, role=Role.ANNOTATOR)
    project.current_version = add_version(project, 1)
    project.save()
    for number in (1, 2, 3):
        other_project.current_version = add_version(other_project, number)
    other_project.save()
    Distillation.objects.create(project=other_project, version=other_project.current_version, student="cnn-dw")
    invitation_create(project=other_project, username="pending-elsewhere", role=Role.ANNOTATOR,
                      invited_by=other_project.created_by)
    ExportJob.objects.create(project=other_project, kind=ExportJob.Kind.LABELS, options={"format": "csv"})
    return project, other_project


def rows_of(project: Project) -> dict[str, list[str]]:
    """Every row that belongs to ``project``, model by model."""
    paths = ("project", "version__project", "image__project", "order__project")
    rows = {"projects.Project": [repr(Project.objects.filter(pk=project.pk).values().first())]}
    for model in apps.get_models():
        if model._meta.app_label not in PROJECT_APPS or model is Project or model._meta.label in USER_ROWS:
            continue
        names = {f.name for f in model._meta.get_fields()}
        path = next((p for p in paths if p.split("__")[0] in names), None)
        assert path is not None, f"{model._meta.label}: no way to its project; teach rows_of()"
        rows[model._meta.label] = sorted(map(repr, model.objects.filter(**{path: project}).values()))
    return rows


def ask(client: Client, method: str, url: str, body: dict | None):
    if method == "get" or body is None:
        return getattr(client, method)(url)
    return getattr(client, method)(url, json.dumps(body), content_type="application/json")


def test_a_member_asking_for_another_projects_ids_in_urls_gets_404_and_nothing_changes(two_projects, owner_client):
    mine, theirs = two_projects
    foreign = {
        "image_id": list(theirs.images.values_list("pk", flat=True)),
        "membership_id": list(theirs.memberships.values_list("pk", flat=True)),
        "number": [2, 3],  # versions that exist only in the other project
        "distillation_id": list(theirs.distillations.values_list("pk", flat=True)),
        "invitation_id": list(theirs.invitations.values_list("pk", flat=True)),
        "export_id": list(theirs.export_jobs.values_list("pk", flat=True)),
    }
    before = snapshot()
    answers = {}
    for route in id_routes():
        name = next(key for key in foreign if f":{key}>" in route)
        for some_id in foreign[name]:
            url = fill(route, {"slug": mine.slug, "id": str(some_id)})
            for method in METHODS:
                status = ask(owner_client, method, url, body_with(foreign["image_id"], 3)).status_code
                if status not in (404, 405):
                    answers[f"{method.upper()} {url}"] = status
    assert answers == {}
    assert snapshot() == before


def test_another_projects_ids_in_request_bodies_are_refused_or_ignored(two_projects, owner_client):
    mine, theirs = two_projects
    foreign_images = list(theirs.images.values_list("pk", flat=True))
    theirs_before, mine_before = rows_of(theirs), rows_of(mine)
    answers = {}
    for route in scoped_routes():
        if "<int:" in route:
            continue
        url = fill(route, {"slug": mine.slug, "id": "0"})
        if "/training/" in url:
            continue  # switches of this project, no ids: covered by the outsider test below
        response = ask(owner_client, "post", url, body_with(foreign_images, 3))
        answers[url] = response.status_code
        assert response.status_code < 500, (url, response.content[:300])
    assert rows_of(theirs) == theirs_before
    derived = {"labeling.QueueOrder", "labeling.QueueRank"}  # the label queue's precomputed order, built on demand
    assert {k: v for k, v in rows_of(mine).items() if k not in derived} == {
        k: v for k, v in mine_before.items() if k not in derived}
    for url in (f"/p/{mine.slug}/label/submit/", f"/p/{mine.slug}/label/skip/", f"/p/{mine.slug}/suspects/keep/",
                f"/api/projects/{mine.slug}/annotations/"):
        assert answers[url] == 404, (url, answers[url])
    for url in (f"/p/{mine.slug}/review/decide/", f"/api/projects/{mine.slug}/pseudo-labels/"):
        assert answers[url] in (400, 404, 409) or not Annotation.objects.filter(image__in=foreign_images, source=Source.PSEUDO).exists()


def test_an_outsider_gets_404_for_every_scoped_url_with_any_body_and_nothing_changes(two_projects, outsider_client):
    mine, _ = two_projects
    ids = {"image_id": list(mine.images.values_list("pk", flat=True)),
           "membership_id": list(mine.memberships.values_list("pk", flat=True)), "number": [1]}
    before = snapshot()
    answers = {}
    for route in scoped_routes():
        name = next((key for key in ids if f":{key}>" in route), "image_id")
        url = fill(route, {"slug": mine.slug, "id": str(ids[name][0])})
        for method in METHODS:
            status = ask(outsider_client, method, url, body_with(ids["image_id"], 1)).status_code
            if status not in (404, 405):
                answers[f"{method.upper()} {url}"] = status
    assert answers == {}
    assert snapshot() == before


def test_anonymous_visitors_are_sent_to_log_in_the_same_way_for_real_and_unknown_projects(two_projects, client):
    mine, _ = two_projects
    image_id = str(mine.images.first().pk)
    before = snapshot()
    for route in scoped_routes():
        real, unknown = (fill(route, {"slug": slug, "id": image_id}) for slug in (mine.slug, "no-such-project"))
        for method in ("get", "post"):
            answer = ask(client, method, real, {"image": int(image_id), "class_index": 0})
            twin = ask(client, method, unknown, {"image": int(image_id), "class_index": 0})
            assert answer.status_code == twin.status_code, (method, real)
            if real.startswith("/api/"):
                assert answer.status_code == 401, (method, real, answer.status_code)
            else:
                assert answer.status_code in (302, 405), (method, real, answer.status_code)
                if answer.status_code == 302:
                    assert answer["Location"].startswith("/accounts/login/")
    assert snapshot() == before


def test_no_url_exposes_job_ids_or_the_queue_dashboard(owner_client):
    assert not [r for r in routes() if "job" in r.lower() or "rq" in r.lower()]
    assert owner_client.get("/django-rq/").status_code == 404
