"""Image validation by content: an allowlist of formats, a pixel limit checked before decoding,
and Pillow's DecompressionBombWarning treated as an error."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image as PILImage
from PIL import UnidentifiedImageError

ALLOWED_FORMATS = {"PNG": "png", "JPEG": "jpg", "GIF": "gif", "BMP": "bmp", "WEBP": "webp", "TIFF": "tif"}
# The content type a stored image is served with: from the format found by content, never the upload's.
CONTENT_TYPES = {
    "PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif",
    "BMP": "image/bmp", "WEBP": "image/webp", "TIFF": "image/tiff",
}


class InvalidImage(ValueError):
    """The bytes are not an acceptable image; the message says why, for the person who sent them."""


@dataclass(frozen=True)
class CheckedImage:
    """What a validated image is: its format, extension and size."""

    format: str
    extension: str
    width: int
    height: int


def check_image(data: bytes, *, max_pixels: int) -> CheckedImage:
    """Validate ``data`` as an image of an allowed format no larger than ``max_pixels``; fully decodes it."""
    if not data:
        raise InvalidImage("empty file")
    with warnings.catch_warnings():
        warnings.simplefilter("error", PILImage.DecompressionBombWarning)
        try:
            with PILImage.open(io.BytesIO(data)) as image:
                image_format = image.format or ""
                if image_format not in ALLOWED_FORMATS:
                    raise InvalidImage(f"format {image_format or 'unknown'} is not allowed")
                width, height = image.size
                if width * height > max_pixels:
                    raise InvalidImage(f"image is {width}×{height} pixels, over the limit of {max_pixels}")
                image.load()
        except InvalidImage:
            raise
        except (PILImage.DecompressionBombWarning, PILImage.DecompressionBombError) as exc:
            raise InvalidImage(f"refused as a decompression bomb: {exc}") from exc
        except UnidentifiedImageError as exc:
            raise InvalidImage("not an image (content is not a recognised image format)") from exc
        except (OSError, SyntaxError, ValueError) as exc:
            raise InvalidImage(f"corrupt image: {exc}") from exc
    return CheckedImage(format=image_format, extension=ALLOWED_FORMATS[image_format], width=width, height=height)


def decode_rgb_or_gray(data: bytes, *, size: int, grayscale: bool) -> PILImage.Image:
    """Decode already-validated bytes to a ``size``×``size`` image in mode L or RGB."""
    with PILImage.open(io.BytesIO(data)) as image:
        image.seek(0)
        converted = image.convert("L" if grayscale else "RGB")
    return converted.resize((size, size), PILImage.BILINEAR)
