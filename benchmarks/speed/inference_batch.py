"""Inference batch size on a CPU: process CPU-seconds of ``sslengine.inference.predict`` per backbone and batch.

Each registered CNN backbone on random uint8 images of two geometries (28 px grayscale, 32 px RGB), its weights
channels_last as ``sslengine.Trainer`` keeps them (``--layout nchw`` for plain weights), every batch size
timed in this one run at one torch thread; the best of ``--repeats`` runs per cell after a warm-up:

    .venv/bin/python benchmarks/speed/inference_batch.py [--batches 32,64,128,256,512] [--out FILE.json]

Behind ``sslengine.inference.CPU_BATCH``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks.records import run_header  # noqa: E402

CASES = (  # backbone, channels, size, images (fewer for the wide network, to keep the run short)
    ("cnn-small", 1, 28, 20_000),
    ("cnn-small", 3, 32, 10_000),
    ("cnn-dw", 3, 32, 10_000),
    ("wrn-28-2", 3, 32, 1_000),
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", default="32,64,128,256,512")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of each case's image count")
    parser.add_argument("--layout", choices=["channels_last", "nchw"], default="channels_last")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "speed" / "results" / "inference_batch.json")
    return parser.parse_args()


def cpu_seconds(function, repeats: int) -> float:
    """The least process CPU time of ``repeats`` calls."""
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        function()
        best = min(best, time.process_time() - started)
    return round(best, 3)


def main() -> None:
    import torch

    from sslengine.backbones import BackboneSpec, build_network
    from sslengine.inference import predict

    args = parse_args()
    torch.set_num_threads(1)
    batches = [int(b) for b in args.batches.split(",")]
    record = {**run_header("inference_batch", "benchmarks/speed/inference_batch.py", args),
              "machine": {"cpu": platform.processor() or platform.machine(), "torch": torch.__version__, "threads": 1},
              "rows": []}
    generator = torch.Generator().manual_seed(0)
    for backbone, channels, size, count in CASES:
        network = build_network(backbone, BackboneSpec(in_channels=channels, image_size=size), 10)
        if args.layout == "channels_last":
            network = network.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        count = max(1, int(count * args.scale))
        images = torch.randint(0, 256, (count, channels, size, size), dtype=torch.uint8, generator=generator)
        predict(network, images[:500], min(batches))  # warm-up
        row = {"backbone": backbone, "channels": channels, "size": size, "images": count,
               "cpu_s": {str(b): cpu_seconds(lambda b=b, n=network, x=images: predict(n, x, b), args.repeats) for b in batches}}
        record["rows"].append(row)
        print(json.dumps(row), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
