"""FixMatch learns from unlabeled real images: it beats supervised training on the same labels.

Real Fashion-MNIST: 4 labels per class from the shipped 2,000-image train slice, all 2,000 images as
the unlabeled pool, accuracy on 1,000 images of the official test split. Both runs take the same
1,000 optimizer steps with the same labeled batches (batch 16, μ = 3, τ = 0.95, paper defaults
otherwise). A control run with the unlabeled loss switched off (λu = 0) must not reach the margin,
so the test fails if the unlabeled loss stops contributing.

On this 2-core CPU with one thread: about 2 minutes quiet, all three runs together.
"""

from __future__ import annotations

import pytest

LABELS_PER_CLASS = 4
STEPS = 1000
CLEAR_MARGIN = 0.04  # 40 more correct images out of 1,000


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
