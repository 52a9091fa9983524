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

from sslengine import TrainConfig, Trainer
from sslengine.datasets import ImageSet, stratified_subset

LABELS_PER_CLASS = 4
STEPS = 1000
CLEAR_MARGIN = 0.04  # 40 more correct images out of 1,000


def _accuracy_after_training(train: ImageSet, test: ImageSet, algorithm: str, lambda_u: float = 1.0) -> float:
    config = TrainConfig(
        num_classes=10, algorithm=algorithm, in_channels=1, image_size=28,
        batch_size=16, mu=3, threshold=0.95, lambda_u=lambda_u, schedule_steps=STEPS, seed=0,
    )
    labeled = stratified_subset(train.labels, LABELS_PER_CLASS, seed=0)
    trainer = Trainer(config, device="cpu")
    result = trainer.fit(train.images[labeled], train.labels[labeled], train.images, steps=STEPS)
    assert result.steps == STEPS
    return trainer.evaluate(test.images, test.labels)


@pytest.fixture(scope="module")
def supervised_accuracy(fashion_small, fashion_test_small) -> float:
    return _accuracy_after_training(fashion_small, fashion_test_small, "supervised")


def test_fixmatch_beats_supervised_with_same_labels_and_steps(fashion_small, fashion_test_small, supervised_accuracy):
    fixmatch_accuracy = _accuracy_after_training(fashion_small, fashion_test_small, "fixmatch")
    assert supervised_accuracy > 0.5, "the supervised baseline itself should learn"
    assert fixmatch_accuracy >= supervised_accuracy + CLEAR_MARGIN, (fixmatch_accuracy, supervised_accuracy)


def test_fixmatch_without_its_unlabeled_loss_does_not_reach_the_margin(fashion_small, fashion_test_small, supervised_accuracy):
    control_accuracy = _accuracy_after_training(fashion_small, fashion_test_small, "fixmatch", lambda_u=0.0)
    assert control_accuracy < supervised_accuracy + CLEAR_MARGIN, (control_accuracy, supervised_accuracy)
