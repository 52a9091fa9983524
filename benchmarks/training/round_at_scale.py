"""A round's two bulk steps at 100k images (issue 17, item 4): inference and writing the prediction rows.

Inference: cnn-small at 28 px grayscale (the Fashion-MNIST geometry of the web-load benchmark) over N uint8
images, several ways, each timed in this one run with the same torch thread count (wall seconds and process
CPU-seconds, medians of ``--repeats`` after a warm-up):

- ``before``: the former ``sslengine.inference.predict`` (BatchNorm as its own layer, channels_last,
  ``torch.no_grad``, batch 512), copied here as the reference;
- ``predict``: today's ``sslengine.inference.predict`` (BatchNorm folded into the convolutions, NCHW, its
  default CPU batch); ``predict_batch_<B>``: the same in batches of B;
- ``folded_channels_last``, ``folded_inference_mode``, ``folded_batch_<B>``: one change each to ``predict``;
- ``onnxruntime_batch_<B>``: the same network exported to ONNX (uint8 in, probabilities and embeddings out),
  run by onnxruntime's CPU provider with the same thread count (export time reported apart).

Prediction rows: one version's N rows written by ``labelapp.training.prediction_store.predictions_write``
(``COPY`` on PostgreSQL, INSERT batches on SQLite) beside the former path on PostgreSQL (``bulk_create`` in
batches of 1,000, one transaction each: what SQLite still does), on a fresh PostgreSQL database of its own (default
``labelapp_bench_h17scale``, dropped and recreated) and on a SQLite file, after bulk-creating N image rows.
Each write reports the client's process CPU-seconds and, on PostgreSQL, its server backend's (``/proc``).

    .venv/bin/python benchmarks/training/round_at_scale.py [--images 100000] [--threads 1] [--repeats 3]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks.records import run_header  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--threads", type=int, default=1, help="torch / onnxruntime intra-op threads")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--variants", default="before,predict,folded_channels_last,folded_inference_mode,"
                        "folded_batch_2048,onnxruntime_batch_512,onnxruntime_batch_2048")
    parser.add_argument("--skip-inference", action="store_true")
    parser.add_argument("--skip-writes", action="store_true")
    parser.add_argument("--database", default="labelapp_bench_h17scale")
    parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "training" / "results" / "round_at_scale.json")
    return parser.parse_args()


def timed(function: Callable[[], object], repeats: int) -> dict:
    """Wall and process CPU seconds of ``function``: medians of ``repeats`` runs (each run listed)."""
    walls, cpus = [], []
    for _ in range(repeats):
        cpu, wall = time.process_time(), time.perf_counter()
        function()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return {"wall_s": round(statistics.median(walls), 2), "cpu_s": round(statistics.median(cpus), 2),
            "walls": [round(w, 2) for w in walls], "cpus": [round(c, 2) for c in cpus]}


# ---- inference ---------------------------------------------------------------------------------------


def inference(args: argparse.Namespace) -> dict:
    import torch

    from sslengine import TrainConfig, Trainer
    from sslengine.augment import to_float
    from sslengine.inference import fold_batchnorm, predict

    torch.set_num_threads(args.threads)
    trainer = Trainer(TrainConfig(backbone="cnn-small", in_channels=1, image_size=28, num_classes=10), device="cpu")
    network = trainer.ema_model
    images = torch.randint(0, 256, (args.images, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))

    def loop(net, batch: int, channels_last: bool, grad_off) -> None:
        net.eval()
        with grad_off():
            for start in range(0, images.shape[0], batch):
                chunk = to_float(images[start : start + batch])
                if channels_last:
                    chunk = chunk.contiguous(memory_format=torch.channels_last)
                features = net.features(chunk)
                net.head(features).float().softmax(dim=1)

    variants: dict[str, Callable[[], object]] = {
        "before": lambda: loop(network, 512, True, torch.no_grad),
        "predict": lambda: predict(network, images),  # its default batch (sslengine.inference.CPU_BATCH)
        "folded_channels_last": lambda: loop(fold_batchnorm(network), 512, True, torch.no_grad),
        "folded_inference_mode": lambda: loop(fold_batchnorm(network), 512, False, torch.inference_mode),
    }
    for name in args.variants.split(","):
        if name.startswith("folded_batch_"):
            batch = int(name.rsplit("_", 1)[1])
            variants[name] = lambda batch=batch: loop(fold_batchnorm(network), batch, False, torch.no_grad)
        if name.startswith("predict_batch_"):
            batch = int(name.rsplit("_", 1)[1])
            variants[name] = lambda batch=batch: predict(network, images, batch)
    result: dict = {"images": args.images, "threads": args.threads, "backbone": "cnn-small", "geometry": "28px 1ch"}
    wanted = args.variants.split(",")
    if any(name.startswith("onnxruntime") for name in wanted):
        export = time.perf_counter()
        session = onnx_session(network, args.threads)
        result["onnx_export_s"] = round(time.perf_counter() - export, 2)
        array = images.numpy()
        for name in wanted:
            if name.startswith("onnxruntime_batch_"):
                batch = int(name.rsplit("_", 1)[1])
                variants[name] = lambda batch=batch: [session.run(None, {"images": array[s : s + batch]})
                                                      for s in range(0, len(array), batch)]
    warm = images[:2048]
    predict(network, warm, 512)  # warm-up: first-call allocations out of the timings
    for name in wanted:
        print(f"inference {name} ...", flush=True)
        result[name] = timed(variants[name], args.repeats)
        print(f"  {result[name]}", flush=True)
    return result


def onnx_session(network, threads: int):
    import onnxruntime
    import torch

    class Outputs(torch.nn.Module):
        def __init__(self, net) -> None:
            super().__init__()
            self.net = net

        def forward(self, images):
            features = self.net.features(images.float() / 255.0)
            return self.net.head(features).softmax(dim=1), features

    buffer = io.BytesIO()
    torch.onnx.export(Outputs(network).eval(), (torch.zeros(8, 1, 28, 28, dtype=torch.uint8),), buffer,
                      input_names=["images"], output_names=["probs", "embeddings"],
                      dynamic_axes={"images": {0: "n"}, "probs": {0: "n"}, "embeddings": {0: "n"}}, dynamo=False)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(buffer.getvalue(), options, providers=["CPUExecutionProvider"])


# ---- prediction rows -------------------------------------------------------------------------------


WRITES_CHILD = r"""
import json, sys, time, statistics
import django
django.setup()
from django.core.management import call_command
from django.db import connection, transaction
import numpy as np, torch
call_command("migrate", verbosity=0)
from django.contrib.auth.models import User
from labelapp.images.models import Image
from labelapp.projects.models import Project
from labelapp.training.models import ModelVersion, Prediction
from labelapp.training.prediction_store import predictions_write
from sslengine import Predictions

