"""Distillation (DeiT's hard and soft losses) and int8 quantisation, on real Fashion-MNIST images."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sslengine import Trainer
from sslengine.datasets import ImageSet
from sslengine.distill import (
    UNLABELED,
    DistillOptions,
    distillation_options,
    distillation_trainer,
    hard_distillation_loss,
    load_distillation,
    soft_distillation_loss,
    teacher_log_probs,
    teacher_targets,
)
from sslengine.export import (
    ExportMetadata,
    argmax_agreement,
    export_onnx,
    onnx_metadata,
    onnx_probabilities,
    quantize_onnx,
)

LABELED_EVERY = 10  # every 10th image of the shipped subset keeps its label: 200 labeled, 2,000 in all


def _naive_cross_entropy(logits: list[float], target: int) -> float:
    top = max(logits)
    return -(logits[target] - top - math.log(sum(math.exp(z - top) for z in logits)))


def _naive_softmax(logits: list[float]) -> list[float]:
    top = max(logits)
    exps = [math.exp(z - top) for z in logits]
    return [e / sum(exps) for e in exps]


def _loss_inputs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(3)
    student = torch.randn(9, 5, generator=generator, dtype=torch.float64) * 2
    teacher = torch.randn(9, 5, generator=generator, dtype=torch.float64) * 3
    labels = torch.tensor([0, 4, UNLABELED, 2, UNLABELED, 1, 3, UNLABELED, 0])
    return student, labels, teacher


def test_hard_distillation_loss_matches_a_per_sample_loop() -> None:
    student, labels, teacher = _loss_inputs()
    expected = 0.0
    for s, y, t in zip(student.tolist(), labels.tolist(), teacher.tolist()):
        y_t = max(range(len(t)), key=t.__getitem__)
        y = y_t if y == UNLABELED else y  # an unlabeled image: the teacher's label stands in for y
        expected += 0.5 * _naive_cross_entropy(s, y) + 0.5 * _naive_cross_entropy(s, y_t)
    expected /= len(labels)
    assert float(hard_distillation_loss(student, labels, teacher)) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize(("temperature", "weight"), [(3.0, 0.1), (1.0, 0.5), (0.5, 1.0)])
def test_soft_distillation_loss_matches_a_per_sample_loop(temperature: float, weight: float) -> None:
    student, labels, teacher = _loss_inputs()
    expected = 0.0
    for s, y, t in zip(student.tolist(), labels.tolist(), teacher.tolist()):
        y = max(range(len(t)), key=t.__getitem__) if y == UNLABELED else y
        p_s = _naive_softmax([z / temperature for z in s])
        p_t = _naive_softmax([z / temperature for z in t])
        kl = sum(pt * (math.log(pt) - math.log(ps)) for pt, ps in zip(p_t, p_s))  # KL(teacher ‖ student)
        expected += (1 - weight) * _naive_cross_entropy(s, y) + weight * temperature**2 * kl
    expected /= len(labels)
    loss = soft_distillation_loss(student, labels, teacher, temperature, weight)
    assert float(loss) == pytest.approx(expected, rel=1e-9)


def test_an_ensemble_with_test_time_shifts_averages_probabilities(fashion_small: ImageSet, small_config) -> None:
    teachers = [Trainer(small_config(algorithm="supervised", seed=seed), device="cpu").ema_model for seed in (0, 1)]
    images = fashion_small.images[:6]
    single = [teacher_log_probs([teacher], images, tta=True).exp() for teacher in teachers]
    ensemble = teacher_log_probs(teachers, images, tta=True).exp()
    torch.testing.assert_close(ensemble, (single[0] + single[1]) / 2, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(ensemble.sum(dim=1), torch.ones(6), rtol=0, atol=1e-5)


@pytest.fixture(scope="module")
def teacher(fashion_small: ImageSet) -> Trainer:
    """cnn-small trained on the labeled tenth of the shipped subset with FixMatch on all of it."""
    from sslengine import TrainConfig

    labeled = torch.arange(0, len(fashion_small), LABELED_EVERY)
    config = TrainConfig(num_classes=10, in_channels=1, image_size=28, batch_size=16, mu=3, seed=0)
    trainer = Trainer(config, device="cpu")
    trainer.fit(fashion_small.images[labeled], fashion_small.labels[labeled], fashion_small.images, steps=400)
    return trainer


def _distil(teacher: Trainer, data: ImageSet, mode: str, steps: int, student: str = "cnn-small") -> Trainer:
    labeled = torch.arange(0, len(data), LABELED_EVERY)
    targets = teacher_targets([teacher], data.images[labeled], data.images)
    trainer = distillation_trainer(teacher.config, DistillOptions(student=student, mode=mode), targets, device="cpu")
    trainer.fit(data.images[labeled], data.labels[labeled], data.images, steps=steps)
    return trainer


@pytest.mark.parametrize("mode", ["hard", "soft"])
def test_a_distilled_student_agrees_with_its_teacher_on_nine_images_in_ten(
    teacher: Trainer, fashion_small: ImageSet, fashion_test_small: ImageSet, mode: str
) -> None:
    student = _distil(teacher, fashion_small, mode, steps=250)  # measured (hard, soft): 0.915, 0.929 on unseen images; 500 steps: 0.929, 0.934
    assert student.config.backbone == "cnn-small" and distillation_options(student).mode == mode
    for images in (fashion_small.images, fashion_test_small.images):  # the transfer set, then unseen images
        agreeing = int((student.predict(images).predicted == teacher.predict(images).predicted).sum())
        assert agreeing >= 0.9 * len(images), agreeing  # counted: a float32 mean of 900/1,000 is below 0.9


def test_a_distillation_resumes_exactly_from_its_checkpoint(teacher: Trainer, fashion_small: ImageSet, tmp_path) -> None:
    data = ImageSet(fashion_small.images[:300], fashion_small.labels[:300], fashion_small.classes)
    labeled = torch.arange(0, 300, LABELED_EVERY)
    args = (data.images[labeled], data.labels[labeled], data.images)
    straight = _distil(teacher, data, "soft", steps=6, student="cnn-small")
    halted = _distil(teacher, data, "soft", steps=3, student="cnn-small")
    halted.save(tmp_path / "student.pt")
    resumed = load_distillation(tmp_path / "student.pt", device="cpu")
    assert resumed.global_step == 3 and distillation_options(resumed) == distillation_options(halted)
    resumed.fit(*args, steps=3)
    for name, value in straight.ema_model.state_dict().items():
        torch.testing.assert_close(resumed.ema_model.state_dict()[name], value, rtol=0, atol=0)


def test_it_rejects_images_the_teacher_targets_do_not_cover(teacher: Trainer, fashion_small: ImageSet) -> None:
    labeled = torch.arange(0, 100, LABELED_EVERY)
    targets = teacher_targets([teacher], fashion_small.images[labeled], fashion_small.images[:100])
    student = distillation_trainer(teacher.config, DistillOptions(), targets, device="cpu")
    with pytest.raises(ValueError, match="cover 100 unlabeled images but fit got 2000"):
        student.fit(fashion_small.images[labeled], fashion_small.labels[labeled], fashion_small.images, steps=1)


def test_it_rejects_an_unknown_student_or_mode() -> None:
    with pytest.raises(ValueError, match="unknown student backbone 'nope'.*mode must be one of"):
        DistillOptions(student="nope", mode="lukewarm").validate()


def test_int8_onnx_agrees_with_fp32_on_99_percent_of_the_shipped_subset(teacher: Trainer, fashion_small: ImageSet, tmp_path) -> None:
    meta = ExportMetadata.for_trainer(teacher, classes=fashion_small.classes, version=3)
    fp32 = export_onnx(teacher, tmp_path / "model.onnx", meta)
    int8 = quantize_onnx(fp32, tmp_path / "model.int8.onnx", fashion_small.images)
    assert argmax_agreement(fp32, int8, fashion_small.images) >= 0.99
    probs = onnx_probabilities(int8, fashion_small.images[:64])
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)  # the softmax stays float
    assert int8.stat().st_size < fp32.stat().st_size
    stored = onnx_metadata(int8)
    assert stored["precision"] == "int8" and stored["classes"] == list(fashion_small.classes)
    assert not any(key.startswith("onnx.") for key in stored)


def test_quantisation_rejects_non_uint8_calibration_images(teacher: Trainer, fashion_small: ImageSet, tmp_path) -> None:
    fp32 = export_onnx(teacher, tmp_path / "model.onnx", ExportMetadata.for_trainer(teacher, classes=fashion_small.classes, version=1))
    with pytest.raises(ValueError, match="uint8"):
        quantize_onnx(fp32, tmp_path / "q.onnx", np.zeros((4, 1, 28, 28), dtype=np.float32))
