"""The dashboard's annotator statistics at scale: ``annotator_report`` over a 100k-image label history.

Creates a PostgreSQL database of its own (default ``labelapp_bench_people``, dropped and recreated) with one
project of N image rows (file names only), a prediction per image, a human label event for every image by
one of 8 annotators (3 s apart per person, with a break every 200 labels), a second person's label on 10% of
the images (agreement) and a reviewer's change on 2%, then times the report:

    .venv/bin/python benchmarks/web/annotator_stats.py [--images 100000] [--repeats 7] [--out FILE.json]

It prints and writes (``--out``, JSON) the median wall and process-CPU seconds, the SQL statement count and
the machine's load average.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks.records import run_header  # noqa: E402
from benchmarks.web.queue_latency import fresh_database, setup_django  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--annotators", type=int, default=8)
    parser.add_argument("--double", type=float, default=0.10, help="share of images a second person also labels")
    parser.add_argument("--changed", type=float, default=0.02, help="share of images a reviewer relabels")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--reuse", action="store_true", help="time the database a previous run populated")
    parser.add_argument("--database", default="labelapp_bench_people")
    parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "web" / "results" / "annotator_stats.json")
    return parser.parse_args()


def populate(args: argparse.Namespace):
    from django.contrib.auth.models import User
    from django.db import connection

    from labelapp.images.models import Image
    from labelapp.labeling.models import Annotation, AnnotationEvent, Source
    from labelapp.projects.models import LabelClass, Membership, Project, Role
    from labelapp.training.models import ModelVersion, Prediction

    rng = random.Random(0)
    project = Project.objects.create(slug="bench", name="Bench", image_size=28, grayscale=True, threshold=0.95)
    classes = [LabelClass.objects.create(project=project, index=i, name=f"class-{i}") for i in range(10)]
    people = [User.objects.create_user(f"annotator-{i}", password=None) for i in range(args.annotators)]
    reviewer = User.objects.create_user("reviewer", password=None)
    Membership.objects.bulk_create([Membership(project=project, user=u, role=Role.ANNOTATOR) for u in people]
                                   + [Membership(project=project, user=reviewer, role=Role.REVIEWER)])
    Image.objects.bulk_create(
        (Image(project=project, file=f"images/{i}.png", original_name=f"{i}.png", sha256=f"{i:064x}", format="PNG",
               width=28, height=28) for i in range(args.images)),
        batch_size=5000,
    )
    image_ids = list(Image.objects.filter(project=project).order_by("id").values_list("id", flat=True))
    truth = {i: rng.randrange(10) for i in image_ids}
    version = ModelVersion.objects.create(project=project, number=1, algorithm="fixmatch", backbone="cnn-small")
    Prediction.objects.bulk_create(
        (Prediction(version=version, image_id=i, predicted_index=truth[i] if rng.random() < 0.9 else rng.randrange(10),
                    confidence=rng.uniform(0.5, 1.0), margin=0.1, entropy=0.5, probs=[]) for i in image_ids),
        batch_size=5000,
    )
    events, current = [], {}
    for n, image_id in enumerate(image_ids):  # first labels
        person = people[n % len(people)]
        label = truth[image_id] if rng.random() < 0.92 else rng.randrange(10)
        events.append(AnnotationEvent(project=project, image_id=image_id, user=person, action="labeled",
                                      label_class=classes[label], source=Source.HUMAN, revision=1))
        current[image_id] = (person, label, 1)
    for image_id in rng.sample(image_ids, int(len(image_ids) * args.double)):  # a second person's label
        first, first_label, revision = current[image_id]
        second = people[(people.index(first) + 1) % len(people)]
        label = truth[image_id] if rng.random() < 0.92 else rng.randrange(10)
        events.append(AnnotationEvent(project=project, image_id=image_id, user=second, action="labeled",
                                      label_class=classes[label], source=Source.HUMAN, revision=revision + 1,
                                      previous_class=classes[first_label], previous_source=Source.HUMAN,
                                      previous_annotator=first))
        current[image_id] = (second, label, revision + 1)
    for image_id in rng.sample(image_ids, int(len(image_ids) * args.changed)):  # a reviewer's change
        before, before_label, revision = current[image_id]
        label = (before_label + 1) % 10
        events.append(AnnotationEvent(project=project, image_id=image_id, user=reviewer, action="labeled",
                                      label_class=classes[label], source=Source.HUMAN, revision=revision + 1,
                                      previous_class=classes[before_label], previous_source=Source.HUMAN,
                                      previous_annotator=before))
        current[image_id] = (reviewer, label, revision + 1)
    AnnotationEvent.objects.bulk_create(events, batch_size=5000)
    Annotation.objects.bulk_create(
        (Annotation(project=project, image_id=i, label_class=classes[label], source=Source.HUMAN, annotator=person,
                    revision=revision) for i, (person, label, revision) in current.items()),
        batch_size=5000,
    )
    # Each person labels every 3 s, with a 10-minute break after every 200 of their labels (not active time).
    table = AnnotationEvent._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"""
            UPDATE {table} e SET created_at = TIMESTAMPTZ '2026-11-30 09:00:00+00'
                + (s.n * 3 + (s.n / 200) * 600) * INTERVAL '1 second'
            FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY id) - 1 AS n FROM {table}) s
            WHERE e.id = s.id
        """)
        cursor.execute("ANALYZE")
    project.current_version = version
    project.save(update_fields=["current_version"])
    return project, len(events)


def main() -> None:
    args = parse_args()
    if not args.reuse:
        fresh_database(args.server, args.database)
    setup_django(args)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from labelapp.labeling.annotator_stats import annotator_report

    started = time.perf_counter()
    if args.reuse:
        from labelapp.labeling.models import AnnotationEvent
        from labelapp.projects.models import Project

        project = Project.objects.get(slug="bench")
        events = AnnotationEvent.objects.filter(project=project).count()
    else:
        project, events = populate(args)
    populate_seconds = time.perf_counter() - started
    annotator_report(project)  # warm: plans and caches
    walls, cpus = [], []
    for _ in range(args.repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        report = annotator_report(project)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    with CaptureQueriesContext(connection) as queries:
        annotator_report(project)
    result = {
        **run_header("annotator_stats", "benchmarks/web/annotator_stats.py", args),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "load_average": os.getloadavg()},
        "images": args.images, "events": events, "populate_seconds": round(populate_seconds, 1),
        "report_wall_seconds": {"median": statistics.median(walls), "all": walls},
        "report_process_cpu_seconds": {"median": statistics.median(cpus), "all": cpus},
        "sql_statements": len(queries.captured_queries),
        "people": [{"username": p.username, "labels": p.labels, "active_seconds": round(p.active_seconds),
                    "labels_per_hour": p.labels_per_hour and round(p.labels_per_hour), "changed": p.changed,
                    "contradicted": p.contradicted, "checked": p.checked, "agreed": p.agreed, "pairs": p.pairs}
                   for p in report.people],
        "pairs": len(report.pairs), "overall_agreement": report.agreement,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(json.dumps({k: result[k] for k in ("images", "events", "report_wall_seconds", "report_process_cpu_seconds",
                                                "sql_statements", "machine")}, indent=2, default=str))


if __name__ == "__main__":
    main()
