"""Image validation and decoding, one way for every caller (import, thumbnails, the training cache).

Validation is by content: an allowlist of formats, a pixel limit checked from the header before
decoding, and Pillow's DecompressionBombWarning treated as an error. Decoding turns any mode Pillow
opens (1, L, LA, P with transparency, RGBA, CMYK, YCbCr, LAB, HSV, I, I;16, F, ...) into L or RGB,
applies the EXIF orientation, and holds one of ``MAX_CONCURRENT_DECODES`` process-wide slots, so a
burst of large uploads cannot decode more than that many images at once. JPEGs are decoded at a
reduced scale (``draft``) when a small result is wanted, and other formats are shrunk with
``reduce`` before resampling.
"""

from __future__ import annotations

import io
import struct
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import cast

import numpy as np
from PIL import Image as PILImage
from PIL import ImageCms, ImageOps, UnidentifiedImageError

from labelapp.lib.env import env_int

ALLOWED_FORMATS = {"PNG": "png", "JPEG": "jpg", "GIF": "gif", "BMP": "bmp", "WEBP": "webp", "TIFF": "tif"}
# The content type a stored image is served with: from the format found by content, never the upload's.
CONTENT_TYPES = {
    "PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif",
    "BMP": "image/bmp", "WEBP": "image/webp", "TIFF": "image/tiff",
}
# Images decoded at once in this process (web or worker); each may take a few bytes per pixel up to
# MAX_IMAGE_PIXELS. Read from the environment when the module loads.
DECODE_SLOTS = threading.BoundedSemaphore(env_int("MAX_CONCURRENT_DECODES", 2, minimum=1))
# Modes that hold one channel of light: their previews stay grayscale.
GRAY_MODES = frozenset({"1", "L", "LA", "La", "I", "F", "I;16", "I;16L", "I;16B", "I;16N", "I;16S"})
# Modes that are expanded before resampling (palettes, bilevel, and 16-bit, which Pillow cannot resize).
EXPAND_FIRST = frozenset({"1", "P", "PA", "I;16", "I;16L", "I;16B", "I;16N", "I;16S"})
ORIENTATION = 0x0112  # the EXIF tag
TURNED = frozenset({5, 6, 7, 8})  # orientations that swap width and height
BACKGROUND = (255, 255, 255)  # what transparent pixels become
PREVIEW_SIZE = 128
REDUCE_BAND_ROWS = 256  # rows of the full-size image reduced at a time


class InvalidImage(ValueError):
    """The bytes are not an acceptable image; the message says why, for the person who sent them."""


@dataclass(frozen=True)
class CheckedImage:
    """What a validated image is: its format, extension and size as shown (EXIF orientation applied)."""

    format: str
    extension: str
    width: int
    height: int


@contextmanager
def _opened(data: bytes, *, max_pixels: int | None) -> Iterator[PILImage.Image]:
    """The image, opened and checked from its header (format allowlist, pixel limit), with every failure of
    opening or decoding inside the block turned into :class:`InvalidImage`."""
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
                if max_pixels is not None and width * height > max_pixels:
                    raise InvalidImage(f"image is {width}×{height} pixels, over the limit of {max_pixels}")
                image.seek(0)
                yield image
        except InvalidImage:
            raise
        except (PILImage.DecompressionBombWarning, PILImage.DecompressionBombError) as exc:
            raise InvalidImage(f"refused as a decompression bomb: {exc}") from exc
        except UnidentifiedImageError as exc:
            raise InvalidImage("not an image (content is not a recognised image format)") from exc
        except (OSError, EOFError, SyntaxError, ValueError, TypeError, KeyError, IndexError, struct.error,
                ZeroDivisionError, ImageCms.PyCMSError) as exc:  # what Pillow's decoders raise on bad data
            raise InvalidImage(f"corrupt image (cannot be decoded): {exc}") from exc


