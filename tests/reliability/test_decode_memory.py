"""Decoding big images costs bounded memory: at most ``MAX_CONCURRENT_DECODES`` images are decoded at
once per process, a JPEG wanted small is decoded at a reduced DCT scale (``draft``), and other formats
are box-reduced band by band, so no second full-size copy is made. Peak RSS is measured in a fresh
process (``ru_maxrss``), like the bomb test."""

from __future__ import annotations

import subprocess
import sys

from PIL import Image as PILImage

from tests.reliability.servers import REPO

SIDE = 6300  # just under the 40M-pixel cap: one RGBA decode is 151 MiB
DECODED_MIB = SIDE * SIDE * 4 / 2**20

MEASURE = """
import resource, sys, threading
from labelapp.lib.images import check_image, decode_image

def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MiB

png, jpeg = (open(path, "rb").read() for path in sys.argv[1:3])
before = peak()
small = decode_image(jpeg, size=32, grayscale=False)
assert small.size == (32, 32), small.size
print("jpeg", peak() - before)
before = peak()
failures = []
def upload():
    try:
        check_image(png, max_pixels=40_000_000)
    except Exception as exc:
        failures.append(repr(exc))
threads = [threading.Thread(target=upload) for _ in range(4)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
assert not failures, failures
print("png", peak() - before)
"""


def test_four_concurrent_uploads_of_big_rgba_pngs_and_a_big_jpeg_stay_within_one_decode(tmp_path):
    png, jpeg = tmp_path / "big.png", tmp_path / "big.jpg"
    PILImage.new("RGBA", (SIDE, SIDE), (10, 200, 30, 128)).save(png)
    PILImage.new("RGB", (6000, 4000), (200, 120, 40)).save(jpeg, quality=90)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "DJANGO_SETTINGS_MODULE": "", "MAX_CONCURRENT_DECODES": "1"}
    result = subprocess.run([sys.executable, "-c", MEASURE, str(png), str(jpeg)], cwd=REPO, capture_output=True,
                            text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    growth = dict((name, float(value)) for name, value in (line.split() for line in result.stdout.splitlines()))
    # A full decode of the JPEG is 69 MiB; at 1/8 scale it is about 1 MiB.
    assert growth["jpeg"] < 24, f"decoding a 6000×4000 JPEG to 32 px grew peak RSS by {growth['jpeg']:.0f} MiB"
    # One slot: one decoded image at a time (151 MiB), not four, and no second full-size copy (the code
    # before this bound grew by 585 MiB: four decodes at once).
    assert growth["png"] < 2 * DECODED_MIB, f"four concurrent decodes grew peak RSS by {growth['png']:.0f} MiB"
