"""Background exports: every label format and model variant is an ExportJob that a real RQ worker on
the ``default`` queue builds; the owner follows it, downloads it for a day, then gets 410."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta
from pathlib import Path

import onnxruntime
import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from labelapp.exports import services
from labelapp.exports.background import export_job_run, export_job_start, export_jobs_expire
from labelapp.exports.models import ExportJob
from labelapp.exports.services import coco_category_id, distillation_start
from labelapp.images.models import Image
from labelapp.labeling.models import Annotation, Source
from labelapp.training.models import ModelVersion, Prediction
from tests.helpers.training import empty_default_queue, run_burst_in_process  # noqa: F401  (autouse)
from tests.labelapp.exports.helpers import project_pixels

pytestmark = pytest.mark.django_db(transaction=True)  # jobs are enqueued on commit


def start(client, **data: str):
    return client.post(reverse("exports:export-start", kwargs={"slug": "clothes"}), data)


def started(client, **data: str) -> ExportJob:
    """Start an export from the panel's form and return its (queued) row."""
    response = start(client, **data)
    assert response.status_code == 302, response.content
    assert response["Location"].endswith("/p/clothes/#exports-panel")
    return ExportJob.objects.latest("id")


def status(client, job: ExportJob) -> dict:
    response = client.get(reverse("exports:export", kwargs={"slug": "clothes", "export_id": job.pk}))
    assert response.status_code == 200
    return response.json()


def download(client, job: ExportJob):
    return client.get(reverse("exports:export-download", kwargs={"slug": "clothes", "export_id": job.pk}))


def body(response) -> bytes:
    assert response.status_code == 200, response.content
    return b"".join(response.streaming_content)


def direct_labels(client, **query: str) -> bytes:
    url = reverse("exports:labels", kwargs={"slug": "clothes"}) + "?" + "&".join(f"{k}={v}" for k, v in query.items())
    return body(client.get(url))


def without_date(coco: dict) -> dict:
    return {**coco, "info": {key: value for key, value in coco["info"].items() if key not in ("date_created", "year")}}


@pytest.mark.parametrize("fmt", ["csv", "json", "coco", "imagefolder"])
def test_each_label_format_is_a_job_the_worker_builds_and_the_owner_downloads(trained_project, owner, owner_client, fmt) -> None:
    job = started(owner_client, kind="labels", format=fmt, include_pseudo="true")
    assert (job.status, job.progress, job.created_by) == ("queued", 0.0, owner)
    assert status(owner_client, job)["status"] == "queued"
    assert download(owner_client, job).status_code == 409

    run_burst_in_process("default")
    state = status(owner_client, job)
    assert (state["status"], state["progress"], state["message"]) == ("done", 1.0, "11 labels")
    assert 'class="export-job-download"' in state["html"] and job.filename in state["html"]
    job.refresh_from_db()
    assert job.size == (Path(settings.EXPORT_DIR) / job.path).stat().st_size
    assert timedelta(hours=23, minutes=59) < job.expires_at - job.finished_at <= timedelta(hours=24)

    response = download(owner_client, job)
    assert response["Content-Disposition"] == f'attachment; filename="{job.filename}"'
    data, direct = body(response), direct_labels(owner_client, format=fmt, include_pseudo="true")
    if fmt == "coco":
        assert without_date(json.loads(data)) == without_date(json.loads(direct))
    elif fmt == "imagefolder":
        names = [zipfile.ZipFile(io.BytesIO(blob)).namelist() for blob in (data, direct)]
        assert names[0] == names[1] and len(names[0]) == 11
    else:
        assert data == direct


