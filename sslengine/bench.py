"""Reproducible benchmark runs on real datasets, JSON out.

    python -m sslengine.bench --dataset fashion-mnist --labels-per-class 4 --algorithm fixmatch \
        --seconds 600 --seed 0 --json out.json

Labeled set: ``--labels-per-class`` × classes images of the train split, chosen by ``--select``
(``random``: that many of every class, seeded; ``typicality``/``pool-first``: the strategy of
:mod:`sslengine.selection` on the embeddings of the pool, which does not guarantee a count per class)
or read from ``--labeled-indices``; unlabeled set: every train image; accuracy: EMA weights on the
official test split. ``--pretrain-seconds`` first pre-trains a SimCLR encoder on the pool
(:mod:`sslengine.pretext`) that gives the embeddings and initialises the model; the total wall time
is pre-training + training. ``--eval-every`` adds the test accuracy over time to the JSON. For
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
from datetime import UTC, datetime
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
from .inference import Predictions
from .pretext import PretrainConfig, Pretrainer, embedding_quality
from .selection import select_indices
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
    parser.add_argument("--labels-per-class", type=int, default=None, help="required unless --labeled-indices")
    parser.add_argument(
        "--select",
        choices=("random", "typicality", "pool-first"),
        default="random",
        help="how the labeled set is chosen from the pool (random: stratified per class)",
    )
    parser.add_argument(
        "--labeled-indices", type=Path, default=None, help="a fixed labeled set: train-split rows, JSON list or whitespace-separated"
    )
    parser.add_argument("--pretrain-seconds", type=float, default=0.0, help="SimCLR pre-training on the pool before labels")
    parser.add_argument("--eval-every", type=float, default=None, help="seconds of training between test evaluations")
    parser.add_argument("--hflip", action="store_true", help="allow horizontal flips in the views (not for digits)")
    parser.add_argument("--algorithm", default="fixmatch")
    parser.add_argument(
        "--algorithm-option",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="one of the algorithm's own options (its file's options class), e.g. eps=1.5 for vat; "
        "VALUE is read as JSON (numbers, true/false), else kept as text; repeatable",
    )
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
    args = parser.parse_args(argv)
    if (args.labels_per_class is None) == (args.labeled_indices is None):
        parser.error("pass exactly one of --labels-per-class and --labeled-indices")
    if args.labeled_indices is not None and args.select != "random":
        parser.error("--select chooses a labeled set; --labeled-indices gives one: pass only one")
    if args.eval_every is not None and (args.seconds is None or args.eval_every <= 0):
        parser.error("--eval-every needs --seconds and a positive value")
    if args.pretrain_seconds < 0:
        parser.error("--pretrain-seconds must be >= 0")
    try:
        args.algorithm_options = parse_algorithm_options(args.algorithm_option)
    except ValueError as error:
        parser.error(str(error))
    return args


def parse_algorithm_options(pairs: Sequence[str]) -> dict[str, Any]:
    """``["eps=1.5", "warmup=false"]`` → ``{"eps": 1.5, "warmup": False}`` (values as JSON, else text)."""
    options: dict[str, Any] = {}
    for pair in pairs:
        name, separator, text = pair.partition("=")
        if not separator or not name:
            raise ValueError(f"--algorithm-option {pair!r}: expected NAME=VALUE")
        try:
            options[name] = json.loads(text)
        except ValueError:
            options[name] = text
    return options


def read_labeled_indices(path: Path, pool_size: int) -> torch.Tensor:
    """Rows of the train split from a JSON list or whitespace-separated integers; distinct, in range."""
    text = path.read_text()
    try:
        values = json.loads(text) if text.lstrip().startswith("[") else [int(token) for token in text.split()]
    except ValueError as error:
        raise SystemExit(f"{path}: not a list of integers ({error})") from None
    index = torch.tensor([int(value) for value in values], dtype=torch.int64)
    if index.numel() == 0:
        raise SystemExit(f"{path}: no indices")
    if int(index.min()) < 0 or int(index.max()) >= pool_size:
        raise SystemExit(f"{path}: indices must lie in [0, {pool_size})")
    if index.unique().numel() != index.numel():
        raise SystemExit(f"{path}: indices repeat")
    return index


def choose_labeled(args: argparse.Namespace, train: ImageSet, embeddings: torch.Tensor | None) -> torch.Tensor:
    """The labeled rows of the train split (see the module docstring)."""
    if args.labeled_indices is not None:
        return read_labeled_indices(args.labeled_indices, len(train))
    if args.select == "random":
        return stratified_subset(train.labels, args.labels_per_class, args.seed)
    assert embeddings is not None
    num_classes = len(train.classes)
    before_any_label = Predictions.from_probs(torch.full((len(train), num_classes), 1.0 / num_classes), embeddings)
    budget = args.labels_per_class * num_classes
    return select_indices(args.select, before_any_label, torch.arange(len(train)), budget, seed=args.seed)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Pre-train (optionally), choose the labeled set, train once and return the JSON record."""
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    train, test = load_splits(args)
    channels, size = int(train.images.shape[1]), int(train.images.shape[2])
    pretrain = pretrain_on_pool(args, train, test, channels, size)
    select_start = time.perf_counter()
    labeled_index = choose_labeled(args, train, pretrain["embeddings"])
    select_seconds = time.perf_counter() - select_start
    config = TrainConfig(
        num_classes=len(train.classes),
        algorithm=args.algorithm,
        backbone=args.backbone,
        in_channels=channels,
        image_size=size,
        hflip=args.hflip,
        threshold=args.threshold,
        batch_size=args.batch_size,
        mu=args.mu,
        lr=args.lr,
        schedule_steps=args.schedule_steps,
        seed=args.seed,
        algorithm_options=args.algorithm_options,
    )
    trainer = Trainer(config, device=args.device)
    if pretrain["encoder"] is not None:
        trainer.load_encoder(pretrain["encoder"])
    bar = tqdm(total=args.steps or int(args.seconds), unit="step" if args.steps else "s", dynamic_ncols=True)
    started = time.perf_counter()

    def on_progress(step: int, planned: int, scalars: dict[str, float]) -> None:
        bar.n = step if planned else min(int(time.perf_counter() - started), bar.total)
        bar.set_postfix({name: f"{value:.3f}" for name, value in scalars.items()}, refresh=False)
        bar.refresh()

    labeled, labels = train.images[labeled_index], train.labels[labeled_index]
    curve: list[dict[str, float]] = []
    steps = seconds = images = 0.0
    scalars: dict[str, float] = {}
    chunks = [args.steps] if args.steps else _chunks(args.seconds, args.eval_every)
    for chunk in chunks:
        result = trainer.fit(
            labeled, labels, train.images, on_progress=on_progress,
            steps=int(chunk) if args.steps else None, seconds=None if args.steps else chunk,
        )
        steps, seconds = steps + result.steps, seconds + result.seconds
        images += result.images_per_second * result.seconds
        scalars = result.scalars
        if args.eval_every is not None:
            curve.append({
                "train_seconds": seconds,
                "total_seconds": pretrain["seconds"] + seconds,
                "global_step": result.global_step,
                "test_accuracy": trainer.evaluate(test.images, test.labels, batch_size=1024),
            })
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
        "select": "labeled-indices" if args.labeled_indices is not None else args.select,
        "num_labeled": int(labeled_index.numel()),
        "labeled_per_class_counts": torch.bincount(labels, minlength=len(train.classes)).tolist(),
        "num_unlabeled": len(train),
        "num_test": len(test),
        "steps": int(steps),
        "seconds": seconds,
        "images_per_second": images / seconds if seconds > 0 else 0.0,
        "test_accuracy": accuracy,
        "eval_seconds": time.perf_counter() - eval_start,
        "scalars": scalars,
        "pretrain": {key: value for key, value in pretrain.items() if key not in ("embeddings", "encoder")},
        "select_seconds": select_seconds,
        "total_seconds": pretrain["seconds"] + seconds,  # pre-training + training wall time
        "cpu_seconds": time.process_time(),  # CPU time of the whole process, every thread
        "curve": curve,
        "device": _describe_device(trainer.device),
        "seed": args.seed,
        "budget": {"seconds": args.seconds, "steps": args.steps, "pretrain_seconds": args.pretrain_seconds},
        "config": config.to_dict(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "load_average_1m_at_end": os.getloadavg()[0],  # other processes sharing the CPU
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _chunks(total: float, every: float | None) -> list[float]:
    """``total`` seconds cut into pieces of ``every`` (the last one shorter), or one piece."""
    if every is None:
        return [total]
    pieces = [every] * int(total // every)
    rest = total - every * len(pieces)
    return pieces + ([rest] if rest > 1e-9 else [])


def pretrain_on_pool(args: argparse.Namespace, train: ImageSet, test: ImageSet, channels: int, size: int) -> dict[str, Any]:
    """SimCLR on every train image for ``--pretrain-seconds``; the pool's embeddings when selection
    needs them (from a random encoder without pre-training) and the encoder when there was any."""
    record: dict[str, Any] = {"seconds": 0.0, "steps": 0, "embeddings": None, "encoder": None}
    selection_needs_embeddings = args.select != "random" and args.labeled_indices is None
    if args.pretrain_seconds <= 0 and not selection_needs_embeddings:
        return record
    config = PretrainConfig(backbone=args.backbone, in_channels=channels, image_size=size, hflip=args.hflip, seed=args.seed)
    pretrainer = Pretrainer(config, device=args.device)
    if args.pretrain_seconds > 0:
        result = pretrainer.fit(train.images, seconds=args.pretrain_seconds)
        record.update(seconds=result.seconds, steps=result.steps, epochs=result.epochs, scalars=result.scalars)
        record["encoder"] = pretrainer.encoder_state_dict()
        record["config"] = config.to_dict()
    # outside the budget: the test split's 20-NN accuracy shows what the encoder learned
    record["test_quality"] = embedding_quality(pretrainer.embed(test.images), test.labels)
    if selection_needs_embeddings:
        record["embeddings"] = pretrainer.embed(train.images)
    return record


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
