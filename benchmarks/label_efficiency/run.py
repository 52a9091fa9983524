"""Label efficiency: test accuracy of the exported classifier against human actions, per labeling policy.

A simulated annotator drives the real app in-process: the labeling services the views call
(``lease_next`` → ``annotation_submit``; ``review_queue`` → ``pseudo_labels_decide``), answering from
Fashion-MNIST's ground truth, and real training rounds: ``round_enqueue`` puts the round job on the
"training" queue of an embedded Redis and an ``rq.SimpleWorker`` runs it in burst mode (the job is
``labelapp.training.jobs.run_training_round``, a fixed step budget per round). After every round the
current version is exported with the exports app (``model_export_archive``, TorchScript by default, the file
the download button serves) and that file, run by onnxruntime, is scored on the official test split.

Every policy is its own project over the same pool of train images, in one run, round-robin, so they
share the machine's conditions:

    .venv/bin/python benchmarks/label_efficiency/run.py                        # the RESULTS.md run
    .venv/bin/python benchmarks/label_efficiency/run.py --replot results/run.json   # plot/table again
    .venv/bin/python benchmarks/label_efficiency/run.py --aggregate results/repeats/seed*.json \
        --out results/repeats/median.json                                        # medians over repeated runs

Writes ``--out`` (JSON: config, machine, every point), a PNG plot and a markdown table next to it.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.label_efficiency import app_env  # noqa: E402
from benchmarks.records import run_header  # noqa: E402


@dataclass(frozen=True)
class Policy:
    """One way of spending human actions: the algorithm, the queue order, and whether pseudo-labels are reviewed."""

    name: str
    algorithm: str
    strategy: str
    review: bool = False
    pool_first: bool = False  # pre-train on the pool before the first action; label propagation after each batch
    description: str = ""


POLICIES = {
    p.name: p
    for p in (
        Policy("supervised-random", "supervised", "random", description="supervised, random order (plain labeling)"),
        Policy("supervised-uncertainty", "supervised", "least-confidence",
               description="supervised, lowest-confidence first (Label Studio lowest-score sampling / modAL loop)"),
        Policy("fixmatch-random", "fixmatch", "random", description="FixMatch, random order"),
        Policy("simmatch-random", "simmatch", "random", description="SimMatch, random order"),
        Policy("fixmatch-active", "fixmatch", "least-confidence", description="FixMatch, the project's active strategy"),
        Policy("fixmatch-active-review", "fixmatch", "least-confidence", review=True,
               description="FixMatch, active strategy, plus pseudo-label review (each accept/reject = 1 action)"),
        Policy("pool-first", "fixmatch", "pool-first", pool_first=True,
               description="issue 13's default: SimCLR pre-training on the pool before the first action, typicality "
                           "then margin-in-clusters selection, label propagation after each batch, FixMatch from the "
                           "pre-trained encoder"),
    )
}
TARGETS = (0.80, 0.85, 0.90)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policies", default=",".join(POLICIES), help=f"comma list of: {', '.join(POLICIES)}")
    parser.add_argument("--pool", type=int, default=2500, help="train images imported into each project (seeded draw)")
    parser.add_argument("--actions", type=int, default=200, help="human actions per policy")
    parser.add_argument("--batch", type=int, default=25, help="human actions between two training rounds")
    parser.add_argument("--review-share", type=float, default=0.5,
                        help="review policy: at most this share of a batch goes to accept/reject, the rest to labels")
    parser.add_argument("--steps", type=int, default=25, help="optimizer steps per training round (same for every policy)")
    parser.add_argument("--cpu-per-action", type=float, default=0.0,
                        help="equal compute: every policy's rounds get this many CPU-seconds of the worker process per "
                             "action in all (a round's shortfall or excess carries to the next); 0: --steps per round")
    parser.add_argument("--pretrain-cpu-seconds", type=float, default=600.0,
                        help="pool-first: CPU-seconds of pre-training rounds on the pool before the first action")
    parser.add_argument("--backbone", default="cnn-small")
    parser.add_argument("--threshold", type=float, default=0.95, help="tau of the projects")
    parser.add_argument("--format", choices=("onnx", "torchscript"), default="torchscript", help="exported model that is scored")
    parser.add_argument("--test-limit", type=int, default=0, help="score on the first N test images (0 = all 10,000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--torch-threads", type=int, default=1,
                        help="threads of the in-process worker and of scoring (1: fastest on a shared, oversubscribed CPU)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "label_efficiency.json")
    parser.add_argument("--replot", type=Path, default=None, help="only redraw plot and table from this JSON")
    parser.add_argument("--aggregate", type=Path, nargs="+", default=None,
                        help="combine these runs (same settings, other seeds) into medians written to --out")
    return parser.parse_args(argv)


# ---- the simulated annotator --------------------------------------------------------------------


class Session:
    """One policy's project, its ground truth and its counters."""

    def __init__(self, policy: Policy, *, args: argparse.Namespace, user, pngs: list[bytes], truth: np.ndarray) -> None:
        from labelapp.projects.services import default_class_specs, project_create
        from sslengine.datasets import FASHION_MNIST_CLASSES

        self.policy = policy
        self.user = user
        self.project = project_create(
            name=policy.name,
            classes=default_class_specs(FASHION_MNIST_CLASSES),
            owner=user,
            algorithm=policy.algorithm,
            strategy=policy.strategy,
            backbone=args.backbone,
            threshold=args.threshold,
            image_size=28,
            grayscale=True,
        )
        self.classes = {c.index: c for c in self.project.classes.all()}
        self.truth: dict[int, int] = {}
        self.labels = self.accepted = self.rejected = 0
        self.cpu_seconds = 0.0  # worker CPU spent on this project's rounds after the first action
        self.pretrain_cpu_seconds = 0.0  # and before it (pool-first only)
        self.overhead = 0.0  # the last round's CPU beyond its training loop (cache, inference, writes)
        self.step_cpu: dict[str, float] = {}  # CPU-seconds per training step, by version kind, from the last round
        self.points: list[dict] = []
        self._import(pngs, truth)

    def _import(self, pngs: list[bytes], truth: np.ndarray) -> None:
        from labelapp.images.services import image_add

        for index, data in enumerate(pngs):
            image, created = image_add(project=self.project, name=f"{index}.png", data=data, user=self.user)
            if created:
                self.truth[image.pk] = int(truth[index])

    @property
    def actions(self) -> int:
        return self.labels + self.accepted + self.rejected

    def review(self, quota: int) -> None:
        """Accept the current version's confident pseudo-labels that are right, reject the wrong ones,
        most confident first, one class group after another in turn (as in the review grid)."""
        from labelapp.labeling import selectors, services

        version = selectors.current_version(self.project)
        if version is None or quota <= 0:
            return
        queues = {k: list(selectors.review_queue(self.project, version=version, class_index=k)[:quota]) for k in self.classes}
        page: list = []
        while len(page) < quota and any(queues.values()):
            for k in self.classes:
                if queues[k] and len(page) < quota:
                    page.append(queues[k].pop(0))
        accept = [p.image_id for p in page if p.predicted_index == self.truth[p.image_id]]
        reject = [p.image_id for p in page if p.predicted_index != self.truth[p.image_id]]
        done = services.pseudo_labels_decide(
            project=self.project, user=self.user, version_number=version.number, accept_ids=accept, reject_ids=reject
        )
        self.accepted += done["accepted"]
        self.rejected += done["rejected"]

    def label(self, count: int) -> None:
        """Take the next ``count`` images of the label queue and give each its true class."""
        from labelapp.labeling import services

        for _ in range(count):
            lease = services.lease_next(project=self.project, user=self.user)
            if lease is None:
                return
            image = lease.image
            services.annotation_submit(
                project=self.project,
                image=image,
                label_class=self.classes[self.truth[image.pk]],
                user=self.user,
                expected_revision=None,
                lease_token=lease.token,
            )
            self.labels += 1

    def next_kind(self) -> str:
        """The kind of version this project's next round publishes (the benchmark sets no pre-training minimum:
        pre-training until the first label, then training)."""
        return "trained" if self.actions else "pretrained"

    def act(self, budget: int, review_share: float) -> None:
        before = self.actions
        if self.policy.review:
            self.review(int(budget * review_share))
        self.label(budget - (self.actions - before))


