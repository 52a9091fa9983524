"""Reproducible benchmark runs on real datasets, JSON out.

    python -m sslengine.bench --dataset fashion-mnist --labels-per-class 4 --algorithm fixmatch \
        --seconds 600 --seed 0 --json out.json

Labeled set: ``--labels-per-class`` images of every class drawn (seeded) from the train split;
unlabeled set: every train image; accuracy: EMA weights on the official test split. For
``--dataset imagefolder``, ``--data-dir`` holds ``train/`` and ``test/`` ImageFolder trees, or a single
tree of which a stratified ``--test-fraction`` is held out.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from .config import TrainConfig
from .datasets import (
    DEFAULT_FASHION_MNIST_DIR,
    ImageSet,
    load_fashion_mnist,
    load_image_folder,
    stratified_subset,
    subset,
)
from .trainer import Trainer


def load_splits(args: argparse.Namespace) -> tuple[ImageSet, ImageSet]:
    """(train, test) image sets for the chosen dataset."""
    if args.dataset == "fashion-mnist":
        data_dir = args.data_dir or DEFAULT_FASHION_MNIST_DIR
        return load_fashion_mnist("train", data_dir), load_fashion_mnist("test", data_dir)
    if args.data_dir is None:
        raise SystemExit("--dataset imagefolder needs --data-dir")
    root = Path(args.data_dir)
    if (root / "train").is_dir() and (root / "test").is_dir():
        return (
            load_image_folder(root / "train", args.image_size, args.channels),
            load_image_folder(root / "test", args.image_size, args.channels),
        )
    everything = load_image_folder(root, args.image_size, args.channels)
    counts = torch.bincount(everything.labels)
    per_class = max(1, int(counts.min() * args.test_fraction))
    test_index = stratified_subset(everything.labels, per_class, args.seed + 1)
    keep = torch.ones(len(everything), dtype=torch.bool)
    keep[test_index] = False
    return subset(everything, torch.nonzero(keep).flatten()), subset(everything, test_index)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m sslengine.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=("fashion-mnist", "imagefolder"), default="fashion-mnist")
    parser.add_argument("--data-dir", type=Path, default=None, help=f"default for fashion-mnist: {DEFAULT_FASHION_MNIST_DIR}")
    parser.add_argument("--image-size", type=int, default=32, help="imagefolder only")
    parser.add_argument("--channels", type=int, choices=(1, 3), default=3, help="imagefolder only")
    parser.add_argument("--test-fraction", type=float, default=0.2, help="imagefolder without train/test folders")
    parser.add_argument("--labels-per-class", type=int, required=True)
    parser.add_argument("--algorithm", default="fixmatch")
    parser.add_argument("--backbone", default="cnn-small")
    budget = parser.add_mutually_exclusive_group(required=True)
    budget.add_argument("--seconds", type=float)
    budget.add_argument("--steps", type=int)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--mu", type=int, default=7)
    parser.add_argument("--threshold", type=float, default=0.95)
    parser.add_argument("--lr", type=float, default=0.03)
    parser.add_argument("--schedule-steps", type=int, default=20_000)
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU intra-op threads (default: torch's). On a busy 2-core machine use 1: two spin-waiting "
        "OpenMP threads competing with other processes ran up to 10x slower in our measurements",
    )
    parser.add_argument("--json", type=Path, default=None, help="write config and results here")
    parser.add_argument("--save", type=Path, default=None, help="write the trained checkpoint here (Trainer.save)")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Train once with the CLI's settings and return the JSON record."""
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    train, test = load_splits(args)
    labeled_index = stratified_subset(train.labels, args.labels_per_class, args.seed)
    channels, size = int(train.images.shape[1]), int(train.images.shape[2])
    config = TrainConfig(
        num_classes=len(train.classes),
        algorithm=args.algorithm,
        backbone=args.backbone,
        in_channels=channels,
        image_size=size,
        threshold=args.threshold,
        batch_size=args.batch_size,
        mu=args.mu,
        lr=args.lr,
        schedule_steps=args.schedule_steps,
        seed=args.seed,
    )
    trainer = Trainer(config, device=args.device)
    bar = tqdm(total=args.steps or int(args.seconds), unit="step" if args.steps else "s", dynamic_ncols=True)
    started = time.perf_counter()

    def on_progress(step: int, planned: int, scalars: dict[str, float]) -> None:
        bar.n = step if planned else min(int(time.perf_counter() - started), bar.total)
        bar.set_postfix({name: f"{value:.3f}" for name, value in scalars.items()}, refresh=False)
        bar.refresh()

    result = trainer.fit(
        train.images[labeled_index],
        train.labels[labeled_index],
        train.images,
        steps=args.steps,
        seconds=args.seconds,
        on_progress=on_progress,
    )
    bar.close()
    if args.save:
        trainer.save(args.save)
    eval_start = time.perf_counter()
    accuracy = trainer.evaluate(test.images, test.labels, batch_size=1024)
    return {
        "algorithm": args.algorithm,
        "backbone": args.backbone,
        "dataset": args.dataset,
        "labels_per_class": args.labels_per_class,
        "num_labeled": int(labeled_index.numel()),
        "num_unlabeled": len(train),
        "num_test": len(test),
        "steps": result.steps,
        "seconds": result.seconds,
        "images_per_second": result.images_per_second,
        "test_accuracy": accuracy,
        "eval_seconds": time.perf_counter() - eval_start,
        "scalars": result.scalars,
        "device": _describe_device(trainer.device),
        "seed": args.seed,
        "budget": {"seconds": args.seconds, "steps": args.steps},
        "config": config.to_dict(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "load_average_1m_at_end": os.getloadavg()[0],  # other processes sharing the CPU
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    return f"cpu: {platform.processor() or platform.machine()}, {os.cpu_count()} cores"


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    record = run(args)
    text = json.dumps(record, indent=2)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
