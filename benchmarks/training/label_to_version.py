"""Label → version: how long after a new human label is a model version that learned from it current?

Setup: a temp DATA_DIR with SQLite (or ``--database-url``) and an embedded redis-server; one project
with the first ``--images`` Fashion-MNIST training images added as PNGs through ``image_add`` (28 px,
grayscale, 10 classes) and ``--labels-per-class`` human labels; a real worker process
(``manage.py rqworker training --worker-class rq.SimpleWorker``). One round warms it (it builds the
image cache and the model). Then, with the project's training on:

- idle: nothing is running; one new human label is committed (the label's post_save → on-commit
  enqueue → the warm worker runs a round of ``--seconds`` → flip). Measured from the label's commit to
  the moment the project's current version is one whose ``labels_until`` is after the label.
- busy (``--busy``): a label arrives halfway through a running round of the continuous chain; it is
  picked up by the next round, so the wait is the rest of the running round plus one round.

The split comes from ``ModelVersion.timings`` of the version that first contained the label.

    .venv/bin/python benchmarks/training/label_to_version.py --images 10000 --seconds 30 --busy --json benchmarks/training/results/label_to_version.json
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.label_efficiency import app_env  # noqa: E402

POLL_SECONDS = 0.02


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=10_000, help="first N Fashion-MNIST training images")
    parser.add_argument("--seconds", type=float, default=30.0, help="training budget of a round")
    parser.add_argument("--labels-per-class", type=int, default=10)
    parser.add_argument("--busy", action="store_true", help="also measure a label that arrives mid-round")
    parser.add_argument("--threads", type=int, default=None, help="OMP_NUM_THREADS of the worker (default: torch's)")
    parser.add_argument("--database-url", default=None, help="default: SQLite in the temp DATA_DIR")
    parser.add_argument("--json", type=Path, required=True)
    return parser.parse_args()


def png(array) -> bytes:
    from PIL import Image as PILImage

    buffer = io.BytesIO()
    PILImage.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def build_project(images: int, labels_per_class: int, seconds: float):
    """The project, its images (through image_add) and its first human labels; returns (project, seconds, spare image ids)."""
    from django.contrib.auth.models import User

    from labelapp.images.services import image_add
    from labelapp.labeling.models import Annotation
    from labelapp.projects.models import LabelClass, Membership, Project, Role
    from sslengine.datasets import load_fashion_mnist

    data = load_fashion_mnist("train")
    owner = User.objects.create_user("bench-owner", password="bench-password-1")
    project = Project.objects.create(
        slug="bench", name="Bench", created_by=owner, image_size=28, grayscale=True, round_seconds=max(1, round(seconds))
    )
    Membership.objects.create(project=project, user=owner, role=Role.OWNER)
    classes = [LabelClass.objects.create(project=project, index=i, name=name) for i, name in enumerate(data.classes)]
    started = time.perf_counter()
    added = [image_add(project=project, name=f"{i}.png", data=png(data.images[i, 0].numpy()))[0] for i in range(images)]
    add_seconds = time.perf_counter() - started
    truth = data.labels[:images].tolist()
    per_class = {index: 0 for index in range(len(classes))}
    spare = []
    for image, index in zip(added, truth):
        if per_class[index] < labels_per_class:
            Annotation.objects.create(project=project, image=image, label_class=classes[index], annotator=owner)
            per_class[index] += 1
        else:
            spare.append((image.pk, index))
    return project, add_seconds, spare


def wait(predicate, timeout: float) -> None:
    from labelapp.lib.processes import wait_until

    if not wait_until(predicate, timeout=timeout, interval=POLL_SECONDS):
        raise TimeoutError("gave up waiting")


def current_version(project_id: int):
    from labelapp.projects.models import Project

    return Project.objects.select_related("current_version").get(pk=project_id).current_version


def add_label(project, image_id: int, index: int):
    """Commit one human label the way the labeling app does (the post_save signal enqueues on commit)."""
    from django.db import transaction

    from labelapp.labeling.models import Annotation

    with transaction.atomic():
        annotation = Annotation.objects.create(
            project=project, image_id=image_id, label_class=project.classes.get(index=index)
        )
    return annotation, time.perf_counter()


def version_with(project_id: int, annotation, timeout: float) -> tuple[object, float]:
    """Wait until the current version trained with ``annotation``; returns it and the time it was seen."""

    def learned() -> bool:
        version = current_version(project_id)
        return version is not None and version.labels_until is not None and version.labels_until > annotation.updated_at

    wait(learned, timeout)
    return current_version(project_id), time.perf_counter()


def summary(version, latency: float) -> dict:
    return {
        "latency_seconds": round(latency, 3),
        "version": version.number,
        "timings": version.timings,
        "round_steps": version.round_steps,
        "images": version.images,
        "human_labels": version.human_labels,
        "device": version.device,
    }


def main() -> None:
    args = parse_args()
    data_dir = app_env.start_app(prefix="bench-l2v-", database_url=args.database_url)
    from django.db import connection

    from labelapp.projects.models import Project
    from labelapp.training import services
    from labelapp.training.locks import round_running

    result: dict = {"config": vars(args) | {"json": str(args.json)}, "machine": app_env.machine()}
    result["config"]["database"] = connection.vendor
    project, add_seconds, spare = build_project(args.images, args.labels_per_class, args.seconds)
    result["setup"] = {"images_added_seconds": round(add_seconds, 1)}
    print(f"{args.images} images added in {add_seconds:.0f}s", flush=True)

    env = {**os.environ, "DATA_DIR": str(data_dir)}
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "rqworker", "training", "--worker-class", "rq.SimpleWorker"], cwd=ROOT, env=env
    )
    try:
        timeout = 10 * args.seconds + 600
        services.round_enqueue(project_id=project.pk, seconds=args.seconds)
        wait(lambda: current_version(project.pk) is not None, timeout)
        warm = current_version(project.pk)
        result["warm_round"] = summary(warm, 0.0) | {"note": "first round: builds the image cache and a fresh model"}
        print("warm round", warm.timings, flush=True)

        Project.objects.filter(pk=project.pk).update(training_enabled=True)
        image_id, index = spare.pop()
        annotation, labeled_at = add_label(project, image_id, index)
        version, seen_at = version_with(project.pk, annotation, timeout)
        result["idle"] = summary(version, seen_at - labeled_at)
        print("idle", result["idle"], flush=True)

        if args.busy:
            wait(lambda: round_running(project.pk) and current_version(project.pk).number == version.number, timeout)
            time.sleep(args.seconds / 2)
            image_id, index = spare.pop()
            annotation, labeled_at = add_label(project, image_id, index)
            busy_version, seen_at = version_with(project.pk, annotation, 3 * timeout)
            result["busy"] = summary(busy_version, seen_at - labeled_at) | {
                "note": f"label committed ~{args.seconds / 2:.0f}s into the training of round v{version.number + 1}"
            }
            print("busy", result["busy"], flush=True)
        services.training_stop(project=project)
        wait(lambda: not round_running(project.pk), timeout)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