def train_round(project_id: int, steps: int | None = None, seconds: float | None = None) -> str:
    """Enqueue one round job on the training queue and run it with a real SimpleWorker in burst mode."""
    import django_rq
    from rq import SimpleWorker

    from labelapp.training import services, store

    job_id = services.round_enqueue(project_id=project_id, steps=steps, seconds=seconds)
    if job_id is None:
        raise RuntimeError("a round of this project is already queued or running")
    django_rq.get_worker(store.QUEUE_NAME, worker_class=SimpleWorker).work(burst=True, logging_level="WARNING")
    job = django_rq.get_queue(store.QUEUE_NAME).fetch_job(job_id)
    return str(job.return_value()) if job else "missing"


# ---- scoring the exported model -----------------------------------------------------------------


class Scorer:
    """Scores an exported model bundle on the test split."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, fmt: str, threads: int) -> None:
        self.images, self.labels, self.fmt, self.threads = images, labels, fmt, threads

    def __call__(self, version) -> tuple[float, float, float]:
        """(accuracy, export seconds, scoring seconds) of ``version`` exported by the exports app."""
        from labelapp.exports.services import model_export_archive

        started = time.perf_counter()
        archive = model_export_archive(version=version, fmt=self.fmt)
        exported = time.perf_counter() - started
        started = time.perf_counter()
        with zipfile.ZipFile(archive) as bundle:
            name = next(n for n in bundle.namelist() if n.endswith(("model.onnx", "model.pt")))
            data = bundle.read(name)
        probs = self._onnx(data) if self.fmt == "onnx" else self._torchscript(data)
        accuracy = float((probs.argmax(1) == self.labels).mean())
        return accuracy, exported, time.perf_counter() - started

    def _onnx(self, data: bytes) -> np.ndarray:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return np.concatenate(
            [session.run(None, {name: self.images[i : i + 1000]})[0] for i in range(0, len(self.images), 1000)]
        )

    def _torchscript(self, data: bytes) -> np.ndarray:
        import torch

        module = torch.jit.load(io.BytesIO(data), map_location="cpu")
        with torch.inference_mode():
            return torch.cat(
                [module(torch.from_numpy(self.images[i : i + 1000])) for i in range(0, len(self.images), 1000)]
            ).numpy()


# ---- the run ------------------------------------------------------------------------------------


def load_data(args: argparse.Namespace) -> tuple[list[bytes], np.ndarray, np.ndarray, np.ndarray]:
    """PNG bytes and labels of the pool (seeded draw from the train split), test images and labels."""
    from PIL import Image as PILImage

    from sslengine.datasets import load_fashion_mnist

    train, test = load_fashion_mnist("train"), load_fashion_mnist("test")
    index = np.random.default_rng(args.seed).permutation(len(train))[: args.pool]
    pngs = []
    for i in index:
        buffer = io.BytesIO()
        PILImage.fromarray(train.images[i, 0].numpy()).save(buffer, format="PNG")
        pngs.append(buffer.getvalue())
    limit = args.test_limit or len(test)
    return pngs, train.labels.numpy()[index], test.images[:limit].numpy(), test.labels[:limit].numpy()


def timed_round(session: Session, args: argparse.Namespace, *, cpu_budget: float | None) -> tuple[str, float, float]:
    """One round of the session's project: ``--steps`` steps, or with ``cpu_budget`` a training loop sized so
    that the round's worker CPU (this process: the SimpleWorker works in-process) meets the budget. The first
    round of a kind (pre-training, training) is sized by wall seconds; later ones by steps, from the last
    round's CPU per step and CPU beyond its loop (the trainer's own budget is wall time, which a loaded machine
    stretches; steps are what CPU buys). Returns (job outcome, wall seconds, CPU seconds)."""
    wall, cpu = time.perf_counter(), time.process_time()
    kind = session.next_kind()
    if cpu_budget is None:
        outcome = train_round(session.project.pk, steps=args.steps)
    elif kind in session.step_cpu:
        steps = max(1, round((cpu_budget - session.overhead) / session.step_cpu[kind]))
        outcome = train_round(session.project.pk, steps=steps)
    else:
        outcome = train_round(session.project.pk, seconds=max(1.0, cpu_budget - session.overhead))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    session.project.refresh_from_db()
    version = session.project.current_version
    if cpu_budget is not None and version is not None and version.round_steps:
        # the training loop's share of the round's CPU is taken as its share of the round's wall time
        loop = cpu * min(1.0, float(version.seconds) / max(wall, 1e-9))
        session.overhead = max(0.0, cpu - loop)
        session.step_cpu[version.kind] = loop / version.round_steps
    return outcome, wall, cpu


def equal_compute_rounds(session: Session, args: argparse.Namespace) -> tuple[str, float, int]:
    """The rounds after a batch: one of ``--steps`` steps, or with ``--cpu-per-action`` rounds until the
    session's worker CPU is within a quarter batch of its budget (the trainer's budget is wall time, which a
    loaded machine stretches; at most 4 rounds). Returns (last outcome, wall seconds, rounds run)."""
    wall, rounds, outcome = 0.0, 0, ""
    while True:
        budget = args.cpu_per_action * session.actions - session.cpu_seconds if args.cpu_per_action else None
        if rounds and (budget is None or budget <= 0.25 * args.cpu_per_action * args.batch or rounds == 4):
            return outcome, wall, rounds
        outcome, seconds, cpu = timed_round(session, args, cpu_budget=budget)
        session.cpu_seconds += cpu
        wall, rounds = wall + seconds, rounds + 1


def pretrain(session: Session, args: argparse.Namespace) -> None:
    """Pool-first: pre-training rounds on the pool, no label yet, until ``--pretrain-cpu-seconds`` of worker CPU."""
    while session.pretrain_cpu_seconds < args.pretrain_cpu_seconds:
        remaining = args.pretrain_cpu_seconds - session.pretrain_cpu_seconds
        outcome, wall, cpu = timed_round(session, args, cpu_budget=min(120.0, remaining))
        session.pretrain_cpu_seconds += cpu
        print(f"{session.policy.name:24s} pre-training {session.pretrain_cpu_seconds:.0f}/{args.pretrain_cpu_seconds:.0f} "
              f"CPU-s ({outcome}, {wall:.0f} s wall)", flush=True)


def propagate(session: Session) -> float:
    """Pool-first: the label propagation job's work, in-process, right after a batch; its CPU-seconds."""
    from labelapp.training.services import propagation_run

    cpu = time.process_time()
    propagation_run(project_id=session.project.pk)
    return time.process_time() - cpu


