"""Training and inference speed of every backbone at the app's image sizes, on CPU or a GPU.

For each backbone × geometry (28 px grayscale, 32 px RGB) it builds the engine's ``Trainer`` exactly
as the worker does (``TrainConfig`` defaults: FixMatch, 16 labeled + 7×16 unlabeled a step, the
labeled and both unlabeled views in one forward; bf16 autocast and channels_last on CUDA) and times:

- training: ``Trainer.fit(steps=N)`` → images forwarded per second (labeled + weak + strong views),
  augmentation on the device included;
- inference: ``Trainer.predict`` over M images (probabilities, margins, entropy, embeddings), batch 512.

Each figure is the median of ``--repeats`` timed repeats in this one run, after a warm-up. The FLOPs
of one forward are counted with ``torch.utils.flop_counter``; a training image costs ~3× a forward
(forward + backward), which gives the achieved FLOP/s and the fraction of the device's peak.

    .venv/bin/python benchmarks/speed/run.py                      # this machine's CPU
    .venv/bin/python benchmarks/speed/run.py --device cuda        # a GPU (peak looked up by name)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

    from sslengine import Trainer

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

GEOMETRIES = {"28-gray": (1, 28), "32-rgb": (3, 32)}
# Dense peak TFLOP/s by device-name fragment: bf16 tensor cores for GPUs (the trainer's autocast dtype).
GPU_PEAK_TFLOPS = {"H200": 989.0, "H100 PCIe": 756.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "L4": 121.0,
                   "A10": 125.0, "RTX 4090": 165.0, "V100": 125.0, "T4": 65.0}
# Zen 4 (this machine): 2 FMA pipes × 256 bit = 16 fp32 FMA = 32 FLOP per cycle per core.
CPU_FLOP_PER_CYCLE = 32


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 ...")
    parser.add_argument("--backbones", default="cnn-small,wrn-28-2,resnet18")
    parser.add_argument("--geometries", default=",".join(GEOMETRIES), help=f"comma list of: {', '.join(GEOMETRIES)}")
    parser.add_argument("--algorithm", default="fixmatch")
    parser.add_argument("--batch-size", type=int, default=16, help="labeled images a step (the app's default: 16)")
    parser.add_argument("--steps", type=int, default=4, help="training steps per timed repeat")
    parser.add_argument("--warmup-steps", type=int, default=2)
    parser.add_argument("--predict-images", type=int, default=2048, help="images per timed inference repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--peak-tflops", type=float, default=None, help="device peak (default: looked up / estimated)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default, one per core)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "speed-cpu.json")
    return parser.parse_args(argv)


def peak_tflops(device: torch.device, override: float | None) -> tuple[float | None, str]:
    """The device's dense peak and where the number comes from."""
    import torch

    if override:
        return override, "--peak-tflops"
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for fragment, value in GPU_PEAK_TFLOPS.items():
            if fragment in name:
                return value, f"{name}: vendor dense bf16 peak"
        return None, f"{name}: unknown peak (pass --peak-tflops)"
    ghz = _cpu_ghz()
    if ghz is None:
        return None, "unknown CPU clock (pass --peak-tflops)"
    cores = os.cpu_count() or 1
    return cores * CPU_FLOP_PER_CYCLE * ghz / 1000.0, f"estimate: {cores} cores × {CPU_FLOP_PER_CYCLE} fp32 FLOP/cycle × {ghz:.2f} GHz"


def _cpu_ghz() -> float | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("cpu MHz"):
                return float(line.split(":")[1]) / 1000.0
    except OSError:
        pass
    return None


