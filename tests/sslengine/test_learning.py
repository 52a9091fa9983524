"""FixMatch learns from unlabeled real images: it beats supervised training on the same labels.

Real Fashion-MNIST: 4 labels per class from the shipped 2,000-image train slice, all 2,000 images as
the unlabeled pool, accuracy on 1,000 images of the official test split. Both runs take the same
500 optimizer steps with the same labeled batches (batch 16, μ = 3, τ = 0.95, paper defaults
otherwise). A control run with the unlabeled loss switched off (λu = 0) must not reach the margin,
so the test fails if the unlabeled loss stops contributing.

Measured at 500 steps (2026-12-02, this CPU, one thread): supervised 60.2 %, FixMatch 66.0 % (+58 images),
control 57.4 % (-28): 48 CPU-seconds for the three runs. The 1,000 steps this test took before passed too,
at twice the cost (147 s in a loaded whole-suite run); at 300 steps FixMatch led by only 37 images.
On the next machine (2026-12-02, CI's clean clone, another CPU's kernels) the same run gave supervised
60.6 % and FixMatch 64.5 % (+39 images): the margin is 30 images, which the control (−28 on the first
machine) stays far below.
"""

from __future__ import annotations

import pytest

LABELS_PER_CLASS = 4
STEPS = 500
CLEAR_MARGIN = 0.03  # 30 more correct images out of 1,000


@pytest.fixture(scope="module")
def supervised_accuracy(accuracy_after_training) -> float:
    return accuracy_after_training("supervised", LABELS_PER_CLASS, STEPS)


def test_fixmatch_beats_supervised_with_same_labels_and_steps(accuracy_after_training, supervised_accuracy):
    fixmatch_accuracy = accuracy_after_training("fixmatch", LABELS_PER_CLASS, STEPS)
    assert supervised_accuracy > 0.5, "the supervised baseline itself should learn"
    assert fixmatch_accuracy >= supervised_accuracy + CLEAR_MARGIN, (fixmatch_accuracy, supervised_accuracy)


def test_fixmatch_without_its_unlabeled_loss_does_not_reach_the_margin(accuracy_after_training, supervised_accuracy):
    control_accuracy = accuracy_after_training("fixmatch", LABELS_PER_CLASS, STEPS, lambda_u=0.0)
    assert control_accuracy < supervised_accuracy + CLEAR_MARGIN, (control_accuracy, supervised_accuracy)