def run(args: argparse.Namespace) -> dict:
    import torch

    torch.set_num_threads(args.torch_threads)
    # The six policies train their algorithm from the first round, as they did before pre-training existed
    # (issue 13): SSL from the first label, no pre-training minimum.
    os.environ.setdefault("TRAINING_SSL_MIN_LABELS_PER_CLASS", "0")
    os.environ.setdefault("TRAINING_PRETRAIN_MIN_SECONDS", "0")
    data_dir = app_env.start_app(prefix="bench-label-efficiency-")
    from django.contrib.auth import get_user_model

    record = {
        **run_header("label_efficiency", "benchmarks/label_efficiency/run.py", args),
        "machine": app_env.machine(),
        "driver": "labeling services in-process; rounds = round_enqueue + rq.SimpleWorker(burst) on the 'training' queue",
        "database": "SQLite file in a temp DATA_DIR; embedded redis-server",
        "policies": {},
    }
    pngs, truth, test_images, test_labels = load_data(args)
    scorer = Scorer(test_images, test_labels, args.format, args.torch_threads)
    user = get_user_model().objects.create_user("annotator", password="x")
    started = time.perf_counter()
    sessions = []
    for name in args.policies.split(","):
        session = Session(POLICIES[name], args=args, user=user, pngs=pngs, truth=truth)
        sessions.append(session)
        record["policies"][name] = {"description": session.policy.description, "pool": len(session.truth), "points": session.points}
    record["import_seconds"] = round(time.perf_counter() - started, 1)
    print(f"imported {len(pngs)} images into {len(sessions)} projects in {record['import_seconds']} s; DATA_DIR {data_dir}", flush=True)

    for session in sessions:
        if session.policy.pool_first:
            pretrain(session, args)
            record["policies"][session.policy.name]["pretrain_cpu_seconds"] = round(session.pretrain_cpu_seconds, 1)
    while any(s.actions < args.actions for s in sessions):
        for session in sessions:
            if session.actions >= args.actions:
                continue
            mark = time.perf_counter()
            session.act(min(args.batch, args.actions - session.actions), args.review_share)
            acted = time.perf_counter() - mark
            if session.policy.pool_first:
                session.cpu_seconds += propagate(session)
            outcome, trained, rounds = equal_compute_rounds(session, args)
            version = session.project.current_version
            accuracy, exported, scored = scorer(version)
            point = {
                "actions": session.actions,
                "labels": session.labels,
                "accepted": session.accepted,
                "rejected": session.rejected,
                "training_labels": version.human_labels + version.pseudo_labels,
                "version": version.number,
                "global_steps": version.steps,
                "test_accuracy": round(accuracy, 4),
                "job": outcome,
                "kind": version.kind,
                "rounds": rounds,
                "worker_cpu_seconds": round(session.cpu_seconds, 1),
                "seconds": {"annotator": round(acted, 2), "round_job": round(trained, 2), "export": round(exported, 2),
                            "score": round(scored, 2)},
                "round_timings": version.timings,
            }
            session.points.append(point)
            print(f"{session.policy.name:24s} actions {session.actions:4d} acc {accuracy:.4f} "
                  f"(round {trained:.1f}s, export {exported:.1f}s, score {scored:.1f}s)", flush=True)
            write(record, args.out)
    record["total_seconds"] = round(time.perf_counter() - started, 1)
    summarise(record)
    write(record, args.out)
    return record