def test_coco_export_lists_every_labeled_image_once_under_the_projects_classes(trained_project, owner_client) -> None:
    job = started(owner_client, kind="labels", format="coco", include_pseudo="true", include_predictions="true")
    run_burst_in_process("default")
    coco = json.loads(body(download(owner_client, job)))

    assert set(coco) == {"info", "licenses", "images", "categories", "annotations"}
    classes = list(trained_project.classes.order_by("index").values_list("index", "name"))
    assert coco["categories"] == [{"id": index + 1, "name": name, "supercategory": "none"} for index, name in classes]
    labeled = dict(
        Annotation.objects.filter(project=trained_project, source__in=[Source.HUMAN, Source.PSEUDO]).values_list(
            "image_id", "label_class__index"
        )
    )
    current = trained_project.current_version
    image_ids = [image["id"] for image in coco["images"]]
    assert len(image_ids) == len(set(image_ids)) == len(coco["annotations"])  # every image once, one annotation each
    assert set(labeled) <= set(image_ids)
    images = {image.pk: image for image in Image.objects.filter(project=trained_project)}
    for entry in coco["images"]:
        image = images[entry["id"]]
        assert entry == {"id": image.pk, "file_name": image.original_name, "width": image.width, "height": image.height}
    category_ids = {category["id"] for category in coco["categories"]}
    annotation_ids = [annotation["id"] for annotation in coco["annotations"]]
    assert len(set(annotation_ids)) == len(annotation_ids)
    for annotation in coco["annotations"]:
        assert annotation["category_id"] in category_ids and "bbox" not in annotation
        source = annotation["attributes"]["source"]
        if source in ("human", "pseudo"):
            assert annotation["category_id"] == coco_category_id(labeled[annotation["image_id"]])
        else:
            assert source == "prediction"
            prediction = Prediction.objects.get(version=current, image_id=annotation["image_id"])
            assert annotation["category_id"] == coco_category_id(prediction.predicted_index)
            assert annotation["attributes"]["confidence"] >= trained_project.threshold
    assert {a["attributes"]["source"] for a in coco["annotations"]} == {"human", "pseudo", "prediction"}


def test_an_unreadable_image_is_left_out_and_counted_not_the_whole_export(trained_project, owner_client) -> None:
    labeled = Annotation.objects.filter(project=trained_project, source=Source.HUMAN).order_by("image_id").first()
    Path(labeled.image.file.path).unlink()
    job = started(owner_client, kind="labels", format="imagefolder")
    run_burst_in_process("default")
    job.refresh_from_db()
    assert (job.status, job.skipped) == ("done", 1)
    assert job.message == "9 labels; 1 unreadable image(s) left out"
    assert "1 unreadable image left out" in status(owner_client, job)["html"]
    names = zipfile.ZipFile(io.BytesIO(body(download(owner_client, job)))).namelist()
    assert len(names) == 8 and not any(name.endswith(f"/{labeled.image_id}.png") for name in names)


@pytest.mark.parametrize("fmt,variant", [("onnx", "trained"), ("torchscript", "trained"), ("onnx", "int8")])
def test_each_model_variant_is_a_job_the_worker_builds_and_the_owner_downloads(trained_project, owner_client, fmt, variant) -> None:
    job = started(owner_client, kind="model", format=fmt, variant=variant)
    assert job.options == {"format": fmt, "version": 1, "variant": variant}  # the current version, fixed at the start
    run_burst_in_process("default")
    job.refresh_from_db()
    assert (job.status, job.message, job.progress) == ("done", "bundle ready", 1.0)
    files = zipfile.ZipFile(io.BytesIO(body(download(owner_client, job))))
    names = {name.split("/", 1)[1] for name in files.namelist()}
    assert {"model_card.json", "model_card.md", "predict.py"} <= names
    if fmt == "onnx":
        _, pixels = project_pixels(trained_project)
        session = onnxruntime.InferenceSession(files.read("clothes-v1/model.onnx"))
        assert session.run(None, {"images": pixels.numpy()})[0].shape == (len(pixels), 3)
    assert ModelVersion.objects.get(project=trained_project, number=1).pinned  # an exported version is pinned


def test_a_distilled_model_export_is_a_job_too(trained_project, owner, owner_client) -> None:
    distillation_start(version=trained_project.current_version, student="cnn-dw", mode="hard", steps=3, user=owner)
    run_burst_in_process("default")
    job = started(owner_client, kind="model", format="onnx", variant="distilled:cnn-dw")
    run_burst_in_process("default")
    job.refresh_from_db()
    assert job.status == "done" and job.filename == "clothes-v1-distilled-cnn-dw-onnx.zip"
    files = zipfile.ZipFile(io.BytesIO(body(download(owner_client, job))))
    assert json.loads(files.read("clothes-v1/model_card.json"))["backbone"] == "cnn-dw"