n, repeats, paths = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].split(",")
user = User.objects.create_user("bench")
project = Project.objects.create(slug="bench", name="bench", created_by=user)
Image.objects.bulk_create(
    [Image(project=project, file=f"images/{i}.png", original_name=f"{i}.png", sha256=f"{i:064d}", format="PNG",
           width=28, height=28) for i in range(n)], batch_size=5000)
ids = np.array(sorted(Image.objects.filter(project=project).values_list("id", flat=True)), dtype=np.int64)
probs = torch.softmax(torch.randn(n, 10, generator=torch.Generator().manual_seed(0)), dim=1)
predictions = Predictions.from_probs(probs, torch.zeros(n, 4))

def before(version):
    # the former labelapp.training.services.prediction_rows_write: Prediction objects, bulk_create per 1,000
    for start in range(0, n, 1000):
        rows = slice(start, start + 1000)
        batch = [Prediction(version=version, image_id=i, predicted_index=k, confidence=c, margin=m, entropy=e, probs=p)
                 for i, k, c, m, e, p in zip(ids[rows].tolist(), predictions.predicted[rows].tolist(),
                                             predictions.confidence[rows].tolist(), predictions.margin[rows].tolist(),
                                             predictions.entropy[rows].tolist(),
                                             np.round(predictions.probs[rows].numpy().astype(np.float64), 4).tolist())]
        with transaction.atomic():
            Prediction.objects.bulk_create(batch)

