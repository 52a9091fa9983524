"""Peak Python memory of a streamed CSV/JSON label export as the project grows (it should stay flat).

    .venv/bin/python benchmarks/api/export_memory.py [--sizes 2000 20000 60000]

A fresh SQLite DATA_DIR; for each size, that many image rows with a human label each (rows only: the CSV
and JSON exports never open image files), then ``labels_export_chunks`` is consumed chunk by chunk
under ``tracemalloc``. Prints and writes ``benchmarks/api/results/export_memory.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent / "results"


def fill(project, count: int) -> None:
    from django.contrib.auth.models import User

    from labelapp.images.models import Image
    from labelapp.labeling.models import Annotation

    user = User.objects.get_or_create(username="bench-annotator")[0]
    classes = list(project.classes.all())
    start = Image.objects.filter(project=project).count()
    images = Image.objects.bulk_create(
        Image(project=project, file=f"images/bench/{n}.png", original_name=f"img-{n}.png", sha256=f"{n:064x}",
              format="PNG", width=28, height=28)
        for n in range(start, count)
    )
    Annotation.objects.bulk_create(
        Annotation(project=project, image=image, label_class=classes[image.pk % len(classes)], annotator=user)
        for image in images
    )


def measure(project, fmt: str, count: int) -> dict:
    from labelapp.exports.selectors import LabelOptions
    from labelapp.exports.services import labels_export_chunks

    started = time.perf_counter()
    total = sum(len(chunk) for chunk in labels_export_chunks(project=project, fmt=fmt, options=LabelOptions()))
    seconds = time.perf_counter() - started  # timed without tracemalloc, which slows Python several-fold
    tracemalloc.start()
    for _ in labels_export_chunks(project=project, fmt=fmt, options=LabelOptions()):
        pass
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"format": fmt, "bytes": total, "seconds": round(seconds, 2), "rows_per_second": round(count / seconds),
            "peak_mib": round(peak / 2**20, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000, 60000])
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="labelapp-export-memory-"))
    os.environ.update(DATA_DIR=str(data_dir), DJANGO_SETTINGS_MODULE="labelapp.settings")
    os.environ.pop("DATABASE_URL", None)
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    from django.core.management import call_command

    from labelapp.projects.models import LabelClass, Project

    try:
        call_command("migrate", verbosity=0)
        project = Project.objects.create(slug="memory", name="Memory")
        for index, name in enumerate(["shirt", "trouser", "bag"]):
            LabelClass.objects.create(project=project, index=index, name=name)
        rows = []
        for size in sorted(args.sizes):
            fill(project, size)
            for fmt in ("csv", "json"):
                rows.append({"labels": size, **measure(project, fmt, size)})
                print(rows[-1], flush=True)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    OUT.mkdir(exist_ok=True)
    (OUT / "export_memory.json").write_text(json.dumps({"sizes": args.sizes, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
