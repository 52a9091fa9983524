"""The seed methods' learning test over several trainer seeds (issue 16, item 5).

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/engine/learning_test_seeds.py \
        --algorithms supervised,pimodel,pseudolabel --seeds 0,1,2 --steps 300 \
        --json benchmarks/engine/results/learning_test_seeds_300.json

The setup of tests/sslengine/algorithms/test_learning_seed_methods.py (the shipped 2,000-image Fashion-MNIST
slice, 4 labels per class from ``stratified_subset(seed=0)``, all 2,000 unlabeled, batch 16, μ = 3, τ = 0.95,
cosine horizon = steps, one torch thread, EMA accuracy on the 1,000 shipped test images), with the trainer's
seed (initialisation, batches, augmentation) varied; the labeled set stays the same.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks.records import record_append, run_header  # noqa: E402
from sslengine import TrainConfig, Trainer  # noqa: E402
from sslengine.datasets import load_npz, stratified_subset  # noqa: E402

DATA = ROOT / "tests" / "data"


def accuracy(algorithm: str, seed: int, steps: int, labels_per_class: int) -> tuple[float, float]:
    """(test accuracy, process CPU-seconds) of one run of the learning test's setup."""
    train, test = load_npz(DATA / "fashion_mnist_small.npz"), load_npz(DATA / "fashion_mnist_test_small.npz")
    config = TrainConfig(num_classes=10, algorithm=algorithm, in_channels=1, image_size=28, batch_size=16, mu=3,
                         threshold=0.95, schedule_steps=steps, seed=seed)
    labeled = stratified_subset(train.labels, labels_per_class, seed=0)
    started = time.process_time()
    trainer = Trainer(config, device="cpu")
    trainer.fit(train.images[labeled], train.labels[labeled], train.images, steps=steps)
    return trainer.evaluate(test.images, test.labels), time.process_time() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--algorithms", default="supervised,pimodel,pseudolabel,meanteacher,temporal-ensembling")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--labels-per-class", type=int, default=4)
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    record = {**run_header("learning_test_seeds", "benchmarks/engine/learning_test_seeds.py", args, argv),
              "load_average_1m_at_start": os.getloadavg()[0], "runs": []}
    for algorithm in args.algorithms.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            acc, cpu = accuracy(algorithm, seed, args.steps, args.labels_per_class)
            run = {"algorithm": algorithm, "seed": seed, "steps": args.steps, "test_accuracy": round(acc, 4),
                   "cpu_seconds": round(cpu, 1), "load_average_1m": os.getloadavg()[0]}
            record_append(record, "runs", run, args.json)


if __name__ == "__main__":
    main()
