"""Diagnostic (issue 16): is a Noisy Student teacher taken mid-``fit`` weak because of its BatchNorm statistics?

A teacher made every ``teacher_refresh_steps`` within a fit is a copy of the EMA, whose BatchNorm
statistics are the student's (with stochastic depth: estimated with branches dropped); only the end of
a fit re-estimates them. This trains wrn-28-2 Noisy Student for one teacher round (100 steps, the
learning test's setup, ``bn_recalibration_images=0``), with and without stochastic depth, and prints
the share of the 2,000 train images the EMA keeps at τ = 0.95 and its test accuracy, before and after
precise BN. Output of the RESULTS.md run: results/noisy_student/teacher_bn_diagnostic.txt.

    OMP_NUM_THREADS=1 PYTHONPATH=. nice -n 10 .venv/bin/python benchmarks/engine/noisy_student_teacher_bn.py
"""

from __future__ import annotations

from pathlib import Path

import torch

from sslengine import TrainConfig, Trainer
from sslengine.datasets import load_npz, stratified_subset
from sslengine.inference import predict, recalibrate_batchnorm

DATA_DIR = Path(__file__).resolve().parents[2] / "tests" / "data"


def main() -> None:
    torch.set_num_threads(1)
    train, test = load_npz(DATA_DIR / "fashion_mnist_small.npz"), load_npz(DATA_DIR / "fashion_mnist_test_small.npz")
    labeled = stratified_subset(train.labels, 4, seed=0)
    for survival in (0.8, 1.0):
        config = TrainConfig(
            num_classes=10, algorithm="noisystudent", backbone="wrn-28-2", in_channels=1, image_size=28,
            batch_size=16, mu=3, schedule_steps=300, bn_recalibration_images=0,
            algorithm_options={"teacher_refresh_steps": 100, "student_survival": survival},
        )
        trainer = Trainer(config, device="cpu")
        trainer.fit(train.images[labeled], train.labels[labeled], train.images, steps=100)
        for name in ("student BN stats", "precise BN"):
            if name == "precise BN":
                recalibrate_batchnorm(trainer.ema_model, train.images, 4096)
            kept = float((predict(trainer.ema_model, train.images).confidence >= 0.95).float().mean())
            accuracy = float((predict(trainer.ema_model, test.images).predicted == test.labels).float().mean())
            print(f"survival {survival}, {name}: kept at 0.95 {kept:.3f}, test acc {accuracy:.3f}", flush=True)


if __name__ == "__main__":
    main()
