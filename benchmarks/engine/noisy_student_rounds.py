"""Noisy Student with several teacher rounds vs ``supervised`` at equal steps (issue 16, item 5).

The seed-method learning test (tests/sslengine/algorithms/test_learning_seed_methods.py) gives every
method 300 steps; Noisy Student, whose paper trains a fresh student to convergence per teacher round,
loses there. This script repeats that test's setup exactly (the shipped 2,000-image Fashion-MNIST
slice, ``--labels-per-class`` labels per class chosen by ``stratified_subset`` seed 0, all 2,000 as
the unlabeled pool, batch 16, μ = 3, τ = 0.95, cosine horizon = ``--steps``, seed 0, one ``fit``; each
changeable) at
a longer budget: with ``teacher_refresh_steps=S`` one fit of ``--steps`` = R·S steps is R teacher
rounds, each training a re-initialised noised student for S steps. Scored on the 1,000 shipped test
images (EMA weights, as the test).

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/engine/noisy_student_rounds.py \\
        --algorithm noisystudent --steps 900 --option teacher_refresh_steps=300 --json OUT.json

Writes ``--json`` (the run's config, accuracy, process CPU-seconds, wall seconds, load averages
before and after) and prints one line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks.records import run_header  # noqa: E402
from sslengine import TrainConfig, Trainer  # noqa: E402
from sslengine.datasets import load_npz, stratified_subset  # noqa: E402

DATA_DIR = ROOT / "tests" / "data"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algorithm", required=True)
    parser.add_argument("--steps", type=int, required=True, help="optimizer steps of the one fit (and the cosine horizon)")
    parser.add_argument("--labels-per-class", type=int, default=4)
    parser.add_argument("--backbone", default="cnn-small")
    parser.add_argument("--threshold", type=float, default=0.95)
    parser.add_argument("--schedule-steps", type=int, default=None, help="cosine horizon (default: --steps, as the test)")
    parser.add_argument("--option", action="append", default=[], metavar="NAME=VALUE", help="an algorithm option (JSON value); repeatable")
    parser.add_argument("--seed", type=int, default=0, help="the model's seed and the labeled draw's (the test: 0)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, required=True)
    return parser.parse_args(argv)


def algorithm_options(pairs: list[str]) -> dict[str, object]:
    """``NAME=VALUE`` pairs; values read as JSON (numbers, true/false), else kept as text."""
    options: dict[str, object] = {}
    for pair in pairs:
        name, _, text = pair.partition("=")
        try:
            options[name] = json.loads(text)
        except json.JSONDecodeError:
            options[name] = text
    return options


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    train, test = load_npz(DATA_DIR / "fashion_mnist_small.npz"), load_npz(DATA_DIR / "fashion_mnist_test_small.npz")
    config = TrainConfig(
        num_classes=10, algorithm=args.algorithm, backbone=args.backbone, in_channels=1, image_size=28,
        batch_size=16, mu=3, threshold=args.threshold, schedule_steps=args.schedule_steps or args.steps, seed=args.seed,
        algorithm_options=algorithm_options(args.option),
    )
    labeled = stratified_subset(train.labels, args.labels_per_class, seed=args.seed)
    load_before = os.getloadavg()
    cpu_start, wall_start = time.process_time(), time.perf_counter()
    trainer = Trainer(config, device="cpu")
    result = trainer.fit(train.images[labeled], train.labels[labeled], train.images, steps=args.steps)
    accuracy = trainer.evaluate(test.images, test.labels)
    record = {
        **run_header("noisy_student_rounds", "benchmarks/engine/noisy_student_rounds.py", args, argv),
        "algorithm_options": config.algorithm_options.to_dict(),
        "test_images": len(test.labels),
        "accuracy": accuracy,
        "correct": round(accuracy * len(test.labels)),
        "steps": result.steps,
        "scalars": result.scalars,
        "cpu_seconds": time.process_time() - cpu_start,
        "wall_seconds": time.perf_counter() - wall_start,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(record, indent=2) + "\n")
    print(f"{args.algorithm} {args.steps} steps {args.option}: {accuracy:.1%} ({record['cpu_seconds']:.0f} CPU s)")
    return record


if __name__ == "__main__":
    main()
