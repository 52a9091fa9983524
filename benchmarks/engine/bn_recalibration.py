"""Ablation: the EMA network with the trained network's BatchNorm statistics vs. re-estimated ones.

The product trains in short rounds, each on a few more labels, and predicts with the EMA weights. Until
commit f6169dc the EMA network carried the latest trained weights' BatchNorm statistics; now every ``fit``
re-estimates them for the EMA weights ("precise BN", Wu & Johnson 2021). This script replays the app's
rhythm on Fashion-MNIST (a seeded pool, +``--add`` labels per round, ``--steps`` steps per round) and scores
both on the official test split after every round. Training is the same for both arms: the trainer runs
with ``bn_recalibration_images=0`` and the re-estimated arm is a copy, recalibrated as ``fit`` now does.

    .venv/bin/python benchmarks/engine/bn_recalibration.py              # the RESULTS.md run

Writes ``--out`` (JSON: every round of every run, and medians) and prints a markdown table.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks.records import run_header  # noqa: E402
from sslengine import TrainConfig, Trainer  # noqa: E402
from sslengine.datasets import ImageSet, load_fashion_mnist  # noqa: E402
from sslengine.inference import predict, recalibrate_batchnorm  # noqa: E402

ARMS = ("trained_bn", "recalibrated_bn")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algorithms", default="supervised,fixmatch")
    parser.add_argument("--seeds", default="0,1,2", help="pool draws (the model's seed stays 0, as in the app)")
    parser.add_argument("--pool", type=int, default=5000, help="train images in the pool (seeded draw)")
    parser.add_argument("--add", type=int, default=25, help="labels added before each round")
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--steps", type=int, default=200, help="optimizer steps per round")
    parser.add_argument("--recalibration-images", type=int, default=TrainConfig(num_classes=2).bn_recalibration_images)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "bn_recalibration.json")
    return parser.parse_args(argv)


def accuracy(network: torch.nn.Module, test: ImageSet) -> float:
    return float((predict(network, test.images).predicted == test.labels).float().mean())


def replay(algorithm: str, seed: int, train: ImageSet, test: ImageSet, args: argparse.Namespace, bar: tqdm) -> list[dict]:
    """One run: rounds of +``add`` labels and ``steps`` steps; both arms scored after every round."""
    index = torch.from_numpy(np.random.default_rng(seed).permutation(len(train.labels))[: args.pool])
    pool, truth = train.images[index], train.labels[index]
    config = TrainConfig(num_classes=10, algorithm=algorithm, in_channels=1, image_size=28, seed=0, bn_recalibration_images=0)
    trainer = Trainer(config, device="cpu")
    rounds = []
    for number in range(1, args.rounds + 1):
        labels = args.add * number
        started = time.perf_counter()
        trainer.fit(pool[:labels], truth[:labels], pool, steps=args.steps)
        recalibrated = copy.deepcopy(trainer.ema_model)
        recalibrate_batchnorm(recalibrated, pool, args.recalibration_images)
        rounds.append({"labels": labels, "trained_bn": round(accuracy(trainer.ema_model, test), 4),
                       "recalibrated_bn": round(accuracy(recalibrated, test), 4),
                       "seconds": round(time.perf_counter() - started, 1)})
        bar.update()
        bar.set_postfix_str(f"{algorithm} seed {seed} labels {labels}: {rounds[-1]['trained_bn']:.3f} → {rounds[-1]['recalibrated_bn']:.3f}")
    return rounds


def largest_drop(values: list[float]) -> float:
    """The largest fall from one round to the next (0 when the curve never falls)."""
    return max([0.0, *(a - b for a, b in zip(values, values[1:]))])


def summary(runs: list[list[dict]]) -> dict:
    """Per arm: median accuracy per round over runs, median final and mean accuracy, and the median of
    each run's largest round-to-round drop."""
    result = {}
    for arm in ARMS:
        curves = [[r[arm] for r in run] for run in runs]
        result[arm] = {
            "median_by_round": [round(statistics.median(c[i] for c in curves), 4) for i in range(len(curves[0]))],
            "median_final": round(statistics.median(c[-1] for c in curves), 4),
            "median_mean_over_rounds": round(statistics.median(statistics.fmean(c) for c in curves), 4),
            "median_largest_drop": round(statistics.median(largest_drop(c) for c in curves), 4),
        }
    return result


def table(record: dict) -> str:
    head = "| algorithm | BatchNorm statistics | " + " | ".join(f"@{n}" for n in record["shown_labels"]) + \
        " | mean over rounds | largest drop between rounds |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for algorithm, data in record["algorithms"].items():
        for arm in ARMS:
            s = data["summary"][arm]
            cells = [f"{s['median_by_round'][n // record['config']['add'] - 1]:.3f}" for n in record["shown_labels"]]
            lines.append(f"| {algorithm} | {arm.replace('_', ' ')} | " + " | ".join(cells) +
                         f" | {s['median_mean_over_rounds']:.3f} | {s['median_largest_drop']:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    train, test = load_fashion_mnist("train"), load_fashion_mnist("test")
    algorithms, seeds = args.algorithms.split(","), [int(s) for s in args.seeds.split(",")]
    record: dict = {**run_header("bn_recalibration", "benchmarks/engine/bn_recalibration.py", args),
                    "torch": torch.__version__, "algorithms": {}}
    step = max(1, args.rounds // 4)
    record["shown_labels"] = [args.add * n for n in range(step, args.rounds + 1, step)]
    with tqdm(total=len(algorithms) * len(seeds) * args.rounds, unit="round") as bar:
        for algorithm in algorithms:
            runs = [replay(algorithm, seed, train, test, args, bar) for seed in seeds]
            record["algorithms"][algorithm] = {"runs": dict(zip(map(str, seeds), runs)), "summary": summary(runs)}
            args.out.write_text(json.dumps(record, indent=1) + "\n")
    print(table(record))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
