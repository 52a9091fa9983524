"""The demo's first minutes, as a new user lives them (issue 13, acceptance 5), measured on this machine.

What `make run` does, minus the browser: a fresh DATA_DIR with an embedded Redis, the demo project seeded
(3,000 Fashion-MNIST train images, 2 labeled per class), the two real workers as subprocesses
(`rqworker training --worker-class labelapp.training.worker.TrainingWorker`, niced with TRAINING_NICE and
TRAINING_TORCH_THREADS torch threads, and `rqworker default`, as `make run` starts them). Then the user presses Start
training and labels ``--labels`` images from the label queue (one every ``--label-every`` seconds, through
the labeling services the label page calls, answering from the ground truth). At ``--at`` seconds after
Start, the current version is scored on the official Fashion-MNIST test split (10,000 images):

* a ``trained`` version: its SSL model's checkpoint predicts the test images;
* a ``pretrained`` or ``propagated`` version (the pre-trained encoder's embeddings, propagated labels):
  the project's encoder embeds the pool and the test images, and the project's labels are propagated over
  both together, as if the test images had been uploaded to the pool (transductive, like the app).

Every version on the way is scored the same way afterwards (``timeline[].test_accuracy``): a trained
version's checkpoint, and the encoder as each pre-training round left it, are copied when the version
appears (a file copy; the scoring waits until the workers are stopped), and the labels are those at the mark.

    .venv/bin/python benchmarks/demo/first_minutes.py --out benchmarks/demo/first_minutes.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.label_efficiency import app_env  # noqa: E402
from benchmarks.records import run_header  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--labels", type=int, default=20, help="images the user labels from the queue")
    parser.add_argument("--label-every", type=float, default=5.0, help="seconds between two of the user's labels")
    parser.add_argument("--at", type=float, default=300.0, help="seconds after Start when the current version is scored")
    parser.add_argument("--algorithm", default=None, help="the demo project's SSL algorithm (default: a new project's)")
    parser.add_argument("--out", type=Path, default=HERE / "first_minutes.json")
    return parser.parse_args(argv)


def start_workers() -> list[subprocess.Popen]:
    """The two workers `make run` starts, seeing this process's DATA_DIR and Redis (inherited environment)."""
    from labelapp.training.worker import WORKER_CLASS

    commands = (
        ["rqworker", "training", "--worker-class", WORKER_CLASS],
        ["rqworker", "default"],
    )
    return [
        subprocess.Popen([sys.executable, "manage.py", *command], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for command in commands
    ]


def label_one(project, user, truth: dict[int, int], classes: dict) -> int | None:
    """Lease the next image of the label queue and give it its true class, as the label page does."""
    from labelapp.labeling import services

    lease = services.lease_next(project=project, user=user)
    if lease is None:
        return None
    services.annotation_submit(
        project=project, image=lease.image, label_class=classes[truth[lease.image_id]], user=user,
        expected_revision=None, lease_token=lease.token,
    )
    return lease.image_id


def snapshot(project, version, keep: Path) -> Path:
    """A copy of what scores the version: its checkpoint when trained, else the project's encoder now (one
    copy per encoder step: the propagated versions between two pre-training rounds share it)."""
    from labelapp.training.cache import checkpoint_path
    from labelapp.training.models import ModelVersion
    from labelapp.training.services import pretrainer_path

    if version.kind == ModelVersion.Kind.TRAINED:
        source, target = checkpoint_path(version.checkpoint), keep / f"v{version.number}.pt"
    else:
        source, target = pretrainer_path(project.pk), keep / f"encoder-{version.pretrain_steps}.pt"
    return target if target.exists() else Path(shutil.copy(source, target))


def score(project, version, model: Path, test_images: np.ndarray, test_labels: np.ndarray) -> dict:
    """Test accuracy of the version from its snapshot ``model``, as the module docstring says."""
    import torch

    from labelapp.training.cache import ImageCache, cache_path
    from labelapp.training.models import ModelVersion
    from labelapp.training.services import class_names, training_labels
    from sslengine import Pretrainer, Trainer, propagate

    images = torch.from_numpy(test_images)
    if version.kind == ModelVersion.Kind.TRAINED:
        predicted = Trainer.load(model, device="cpu").predict(images).predicted.numpy()
        how = "the SSL model's checkpoint"
    else:
        pretrainer = Pretrainer.load(model, device="cpu")
        with np.load(cache_path(project)) as data:
            cache = ImageCache(ids=data["ids"], images=data["images"])
        labels = training_labels(project=project, cache=cache)
        pool = pretrainer.embed(torch.from_numpy(cache.images))
        test = pretrainer.embed(images)
        num_classes = max(class_names(project=project)) + 1
        scores = propagate(torch.cat([pool, test]), torch.from_numpy(labels.rows), torch.from_numpy(labels.labels), num_classes)
        predicted = scores.predicted[len(pool):].numpy()
        how = f"labels propagated over the encoder's embeddings of pool + test (encoder at step {pretrainer.global_step})"
    return {"accuracy": float((predicted == test_labels).mean()), "how": how}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    app_env.start_app(prefix="labelapp-demo-")
    import torch
    from django.contrib.auth import get_user_model

    from labelapp.images.demo import demo_seed
    from labelapp.labeling.models import Annotation
    from labelapp.projects.services import project_update
    from labelapp.training.models import ModelVersion
    from labelapp.training.services import training_start
    from sslengine.datasets import load_fashion_mnist

    torch.set_num_threads(1)
    user = get_user_model().objects.create_superuser("admin", password="demo-password")
    seeded = time.perf_counter()
    project, _ = demo_seed(owner=user)
    if args.algorithm is not None:
        project = project_update(project=project, algorithm=args.algorithm)  # as the settings page saves it
    truth = _demo_truth(project)
    classes = {c.index: c for c in project.classes.all()}
    seed_seconds = time.perf_counter() - seeded
    test = load_fashion_mnist("test")
    record = {**run_header("demo-first-minutes", "benchmarks/demo/first_minutes.py", args), "machine": app_env.machine()}
    workers = start_workers()
    timeline: list[dict] = []
    keep = Path(tempfile.mkdtemp(prefix="demo-versions-"))
    snapshots: dict[int, Path] = {}
    try:
        started = time.perf_counter()
        training_start(project=project)
        labeled = 0
        seen = None
        while time.perf_counter() - started < args.at:
            elapsed = time.perf_counter() - started
            if labeled < args.labels and elapsed >= labeled * args.label_every:
                if label_one(project, user, truth, classes) is not None:
                    labeled += 1
            project.refresh_from_db()
            version = project.current_version
            if version is not None and version.number != seen:
                seen = version.number
                snapshots[version.number] = snapshot(project, version, keep)
                timeline.append({"t": round(elapsed, 1), "version": version.number, "kind": version.kind,
                                 "human_labels": version.human_labels, "pretrain_steps": version.pretrain_steps,
                                 "ssl_steps": version.steps, "metrics_quality": version.metrics.get("embedding_quality")})
            time.sleep(0.5)
        project.refresh_from_db()
        version = ModelVersion.objects.get(pk=project.current_version_id)
        scored_at = round(time.perf_counter() - started, 1)
        if version.number not in snapshots:
            snapshots[version.number] = snapshot(project, version, keep)
    finally:  # stop at once (a warm shutdown would finish the round in progress and publish after the mark)
        for worker in workers:
            worker.kill()
            worker.wait()
    test_images, test_labels = test.images.numpy(), test.labels.numpy()
    scores: dict[Path, dict] = {}  # one score per snapshot
    for number, model in snapshots.items():
        if model not in scores:
            scored = ModelVersion.objects.get(project=project, number=number)
            scores[model] = score(project, scored, model, test_images, test_labels)
    for entry in timeline:
        entry["test_accuracy"] = round(scores[snapshots[entry["version"]]]["accuracy"], 4)
    result = scores[snapshots[version.number]]
    shutil.rmtree(keep)
    record.update({
        "seed_seconds": round(seed_seconds, 1),
        "labels_by_user": labeled,
        "labels_total": Annotation.objects.filter(project=project).count(),
        "scored_at_seconds": scored_at,
        "version": {"number": version.number, "kind": version.kind, "human_labels": version.human_labels,
                    "pretrain_steps": version.pretrain_steps, "ssl_steps": version.steps},
        "test_accuracy": round(result["accuracy"], 4),
        "scored_with": result["how"],
        "timeline": timeline,
    })
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps({k: record[k] for k in ("test_accuracy", "scored_at_seconds", "version", "scored_with")}, indent=2))
    return 0


def _demo_truth(project) -> dict[int, int]:
    """Image id → true class index, from the demo zip's folder names (the class each image was drawn from)."""
    import zipfile

    from labelapp.images.demo import DEMO_ZIP
    from labelapp.images.models import Image

    index = {c.name: c.index for c in project.classes.all()}
    with zipfile.ZipFile(DEMO_ZIP) as archive:
        folder_of = {Path(name).name: Path(name).parent.name for name in archive.namelist() if not name.endswith("/")}
    return {image_id: index[folder_of[name]] for image_id, name in Image.objects.filter(project=project).values_list("id", "original_name")}


if __name__ == "__main__":
    raise SystemExit(main())
