"""Image pages: the grid, browser upload with per-file results, and member-only file serving."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from labelapp.images.models import Image
from labelapp.images.services import image_add
from labelapp.labeling.models import Annotation
from tests.labelapp.images.helpers import HTML_AS_PNG, bomb_png, demo_pngs, zip_bytes


def upload(client, project, files, **extra):
    payload = {"files": [SimpleUploadedFile(name, data) for name, data in files], **extra}
    return client.post(reverse("images:upload", args=[project.slug]), payload)


def test_owner_uploads_files_and_gets_per_file_results(project, owner_client):
    good = list(demo_pngs(3))
    files = good + [("page.png", HTML_AS_PNG), ("bomb.png", bomb_png()), (good[0][0].replace("/", "_"), good[0][1])]

    body = upload(owner_client, project, files).json()

    assert (body["added"], body["duplicates"], body["refused"]) == (3, 1, 2)
    reasons = {r["name"]: r["reason"] for r in body["results"] if r["status"] == "refused"}
    assert "not an image" in reasons["page.png"] and "decompression bomb" in reasons["bomb.png"]
    assert Image.objects.filter(project=project).count() == 3


def test_reviewer_uploads_a_zip_with_folder_labels(project, reviewer, reviewer_client):
    entries = [(name, data) for name, data in demo_pngs(40) if name.startswith(("shirt/", "bag/"))]

    body = upload(reviewer_client, project, [("set.zip", zip_bytes(entries))], labels_from_folders="1").json()

    assert body["added"] == body["labeled"] == len(entries)
    assert Annotation.objects.filter(project=project, annotator=reviewer).count() == len(entries)


def test_upload_filename_with_dots_and_nul_is_reduced_to_a_display_name(project, owner_client):
    name, data = demo_pngs(1)[0]

    body = upload(owner_client, project, [("../../../etc/x\x00.png", data)]).json()

    image = Image.objects.get(pk=body["results"][0]["image_id"])
    assert "/" not in image.original_name and "\x00" not in image.original_name
    assert image.file.name.startswith(f"images/{project.pk}/") and ".." not in image.file.name


def test_annotator_may_not_upload(project, annotator_client):
    assert annotator_client.get(reverse("images:upload", args=[project.slug])).status_code == 404
    assert upload(annotator_client, project, list(demo_pngs(1))).status_code == 404
    assert not Image.objects.exists()


def test_image_file_is_served_with_the_stored_format_and_nosniff(project, annotator_client):
    image, _ = image_add(project=project, name="photo.gif", data=demo_pngs(1)[0][1])

    response = annotator_client.get(reverse("images:file", args=[project.slug, image.pk]))

    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content) == demo_pngs(1)[0][1]
    thumb = annotator_client.get(reverse("images:thumbnail", args=[project.slug, image.pk]))
    assert thumb["Content-Type"] == "image/png" and thumb["X-Content-Type-Options"] == "nosniff"


def test_outsider_gets_404_for_image_files_and_ids_of_other_projects(project, other_project, outsider_client, owner_client):
    mine, _ = image_add(project=project, name="a.png", data=demo_pngs(1)[0][1])
    theirs, _ = image_add(project=other_project, name="b.png", data=demo_pngs(2)[1][1])

    for view in ("images:file", "images:thumbnail"):
        assert outsider_client.get(reverse(view, args=[project.slug, mine.pk])).status_code == 404
        # an id of another project through a project one belongs to
        assert owner_client.get(reverse(view, args=[project.slug, theirs.pk])).status_code == 404
        assert outsider_client.get(reverse(view, args=[other_project.slug, theirs.pk])).status_code == 200


def test_upload_page_has_the_progress_form_for_reviewers(project, reviewer_client):
    page = reviewer_client.get(reverse("images:upload", args=[project.slug])).content.decode()

    assert 'id="upload-progress"' in page and "js/upload.js" in page and 'name="files"' in page
    assert f'href="{reverse("images:upload", args=[project.slug])}" class="active"' in page


def test_an_oversized_file_is_refused_by_name_and_the_rest_lands(project, owner_client, settings):
    small, large = sorted(demo_pngs(4), key=lambda entry: len(entry[1]))[::3]
    settings.IMPORT_MAX_FILE_BYTES = len(small[1])

    body = upload(owner_client, project, [large, small]).json()

    assert [(r["status"], r["reason"]) for r in body["results"]] == [
        ("refused", f"larger than {len(small[1])} bytes"), ("added", "")]
