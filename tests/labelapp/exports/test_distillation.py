"""Distilled and int8 model exports of a real trained version: the owner's form, a real RQ worker on the
``default`` queue, the progress endpoint and loadable bundles whose cards state size and latency."""

from __future__ import annotations

import io
import json
import zipfile

import django_rq
import numpy as np
import onnxruntime
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from labelapp.exports.models import Distillation
from labelapp.exports.services import DISTILL_QUEUE, distillation_start
from labelapp.training.models import ModelVersion
from tests.helpers.training import empty_default_queue, run_burst_in_process  # noqa: F401  (autouse)
from tests.labelapp.exports.helpers import project_pixels

pytestmark = pytest.mark.django_db(transaction=True)  # jobs are enqueued on commit


def model_url(**query: str) -> str:
    return reverse("exports:model", kwargs={"slug": "clothes"}) + "?" + "&".join(f"{k}={v}" for k, v in query.items())


def bundle(response) -> dict[str, bytes]:
    assert response.status_code == 200, response.content if not response.streaming else ""
    with zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))) as archive:
        return {name.split("/", 1)[1]: archive.read(name) for name in archive.namelist()}


def onnx_probs(files: dict[str, bytes], pixels) -> np.ndarray:
    session = onnxruntime.InferenceSession(files["model.onnx"])
    return session.run(None, {"images": pixels.numpy()})[0]


def test_owner_starts_a_distillation_that_the_default_worker_runs_and_the_export_offers(trained_project, owner_client) -> None:
    response = owner_client.post(
        reverse("exports:distill", kwargs={"slug": "clothes"}),
        {"version": "1", "student": "cnn-dw", "mode": "soft", "seconds": "5"},
    )
    assert response.status_code == 302 and response["Location"].endswith("/p/clothes/#exports-panel")
    distillation = Distillation.objects.get(project=trained_project)
    assert distillation.status == "queued" and django_rq.get_queue(DISTILL_QUEUE).count == 1

    run_burst_in_process(DISTILL_QUEUE)

    distillation.refresh_from_db()
    assert distillation.status == "done" and distillation.progress == 1.0 and distillation.steps_done > 0
    status = owner_client.get(reverse("exports:distillation", kwargs={"slug": "clothes", "distillation_id": distillation.pk})).json()
    assert status["status"] == "done" and status["metrics"]["student"]["name"] == "cnn-dw (soft distillation)"
    assert 0.0 <= status["metrics"]["student"]["agreement_with_teacher"] <= 1.0
    assert status["metrics"]["teacher"]["running_accuracy"] == 0.5  # the version's own prequential figure
    page = owner_client.get(reverse("projects:detail", kwargs={"slug": "clothes"})).content.decode()
    assert '<option value="distilled:cnn-dw">distilled to cnn-dw</option>' in page

    files = bundle(owner_client.get(model_url(format="onnx", version="1", variant="distilled:cnn-dw")))
    _, pixels = project_pixels(trained_project)
    probs = onnx_probs(files, pixels)
    assert probs.shape == (24, 3) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    card = json.loads(files["model_card.json"])
    assert card["backbone"] == "cnn-dw" and card["algorithm"] == "fixmatch, distilled (soft) from cnn-small"
    deployment = card["deployment"]
    assert deployment["precision"] == "fp32" and deployment["size_bytes"] == len(files["model.onnx"])
    assert set(deployment["latency"]["ms_per_image"]) == {"1", "64"}
    assert deployment["distillation"]["student"]["agreement_with_teacher"] == status["metrics"]["student"]["agreement_with_teacher"]
    markdown = files["model_card.md"].decode()
    assert "## Deployment" in markdown and "| student: cnn-dw (soft distillation) |" in markdown