def forward_flops(trainer: Trainer, channels: int, size: int) -> float:
    """FLOPs of one image's forward pass through the training network (counted, not estimated)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.zeros(8, channels, size, size, device=trainer.device)
    trainer.model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        trainer.model(x)
    return counter.get_total_flops() / 8


def _sync(device: torch.device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(args: argparse.Namespace, backbone: str, geometry: str, peak: float | None) -> dict:
    import torch

    from sslengine import TrainConfig, Trainer

    channels, size = GEOMETRIES[geometry]
    config = TrainConfig(num_classes=10, algorithm=args.algorithm, backbone=backbone, in_channels=channels,
                         image_size=size, batch_size=args.batch_size)
    trainer = Trainer(config, device=args.device)
    generator = torch.Generator().manual_seed(0)
    pool = torch.randint(0, 256, (max(args.predict_images, 1024), channels, size, size), dtype=torch.uint8, generator=generator)
    labels = torch.randint(0, 10, (256,), generator=generator)
    trainer.fit(pool[:256], labels, pool, steps=args.warmup_steps)
    train_rates = []
    for _ in range(args.repeats):
        _sync(trainer.device)
        result = trainer.fit(pool[:256], labels, pool, steps=args.steps)
        train_rates.append(result.images_per_second)
    images = pool[: args.predict_images]
    trainer.predict(images[:512])
    predict_rates = []
    for _ in range(args.repeats):
        _sync(trainer.device)
        started = time.perf_counter()
        trainer.predict(images, batch_size=512)
        _sync(trainer.device)
        predict_rates.append(len(images) / (time.perf_counter() - started))
    flops = forward_flops(trainer, channels, size)
    train, infer = statistics.median(train_rates), statistics.median(predict_rates)
    row = {
        "backbone": backbone,
        "geometry": geometry,
        "params_m": round(sum(p.numel() for p in trainer.model.parameters()) / 1e6, 3),
        "forward_mflops_per_image": round(flops / 1e6, 2),
        "images_per_step": args.batch_size * (1 + 2 * config.mu),
        "train_images_per_s": round(train, 1),
        "train_steps_per_s": round(train / (args.batch_size * (1 + 2 * config.mu)), 3),
        "predict_images_per_s": round(infer, 1),
        "train_repeats": [round(r, 1) for r in train_rates],
        "predict_repeats": [round(r, 1) for r in predict_rates],
        "train_tflops": round(3 * flops * train / 1e12, 4),
        "predict_tflops": round(flops * infer / 1e12, 4),
    }
    if peak:
        row["train_peak_fraction"] = round(row["train_tflops"] / peak, 4)
        row["predict_peak_fraction"] = round(row["predict_tflops"] / peak, 4)
    return row


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    import torch

    from benchmarks.label_efficiency.app_env import machine
    from benchmarks.records import run_header

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    peak, peak_source = peak_tflops(device, args.peak_tflops)
    record = {
        **run_header("speed", "benchmarks/speed/run.py", args, argv),
        "machine": machine(),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "precision": "bf16 autocast, channels_last" if device.type == "cuda" else "fp32, channels_last",
        "peak_tflops": peak,
        "peak_source": peak_source,
        "rows": [],
    }
    for backbone in args.backbones.split(","):
        for geometry in args.geometries.split(","):
            row = measure(args, backbone, geometry, peak)
            record["rows"].append(row)
            print(json.dumps(row), flush=True)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(record, indent=1) + "\n")
    print(table(record))


def table(record: dict) -> str:
    lines = ["| backbone | input | params (M) | fwd MFLOP/img | train img/s (steps/s) | predict img/s | train % of peak | predict % of peak |",
             "|---|---|---|---|---|---|---|---|"]
    for r in record["rows"]:
        frac = [f"{100 * r[k]:.2f} %" if k in r else "–" for k in ("train_peak_fraction", "predict_peak_fraction")]
        lines.append(f"| {r['backbone']} | {r['geometry']} | {r['params_m']} | {r['forward_mflops_per_image']} | "
                     f"{r['train_images_per_s']} ({r['train_steps_per_s']}) | {r['predict_images_per_s']} | {frac[0]} | {frac[1]} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