def actions_to_reach(points: list[dict], target: float) -> int | None:
    """Human actions at the first point whose test accuracy reaches ``target`` (None: never in this run)."""
    return next((p["actions"] for p in points if p["test_accuracy"] >= target), None)


def summarise(record: dict) -> None:
    for data in record["policies"].values():
        points = data["points"]
        data["actions_to_reach"] = {f"{t:.2f}": actions_to_reach(points, t) for t in TARGETS}
        data["final_accuracy"] = points[-1]["test_accuracy"] if points else None
        data["best_accuracy"] = max((p["test_accuracy"] for p in points), default=None)


def _median_actions(values: list[int | None]) -> int | None:
    """Median of per-run "actions to reach", a run that never reached counting as infinitely many."""
    ordered = sorted(values, key=lambda v: math.inf if v is None else v)
    middle = ordered[(len(ordered) - 1) // 2 : len(ordered) // 2 + 1]
    return None if None in middle else int(round(sum(middle) / len(middle)))  # type: ignore[arg-type]


def aggregate(records: list[dict]) -> dict:
    """One record from repeated runs: per policy and action count, the median test accuracy (and the
    lowest and highest run); "actions to reach" is the median over runs of each run's own figure."""
    for record in records:
        summarise(record)
    first = records[0]
    combined = {
        "benchmark": "label_efficiency_median",
        "runs": [{"command": r["command"], "seed": r["config"]["seed"], "machine": r["machine"],
                  "total_seconds": r.get("total_seconds")} for r in records],
        "config": {**first["config"], "seed": [r["config"]["seed"] for r in records]},
        "policies": {},
    }
    for name in first["policies"]:
        runs = [r["policies"][name] for r in records]
        by_actions = [{p["actions"]: p["test_accuracy"] for p in run["points"]} for run in runs]
        shared = sorted(set.intersection(*(set(b) for b in by_actions)))
        points = [{"actions": a, "test_accuracy": round(float(np.median([b[a] for b in by_actions])), 4),
                   "low": min(b[a] for b in by_actions), "high": max(b[a] for b in by_actions)} for a in shared]
        reach = {key: [run["actions_to_reach"][key] for run in runs] for key in runs[0]["actions_to_reach"]}
        combined["policies"][name] = {
            "description": runs[0]["description"],
            "points": points,
            "actions_to_reach_runs": reach,
            "actions_to_reach": {key: _median_actions(values) for key, values in reach.items()},
            "final_accuracy": points[-1]["test_accuracy"] if points else None,
            "best_accuracy": max((p["test_accuracy"] for p in points), default=None),
            "review_actions": [{k: run["points"][-1][k] for k in ("labels", "accepted", "rejected")} for run in runs],
        }
    return combined


def write(record: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1) + "\n")


