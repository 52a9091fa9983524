"""What pre-training CPU buys before the first label: the pool-first ablation on Fashion-MNIST (issue 13).

    nice -n 10 .venv/bin/python benchmarks/engine/pretrain_budget.py --pool 5000 --budgets 0,120,300,600 \
        --json benchmarks/engine/results/pretrain_budget_pool5000_seed0.json

A SimCLR encoder (sslengine.pretext, the app's defaults, one torch thread) pre-trains on ``--pool`` train
images; at each budget of ``--budgets`` CPU-seconds of this process (0: the randomly initialised encoder;
evaluation CPU is not charged) the ablation runs on its embeddings, for every labeled-set size of ``--labels``:

- selection: ``typicality`` (TypiClust) or ``random`` (not stratified), from the pool, by the true labels;
- propagation: on (label propagation over the kNN graph of pool + test embeddings, Iscen et al. 2019) or
  off (each test image takes the class of its nearest labeled image, cosine).

Accuracy is on the official test split's first ``--test-limit`` images (the pool never contains them).
No SSL training runs here: this isolates what the encoder, the selection and the propagation give; the
trained models are in benchmarks/label_efficiency.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.records import record_append, run_header  # noqa: E402
from sslengine import Predictions, PretrainConfig, Pretrainer, embedding_quality, propagate, select_indices  # noqa: E402
from sslengine.datasets import load_fashion_mnist  # noqa: E402

SELECTIONS = ("typicality", "random")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pool", type=int, default=5000, help="train images pre-trained on and labeled from")
    parser.add_argument("--budgets", default="0,120,300,600", help="CPU-seconds of pre-training at which to evaluate")
    parser.add_argument("--labels", default="10,20,40,100", help="labeled-set sizes")
    parser.add_argument("--test-limit", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, required=True)
    return parser.parse_args(argv)


def nearest_labeled(pool: torch.Tensor, test: torch.Tensor, rows: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The class of each test row's nearest labeled pool row (cosine): the no-propagation arm."""
    similarity = F.normalize(test, dim=1) @ F.normalize(pool[rows], dim=1).T
    return labels[similarity.argmax(dim=1)]


def ablation(pool: torch.Tensor, test: torch.Tensor, truth: torch.Tensor, test_truth: torch.Tensor,
             sizes: list[int], seed: int) -> dict[str, dict[str, float]]:
    """Test accuracy for every labeled-set size × selection × propagation on/off."""
    num_classes = int(truth.max()) + 1
    both = torch.cat([pool, test])
    blank = Predictions.from_probs(torch.full((len(pool), num_classes), 1.0 / num_classes), pool)
    results: dict[str, dict[str, float]] = {}
    for size in sizes:
        for selection in SELECTIONS:
            if selection == "random":
                rows = torch.randperm(len(pool), generator=torch.Generator().manual_seed(seed + size))[:size]
            else:
                rows = select_indices(selection, blank, torch.arange(len(pool)), size, seed=seed)
            labels = truth[rows]
            propagated = propagate(both, rows, labels, num_classes).probs[len(pool):].argmax(dim=1)
            results[f"{selection}@{size}"] = {
                "propagation": round(float((propagated == test_truth).float().mean()), 4),
                "nearest_labeled": round(float((nearest_labeled(pool, test, rows, labels) == test_truth).float().mean()), 4),
                "classes_covered": int(labels.unique().numel()),
            }
    return results


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(1)
    budgets = [float(b) for b in args.budgets.split(",")]
    sizes = [int(s) for s in args.labels.split(",")]
    train, test_set = load_fashion_mnist("train"), load_fashion_mnist("test")
    index = torch.randperm(len(train.labels), generator=torch.Generator().manual_seed(args.seed))[: args.pool]
    pool, truth = train.images[index], train.labels[index]
    test, test_truth = test_set.images[: args.test_limit], test_set.labels[: args.test_limit]
    pretrainer = Pretrainer(PretrainConfig(in_channels=1, image_size=pool.shape[-1], seed=args.seed))
    record = {**run_header("pretrain_budget", "benchmarks/engine/pretrain_budget.py", args, argv),
              "load_average_1m_at_start": os.getloadavg()[0], "points": []}
    trained_cpu, steps = 0.0, 0
    for budget in budgets:
        started = time.process_time()
        while trained_cpu + (time.process_time() - started) < budget:
            steps += pretrainer.fit(pool, steps=5).steps
        trained_cpu += time.process_time() - started
        embeddings, test_embeddings = pretrainer.embed(pool), pretrainer.embed(test)
        point = {
            "pretrain_cpu_seconds": round(trained_cpu, 1), "steps": steps,
            "epochs": round(steps * min(pretrainer.config.batch_size, len(pool)) / len(pool), 1),
            "knn_accuracy_pool": round(embedding_quality(embeddings, truth)["knn_accuracy"], 4),
            "ablation": ablation(embeddings, test_embeddings, truth, test_truth, sizes, args.seed),
            "load_average_1m": os.getloadavg()[0],
        }
        record_append(record, "points", point, args.json)


if __name__ == "__main__":
    main()
