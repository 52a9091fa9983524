"""An owner uploads a batch in a real browser: progress bar, per-file results, then the thumbnail grid."""

from __future__ import annotations

import pytest

from labelapp.images.models import Image
from tests.labelapp.images.helpers import HTML_AS_PNG, demo_pngs, zip_bytes

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_owner_uploads_files_and_a_zip_and_sees_each_result_then_the_grid(project, owner, login, screenshot):
    pngs = list(demo_pngs(8))
    files = [{"name": name.replace("/", "-"), "mimeType": "image/png", "buffer": data} for name, data in pngs[:3]]
    files.append({"name": "page.png", "mimeType": "image/png", "buffer": HTML_AS_PNG})
    files.append({"name": "more.zip", "mimeType": "application/zip", "buffer": zip_bytes(pngs[2:])})
    page = login(owner, f"/p/{project.slug}/images/upload/")

    page.set_input_files("#files", files)
    page.click("#upload-button")
    page.wait_for_function("() => document.getElementById('upload-summary').textContent.startsWith('Done')", polling=50)
    screenshot(page, "upload-results")

    assert page.text_content("#upload-summary") == "Done: 8 added, 1 duplicates skipped, 1 refused."
    assert page.get_attribute("#upload-progress", "value") == "100"
    refused = page.locator("#upload-results tr", has_text="page.png")
    assert "not an image" in refused.text_content()
    assert Image.objects.filter(project=project).count() == 8

    page.goto(page.url.replace("/images/upload/", "/images/"))
    page.wait_for_function(
        "() => [...document.querySelectorAll('#image-grid img')].every(img => img.complete && img.naturalWidth > 0)",
        polling=50,
    )
    assert page.locator("#image-grid figure").count() == 8
    screenshot(page, "image-grid")

    page.click(".project-nav >> text=Clothes")
    assert page.text_content("#count-images") == "8"
    screenshot(page, "project-page")