def _reach_cell(value: int | None, runs: list[int | None] | None, last: int) -> str:
    """"120", "> 500", or with repeated runs the median and each run's figure: "120 (100, 120, > 500)"."""
    def show(v: int | None) -> str:
        return str(v) if v is not None else f"> {last}"

    return show(value) + (f" ({', '.join(show(v) for v in runs)})" if runs else "")


def table(record: dict) -> str:
    """Markdown table: accuracy at a few action counts, and actions needed for 80/85/90 %."""
    columns = sorted({p["actions"] for d in record["policies"].values() for p in d["points"]})
    if len(columns) > 10:  # long runs: the first point and every 100 actions
        shown = [columns[0], *(a for a in columns[1:] if a % 100 == 0)]
    else:
        shown = columns if len(columns) <= 6 else [columns[i] for i in np.linspace(0, len(columns) - 1, 5).round().astype(int)]
    head = ["policy", *[f"acc @ {a}" for a in shown], *[f"actions → {int(t * 100)} %" for t in TARGETS]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, data in record["policies"].items():
        by_actions = {p["actions"]: p["test_accuracy"] for p in data["points"]}
        cells = [f"{by_actions[a]:.3f}" if a in by_actions else "–" for a in shown]
        last = data["points"][-1]["actions"] if data["points"] else 0
        reach = [_reach_cell(value, data.get("actions_to_reach_runs", {}).get(key), last)
                 for key, value in data["actions_to_reach"].items()]
        lines.append("| " + " | ".join([name, *cells, *reach]) + " |")
    return "\n".join(lines)


def plot(record: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(8, 5), dpi=110)
    for name, data in record["policies"].items():
        points = data["points"]
        actions = [p["actions"] for p in points]
        line, = axis.plot(actions, [p["test_accuracy"] for p in points], marker="o", markersize=3, label=name)
        if points and "low" in points[0]:
            axis.fill_between(actions, [p["low"] for p in points], [p["high"] for p in points],
                              color=line.get_color(), alpha=0.12, linewidth=0)
    for target in TARGETS:
        axis.axhline(target, color="grey", linewidth=0.6, linestyle=":")
    config = record["config"]
    runs = f", median of {len(record['runs'])} runs (band: lowest-highest)" if "runs" in record else ""
    axis.set_xlabel("human actions (labels + pseudo-label accepts/rejects)")
    axis.set_ylabel("test accuracy of the exported model (Fashion-MNIST test split)")
    axis.set_title(f"Label efficiency: pool {config['pool']}, {config['steps']} steps/round, "
                   f"{config['batch']} actions/round, {config['backbone']}{runs}", fontsize=9)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def report(record: dict, out: Path) -> None:
    if "runs" not in record:  # a median record keeps the medians of the runs' own figures
        summarise(record)
    png, markdown = out.with_suffix(".png"), out.with_suffix(".md")
    plot(record, png)
    markdown.write_text(table(record) + "\n")
    print(table(record))
    print(f"wrote {out}, {png}, {markdown}")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.replot:
        report(json.loads(args.replot.read_text()), args.replot)
        return
    if args.aggregate:
        record = aggregate([json.loads(path.read_text()) for path in args.aggregate])
        write(record, args.out)
        report(record, args.out)
        return
    unknown = set(args.policies.split(",")) - set(POLICIES)
    if unknown:
        raise SystemExit(f"unknown policies: {sorted(unknown)}")
    report(run(args), args.out)


if __name__ == "__main__":
    main()
