"""Where the time of a training step goes: images/s of a full step and of each part.

    python -m sslengine.throughput --channels 1 --size 28 --threads 1 2 --json out.json

Times, on random uint8 images at the given size, (1) drawing and augmenting a batch (weak view of
the labeled images, weak + strong views of the unlabeled ones), (2) the algorithm's forward, backward
and optimizer step, (3) the EMA update, and (4) whole ``Trainer.fit`` steps; images/s counts the
images forwarded per step (B labeled + 2·μB unlabeled for FixMatch), like ``FitResult``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from .config import TrainConfig
from .trainer import Trainer


def _ms_per_call(function: Callable[[], object], repeats: int) -> float:
    function()
    start = time.perf_counter()
    for _ in range(repeats):
        function()
    return (time.perf_counter() - start) / repeats * 1000.0


def measure(config: TrainConfig, steps: int, device: str | None = None) -> dict[str, Any]:
    """Milliseconds per part of a step and images/s of whole steps, for one config."""
    generator = torch.Generator().manual_seed(0)
    shape = (4096, config.in_channels, config.image_size, config.image_size)
    images = torch.randint(0, 256, shape, generator=generator, dtype=torch.uint8)
    labels = torch.randint(0, config.num_classes, (shape[0],), generator=generator)
    trainer = Trainer(config, device=device)
    labeled, labeled_y = images[:200].to(trainer.device), labels[:200].to(trainer.device)
    pool = images.to(trainer.device)
    trainer.fit(labeled, labeled_y, pool, steps=3)  # warm-up: oneDNN primitive creation
    batch = trainer._draw_batch(labeled, labeled_y, pool)
    parts = {
        "sample_and_augment_ms": _ms_per_call(lambda: trainer._draw_batch(labeled, labeled_y, pool), steps),
        "forward_backward_optimizer_ms": _ms_per_call(lambda: trainer._step(batch), steps),
    }
    parts["ema_ms"] = _ms_per_call(trainer._update_ema, steps)
    result = trainer.fit(labeled, labeled_y, pool, steps=steps)
    return {
        "algorithm": config.algorithm,
        "backbone": config.backbone,
        "input": f"{config.in_channels}x{config.image_size}x{config.image_size}",
        "batch": f"{config.batch_size} + 2x{config.mu}x{config.batch_size}",
        "images_per_step": batch.num_images(),
        "threads": torch.get_num_threads(),
        "device": str(trainer.device),
        **{name: round(value, 2) for name, value in parts.items()},
        "step_ms": round(result.seconds / result.steps * 1000.0, 2),
        "images_per_second": round(result.images_per_second, 1),
        "load_average_1m": os.getloadavg()[0],  # other processes sharing the CPU
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sslengine.throughput", description=__doc__.split("\n\n")[0])
    parser.add_argument("--channels", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--size", type=int, nargs="+", default=[28, 32], help="one size per --channels entry")
    parser.add_argument("--algorithm", default="fixmatch")
    parser.add_argument("--backbone", default="cnn-small")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--mu", type=int, default=7)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--threads", type=int, nargs="+", default=[torch.get_num_threads()])
    parser.add_argument("--device", default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    records = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        for channels, size in zip(args.channels, args.size):
            config = TrainConfig(
                num_classes=10, algorithm=args.algorithm, backbone=args.backbone, in_channels=channels,
                image_size=size, batch_size=args.batch_size, mu=args.mu,
            )
            records.append(measure(config, args.steps, args.device))
            print(json.dumps(records[-1]), flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(records, indent=2) + "\n")


if __name__ == "__main__":
    main()
