"""What each endpoint returns and does, its validation errors (with clear messages) and pagination."""

from __future__ import annotations

import csv
import io
import zipfile

from django.core.files.uploadedfile import SimpleUploadedFile

from labelapp.images.models import Image
from labelapp.labeling.models import Annotation, ReviewDecision, Source
from labelapp.labeling.selectors import review_queue
from labelapp.projects.models import Project
from labelapp.training.models import Prediction
from tests.labelapp.exports.helpers import METRICS, class_pixels, png

BASE = "/api/projects/clothes/"


def upload(data: bytes, name: str = "x.png") -> dict:
    return {"file": SimpleUploadedFile(name, data, content_type="image/png")}


def all_pages(client, url: str) -> list[dict]:
    results = []
    while url:
        page = client.get(url).json()
        results += page["results"]
        url = page["next"]
    return results


def test_project_detail_lists_classes_and_the_current_version(trained_project, api, reviewer) -> None:
    data = api(reviewer).get(BASE).json()
    assert data["classes"] == [
        {"index": 0, "name": "shirt", "hotkey": "1"}, {"index": 1, "name": "trouser", "hotkey": "2"},
        {"index": 2, "name": "bag", "hotkey": "3"},
    ]
    assert data["current_version"] == 1 and data["role"] == "reviewer" and data["threshold"] == trained_project.threshold


def test_images_are_cursor_paginated_without_repeats(trained_project, api, annotator) -> None:
    client = api(annotator)
    first = client.get(BASE + "images/?page_size=5").json()
    assert len(first["results"]) == 5 and first["next"] and first["previous"] is None
    ids = [image["id"] for image in all_pages(client, BASE + "images/?page_size=5")]
    assert ids == list(Image.objects.filter(project=trained_project).order_by("id").values_list("id", flat=True))
    assert len(client.get(BASE + "images/").json()["results"]) == 24  # default page size 50


def test_image_filters_and_labels(trained_project, api, annotator) -> None:
    client = api(annotator)
    labeled = all_pages(client, BASE + "images/?labeled=true")
    assert len(labeled) == 11 and all(image["label"]["source"] in ("human", "pseudo") for image in labeled)
    assert len(all_pages(client, BASE + "images/?labeled=false")) == 13
    response = client.get(BASE + "images/?labeled=maybe")
    assert response.status_code == 400 and response.json() == {"labeled": ['"maybe" is not a valid choice.']}
    image = labeled[0]
    assert image["file_url"] == f"http://testserver/api/projects/clothes/images/{image['id']}/file/"
    stored = Image.objects.get(pk=image["id"])
    response = client.get(image["file_url"])
    with stored.file.open("rb") as handle:
        assert b"".join(response.streaming_content) == handle.read()
    assert response["Content-Type"] == "image/png" and response["X-Content-Type-Options"] == "nosniff"
    thumbnail = client.get(image["thumbnail_url"])
    assert thumbnail.status_code == 200 and thumbnail["Content-Type"] == "image/png"


def test_upload_stores_a_new_image_and_reports_a_duplicate(trained_project, api, reviewer) -> None:
    client = api(reviewer)
    data = png(class_pixels("bag", 1, start=120)[0])
    first = client.post(BASE + "images/", upload(data, "new.png"), format="multipart")
    assert first.status_code == 201 and first.json()["created"] is True
    assert first.json()["image"]["original_name"] == "new.png" and first.json()["image"]["label"] is None
    again = client.post(BASE + "images/", upload(data, "copy.png"), format="multipart")
    assert again.status_code == 200 and again.json()["created"] is False
    assert again.json()["image"]["id"] == first.json()["image"]["id"]


def test_upload_refuses_bad_files_with_the_reason(trained_project, api, owner) -> None:
    client = api(owner)
    response = client.post(BASE + "images/", upload(b"<html><script>alert(1)</script></html>"), format="multipart")
    assert response.status_code == 400
    assert response.json() == {"file": ["not an image (content is not a recognised image format)"]}
    response = client.post(BASE + "images/", {}, format="multipart")
    assert response.status_code == 400 and response.json() == {"file": ["No file was submitted."]}
    response = client.post(BASE + "images/", {"file": "text"}, format="json")
    assert response.status_code == 415


