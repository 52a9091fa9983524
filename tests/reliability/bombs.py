"""Decompression bombs: tiny files whose headers promise 20,000 × 20,000 pixels (no Django here, so a
bare process can measure refusing them)."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image as PILImage

SIDE = 20_000  # 400M pixels: 10x the default MAX_IMAGE_PIXELS


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(side: int = SIDE) -> bytes:
    """A valid ~60 KB 1-bit PNG of ``side``² black pixels (its IDAT inflates to ~50 MB, decodes to 400 MB)."""
    compressor = zlib.compressobj(9)
    row = b"\0" * (1 + (side + 7) // 8)
    idat = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _small(fmt: str) -> bytes:
    buffer = io.BytesIO()
    PILImage.new("L", (16, 16)).save(buffer, format=fmt)
    return buffer.getvalue()


def gif_bomb(side: int = SIDE) -> bytes:
    """A GIF whose screen and frame say ``side``² pixels (a frame of one repeated code inflates to that)."""
    data = bytearray(_small("GIF"))
    data[6:10] = struct.pack("<HH", side, side)  # logical screen
    frame = data.index(b"\x2c")  # image descriptor: left, top, width, height
    data[frame + 5 : frame + 9] = struct.pack("<HH", side, side)
    return bytes(data)


def tiff_bomb(side: int = SIDE) -> bytes:
    """A TIFF whose ImageWidth/ImageLength tags say ``side``² pixels."""
    data = bytearray(_small("TIFF"))
    assert data[:4] == b"II*\0"
    ifd = struct.unpack("<I", data[4:8])[0]
    for entry in range(struct.unpack("<H", data[ifd : ifd + 2])[0]):
        at = ifd + 2 + 12 * entry
        tag = struct.unpack("<H", data[at : at + 2])[0]
        if tag in (256, 257):  # ImageWidth, ImageLength
            data[at + 2 : at + 12] = struct.pack("<HII", 4, 1, side)
    return bytes(data)


BOMBS = {"png": png_bomb, "gif": gif_bomb, "tiff": tiff_bomb}
