"""Server-side latency of the label queue at scale: "next image" and "submit" with 100k images.

Creates a PostgreSQL database of its own (default ``labelapp_bench_labeling``, dropped and recreated),
bulk-creates one project with N image rows (file names only, no files) and one model version with a
prediction per image, then times the labeling services in-process, as the views call them:

    .venv/bin/python benchmarks/web/queue_latency.py [--images 100000] [--calls 300] [--out FILE.json]

It prints p50/p95 per operation and EXPLAIN (ANALYZE) of each query behind "next image", and writes
everything to ``--out`` (JSON) so RESULTS.md quotes a file, not a memory.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks.records import json_config  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=300, help="timed calls per operation")
    parser.add_argument("--annotators", type=int, default=4, help="users taking turns (leases interleave)")
    parser.add_argument("--labeled", type=float, default=0.05, help="share of images already labeled by people")
    parser.add_argument("--database", default="labelapp_bench_labeling")
    parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "web" / "results" / "queue_latency.json")
    return parser.parse_args()


def fresh_database(server: str, name: str) -> None:
    import psycopg

    with psycopg.connect(f"{server}/postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        connection.execute(f'CREATE DATABASE "{name}"')


def setup_django(args: argparse.Namespace) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="labelapp-bench-"))
    os.environ["DATA_DIR"] = str(data_dir)
    os.environ["DATABASE_URL"] = f"{args.server}/{args.database}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labelapp.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    if not os.environ.get("REDIS_URL"):  # a label save may enqueue a training round: give it a real Redis
        from labelapp.lib import embedded_redis

        socket = data_dir / "redis" / "redis.sock"
        embedded_redis.start(socket)
        os.environ["REDIS_URL"] = embedded_redis.socket_url(socket)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def populate(args: argparse.Namespace) -> dict:
    import random

    from django.contrib.auth.models import User

    from labelapp.images.models import Image
    from labelapp.labeling.models import Annotation, Source
    from labelapp.projects.models import LabelClass, Membership, Project, Role
    from labelapp.training.models import ModelVersion, Prediction

    rng = random.Random(0)
    started = time.perf_counter()
    project = Project.objects.create(slug="bench", name="Bench", image_size=28, grayscale=True, threshold=0.95)
    classes = [LabelClass.objects.create(project=project, index=i, name=f"class-{i}", hotkey=str((i + 1) % 10)) for i in range(10)]
    users = [User.objects.create_user(f"annotator-{i}", password="x") for i in range(args.annotators)]
    Membership.objects.bulk_create(Membership(project=project, user=u, role=Role.ANNOTATOR) for u in users)
    Image.objects.bulk_create(
        (
            Image(project=project, file=f"images/{i}.png", original_name=f"{i}.png", sha256=f"{i:064x}",
                  format="PNG", width=28, height=28)
            for i in range(args.images)
        ),
        batch_size=5000,
    )
    image_ids = list(Image.objects.filter(project=project).order_by("id").values_list("id", flat=True))
    version = ModelVersion.objects.create(project=project, number=1, algorithm="fixmatch", backbone="cnn-small")

    def prediction(image_id: int) -> Prediction:
        logits = [rng.gauss(0, 2) for _ in classes]
        peak = max(logits)
        weights = [2.718281828 ** (x - peak) for x in logits]
        total = sum(weights)
        probs = [w / total for w in weights]
        top = sorted(probs, reverse=True)
        entropy = -sum(p * math.log(p) for p in probs if p > 0)
        return Prediction(version=version, image_id=image_id, predicted_index=probs.index(top[0]),
                          confidence=top[0], margin=top[0] - top[1], entropy=entropy, probs=[round(p, 5) for p in probs])

    Prediction.objects.bulk_create((prediction(i) for i in image_ids), batch_size=5000)
    labeled = rng.sample(image_ids, int(len(image_ids) * args.labeled))
    Annotation.objects.bulk_create(
        (Annotation(project=project, image_id=i, label_class=classes[i % 10], source=Source.HUMAN, annotator=users[0])
         for i in labeled),
        batch_size=5000,
    )
    project.current_version = version
    project.save(update_fields=["current_version"])
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return {"project": project, "users": users, "classes": classes, "seconds": time.perf_counter() - started}


def cpu_percentiles(samples: list[float]) -> dict[str, float]:
    """p50/p95 of this process's CPU time per call (the client-side Python and driver work; PostgreSQL's
    own CPU is not in it): less at the mercy of the machine's load than wall time."""
    ordered = sorted(samples)
    return {"cpu_p50_ms": round(statistics.median(ordered) * 1000, 2),
            "cpu_p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 2)}


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
        "n": len(ordered),
    }


LAST_CPU_SECONDS = [0.0]  # this process's CPU seconds of the latest timed call


def timed(function, *args, **kwargs) -> tuple[object, float]:
    started, cpu = time.perf_counter(), time.process_time()
    result = function(*args, **kwargs)
    LAST_CPU_SECONDS[0] = time.process_time() - cpu
    return result, time.perf_counter() - started


