"""Start/stop for owners, status for members, the panel on the project page; 404 for everyone else."""

from __future__ import annotations

import django_rq
import pytest
from django.urls import reverse

from labelapp.training import store

pytestmark = pytest.mark.django_db


def url(name: str, project) -> str:
    return reverse(f"training:{name}", kwargs={"slug": project.slug})


def test_owner_starts_and_stops_training(project, owner_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(url("start", project))
    assert response.status_code == 302
    project.refresh_from_db()
    assert project.training_enabled
    assert django_rq.get_queue(store.QUEUE_NAME).count == 1

    response = owner_client.post(url("stop", project), HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert response.json()["training_enabled"] is False and response.json()["queued"] is False


@pytest.mark.parametrize("client_name", ["reviewer_client", "annotator_client", "outsider_client"])
def test_only_owners_may_start_training_others_get_404(project, client_name, request):
    client = request.getfixturevalue(client_name)
    assert client.post(url("start", project)).status_code == 404
    assert client.post(url("stop", project)).status_code == 404
    project.refresh_from_db()
    assert not project.training_enabled


def test_start_needs_post(project, owner_client):
    assert owner_client.get(url("start", project)).status_code == 405


def test_members_read_the_status(project, annotator_client):
    store.progress_set(project.pk, {"type": "round.progress", "step": 10, "steps": 20, "fraction": 0.5, "losses": {}})
    status = annotator_client.get(url("status", project)).json()
    assert status == {
        "current_version": None,
        "version": None,
        "training_enabled": False,
        "running": False,
        "queued": False,
        "progress": {"type": "round.progress", "step": 10, "steps": 20, "fraction": 0.5, "losses": {}},
        "activity": "",
        "strategy": "pool-first",
        "strategy_in_force": "pool-first",
    }


def test_outsiders_get_404_for_the_status_of_a_project(project, outsider_client, other_project, annotator_client):
    assert outsider_client.get(url("status", project)).status_code == 404
    assert annotator_client.get(url("status", other_project)).status_code == 404


def test_the_project_page_shows_the_panel_with_owner_controls(project, owner_client, annotator_client):
    detail = reverse("projects:detail", kwargs={"slug": project.slug})
    page = owner_client.get(detail).content.decode()
    assert 'id="training-panel"' in page and "Start training" in page and "js/training.js" in page
    page = annotator_client.get(detail).content.decode()
    assert 'id="training-panel"' in page and "Start training" not in page


def test_an_owner_can_resume_training_that_is_on_but_idle(project, owner_client, django_capture_on_commit_callbacks):
    project.training_enabled = True  # e.g. the worker died mid-round: nothing runs, nothing is queued
    project.save()
    detail = reverse("projects:detail", kwargs={"slug": project.slug})
    page = owner_client.get(detail).content.decode()
    start_form = page.split('data-field="start"')[1].split(">")[0]
    assert "hidden" not in start_form
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(url("start", project))
    assert django_rq.get_queue(store.QUEUE_NAME).count == 1
    page = owner_client.get(detail).content.decode()
    assert "hidden" in page.split('data-field="start"')[1].split(">")[0]


@pytest.mark.parametrize(("fields", "shown"), [
    ({"kind": "pretrained", "steps": 0, "round_steps": 106, "pretrain_steps": 106},
     "the classifier is not trained yet (encoder pre-trained for 106 steps, cpu)"),
    ({"kind": "trained", "steps": 1629, "round_steps": 120}, "1629 in all (120 in the last round, cpu)"),
])
def test_the_panel_says_what_the_steps_of_the_current_version_are(project, owner_client, fields, shown):
    from django.utils import timezone

    from labelapp.training.models import ModelVersion

    version = ModelVersion.objects.create(project=project, number=1, algorithm="fixmatch", backbone="cnn-small",
                                          device="cpu", finished_at=timezone.now(), **fields)
    project.current_version = version
    project.save(update_fields=["current_version"])
    page = owner_client.get(reverse("projects:detail", kwargs={"slug": project.slug})).content.decode()
    assert shown in page
