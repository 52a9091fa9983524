"""Seconds of one label propagation over all 60,000 Fashion-MNIST train images on this CPU.

    nice -n 10 .venv/bin/python benchmarks/engine/propagation_speed.py --json benchmarks/engine/results/propagation_speed.json

Embeddings: a cnn-small encoder (sslengine.pretext, ``--pretrain-seconds`` of SimCLR, 0 = random
weights), 128-D. Labels: ``--labels-per-class`` per class (stratified, seeded). Reported: wall and
CPU seconds of ``propagate`` (kNN graph + conjugate gradient) and its accuracy on the unlabeled rows.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from sslengine import PretrainConfig, Pretrainer, propagate
from sslengine.datasets import DEFAULT_FASHION_MNIST_DIR, load_fashion_mnist, stratified_subset


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pretrain-seconds", type=float, default=0.0)
    parser.add_argument("--labels-per-class", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    train = load_fashion_mnist("train", DEFAULT_FASHION_MNIST_DIR)
    pretrainer = Pretrainer(PretrainConfig(in_channels=1, image_size=28), device="cpu")
    if args.pretrain_seconds > 0:
        pretrainer.fit(train.images, seconds=args.pretrain_seconds)
    embeddings = pretrainer.embed(train.images, batch_size=1024)
    labeled = stratified_subset(train.labels, args.labels_per_class, 0)
    runs = []
    for _ in range(args.repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        predictions = propagate(embeddings, labeled, train.labels[labeled], len(train.classes))
        runs.append({"seconds": time.perf_counter() - wall, "cpu_seconds": time.process_time() - cpu,
                     "load_average_1m": os.getloadavg()[0]})
    rest = torch.ones(len(train), dtype=torch.bool)
    rest[labeled] = False
    record = {
        "images": len(train),
        "embedding_dim": int(embeddings.shape[1]),
        "labels": int(labeled.numel()),
        "pretrain_seconds": args.pretrain_seconds,
        "threads": args.threads,
        "runs": runs,
        "accuracy_on_unlabeled": float((predictions.predicted[rest] == train.labels[rest]).float().mean()),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
