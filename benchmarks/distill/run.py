"""A model to ship: a trained teacher, students distilled from it (DeiT hard and soft), int8 versions.

The teacher is a checkpoint written by the engine's CLI, e.g.

    nice -n 10 .venv/bin/python -m sslengine.bench --dataset fashion-mnist --labels-per-class 10 \\
        --algorithm fixmatch --backbone cnn-small --seconds 900 --seed 0 --threads 1 \\
        --json benchmarks/distill/teacher_cnn-small.json --save benchmarks/distill/checkpoints/teacher_cnn-small.pt

This script rebuilds the same labeled set (``--labels-per-class``, ``--seed``), labels every train image
with the teacher once (:func:`sslengine.distill.teacher_targets`), distils each ``--students`` ×
``--modes`` for ``--seconds``, exports everything to ONNX (fp32 and int8, calibrated on 512 train
images), and measures with onnxruntime on this CPU: accuracy on the official test split (10,000
images), latency per image at batch 1 and 64 (median, one thread) and size on disk.

    nice -n 10 .venv/bin/python benchmarks/distill/run.py --teacher benchmarks/distill/checkpoints/teacher_cnn-small.pt \\
        --students cnn-dw --modes hard,soft --seconds 300 --json benchmarks/distill/cnn-small.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks.records import run_header  # noqa: E402
from sslengine import Trainer  # noqa: E402
from sslengine.datasets import DEFAULT_FASHION_MNIST_DIR, load_fashion_mnist, stratified_subset  # noqa: E402
from sslengine.distill import DistillOptions, distillation_trainer, teacher_targets  # noqa: E402
from sslengine.export import (  # noqa: E402
    ExportMetadata,
    argmax_agreement,
    evenly_spaced,
    export_onnx,
    measure_latency,
    onnx_probabilities,
    quantize_onnx,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--teacher", type=Path, required=True, help="checkpoint from `sslengine.bench --save`")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_FASHION_MNIST_DIR)
    parser.add_argument("--labels-per-class", type=int, default=10, help="as the teacher's run (same labeled set)")
    parser.add_argument("--seed", type=int, default=0, help="as the teacher's run")
    parser.add_argument("--students", default="cnn-dw", help="comma-separated registered backbones")
    parser.add_argument("--modes", default="hard,soft")
    parser.add_argument("--seconds", type=float, default=300.0, help="distillation budget per student")
    parser.add_argument("--tta", action="store_true", help="teacher targets averaged over test-time shifts")
    parser.add_argument("--latency-seconds", type=float, default=3.0, help="timed calls per batch size")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for distillation")
    parser.add_argument("--json", type=Path, required=True)
    return parser.parse_args(argv)


def onnx_row(name: str, path: Path, test_images: np.ndarray, test_labels: np.ndarray, latency_seconds: float) -> dict:
    """Accuracy on the test split, latency and size of one ONNX file."""
    predicted = onnx_probabilities(path, test_images).argmax(1)
    return {
        "model": name,
        "test_accuracy": float((predicted == test_labels).mean()),
        "size_bytes": path.stat().st_size,
        "latency": measure_latency(path, test_images[:64], seconds=latency_seconds),
    }


def export_both(trainer: Trainer, meta: ExportMetadata, folder: Path, stem: str, calibration: np.ndarray) -> tuple[Path, Path]:
    fp32 = export_onnx(trainer, folder / f"{stem}.onnx", meta)
    return fp32, quantize_onnx(fp32, folder / f"{stem}.int8.onnx", calibration)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    record = run_header("distill", "benchmarks/distill/run.py", args, argv)
    train, test = load_fashion_mnist("train", args.data_dir), load_fashion_mnist("test", args.data_dir)
    test_images, test_labels = test.images.numpy(), test.labels.numpy()
    labeled = stratified_subset(train.labels, args.labels_per_class, args.seed)
    teacher = Trainer.load(args.teacher, device="cpu")
    calibration = evenly_spaced(train.images, 512)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        meta = ExportMetadata.for_trainer(teacher, classes=train.classes, version=0)
        fp32, int8 = export_both(teacher, meta, folder, "teacher", calibration)
        rows.append(onnx_row(f"teacher {teacher.config.backbone}", fp32, test_images, test_labels, args.latency_seconds))
        rows.append(onnx_row(f"teacher {teacher.config.backbone} int8", int8, test_images, test_labels, args.latency_seconds))
        rows[-1]["agreement_with_fp32"] = argmax_agreement(fp32, int8, test_images)
        started = time.perf_counter()
        targets = teacher_targets([teacher], train.images[labeled], train.images, tta=args.tta)
        record["teacher_targets_seconds"] = time.perf_counter() - started
        for student in args.students.split(","):
            for mode in args.modes.split(","):
                trainer = distillation_trainer(teacher.config, DistillOptions(student=student, mode=mode), targets, device="cpu")
                result = trainer.fit(train.images[labeled], train.labels[labeled], train.images, seconds=args.seconds)
                name = f"{student} {mode}-distilled"
                fp32, int8 = export_both(trainer, ExportMetadata.for_trainer(trainer, classes=train.classes, version=0), folder, f"{student}-{mode}", calibration)
                rows.append(onnx_row(name, fp32, test_images, test_labels, args.latency_seconds))
                rows[-1].update(steps=result.steps, seconds=result.seconds, agreement_with_teacher=float(
                    (onnx_probabilities(fp32, test_images).argmax(1) == teacher.predict(test.images).predicted.numpy()).mean()))
                rows.append(onnx_row(f"{name} int8", int8, test_images, test_labels, args.latency_seconds))
                rows[-1]["agreement_with_fp32"] = argmax_agreement(fp32, int8, test_images)
                print(json.dumps(rows[-2]), flush=True)
    record.update(
        rows=rows,
        teacher_checkpoint=str(args.teacher),
        num_labeled=int(labeled.numel()),
        num_transfer=len(train),
        num_test=len(test),
        torch=torch.__version__,
        load_average_1m_at_end=os.getloadavg()[0],
        finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
