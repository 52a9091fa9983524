"""Where should pool-first switch from typicality to uncertainty? A cheap simulation on Fashion-MNIST.

    nice -n 10 .venv/bin/python benchmarks/engine/switch_point.py --pool 20000 --pretrain-seconds 120 \
        --json benchmarks/engine/results/switch_point.json

A SimCLR encoder (sslengine.pretext) is pre-trained on ``--pool`` train images; then each strategy
labels the pool in rounds up to every budget of ``--budgets`` (a simulated annotator gives the true
label), and the model is label propagation over the encoder's embeddings (sslengine.propagation),
re-run after every round. Accuracy is on the pool's unlabeled images (transductive). The proxy is
cheap enough to run many strategies and budgets; what it cannot show is how a FixMatch model's
uncertainty differs from propagation's.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from sslengine import Predictions, PretrainConfig, Pretrainer, embedding_quality, propagate, select_indices
from sslengine.datasets import DEFAULT_FASHION_MNIST_DIR, load_fashion_mnist, stratified_subset


def simulate(strategy: str, embeddings: torch.Tensor, labels: torch.Tensor, budgets: list[int], seed: int) -> list[dict]:
    num_classes = int(labels.max()) + 1
    n = labels.numel()
    labeled = torch.empty(0, dtype=torch.int64)
    predictions = Predictions.from_probs(torch.full((n, num_classes), 1.0 / num_classes), embeddings)
    curve = []
    for budget in budgets:
        unlabeled = torch.ones(n, dtype=torch.bool)
        unlabeled[labeled] = False
        candidates = torch.nonzero(unlabeled).flatten()
        picked = select_indices(strategy, predictions, candidates, budget - labeled.numel(), seed=seed + budget)
        labeled = torch.cat([labeled, picked])
        started = time.perf_counter()
        predictions = propagate(embeddings, labeled, labels[labeled], num_classes)
        rest = torch.ones(n, dtype=torch.bool)
        rest[labeled] = False
        accuracy = float((predictions.predicted[rest] == labels[rest]).float().mean())
        classes_covered = int(labels[labeled].unique().numel())
        curve.append({"labels": budget, "accuracy": accuracy, "classes_covered": classes_covered,
                      "propagate_seconds": time.perf_counter() - started})
        print(strategy, budget, f"{accuracy:.3f}", classes_covered, flush=True)
    return curve


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pool", type=int, default=20000)
    parser.add_argument("--pretrain-seconds", type=float, default=120.0)
    parser.add_argument("--budgets", default="10,20,30,50,70,100,150,200")
    parser.add_argument("--strategies", default="random,typicality,cluster-margin,margin")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    train = load_fashion_mnist("train", DEFAULT_FASHION_MNIST_DIR)
    pool = stratified_subset(train.labels, args.pool // len(train.classes), args.seed)
    images, labels = train.images[pool], train.labels[pool]
    pretrainer = Pretrainer(PretrainConfig(in_channels=1, image_size=28, seed=args.seed), device="cpu")
    result = pretrainer.fit(images, seconds=args.pretrain_seconds)
    embeddings = pretrainer.embed(images, batch_size=1024)
    record = {
        "command": "benchmarks/engine/switch_point.py " + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()),
        "pretrain": {"steps": result.steps, "seconds": result.seconds, "epochs": result.epochs, "scalars": result.scalars},
        "embedding_quality": embedding_quality(embeddings, labels),
        "curves": {},
    }
    budgets = [int(b) for b in args.budgets.split(",")]
    for strategy in args.strategies.split(","):
        record["curves"][strategy] = simulate(strategy, embeddings, labels, budgets, args.seed)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
