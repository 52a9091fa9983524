"""Background exports in a real browser: the owner starts an ONNX model export and a COCO label export
from the exports panel, sees them queued, a real RQ worker builds them while the panel follows their
status, and the owner downloads both; an expired one answers 410 with the reason."""

from __future__ import annotations

import json
import zipfile
from datetime import timedelta
from pathlib import Path

import onnxruntime
import pytest
from django.utils import timezone

from labelapp.exports.models import ExportJob
from tests.helpers.training import empty_default_queue, run_burst_in_process  # noqa: F401  (autouse)
from tests.labelapp.exports.helpers import project_pixels, tiny_model, trained_project  # noqa: F401  (shared fixtures)

BUILD_TIMEOUT_MS = 180_000  # ONNX export and latency measurement on a shared 2-core CPU
pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def saved(download, tmp_path: Path) -> Path:
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    return path


def test_owner_starts_onnx_and_coco_exports_follows_them_and_downloads_both(
    trained_project, owner, login, screenshot, tmp_path, live_server  # noqa: F811
):
    page = login(owner, f"/p/{trained_project.slug}/")
    assert page.locator("li.export-job").count() == 0

    page.select_option("form.export-model select[name=format]", "onnx")
    page.select_option("form.export-model select[name=variant]", "trained")
    page.click("form.export-model button[type=submit]")
    page.wait_for_selector("li.export-job[data-status=queued]")
    page.select_option("form.export-labels select[name=format]", "coco")
    page.check("form.export-labels input[name=include_pseudo]")
    page.click("form.export-labels button[type=submit]")
    page.wait_for_function("document.querySelectorAll('li.export-job[data-status=queued]').length === 2")
    rows = page.locator("li.export-job")
    assert rows.nth(0).locator(".export-job-title").text_content() == "Labels: COCO, + accepted pseudo-labels"
    assert rows.nth(1).locator(".export-job-title").text_content() == "Model v1: ONNX, as trained"
    assert "waiting for the worker" in rows.nth(1).text_content()
    page.locator("#exports-panel").scroll_into_view_if_needed()
    screenshot(page, "exports-queued")

    run_burst_in_process("default")  # the panel polls each open job and swaps in its finished row
    page.wait_for_function(
        "document.querySelectorAll('li.export-job[data-status=done] a.export-job-download').length === 2",
        timeout=BUILD_TIMEOUT_MS,
    )
    assert "until" in rows.nth(0).text_content() and "bundle ready" not in rows.nth(0).text_content()
    assert float(rows.nth(1).locator("progress").get_attribute("value")) == 1.0
    page.locator("#exports-panel").scroll_into_view_if_needed()
    screenshot(page, "exports-done")

    with page.expect_download() as info:
        rows.nth(0).locator("a.export-job-download").click()
    coco = json.loads(saved(info.value, tmp_path).read_text())
    assert info.value.suggested_filename == "clothes-labels.coco.json"
    assert len(coco["images"]) == len(coco["annotations"]) == 11
    assert [category["name"] for category in coco["categories"]] == ["shirt", "trouser", "bag"]

    with page.expect_download() as info:
        rows.nth(1).locator("a.export-job-download").click()
    with zipfile.ZipFile(saved(info.value, tmp_path)) as archive:
        model = archive.read("clothes-v1/model.onnx")
    _, pixels = project_pixels(trained_project)
    probs = onnxruntime.InferenceSession(model).run(None, {"images": pixels.numpy()})[0]
    assert probs.shape == (len(pixels), 3)

    coco_job = ExportJob.objects.get(kind="labels")
    ExportJob.objects.filter(pk=coco_job.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    response = page.request.get(f"{live_server.url}/p/{trained_project.slug}/exports/{coco_job.pk}/download/")
    assert response.status == 410 and "expired" in response.text()
    page.reload()
    assert "start it again" in page.locator("li.export-job").nth(0).text_content()
    assert page.locator("li.export-job").nth(0).locator("a.export-job-download").count() == 0
    answer = page.goto(f"{live_server.url}/p/{trained_project.slug}/exports/{coco_job.pk}/download/")
    assert answer.status == 410 and "downloaded for 24 hours" in page.text_content(".export-unavailable")
    screenshot(page, "exports-expired-410")
    page.click("text=Back to Clothes's exports")
    page.wait_for_selector("#exports-panel li.export-job")
    page.locator("#exports-panel").scroll_into_view_if_needed()
    screenshot(page, "exports-after-expiry")
