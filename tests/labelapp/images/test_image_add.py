import io

import numpy as np
import pytest
from PIL import Image as PILImage

from labelapp.images.services import image_add
from labelapp.lib.images import InvalidImage


def png_bytes(seed: int) -> bytes:
    array = np.random.default_rng(seed).integers(0, 255, (28, 28), dtype=np.uint8)
    buffer = io.BytesIO()
    PILImage.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def test_image_is_stored_under_a_server_made_name(project):
    image, created = image_add(project=project, name="../../etc/passwd.png", data=png_bytes(0))
    assert created and image.original_name == "passwd.png"
    assert ".." not in image.file.name and image.file.name.startswith(f"images/{project.pk}/")


def test_same_bytes_twice_are_stored_once(project):
    first, _ = image_add(project=project, name="a.png", data=png_bytes(1))
    second, created = image_add(project=project, name="b.png", data=png_bytes(1))
    assert not created and second.pk == first.pk


def test_html_named_png_is_refused(project):
    with pytest.raises(InvalidImage, match="not an image"):
        image_add(project=project, name="x.png", data=b"<html><script>alert(1)</script></html>")
