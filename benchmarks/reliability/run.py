"""Reliability benchmark steps too heavy for ``make test``; writes results/reliability.json and prints the
markdown rows of benchmarks/RESULTS.md's "Reliability" section.

    .venv/bin/python benchmarks/reliability/run.py

1. PostgreSQL restart under a running web server (a throwaway cluster from initdb, a real daphne
   subprocess): ``RELIABILITY_SLOW=1 pytest tests/reliability/test_service_restarts.py -k postgres``.
2. Decompression bombs: for each 20,000 × 20,000 bomb (PNG, GIF, TIFF), the time to refuse it and the
   growth of peak RSS in a fresh process, with Pillow's own bomb check off (the app's limit alone).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).resolve().parent / "results" / "reliability.json"

BOMB_PROBE = """
import json, resource, time
from PIL import Image
Image.MAX_IMAGE_PIXELS = None
from tests.reliability.bombs import BOMBS
from labelapp.lib.images import InvalidImage, check_image
out = {}
for kind, make in BOMBS.items():
    data = make()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    try:
        check_image(data, max_pixels=40_000_000)
        verdict = "ACCEPTED"
    except InvalidImage as exc:
        verdict = str(exc)
    out[kind] = {"file_bytes": len(data), "seconds": round(time.perf_counter() - started, 4),
                 "peak_rss_growth_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before, "verdict": verdict}
print(json.dumps(out))
"""


def postgres_restart() -> dict:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/reliability/test_service_restarts.py", "-k", "postgres", "-q", "-rs"],
        cwd=REPO, env={**os.environ, "RELIABILITY_SLOW": "1"}, capture_output=True, text=True,
    )
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr[-500:]
    return {"passed": result.returncode == 0, "summary": summary, "seconds": round(time.perf_counter() - started, 1)}


def bombs() -> dict:
    result = subprocess.run([sys.executable, "-c", BOMB_PROBE], cwd=REPO, capture_output=True, text=True,
                            env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO)}, check=True)
    return json.loads(result.stdout)


def main() -> None:
    results = {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "postgres_restart": postgres_restart(), "bombs": bombs()}
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    pg = results["postgres_restart"]
    print(f"| PostgreSQL restart under a running server | {'pass' if pg['passed'] else 'FAIL'} | {pg['summary']} ({pg['seconds']} s) |")
    for kind, row in results["bombs"].items():
        print(f"| {kind.upper()} bomb 20000×20000, {row['file_bytes']:,} bytes | refused in {row['seconds'] * 1000:.1f} ms, "
              f"peak RSS +{row['peak_rss_growth_kib'] / 1024:.1f} MiB | {row['verdict'][:60]} |")


if __name__ == "__main__":
    main()
