"""The owner's export form in a real browser: "as trained", "distilled to <student>" (a distillation started
from the page, run by a real RQ worker while the page follows its progress) and "int8" each start a
background export that a real worker builds, then download a model that onnxruntime loads and runs on
the project's images."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import onnxruntime
import pytest

from labelapp.exports.services import DISTILL_QUEUE
from tests.helpers.training import empty_default_queue, run_burst_in_process  # noqa: F401  (autouse)
from tests.labelapp.exports.helpers import project_pixels, tiny_model, trained_project  # noqa: F401  (shared fixtures)

BUILD_TIMEOUT_MS = 180_000  # export, quantisation and latency measurement, on a shared 2-core CPU
pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def download_model(page, variant: str, tmp_path: Path) -> dict[str, bytes]:
    """Pick ONNX and ``variant`` in the model form, start the export, let a real worker build it while
    the panel follows it, download it, and return the zip's files by name."""
    form = page.locator("form.export-model")
    form.locator("select[name=format]").select_option("onnx")
    form.locator("select[name=variant]").select_option(variant)
    form.locator("button[type=submit]").click()
    page.wait_for_selector("ul.export-jobs > li.export-job:first-child[data-status=queued]")  # the page came back
    run_burst_in_process(DISTILL_QUEUE)
    link = page.locator("li.export-job").first.locator("a.export-job-download")
    with page.expect_download(timeout=BUILD_TIMEOUT_MS) as info:
        link.click(timeout=BUILD_TIMEOUT_MS)
    path = tmp_path / info.value.suggested_filename
    info.value.save_as(path)
    with zipfile.ZipFile(path) as archive:
        return {name.split("/", 1)[1]: archive.read(name) for name in archive.namelist()}


def test_owner_downloads_trained_distilled_and_int8_models_that_load(trained_project, owner, login, screenshot, tmp_path):  # noqa: F811  (shared fixtures)
    _, pixels = project_pixels(trained_project)
    page = login(owner, f"/p/{trained_project.slug}/")
    assert page.locator("select[name=variant] option").all_text_contents() == ["as trained", "int8 (ONNX only, quantised)"]

    page.select_option("form.export-distill select[name=student]", "cnn-dw")
    page.select_option("form.export-distill select[name=mode]", "hard")
    page.fill("form.export-distill input[name=seconds]", "5")
    page.click("form.export-distill button[type=submit]")
    page.wait_for_selector("li.distillation[data-status=queued]")
    run_burst_in_process(DISTILL_QUEUE)  # the page polls while the real worker trains, then reloads when it is done
    page.wait_for_selector("option[value='distilled:cnn-dw']", state="attached", timeout=60_000)
    assert "done" in page.text_content("li.distillation .distillation-status")
    screenshot(page, "exports-distilled")

    cards = {}
    for variant in ("trained", "distilled:cnn-dw", "int8"):
        files = download_model(page, variant, tmp_path)
        session = onnxruntime.InferenceSession(files["model.onnx"])
        probs = session.run(None, {"images": pixels.numpy()})[0]
        assert probs.shape == (len(pixels), 3) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-4)
        cards[variant] = json.loads(files["model_card.json"])
        assert "Latency: batch 1:" in files["model_card.md"].decode()
    assert cards["trained"]["backbone"] == "cnn-small" and cards["distilled:cnn-dw"]["backbone"] == "cnn-dw"
    assert cards["int8"]["deployment"]["precision"] == "int8"
    assert cards["distilled:cnn-dw"]["deployment"]["distillation"]["teacher"]["running_accuracy"] == 0.5
