"""Odd images never stop training: every mode Pillow opens decodes to the project's channels at import,
with the EXIF orientation applied, one decode for import, thumbnails and the training cache; and an
image the worker cannot decode is left out, flagged and named on the images page, while the round
succeeds."""

from __future__ import annotations

import io

import django_rq
import numpy as np
import pytest
from django.core.files.storage import default_storage
from PIL import Image as PILImage
from PIL import ImageCms

from labelapp.images.models import Image
from labelapp.images.services import image_add
from labelapp.lib.images import decode_image, to_channels
from labelapp.training import store
from labelapp.training.cache import cache_update
from labelapp.training.jobs import run_training_round
from labelapp.training.models import ModelVersion
from tests.helpers.training import (  # noqa: F401  (fixtures of the training tests, two autouse)
    clean_training_state,
    one_torch_thread,
    run_burst_in_process,
    small_project,
)

SIDE = (40, 30)


@pytest.fixture(autouse=True)
def own_media_root(settings, tmp_path):
    """TIFFs and JPEGs stored here do not land among the files other tests list (all PNGs)."""
    settings.MEDIA_ROOT = tmp_path / "media"


def _gradient() -> PILImage.Image:
    """A 40×30 RGB picture whose three channels differ (so a channel mix-up shows) and that no turn or
    flip maps onto itself (so a missed rotation shows): a vertical ramp, a horizontal ramp, a constant."""
    down = PILImage.linear_gradient("L")
    across = down.rotate(90)
    return PILImage.merge("RGB", [down.resize(SIDE), across.resize(SIDE), PILImage.new("L", SIDE, 128)])


def _encoded(image: PILImage.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def mode_files() -> dict[str, bytes]:
    """One small file of each mode Pillow opens from the allowed formats (HSV has no file format: see below)."""
    rgb = _gradient()
    light = np.asarray(rgb.convert("L"))
    palette = rgb.convert("P")
    palette.info["transparency"] = 0
    lab = ImageCms.applyTransform(rgb, ImageCms.buildTransform(
        ImageCms.createProfile("sRGB"), ImageCms.createProfile("LAB"), "RGB", "LAB"))
    return {
        "1": _encoded(rgb.convert("1"), "PNG"),
        "L": _encoded(rgb.convert("L"), "PNG"),
        "LA": _encoded(rgb.convert("LA"), "PNG"),
        "P": _encoded(palette, "PNG"),
        "RGBA": _encoded(rgb.convert("RGBA"), "PNG"),
        "CMYK": _encoded(rgb.convert("CMYK"), "JPEG"),
        "YCbCr": _encoded(rgb.convert("YCbCr"), "TIFF"),
        "LAB": _encoded(lab, "TIFF"),
        "I": _encoded(PILImage.fromarray(light.astype(np.int32) * 200), "TIFF"),
        "I;16": _encoded(PILImage.fromarray(light.astype(np.uint16) * 257), "PNG"),
        "F": _encoded(PILImage.fromarray(light.astype(np.float32) / 255), "TIFF"),
    }


def rotated_jpeg() -> bytes:
    """A 40×30 phone photo stored sideways: EXIF orientation 6 (rotate 90° clockwise to display)."""
    exif = PILImage.Exif()
    exif[0x0112] = 6
    return _encoded(_gradient(), "JPEG", exif=exif, quality=95)


@pytest.mark.parametrize("mode", sorted(mode_files()))
@pytest.mark.parametrize("grayscale", [True, False], ids=["L", "RGB"])
def test_it_imports_and_decodes_every_pillow_mode_to_the_projects_channels(project, mode, grayscale):
    data = mode_files()[mode]
    with PILImage.open(io.BytesIO(data)) as opened:
        assert opened.mode == mode
    image, created = image_add(project=project, name=f"{mode}.img", data=data)
    assert created and (image.width, image.height) == SIDE
    with default_storage.open(image.thumbnail.name, "rb") as handle, PILImage.open(handle) as thumb:
        assert thumb.mode in ("L", "RGB") and thumb.size == SIDE
    picture = decode_image(data, size=16, grayscale=grayscale)
    assert picture.mode == ("L" if grayscale else "RGB") and picture.size == (16, 16)
    assert 40 < np.asarray(picture).mean() < 215, "not a blank or clipped picture"


def test_hsv_pictures_convert_too():
    """No allowed file format stores HSV, but an HSV picture (e.g. from a plugin) goes the same way."""
    hsv = PILImage.new("HSV", (4, 4), (0, 255, 255))  # pure red
    assert to_channels(hsv, grayscale=False).getpixel((0, 0)) == (255, 0, 0)
    assert to_channels(hsv, grayscale=True).mode == "L"


def test_it_applies_the_exif_orientation_at_import_in_thumbnails_and_in_the_cache(project):
    data = rotated_jpeg()
    image, _ = image_add(project=project, name="phone.jpg", data=data)
    assert (image.width, image.height) == (30, 40)
    with default_storage.open(image.thumbnail.name, "rb") as handle, PILImage.open(handle) as thumb:
        assert thumb.size == (30, 40)
    upright = np.asarray(_gradient().rotate(-90, expand=True).convert("L").resize((16, 16)), dtype=np.float32)
    sideways = np.asarray(_gradient().convert("L").resize((16, 16)), dtype=np.float32)
    decoded = np.asarray(decode_image(data, size=16, grayscale=True), dtype=np.float32)
    assert np.abs(decoded - upright).mean() < 6 < np.abs(decoded - sideways).mean()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("grayscale", [True, False], ids=["L", "RGB"])
def test_a_round_over_every_mode_succeeds_and_the_images_page_names_the_image_it_skipped(
    small_project, owner_client, grayscale  # noqa: F811  (fixtures imported from tests.helpers)
):
    project = small_project
    project.grayscale = grayscale
    project.save(update_fields=["grayscale"])
    odd = {mode: image_add(project=project, name=f"mode-{mode}.img", data=data)[0] for mode, data in mode_files().items()}
    odd["EXIF"] = image_add(project=project, name="phone.jpg", data=rotated_jpeg())[0]
    # An image that passed the import's checks of its day but cannot be decoded now (a LAB TIFF before
    # this fix; here its stored file got truncated on disk).
    broken = image_add(project=project, name="broken-scan.png", data=_encoded(_gradient(), "PNG"))[0]
    with default_storage.open(broken.file.name, "rb") as handle:
        whole = handle.read()
    with open(default_storage.path(broken.file.name), "wb") as handle:
        handle.write(whole[: len(whole) // 3])

    django_rq.get_queue(store.QUEUE_NAME).enqueue(run_training_round, project_id=project.pk, steps=2)
    run_burst_in_process()

    version = ModelVersion.objects.get(project=project)
    project.refresh_from_db()
    assert project.current_version == version
    total = Image.objects.filter(project=project).count()
    assert version.images == total - 1
    cached = cache_update(project=project).cache
    assert set(image.pk for image in odd.values()) <= set(cached.ids.tolist())
    assert broken.pk not in cached.ids
    assert cached.images.shape[1] == (1 if grayscale else 3)
    broken.refresh_from_db()
    assert "cannot be decoded" in broken.decode_error
    assert not Image.objects.filter(project=project).exclude(pk=broken.pk).exclude(decode_error="").exists()

    page = owner_client.get(f"/p/{project.slug}/images/").content.decode()
    assert "1 image left out of training" in page
    assert "broken-scan.png" in page and broken.decode_error.split(":")[0] in page

    run_training_round(project.pk, steps=2)  # the next round neither fails nor retries the flagged image
    assert ModelVersion.objects.filter(project=project).order_by("-number").first().number == 2