def test_a_failed_export_shows_its_reason(trained_project, owner_client) -> None:
    job = started(owner_client, kind="model", format="onnx", variant="distilled:cnn-dw")  # never distilled
    run_burst_in_process("default")
    state = status(owner_client, job)
    assert state["status"] == "failed" and "has no finished distillation to cnn-dw" in state["error"]
    assert "export-job-error" in state["html"] and "has no finished distillation" in state["html"]
    assert download(owner_client, job).status_code == 409
    page = owner_client.get(reverse("projects:detail", kwargs={"slug": "clothes"})).content.decode()
    assert "has no finished distillation to cnn-dw" in page


def test_an_expired_export_is_deleted_and_answers_410_with_the_reason(trained_project, owner_client) -> None:
    job = started(owner_client, kind="labels", format="csv")
    run_burst_in_process("default")
    job.refresh_from_db()
    path = Path(settings.EXPORT_DIR) / job.path
    assert path.is_file() and download(owner_client, job).status_code == 200
    ExportJob.objects.filter(pk=job.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    response = download(owner_client, job)
    assert response.status_code == 410
    assert "expired" in response.content.decode() and "24 hours" in response.content.decode()
    assert not path.exists() and not path.parent.exists()
    job.refresh_from_db()
    assert job.path == "" and "expired" in status(owner_client, job)["html"]
    assert download(owner_client, job).status_code == 410


def test_the_worker_sweeps_expired_exports_but_keeps_a_bundle_another_export_holds(trained_project, owner_client) -> None:
    first = started(owner_client, kind="model", format="torchscript")
    run_burst_in_process("default")
    second = started(owner_client, kind="model", format="torchscript")
    labels = started(owner_client, kind="labels", format="json")
    ExportJob.objects.filter(pk=first.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    run_burst_in_process("default")  # each run sweeps first
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.path == "" and second.path and (Path(settings.EXPORT_DIR) / second.path).is_file()
    assert body(download(owner_client, second))[:2] == b"PK" and download(owner_client, labels).status_code == 200
    ExportJob.objects.filter(pk=second.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert export_jobs_expire() == 1
    assert not (Path(settings.EXPORT_DIR) / ExportJob.objects.get(pk=first.pk).filename).exists()
    assert not list((Path(settings.EXPORT_DIR) / str(trained_project.pk)).glob("*.zip"))


@pytest.mark.parametrize("who", ["reviewer_client", "annotator_client", "outsider_client"])
def test_only_owners_start_follow_and_download_exports(trained_project, owner_client, who, request) -> None:
    job = started(owner_client, kind="labels", format="csv")
    run_burst_in_process("default")
    client = request.getfixturevalue(who)
    before = ExportJob.objects.count()
    assert start(client, kind="labels", format="csv").status_code == 404
    assert client.get(reverse("exports:export", kwargs={"slug": "clothes", "export_id": job.pk})).status_code == 404
    assert download(client, job).status_code == 404
    assert ExportJob.objects.count() == before
    page = client.get(reverse("projects:detail", kwargs={"slug": "clothes"})).content.decode()
    assert "export-job" not in page


def test_another_projects_export_is_404_for_its_owner(trained_project, other_project, owner, outsider_client) -> None:
    job = export_job_start(project=trained_project, kind="labels", options={"format": "csv"}, user=owner)
    url = reverse("exports:export", kwargs={"slug": other_project.slug, "export_id": job.pk})
    assert outsider_client.get(url).json() == {"detail": "No such export in this project."}
    assert outsider_client.get(url + "download/").status_code == 404


def test_bad_export_requests_are_400_with_the_reason_and_queue_nothing(trained_project, owner_client) -> None:
    assert "kind: choose labels or model" in start(owner_client, kind="pdf").content.decode()
    assert "format" in start(owner_client, kind="labels", format="xml").content.decode()
    assert start(owner_client, kind="model", format="onnx", version="9").content.decode() == "No such model version."
    assert "int8" in start(owner_client, kind="model", format="torchscript", variant="int8").content.decode()
    assert ExportJob.objects.count() == 0


def test_a_job_run_directly_reports_progress_in_its_row(trained_project, owner) -> None:
    job = export_job_start(project=trained_project, kind="labels", options={"format": "csv", "include_pseudo": True}, user=owner)
    assert job.message == "waiting for the worker"
    job = export_job_run(job_id=job.pk)
    assert (job.status, job.progress, job.message, job.skipped) == ("done", 1.0, "11 labels", 0)
    assert job.title == "Labels: CSV, + accepted pseudo-labels"


def progress_writes(queries) -> list[str]:
    return [query["sql"] for query in queries.captured_queries if query["sql"].startswith('UPDATE "exports_exportjob" SET "progress"')]


def test_a_model_export_writes_each_stage_to_its_row_as_it_runs(trained_project, owner) -> None:
    job = export_job_start(project=trained_project, kind="model", options={"format": "onnx", "variant": "trained"}, user=owner)
    with CaptureQueriesContext(connection) as queries:
        export_job_run(job_id=job.pk)
    stages = progress_writes(queries)
    for stage in ("loading the checkpoint of v1", "exporting to ONNX, checking it and measuring its latency", "zipping the bundle"):
        assert sum(stage in sql for sql in stages) == 1, stage


def test_a_label_export_writes_its_count_to_its_row_as_it_runs(trained_project, owner, monkeypatch) -> None:
    monkeypatch.setattr(services, "PROGRESS_WRITE_SECONDS", 0.0)  # a write per row instead of twice a second
    job = export_job_start(project=trained_project, kind="labels", options={"format": "json", "include_pseudo": True}, user=owner)
    with CaptureQueriesContext(connection) as queries:
        export_job_run(job_id=job.pk)
    stages = progress_writes(queries)
    assert any("5 of 11 labels written" in sql for sql in stages) and any("11 of 11 labels written" in sql for sql in stages)


def test_the_api_and_direct_links_stay_synchronous_and_offer_coco(trained_project, owner_client) -> None:
    response = owner_client.get("/api/projects/clothes/exports/labels/?format=coco&include_pseudo=true")
    assert response["Content-Type"] == "application/json"
    assert len(json.loads(body(response))["annotations"]) == 11
    assert len(json.loads(direct_labels(owner_client, format="coco"))["images"]) == 9
    assert ExportJob.objects.count() == 0


def test_a_version_from_before_the_first_training_round_has_no_model_to_export(trained_project, owner_client) -> None:
    # The demo's day: a pre-training round (v1) and a label propagation over its embeddings (v2) have no
    # trained classifier; the panel must not offer them, and a hand-made request gets the reason, not a failed job.
    trained = ModelVersion.objects.get(project=trained_project)
    for number, kind in ((2, ModelVersion.Kind.PRETRAINED), (3, ModelVersion.Kind.PROPAGATED)):
        ModelVersion.objects.create(
            project=trained_project, number=number, kind=kind, algorithm="fixmatch", backbone="cnn-small",
            checkpoint=f"{trained_project.pk}/v{number}.pt", steps=0, finished_at=timezone.now(),
        )
    panel = owner_client.get(reverse("projects:detail", kwargs={"slug": "clothes"})).content.decode()
    model_form = panel.split('class="export-model"')[1].split("</form>")[0]
    assert f'value="{trained.number}"' in model_form and 'value="2"' not in model_form and 'value="3"' not in model_form

    refused = start(owner_client, kind="model", format="onnx", version="3")
    assert refused.status_code == 400 and "no trained classifier to export" in refused.content.decode()
    assert ExportJob.objects.count() == 0

    ModelVersion.objects.filter(pk=trained.pk).delete()
    panel = owner_client.get(reverse("projects:detail", kwargs={"slug": "clothes"})).content.decode()
    assert 'class="export-model"' not in panel and 'id="no-exportable-model"' in panel