@lru_cache(maxsize=1)
def _lab_to_srgb() -> ImageCms.ImageCmsTransform:
    return ImageCms.buildTransform(ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB"), "LAB", "RGB")


def _scaled_to_l(image: PILImage.Image) -> PILImage.Image:
    """32-bit integer, 16-bit and float images to 8-bit gray: values already in 0-255 as they are, 16-bit
    ranges divided down, floats in 0-1 scaled up, anything else stretched from its own min to max."""
    values = np.nan_to_num(np.asarray(image, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    ranges = ((1.0, 255.0),) if image.mode == "F" else ()
    for top, factor in (*ranges, (255.0, 1.0), (65535.0, 255.0 / 65535.0)):
        if low >= 0 and high <= top:
            values *= factor
            break
    else:
        values = (values - low) * (255.0 / (high - low))
    return PILImage.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8), mode="L")


def to_channels(image: PILImage.Image, *, grayscale: bool) -> PILImage.Image:
    """Any Pillow mode as L (``grayscale``) or RGB: LAB through a colour transform to sRGB, wide integer
    and float modes scaled to 8 bits, transparency composited onto white."""
    target = "L" if grayscale else "RGB"
    if image.mode == "LAB":
        image = cast(PILImage.Image, ImageCms.applyTransform(image, _lab_to_srgb()))  # None only in place
    elif image.mode == "HSV":
        image = image.convert("RGB")
    elif image.mode in ("I", "F") or image.mode.startswith("I;16"):
        image = _scaled_to_l(image)
    if image.has_transparency_data:
        rgba = image if image.mode == "RGBA" else image.convert("RGBA")
        flat = PILImage.new("RGB", rgba.size, BACKGROUND)
        flat.paste(rgba, mask=rgba.getchannel("A"))
        image = flat
    return image if image.mode == target else image.convert(target)


def _target_size(width: int, height: int, *, size: int, square: bool) -> tuple[int, int]:
    if square:
        return size, size
    scale = max(width, height) / size
    if scale <= 1:
        return width, height  # previews are never enlarged
    return max(1, round(width / scale)), max(1, round(height / scale))


def _reduced(image: PILImage.Image, factor: tuple[int, int]) -> PILImage.Image:
    """``image.reduce(factor)`` band by band: Pillow premultiplies an image with alpha into a full-size copy
    before reducing it, so the bands bound that copy to ``REDUCE_BAND_ROWS`` rows."""
    step_x, step_y = factor
    rows = step_y * max(1, REDUCE_BAND_ROWS // step_y)  # whole blocks per band, so bands join exactly
    width, height = image.size
    reduced = PILImage.new(image.mode, (-(-width // step_x), -(-height // step_y)))
    for top in range(0, height, rows):
        reduced.paste(image.crop((0, top, width, min(top + rows, height))).reduce(factor), (0, top // step_y))
    return reduced


def _decoded(image: PILImage.Image, *, grayscale: bool, size: int, square: bool) -> PILImage.Image:
    """Decode an opened image to L/RGB: ``size``×``size`` when ``square`` (the training cache), else fitted
    inside that box keeping its aspect (previews).

    Memory stays near one copy of the decoded pixels: a box ``reduce`` to about twice the target size
    comes before anything else touches the full-size image, band by band (Pillow's own ``resize`` and
    ``reduce`` of an image with alpha would first make a premultiplied full-size copy).
    """
    if image.format == "JPEG":
        image.draft("L" if grayscale else "RGB", (size, size))  # DCT scaling: decode at 1/2, 1/4 or 1/8
    image.load()
    ImageOps.exif_transpose(image, in_place=True)
    if image.mode in EXPAND_FIRST:
        image = to_channels(image, grayscale=grayscale)
    target = _target_size(*image.size, size=size, square=square)
    factor = (max(1, image.width // (2 * target[0])), max(1, image.height // (2 * target[1])))
    if factor != (1, 1):
        image = _reduced(image, factor)
    if image.size != target:
        image = image.resize(target, PILImage.Resampling.BILINEAR)
    return to_channels(image, grayscale=grayscale)


def check_image(data: bytes, *, max_pixels: int, preview_size: int = PREVIEW_SIZE) -> tuple[CheckedImage, PILImage.Image]:
    """Validate ``data`` as an image of an allowed format no larger than ``max_pixels`` and decode all of it
    (a JPEG at the preview's DCT scale), through the same conversion as the training cache, so a later
    decode does not fail; returns what it is and a preview fitted in ``preview_size``², in L for
    one-channel modes and RGB otherwise."""
    with DECODE_SLOTS, _opened(data, max_pixels=max_pixels) as image:
        image_format = image.format or ""
        width, height = image.size
        if image.getexif().get(ORIENTATION, 1) in TURNED:
            width, height = height, width
        preview = _decoded(image, grayscale=image.mode in GRAY_MODES, size=preview_size, square=False)
    return CheckedImage(format=image_format, extension=ALLOWED_FORMATS[image_format], width=width, height=height), preview


def decode_image(data: bytes, *, size: int, grayscale: bool) -> PILImage.Image:
    """Decode image bytes to a ``size``×``size`` image in mode L or RGB (the training cache's input).

    Raises :class:`InvalidImage` when the bytes cannot be decoded, whatever the reason.
    """
    with DECODE_SLOTS, _opened(data, max_pixels=None) as image:
        return _decoded(image, grayscale=grayscale, size=size, square=True)
