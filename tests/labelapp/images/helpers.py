"""Real test images: Fashion-MNIST PNGs from the demo zip, and zips built from them."""

from __future__ import annotations

import io
import zipfile
from functools import cache
from pathlib import Path

from PIL import Image as PILImage

DEMO_ZIP = Path(__file__).resolve().parents[3] / "labelapp" / "demo" / "fashion_mnist_demo.zip"


@cache
def demo_pngs(count: int) -> tuple[tuple[str, bytes], ...]:
    """The first ``count`` (``class/nnnnn.png``, bytes) members of the demo dataset."""
    with zipfile.ZipFile(DEMO_ZIP) as archive:
        names = [name for name in archive.namelist() if name.endswith(".png")][:count]
        return tuple((name, archive.read(name)) for name in names)


def zip_bytes(entries: list[tuple[str | zipfile.ZipInfo, bytes]]) -> bytes:
    """A zip holding ``entries`` (names are written as given, ``../`` included)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()


def bomb_png(side: int = 8000) -> bytes:
    """A small PNG file that decodes to ``side``² pixels (64M by default: over the 40M limit)."""
    buffer = io.BytesIO()
    PILImage.new("1", (side, side)).save(buffer, format="PNG")
    return buffer.getvalue()


def corrupt_png() -> bytes:
    """A real PNG cut in half: the header parses, the pixels do not."""
    data = demo_pngs(1)[0][1]
    return data[: len(data) // 2]


HTML_AS_PNG = b"<!doctype html><html><script>alert(document.cookie)</script></html>"