import os
def server_cpu():
    # CPU-seconds of this connection's PostgreSQL backend (same machine): the server's half of a write
    if connection.vendor != "postgresql":
        return 0.0
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

out = {"vendor": connection.vendor, "rows": n}
number = 0
written = {"before": before, "predictions_write": lambda v: predictions_write(version=v, ids=ids, predictions=predictions)}
for name, write in ((name, written[name]) for name in paths):
    walls, cpus, servers = [], [], []
    for _ in range(repeats):
        number += 1
        version = ModelVersion.objects.create(project=project, number=number, algorithm="fixmatch", backbone="cnn-small")
        server, cpu, wall = server_cpu(), time.process_time(), time.perf_counter()
        write(version)
        walls.append(time.perf_counter() - wall); cpus.append(time.process_time() - cpu)
        servers.append(server_cpu() - server)
        assert Prediction.objects.filter(version=version).count() == n
        Prediction.objects.filter(version=version).delete()
    out[name] = {"wall_s": round(statistics.median(walls), 2), "cpu_s": round(statistics.median(cpus), 2),
                 "walls": [round(w, 2) for w in walls], "cpus": [round(c, 2) for c in cpus],
                 "server_cpu_s": round(statistics.median(servers), 2), "server_cpus": [round(c, 2) for c in servers]}
print("RESULT " + json.dumps(out))
"""


def writes(args: argparse.Namespace, database_url: str, paths: str) -> dict:
    """Time both write paths in a child process with its own Django settings (DATABASE_URL, DATA_DIR)."""
    data_dir = tempfile.mkdtemp(prefix="labelapp-bench-h17-")
    env = {**os.environ, "DATABASE_URL": database_url, "DATA_DIR": data_dir, "DJANGO_SETTINGS_MODULE": "labelapp.settings",
           "LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", WRITES_CHILD, str(args.images), str(args.repeats), paths], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=False)
    line = [row for row in done.stdout.splitlines() if row.startswith("RESULT ")]
    if done.returncode or not line:
        raise RuntimeError(done.stdout[-3000:] + done.stderr[-3000:])
    return json.loads(line[0][len("RESULT "):])


def fresh_database(server: str, name: str) -> None:
    import psycopg

    with psycopg.connect(f"{server}/postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        connection.execute(f'CREATE DATABASE "{name}"')


def main() -> None:
    args = parse_args()
    record = run_header("round_at_scale", "benchmarks/training/round_at_scale.py", args)
    record["machine"] = {"cpus": os.cpu_count(), "platform": platform.platform(),
                         "uptime_before": subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()}
    if not args.skip_writes:
        fresh_database(args.server, args.database)
        print("prediction rows, PostgreSQL ...", flush=True)
        record["writes_postgresql"] = writes(args, f"{args.server}/{args.database}", "before,predictions_write")
        print(f"  {record['writes_postgresql']}", flush=True)
        print("prediction rows, SQLite ...", flush=True)
        sqlite = f"sqlite:///{tempfile.mkdtemp(prefix='labelapp-bench-sqlite-')}/db.sqlite3"
        record["writes_sqlite"] = writes(args, sqlite, "predictions_write")  # the batches it always had
        print(f"  {record['writes_sqlite']}", flush=True)
        fresh_database(args.server, args.database)  # leave an empty database, not 600k rows
    if not args.skip_inference:
        record["inference"] = inference(args)
    record["machine"]["uptime_after"] = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
