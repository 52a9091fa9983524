"""Server-side speed of the images data browser at scale: grid pages under every sort (first page and a
page deep in the list), a filtered page, the match count, and nearest neighbours over 60k embeddings.

Reuses ``queue_latency``'s PostgreSQL database and population (N image rows, one version with a
prediction per image, a share labeled by people), adds one stored embedding matrix (random, float32),
then times the selectors in-process, as the views call them:

    .venv/bin/python benchmarks/web/browser_speed.py [--images 60000] [--dim 128] [--calls 30] [--out FILE.json]

Reports wall p50/p95 and process CPU seconds per call; writes everything to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks.records import run_header  # noqa: E402
from benchmarks.web.queue_latency import fresh_database, percentiles, populate, setup_django  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=60_000)
    parser.add_argument("--dim", type=int, default=128, help="embedding width")
    parser.add_argument("--calls", type=int, default=30, help="timed calls per operation")
    parser.add_argument("--annotators", type=int, default=2)
    parser.add_argument("--labeled", type=float, default=0.05, help="share of images already labeled by people")
    parser.add_argument("--database", default="labelapp_bench_browser")
    parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "web" / "results" / "browser_speed.json")
    return parser.parse_args()


def measure(function, calls: int) -> dict:
    """Wall percentiles and median process CPU seconds of ``calls`` calls of ``function``."""
    walls, cpus = [], []
    for _ in range(calls):
        wall, cpu = time.perf_counter(), time.process_time()
        function()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return {**percentiles(walls), "cpu_p50_ms": round(statistics.median(cpus) * 1000, 2)}


def main() -> None:
    args = parse_args()
    fresh_database(args.server, args.database)
    setup_django(args)
    import numpy as np

    from labelapp.labeling import browser
    from labelapp.labeling.neighbours import INDEXES, nearest_images
    from labelapp.training.cache import atomic_savez, embeddings_path

    population = populate(args)
    project = population["project"]
    version = project.current_version
    ids = np.array(list(project.images.order_by("id").values_list("id", flat=True)), dtype=np.int64)
    rng = np.random.default_rng(0)
    atomic_savez(embeddings_path(version), ids=ids, embeddings=rng.normal(size=(len(ids), args.dim)).astype(np.float32))

    results: dict[str, dict] = {}
    for name, sort in browser.SORTS.items():
        results[f"first page · {name}"] = measure(lambda sort=sort: browser.browser_page(project, version=version, sort=sort), args.calls)
        middle = browser.browser_page(project, version=version, sort=sort, size=len(ids) // 2).images[-1]
        cursor = sort.decode(sort.encode(middle))
        results[f"page at row {len(ids) // 2} · {name}"] = measure(
            lambda sort=sort, cursor=cursor: browser.browser_page(project, version=version, sort=sort, after=cursor), args.calls
        )
    filters = browser.BrowserFilters(source="unlabeled", min_confidence=0.5, predicted_index=3)
    results["filtered page (unlabeled, predicted 3, conf ≥ 0.5) · most-confident"] = measure(
        lambda: browser.browser_page(project, version=version, filters=filters, sort=browser.SORTS["most-confident"]), args.calls
    )
    results["match count (same filters)"] = measure(lambda: browser.browser_count(project, version=version, filters=filters), args.calls)
    results["match count (no filter)"] = measure(lambda: browser.browser_count(project, version=version, filters=browser.BrowserFilters()), args.calls)

    INDEXES.clear()
    probe = int(ids[len(ids) // 3])
    results["neighbours · cold (load + normalise the matrix)"] = measure(lambda: (INDEXES.clear(), nearest_images(version, probe)), 5)
    nearest_images(version, probe)
    results["neighbours · cached (top-12 cosine)"] = measure(
        lambda: nearest_images(version, int(ids[rng.integers(len(ids))])), args.calls * 10
    )

    record = {
        **run_header("browser_speed", "benchmarks/web/browser_speed.py", args),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "load_1m_5m_15m": os.getloadavg()},
        "database": "postgresql",
        "populate_seconds": round(population["seconds"], 1),
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    for name, numbers in results.items():
        print(f"{name:70s} p50 {numbers['p50_ms']:8.2f} ms  p95 {numbers['p95_ms']:8.2f} ms  cpu {numbers['cpu_p50_ms']:8.2f} ms")


if __name__ == "__main__":
    main()