def test_upload_of_several_files_answers_one_result_per_file_like_the_upload_page(trained_project, api, reviewer) -> None:
    client = api(reviewer)
    pixels = class_pixels("bag", 3, start=130)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("bag/in-zip.png", png(pixels[2]))
    files = [
        SimpleUploadedFile("a.png", png(pixels[0]), content_type="image/png"),
        SimpleUploadedFile("a-again.png", png(pixels[0]), content_type="image/png"),
        SimpleUploadedFile("page.html", b"<html></html>", content_type="text/html"),
        SimpleUploadedFile("b.png", png(pixels[1]), content_type="image/png"),
        SimpleUploadedFile("more.zip", archive.getvalue(), content_type="application/zip"),
    ]
    before = Image.objects.filter(project=trained_project).count()
    response = client.post(BASE + "images/", {"files": files, "labels_from_folders": "true"}, format="multipart")
    assert response.status_code == 200
    body = response.json()
    assert (body["added"], body["duplicates"], body["refused"], body["labeled"]) == (3, 1, 1, 1)
    assert [(r["name"], r["status"]) for r in body["results"]] == [
        ("a.png", "added"), ("a-again.png", "duplicate"), ("page.html", "refused"), ("b.png", "added"),
        ("in-zip.png", "added"),
    ]
    assert "not an image" in body["results"][2]["reason"]
    assert Image.objects.filter(project=trained_project).count() == before + 3
    assert Annotation.objects.get(image_id=body["results"][4]["image_id"]).label_class.name == "bag"
    one, two = (SimpleUploadedFile(f"{n}.png", png(pixels[0]), content_type="image/png") for n in "xy")
    both = client.post(BASE + "images/", {"file": one, "files": [two]}, format="multipart")
    assert both.status_code == 400 and "not both" in both.json()["files"][0]


def test_next_image_leases_an_unlabeled_image_which_the_caller_then_labels(trained_project, api, annotator) -> None:
    client = api(annotator)
    served = client.post(BASE + "images/next/", {}, format="json").json()
    assert served["image"]["label"] is None and served["lease"]["token"]
    response = client.post(BASE + "annotations/", {"image": served["image"]["id"], "class_index": 2}, format="json")
    assert response.status_code == 201
    assert response.json()["label"] == "bag" and response.json()["annotator"] == annotator.username
    again = client.post(BASE + "annotations/", {"image": served["image"]["id"], "class_index": 2}, format="json")
    assert again.status_code == 200 and again.json()["revision"] == 1  # idempotent
    assert client.post(BASE + "images/next/", {"queue": "nope"}, format="json").json() == {
        "queue": ['"nope" is not a valid choice.']
    }


def test_next_image_is_null_when_the_queue_is_empty(project, api, annotator) -> None:
    assert api(annotator).post(BASE + "images/next/", {}, format="json").json() == {"image": None, "lease": None}


def test_labeling_over_someone_elses_label_is_a_409_with_a_message(trained_project, api, reviewer) -> None:
    theirs = Annotation.objects.filter(project=trained_project, annotator__username="anna-annotator").first()
    client = api(reviewer)
    response = client.post(BASE + "annotations/", {"image": theirs.image_id, "class_index": 0}, format="json")
    assert response.status_code == 409 and "already labeled this image" in response.json()["detail"]
    body = {"image": theirs.image_id, "class_index": 0, "expected_revision": theirs.revision}
    assert client.post(BASE + "annotations/", body, format="json").status_code == 200


def test_annotation_validation_errors_are_clear(trained_project, api, annotator) -> None:
    client = api(annotator)
    image = Image.objects.filter(project=trained_project, annotation__isnull=True).first()
    assert client.post(BASE + "annotations/", {"image": image.pk, "class_index": 9}, format="json").json() == {
        "class_index": ["No class with this index in the project."]
    }
    assert client.post(BASE + "annotations/", {"class_index": "x"}, format="json").json() == {
        "image": ["This field is required."], "class_index": ["A valid integer is required."]
    }
    assert client.post(BASE + "annotations/", [1, 2], format="json").status_code == 400
    assert client.get(BASE + "annotations/?source=robot").json() == {"source": ['"robot" is not a valid choice.']}


def test_annotations_list_and_filter(trained_project, api, annotator) -> None:
    client = api(annotator)
    everything = all_pages(client, BASE + "annotations/?page_size=4")
    assert len(everything) == 11
    pseudo = all_pages(client, BASE + "annotations/?source=pseudo")
    assert len(pseudo) == 2 and all(row["confidence"] >= trained_project.threshold for row in pseudo)
    one = client.get(BASE + f"annotations/?image={everything[0]['image']}").json()["results"]
    assert [row["id"] for row in one] == [everything[0]["id"]]


