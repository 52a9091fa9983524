"""Every seed method learns from unlabeled real images: it beats ``supervised`` on the same labels.

Real Fashion-MNIST: 4 labels per class from the shipped 2,000-image train slice, all 2,000 images as
the unlabeled pool, accuracy of the EMA weights on the 1,000 images of the official test split. Every
run takes the same STEPS optimizer steps with the same labeled batches (same seed, batch 16, μ = 3,
τ = 0.95, cosine horizon = STEPS, every other option at its default unless OPTIONS says otherwise).
FixMatch's own learning test (with its λu = 0 control) is tests/sslengine/test_learning.py.

A method that cannot win at this budget is skipped with the measured numbers; benchmarks/RESULTS.md
("Every algorithm") has the longer run where it does. Marked slow: about TOTAL on this 2-core CPU with
one thread (quiet machine), see RESULTS.md.
"""

from __future__ import annotations

import pytest

from sslengine import list_algorithms

pytestmark = pytest.mark.slow

LABELS_PER_CLASS = 4
STEPS = 300
MARGIN = 0.01  # 10 more correct images out of 1,000

# Options a method needs to act at all within STEPS steps (each a documented option of the method)
OPTIONS: dict[str, dict[str, object]] = {}

MEASURED: dict[str, str] = {}

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
def test_seed_method_beats_supervised_with_same_labels_and_steps(algorithm: str, accuracy_after_training, supervised_accuracy):
    accuracy = accuracy_after_training(algorithm, LABELS_PER_CLASS, STEPS, **OPTIONS.get(algorithm, {}))
    assert accuracy >= supervised_accuracy + MARGIN, (algorithm, accuracy, supervised_accuracy)