def count_queries(project, users, classes) -> dict[str, dict[str, int]]:
    """Statements per call (BEGIN/COMMIT/SET LOCAL included): the part of latency that load can't explain."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from labelapp.labeling import services

    user = users[0]
    current = services.lease_next(project=project, user=user)
    with CaptureQueriesContext(connection) as next_queries:
        upcoming = services.lease_next(project=project, user=user, held=[current.image_id])
    with CaptureQueriesContext(connection) as submit_queries:
        services.annotation_submit(project=project, image=current.image, label_class=classes[0], user=user,
                                   expected_revision=None)
    services.lease_release(user=user, image_ids=[upcoming.image_id])
    return {"next_statements": {"n": len(next_queries)}, "submit_statements": {"n": len(submit_queries)}}


def explain_queries(project, user) -> dict[str, str]:
    from labelapp.labeling import selectors
    from labelapp.labeling.models import QueueOrder

    order = QueueOrder.objects.get(project=project)
    plans = {}
    for queue in selectors.QUEUES:
        for n, source in enumerate(selectors.queue_sources(project=project, user=user, queue=queue, order=order)):
            plans[f"{queue} source {n} ({source.model.__name__})"] = source[:16].explain(analyze=True)
    version = selectors.current_version(project)
    plans["review page (40)"] = selectors.review_queue(project, version=version)[:41].explain(analyze=True)
    plans["suspects page (20)"] = selectors.suspects_queue(project, version=version)[:21].explain(analyze=True)
    return plans


def run(args: argparse.Namespace) -> dict:
    from django.db import connection

    from labelapp.labeling import selectors, services

    data = populate(args)
    project, users, classes = data["project"], data["users"], data["classes"]
    print(f"populated {args.images} images + predictions in {data['seconds']:.1f}s", flush=True)
    _, build_seconds = timed(services.queue_order_build, project=project)
    print(f"queue order built once for version 1 in {build_seconds:.2f}s", flush=True)

    samples: dict[str, list[float]] = {
        "next": [], "submit": [], "next_low_confidence": [], "review_page": [], "suspects_page": [], "counts_uncached": [],
    }
    # As the labeling page does: each annotator holds the image in front of them while the next one is
    # leased (held=[current]), then submits the current one.
    cpu: dict[str, list[float]] = {"next": [], "submit": []}
    current = {user.pk: services.lease_next(project=project, user=user) for user in users}
    for call in range(args.calls):
        user = users[call % len(users)]
        lease = current[user.pk]
        upcoming, seconds = timed(services.lease_next, project=project, user=user, held=[lease.image_id])
        samples["next"].append(seconds)
        cpu["next"].append(LAST_CPU_SECONDS[0])
        _, seconds = timed(
            services.annotation_submit, project=project, image=lease.image, label_class=classes[call % 10],
            user=user, expected_revision=None, lease_token=lease.token,
        )
        samples["submit"].append(seconds)
        cpu["submit"].append(LAST_CPU_SECONDS[0])
        current[user.pk] = upcoming
        other, seconds = timed(services.lease_next, project=project, user=user, queue=selectors.QUEUE_LOW_CONFIDENCE,
                               held=[upcoming.image_id])
        samples["next_low_confidence"].append(seconds)
        services.lease_release(user=user, image_ids=[other.image_id])
    version = selectors.current_version(project)
    for _ in range(min(args.calls, 100)):
        _, seconds = timed(lambda: list(selectors.review_queue(project, version=version)[:41]))
        samples["review_page"].append(seconds)
        _, seconds = timed(lambda: list(selectors.suspects_queue(project, version=version)[:21]))
        samples["suspects_page"].append(seconds)
    for _ in range(20):
        _, seconds = timed(selectors.labeling_counts, project, fresh=True)
        samples["counts_uncached"].append(seconds)
    with connection.cursor() as cursor:  # the floor: one round trip to PostgreSQL on this machine now
        samples["select_1"] = []
        for _ in range(200):
            _, seconds = timed(cursor.execute, "SELECT 1")
            samples["select_1"].append(seconds)
    results = {name: percentiles(values) for name, values in samples.items()}
    for name, values in cpu.items():
        results[name].update(cpu_percentiles(values))
    results.update(count_queries(project, users, classes))
    return {
        "config": {**json_config(args),
                   "machine": f"{platform.machine()}, {os.cpu_count()} cores", "python": platform.python_version(),
                   "postgres": connection.cursor().connection.info.server_version,
                   "load_average_at_end": [round(x, 1) for x in os.getloadavg()]},
        "populate_seconds": round(data["seconds"], 1),
        "queue_order_build_seconds": round(build_seconds, 2),
        "results": results,
        "explain": explain_queries(project, users[0]),
    }


def main() -> None:
    args = parse_args()
    fresh_database(args.server, args.database)
    setup_django(args)
    report = run(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    for name, stats in report["results"].items():
        if "p50_ms" in stats:
            cpu = f"   cpu p50 {stats['cpu_p50_ms']:6.2f} ms" if "cpu_p50_ms" in stats else ""
            print(f"{name:22s} p50 {stats['p50_ms']:8.2f} ms   p95 {stats['p95_ms']:8.2f} ms   (n={stats['n']}){cpu}")
        else:
            print(f"{name:22s} {stats['n']} SQL statements per call")
    for name, plan in report["explain"].items():
        print(f"\n== EXPLAIN ANALYZE: {name}\n{plan}")
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
