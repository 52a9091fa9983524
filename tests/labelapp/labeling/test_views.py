"""Pages and JSON endpoints: scoped to members (404 for everyone else), CSRF-checked, errors as JSON."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from labelapp.labeling import selectors
from labelapp.labeling.models import Annotation, AnnotationEvent, ReviewDecision
from labelapp.projects.models import LabelClass

from .helpers import add_images, add_version

PAGES = ["label", "low_confidence", "review", "suspects", "dashboard"]
REVIEWER_PAGES = ["review", "suspects"]
ACTIONS = ["next", "submit", "undo", "skip", "release", "prepare", "review_decide", "review_undo", "suspect_keep"]
REVIEWER_ACTIONS = ["review_decide", "review_undo", "suspect_keep"]
READS = ["state", "suspects_items"]


def url(name, project):
    return reverse(f"labeling:{name}", args=[project.slug])


def post(client, name, project, data=None):
    return client.post(url(name, project), json.dumps(data or {}), content_type="application/json")


@pytest.fixture
def images(project):
    return add_images(project, 4)


@pytest.fixture
def version(project, images):
    return add_version(project, {image: (i % 3, 0.99) for i, image in enumerate(images)})


@pytest.mark.parametrize("name", PAGES + READS)
def test_outsider_gets_404_for_every_page(project, version, outsider_client, name):
    assert outsider_client.get(url(name, project)).status_code == 404


@pytest.mark.parametrize("name", ACTIONS)
def test_outsider_gets_404_for_every_action(project, images, version, outsider_client, name):
    body = {"image": images[0].pk, "class_index": 0, "version": version.number, "accept": [images[0].pk]}
    assert post(outsider_client, name, project, body).status_code == 404
    assert not Annotation.objects.exists() and not ReviewDecision.objects.exists()


@pytest.mark.parametrize("name", REVIEWER_PAGES)
def test_annotator_gets_404_for_review_pages(project, version, annotator_client, name):
    assert annotator_client.get(url(name, project)).status_code == 404


@pytest.mark.parametrize("name", REVIEWER_ACTIONS)
def test_annotator_gets_404_for_review_actions(project, images, version, annotator_client, name):
    body = {"image": images[0].pk, "version": version.number, "accept": [images[0].pk]}
    assert post(annotator_client, name, project, body).status_code == 404
    assert not Annotation.objects.exists()


def test_anonymous_visitor_is_sent_to_login(client, project):
    response = client.get(url("label", project))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_an_image_of_another_project_is_404(project, other_project, annotator_client, outsider):
    foreign = add_images(other_project, 1, start=50)[0]
    response = post(annotator_client, "submit", project, {"image": foreign.pk, "class_index": 0})
    assert response.status_code == 404 and not Annotation.objects.exists()


@pytest.mark.parametrize("name", PAGES)
def test_reviewer_sees_every_page(project, version, reviewer_client, name):
    assert reviewer_client.get(url(name, project)).status_code == 200


def test_label_flow_over_http(project, images, annotator_client):
    first = post(annotator_client, "next", project).json()["image"]
    second = post(annotator_client, "next", project, {"held": [first["id"]]}).json()["image"]
    assert first["id"] != second["id"] and first["url"].endswith(f"/images/{first['id']}/file/")
    saved = post(annotator_client, "submit", project, {"image": first["id"], "class_index": 2, "expected_revision": None})
    assert saved.status_code == 200 and saved.json()["revision"] == 1
    assert Annotation.objects.get(image_id=first["id"]).label_class.name == "bag"
    undone = post(annotator_client, "undo", project).json()["image"]
    assert undone["id"] == first["id"] and not Annotation.objects.exists()
    assert post(annotator_client, "skip", project, {"image": second["id"]}).status_code == 200


def test_a_conflicting_submit_is_409_with_a_clear_message(project, images, annotator_client, reviewer_client):
    post(reviewer_client, "submit", project, {"image": images[0].pk, "class_index": 1})
    response = post(annotator_client, "submit", project, {"image": images[0].pk, "class_index": 2})
    assert response.status_code == 409
    assert "rita-reviewer already labeled this image “trouser”" in response.json()["detail"]


def test_bad_input_is_400_not_500(project, images, annotator_client):
    assert post(annotator_client, "submit", project, {"class_index": 0}).status_code == 400
    response = annotator_client.post(url("submit", project), "not json", content_type="application/json")
    assert response.status_code == 400
    assert post(annotator_client, "next", project, {"queue": "elsewhere"}).status_code == 400


def test_posts_need_the_csrf_token(project, images, annotator):
    client = Client(enforce_csrf_checks=True)
    client.force_login(annotator)
    response = client.post(url("submit", project), json.dumps({"image": images[0].pk, "class_index": 0}), content_type="application/json")
    assert response.status_code == 403 and not Annotation.objects.exists()


def test_the_models_guess_is_shown_only_when_the_project_turns_it_on(project, version, annotator_client):
    assert post(annotator_client, "next", project).json()["image"]["guess"] is None
    project.show_model_guess = True
    project.save()
    guess = post(annotator_client, "next", project).json()["image"]["guess"]
    assert guess is not None and guess["confidence"] == 0.99


def test_review_decide_accepts_and_rejects(project, images, version, reviewer_client):
    response = post(
        reviewer_client, "review_decide", project,
        {"version": version.number, "accept": [images[0].pk, images[1].pk], "reject": [images[2].pk]},
    )
    assert response.json() == {"accepted": 2, "rejected": 1}


def test_review_page_groups_by_predicted_class(project, images, version, reviewer_client):
    html = reviewer_client.get(url("review", project)).content.decode()
    assert html.index("<h2>shirt") < html.index("<h2>trouser") < html.index("<h2>bag")
    assert html.count('class="tile"') == 4


def test_suspects_page_relabel_with_seen_revision(project, images, version, annotator_client, reviewer_client):
    post(annotator_client, "submit", project, {"image": images[1].pk, "class_index": 0})  # model says trouser
    items = reviewer_client.get(url("suspects_items", project)).json()["items"]
    assert [item["image_id"] for item in items] == [images[1].pk]
    response = post(
        reviewer_client, "submit", project,
        {"image": images[1].pk, "class_index": 1, "expected_revision": items[0]["revision"]},
    )
    assert response.status_code == 200 and reviewer_client.get(url("suspects_items", project)).json()["items"] == []


def test_project_page_panel_links_queues_with_counts(project, version, reviewer_client):
    html = reviewer_client.get(reverse("projects:detail", args=[project.slug])).content.decode()
    assert url("review", project) in html and url("suspects", project) in html and url("dashboard", project) in html


def test_dashboard_shows_database_counts(project, images, version, annotator_client, reviewer_client):
    post(annotator_client, "submit", project, {"image": images[0].pk, "class_index": 0})
    post(reviewer_client, "review_decide", project, {"version": version.number, "accept": [images[1].pk], "reject": [images[2].pk]})
    html = reviewer_client.get(url("dashboard", project)).content.decode()
    assert 'data-total="human">1<' in html and 'data-total="pseudo">1<' in html and 'data-total="rejected">1<' in html
    assert "<svg" in html and "Labels over time" in html


def test_dashboard_draws_accuracy_per_class_and_confusion_from_version_metrics(project, images, reviewer_client):
    for _number, (humans, accuracy) in enumerate([(10, 0.55), (40, 0.81)], start=1):
        version = add_version(project, {images[0]: (0, 0.9)})
        version.human_labels = humans
        version.metrics = {
            "running_accuracy": accuracy, "running_count": humans, "holdout_accuracy": None, "holdout_count": 0,
            "per_class": {"shirt": {"precision": 0.9, "recall": 0.75, "support": 12}},
            "confusion": [[9, 2, 1], [0, 7, 0], [1, 0, 5]], "pseudo_label_rate": 0.4,
        }
        version.save()
    html = reviewer_client.get(url("dashboard", project)).content.decode()
    assert html.count("<circle") >= 2 and "running accuracy: 81% at 40" in html
    assert "true shirt, predicted trouser: 2" in html and "0.75" in html


def test_image_ids_of_another_project_are_ignored_by_review_decisions(project, other_project, version, reviewer_client, outsider):
    foreign = add_images(other_project, 1, start=60)[0]
    LabelClass.objects.create(project=other_project, index=1, name="dog", hotkey="2")
    foreign_version = add_version(other_project, {foreign: (0, 0.99)})
    for decision in ("accept", "reject"):
        response = post(reviewer_client, "review_decide", project, {"version": version.number, decision: [foreign.pk]})
        assert response.json() == {"accepted": 0, "rejected": 0} and foreign_version.number == 1
    assert not Annotation.objects.exists() and not ReviewDecision.objects.exists()


def test_class_hotkeys_follow_the_projects_mapping_and_default_to_their_position(project, annotator_client):
    project.classes.filter(index=0).update(hotkey="s")
    project.classes.filter(index=2).update(hotkey="")
    html = annotator_client.get(url("label", project)).content.decode()
    config = json.loads(html.split('id="labeling-config" type="application/json">')[1].split("</script>")[0])
    assert [(c["name"], c["key"]) for c in config["classes"]] == [("shirt", "s"), ("trouser", "2"), ("bag", "3")]


def test_prepare_builds_the_queue_order_of_the_current_version(project, images, version, annotator_client):
    assert post(annotator_client, "prepare", project).json() == {"version": version.number, "size": len(images)}


def test_counts_are_fresh_right_after_a_review_a_label_and_an_undo(
    project, images, version, reviewer_client, django_capture_on_commit_callbacks
):
    def counts() -> dict:
        return reviewer_client.get(url("state", project)).json()

    assert counts()["pseudo"] == 0  # cached now, for 10 s
    with django_capture_on_commit_callbacks(execute=True):
        post(reviewer_client, "review_decide", project, {"version": version.number, "accept": [images[0].pk], "reject": [images[1].pk]})
    after_review = counts()
    assert (after_review["pseudo"], after_review["rejected"]) == (1, 1)
    with django_capture_on_commit_callbacks(execute=True):
        post(reviewer_client, "submit", project, {"image": images[2].pk, "class_index": 0})
    assert counts()["human"] == 1
    with django_capture_on_commit_callbacks(execute=True):
        post(reviewer_client, "undo", project)
    assert counts()["human"] == 0


def test_counts_served_aged_are_recounted_after_the_response_so_the_next_page_needs_no_recount(
    project, images, version, reviewer_client, annotator_client, django_capture_on_commit_callbacks, monkeypatch
):
    def counts() -> tuple[dict, int]:
        with CaptureQueriesContext(connection) as queries:
            response = reviewer_client.get(url("state", project))
        return response.json(), sum('COUNT(' in q["sql"] for q in queries.captured_queries)

    assert counts()[0]["human"] == 0
    with django_capture_on_commit_callbacks(execute=True):
        post(annotator_client, "submit", project, {"image": images[0].pk, "class_index": 0})  # someone else's
    served, recounted_in_request = counts()
    assert served["human"] == 0 and recounted_in_request == 0  # < 5 s old: served as they are
    monkeypatch.setattr(selectors, "COUNTS_REFRESH_AHEAD_SECONDS", 0.0)
    served, recounted_in_request = counts()
    assert served["human"] == 0 and recounted_in_request > 0  # the old counts went out, then the recount ran
    monkeypatch.setattr(selectors, "COUNTS_REFRESH_AHEAD_SECONDS", 5.0)
    refreshed, recounted_in_request = counts()
    assert refreshed["human"] == 1 and recounted_in_request == 0  # the next page found the fresh counts cached


def test_a_reviewer_undoes_the_page_they_just_decided_but_not_older_or_changed_decisions(
    project, images, version, reviewer_client, annotator_client
):
    post(reviewer_client, "review_decide", project, {"version": version.number, "accept": [images[0].pk, images[1].pk], "reject": [images[2].pk]})
    post(annotator_client, "submit", project, {"image": images[1].pk, "class_index": 2, "expected_revision": 0})  # relabeled since
    undone = post(reviewer_client, "review_undo", project, {"images": [images[0].pk, images[1].pk, images[2].pk]}).json()
    assert undone == {"unaccepted": 1, "unrejected": 1}
    assert not Annotation.objects.filter(image=images[0]).exists()
    assert Annotation.objects.get(image=images[1]).source == "human"  # the annotator's label stays
    assert not ReviewDecision.objects.filter(image=images[2]).exists()

    post(reviewer_client, "review_decide", project, {"version": version.number, "accept": [images[3].pk]})
    AnnotationEvent.objects.filter(image=images[3]).update(created_at=timezone.now() - timedelta(seconds=61))
    assert post(reviewer_client, "review_undo", project, {"images": [images[3].pk]}).json() == {"unaccepted": 0, "unrejected": 0}
    assert Annotation.objects.filter(image=images[3], source="pseudo").exists()  # over a minute old: kept