def test_reviewers_see_and_decide_pseudo_labels(trained_project, api, reviewer) -> None:
    client = api(reviewer)
    waiting = all_pages(client, BASE + "pseudo-labels/")
    expected = review_queue(trained_project, version=trained_project.current_version)
    assert sorted(row["image"] for row in waiting) == sorted(expected.values_list("image_id", flat=True))
    assert all(row["confidence"] >= trained_project.threshold and row["version"] == 1 for row in waiting)
    accept, reject = waiting[0]["image"], waiting[1]["image"]
    response = client.post(BASE + "pseudo-labels/", {"version": 1, "accept": [accept], "reject": [reject]}, format="json")
    assert response.json() == {"accepted": 1, "rejected": 1}
    assert Annotation.objects.get(image_id=accept).source == Source.PSEUDO
    assert ReviewDecision.objects.filter(image_id=reject, kind="rejected").exists()
    by_class = client.get(BASE + f"pseudo-labels/?class_index={waiting[2]['predicted_index']}").json()["results"]
    assert by_class and {row["predicted_index"] for row in by_class} == {waiting[2]["predicted_index"]}


def test_pseudo_label_decision_errors_are_clear(trained_project, api, reviewer) -> None:
    client = api(reviewer)
    assert client.post(BASE + "pseudo-labels/", {"version": 1}, format="json").json() == {
        "non_field_errors": ["Give at least one image id in accept or reject."]
    }
    assert client.post(BASE + "pseudo-labels/", {"version": 1, "accept": [5], "reject": [5]}, format="json").json() == {
        "non_field_errors": ["Images cannot be both accepted and rejected: [5]."]
    }
    response = client.post(BASE + "pseudo-labels/", {"version": 4, "accept": [5]}, format="json")
    assert response.status_code == 400 and response.json() == {"detail": "Model version 4 does not exist in this project."}


def test_versions_and_their_predictions(trained_project, api, reviewer) -> None:
    client = api(reviewer)
    versions = client.get(BASE + "versions/").json()["results"]
    assert [v["number"] for v in versions] == [1] and versions[0]["is_current"] and versions[0]["metrics"] == METRICS
    assert client.get(BASE + "versions/1/").json()["human_labels"] == 9
    predictions = all_pages(client, BASE + "versions/1/predictions/?page_size=10")
    assert len(predictions) == 24 and all(len(p["probs"]) == 3 for p in predictions)
    stored = Prediction.objects.get(version__number=1, image_id=predictions[0]["image"])
    assert predictions[0]["confidence"] == stored.confidence


def test_owner_exports_labels_through_the_api_despite_drfs_format_parameter(trained_project, api, owner) -> None:
    response = api(owner).get(BASE + "exports/labels/?format=csv&include_pseudo=true")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 11
    response = api(owner).get(BASE + "exports/labels/?format=imagefolder")
    with zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))) as archive:
        assert len(archive.namelist()) == 9
    response = api(owner).get(BASE + "exports/labels/?format=xml")
    assert response.status_code == 400 and response.json() == {"format": ['"xml" is not a valid choice.']}


def test_owner_exports_a_model_through_the_api(trained_project, api, owner) -> None:
    client = api(owner)
    response = client.get(BASE + "exports/model/?format=torchscript&version=1")
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))) as archive:
        assert "clothes-v1/model.pt" in archive.namelist()
    assert client.get(BASE + "exports/model/?format=onnx&version=3").json() == {"detail": "No such model version."}
    assert client.get(BASE + "exports/model/?format=keras").status_code == 400


def test_owner_starts_and_stops_training(trained_project, api, owner) -> None:
    client = api(owner)
    assert client.post(BASE + "training/start/").json() == {"training_enabled": True}
    assert Project.objects.get(pk=trained_project.pk).training_enabled
    assert client.post(BASE + "training/stop/").json() == {"training_enabled": False}
    assert not Project.objects.get(pk=trained_project.pk).training_enabled
    assert client.get(BASE + "training/start/").status_code == 405


def test_ids_beyond_the_databases_integer_range_are_refused_not_crashing(trained_project, api, owner) -> None:
    """Found by the schemathesis fuzz run: a 30-digit id in ``held`` used to overflow the bigint (500)."""
    client = api(owner)
    huge = 346356229924338821758976
    response = client.post(BASE + "images/next/", {"held": [1, huge]}, format="json")
    assert response.status_code == 400 and "held" in response.json()
    for path in (f"images/{huge}/", f"images/{huge}/file/", f"versions/{huge}/", f"versions/{huge}/predictions/"):
        assert client.get(BASE + path).status_code == 404, path
    assert client.get(BASE + f"annotations/?image={huge}").status_code == 400
    response = client.post(BASE + "pseudo-labels/", {"version": 1, "accept": [huge]}, format="json")
    assert response.status_code == 400
