"""Model exports of a real (tiny) trained version: command, card, owner-only download views and panel."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import onnxruntime
import pytest
import torch
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from labelapp.training.models import ModelVersion
from sslengine.export import load_torchscript, onnx_metadata
from tests.labelapp.exports.helpers import METRICS, project_pixels

TOLERANCE = 1e-4


def test_export_model_command_writes_onnx_that_matches_the_engine_on_real_images(trained_project, tiny_model, tmp_path) -> None:
    out = tmp_path / "bundle"
    call_command("export_model", "--project", "clothes", "--format", "onnx", "--out", str(out), stdout=io.StringIO())
    assert sorted(p.name for p in out.iterdir()) == ["model.onnx", "model_card.json", "model_card.md", "predict.py"]
    _, pixels = project_pixels(trained_project)
    (probs,) = onnxruntime.InferenceSession(str(out / "model.onnx")).run(None, {"images": pixels.numpy()})
    np.testing.assert_allclose(probs, tiny_model.trainer.predict(pixels).probs.numpy(), atol=TOLERANCE, rtol=0)
    meta = onnx_metadata(out / "model.onnx")
    assert meta["classes"] == ["shirt", "trouser", "bag"] and meta["version"] == 1


def test_export_model_command_writes_torchscript_of_the_chosen_version(trained_project, tiny_model, tmp_path) -> None:
    call_command(
        "export_model", "--project", "clothes", "--version", "1", "--format", "torchscript", "--out", str(tmp_path),
        stdout=io.StringIO(),
    )
    module, meta = load_torchscript(tmp_path / "model.pt")
    _, pixels = project_pixels(trained_project)
    with torch.no_grad():
        torch.testing.assert_close(module(pixels), tiny_model.trainer.predict(pixels).probs, atol=TOLERANCE, rtol=0)
    assert meta["version"] == 1 and meta["classes"] == ["shirt", "trouser", "bag"]


def test_model_card_metrics_equal_the_versions(trained_project, tmp_path) -> None:
    call_command("export_model", "--project", "clothes", "--format", "onnx", "--out", str(tmp_path), stdout=io.StringIO())
    version = ModelVersion.objects.get(project=trained_project, number=1)
    card = json.loads((tmp_path / "model_card.json").read_text())
    assert card["metrics"] == version.metrics == METRICS
    assert card["data"] == {"human_labels": 9, "pseudo_labels": 0, "images": 24}
    assert card["training"]["seconds"] == 1.25 and card["training"]["steps"] == 5
    assert card["training"]["last_round"] == {"steps": 5, "seconds": 1.25}
    assert card["created_at"].startswith(version.created_at.strftime("%Y-%m-%dT%H:%M"))
    assert card["algorithm"] == "fixmatch" and card["classes"] == ["shirt", "trouser", "bag"]
    markdown = (tmp_path / "model_card.md").read_text()
    assert "# Model card: clothes v1" in markdown and "- running_accuracy: 0.5000" in markdown


def test_export_model_command_refuses_a_missing_version(trained_project, tmp_path) -> None:
    with pytest.raises(CommandError, match="has no model version 7"):
        call_command("export_model", "--project", "clothes", "--version", "7", "--format", "onnx", "--out", str(tmp_path))


def model_url(**query: str) -> str:
    return reverse("exports:model", kwargs={"slug": "clothes"}) + "?" + "&".join(f"{k}={v}" for k, v in query.items())


def labels_url(**query: str) -> str:
    return reverse("exports:labels", kwargs={"slug": "clothes"}) + "?" + "&".join(f"{k}={v}" for k, v in query.items())


def test_owner_downloads_a_model_zip_built_once_and_reused(trained_project, owner_client, settings) -> None:
    response = owner_client.get(model_url(format="onnx", version="1"))
    assert response.status_code == 200 and response["Content-Disposition"].startswith('attachment; filename="clothes-v1-onnx.zip"')
    with zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))) as archive:
        assert sorted(archive.namelist()) == [f"clothes-v1/{n}" for n in ("model.onnx", "model_card.json", "model_card.md", "predict.py")]
    cached = list((settings.EXPORT_DIR / str(trained_project.pk)).glob("*.zip"))
    assert len(cached) == 1
    mtime = cached[0].stat().st_mtime_ns
    assert owner_client.get(model_url(format="onnx")).status_code == 200  # the current version by default
    assert cached[0].stat().st_mtime_ns == mtime


@pytest.mark.parametrize("who", ["reviewer_client", "annotator_client", "outsider_client"])
def test_non_owners_get_404_for_both_downloads(trained_project, who, request) -> None:
    client = request.getfixturevalue(who)
    assert client.get(model_url(format="onnx")).status_code == 404
    assert client.get(labels_url(format="csv")).status_code == 404


def test_bad_export_parameters_are_400_with_the_reason(trained_project, owner_client) -> None:
    response = owner_client.get(labels_url(format="xlsx"))
    assert response.status_code == 400 and '"xlsx" is not a valid choice' in response.content.decode()
    response = owner_client.get(model_url(format="onnx", version="zero"))
    assert response.status_code == 400 and "version: A valid integer is required." in response.content.decode()
    assert owner_client.get(model_url(format="onnx", version="9")).status_code == 404


def test_owner_label_download_streams_the_csv(trained_project, owner_client) -> None:
    response = owner_client.get(labels_url(format="csv", include_pseudo="true"))
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv")
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert len(lines) == 1 + 11  # header, 9 human labels, 2 accepted pseudo-labels


def test_export_buttons_show_on_the_project_page_for_owners_only(trained_project, owner_client, reviewer_client) -> None:
    page = owner_client.get(reverse("projects:detail", kwargs={"slug": "clothes"})).content.decode()
    assert "Export labels" in page and "Export model" in page and 'value="1"' in page
    page = reviewer_client.get(reverse("projects:detail", kwargs={"slug": "clothes"})).content.decode()
    assert "Export labels" not in page