def test_the_int8_export_is_smaller_loads_and_states_its_agreement_with_fp32(trained_project, owner_client) -> None:
    trained = bundle(owner_client.get(model_url(format="onnx", version="1")))
    int8 = bundle(owner_client.get(model_url(format="onnx", version="1", variant="int8")))
    assert len(int8["model.onnx"]) < len(trained["model.onnx"])
    _, pixels = project_pixels(trained_project)
    assert onnx_probs(int8, pixels).shape == (24, 3)
    card = json.loads(int8["model_card.json"])["deployment"]
    assert card["precision"] == "int8" and card["fp32"]["size_bytes"] == len(trained["model.onnx"])
    assert 0.0 <= card["agreement_with_fp32"] <= 1.0
    assert json.loads(trained["model_card.json"])["deployment"]["precision"] == "fp32"


def test_a_distilled_export_that_was_never_distilled_is_404_with_the_reason(trained_project, owner_client) -> None:
    response = owner_client.get(model_url(format="onnx", variant="distilled:cnn-dw"))
    assert response.status_code == 404


def test_bad_variants_are_400_with_the_reason(trained_project, owner_client) -> None:
    response = owner_client.get(model_url(format="torchscript", variant="int8"))
    assert response.status_code == 400 and "int8 models are exported as ONNX only" in response.content.decode()
    response = owner_client.get(model_url(format="onnx", variant="distilled:vgg-99"))
    assert response.status_code == 400 and "distilled:<student>" in response.content.decode()


@pytest.mark.parametrize("who", ["reviewer_client", "annotator_client", "outsider_client"])
def test_non_owners_can_neither_start_nor_follow_a_distillation(trained_project, who, request) -> None:
    distillation = distillation_start(version=ModelVersion.objects.get(project=trained_project), student="cnn-dw", mode="hard", steps=2)
    client = request.getfixturevalue(who)
    start = client.post(reverse("exports:distill", kwargs={"slug": "clothes"}), {"version": "1", "student": "cnn-dw", "mode": "hard", "seconds": "5"})
    assert start.status_code == 404
    assert client.get(reverse("exports:distillation", kwargs={"slug": "clothes", "distillation_id": distillation.pk})).status_code == 404
    assert Distillation.objects.count() == 1


def test_another_projects_distillation_is_404(trained_project, other_project, outsider_client) -> None:
    distillation = distillation_start(version=ModelVersion.objects.get(project=trained_project), student="cnn-dw", mode="hard", steps=2)
    response = outsider_client.get(reverse("exports:distillation", kwargs={"slug": "elsewhere", "distillation_id": distillation.pk}))
    assert response.status_code == 404


def test_it_rejects_a_bad_distillation_form_and_queues_nothing(trained_project, owner_client) -> None:
    response = owner_client.post(
        reverse("exports:distill", kwargs={"slug": "clothes"}), {"version": "1", "student": "nope", "mode": "warm", "seconds": "0"}
    )
    text = response.content.decode()
    assert response.status_code == 400 and "student:" in text and "mode:" in text and "seconds:" in text
    assert not Distillation.objects.exists() and django_rq.get_queue(DISTILL_QUEUE).count == 0


def test_a_distillation_whose_teacher_checkpoint_is_gone_fails_with_the_reason(trained_project, settings) -> None:
    version = ModelVersion.objects.get(project=trained_project)
    ModelVersion.objects.filter(pk=version.pk).update(checkpoint="tests/gone.pt")
    distillation = distillation_start(version=version, student="cnn-dw", mode="hard", steps=2)
    run_burst_in_process(DISTILL_QUEUE)
    distillation.refresh_from_db()
    assert distillation.status == "failed" and "gone.pt" in distillation.error
    assert distillation.checkpoint == "" and distillation.finished_at is not None


def test_export_model_command_writes_the_int8_variant_and_refuses_an_undistilled_one(trained_project, tmp_path) -> None:
    call_command("export_model", "--project", "clothes", "--format", "onnx", "--variant", "int8", "--out", str(tmp_path), stdout=io.StringIO())
    assert json.loads((tmp_path / "model_card.json").read_text())["deployment"]["precision"] == "int8"
    with pytest.raises(CommandError, match="no finished distillation to cnn-dw"):
        call_command("export_model", "--project", "clothes", "--format", "onnx", "--variant", "distilled:cnn-dw", "--out", str(tmp_path / "d"))
