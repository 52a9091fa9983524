"""The paper features of the seed methods (issue 16): SimMatch's EMA teacher, UDA's training signal
annealing, ReMixMatch's rotation loss, Noisy Student's re-initialised student. Real Trainer, tiny images."""

from __future__ import annotations

import math

import pytest
import torch

from sslengine import TrainConfig, Trainer
from sslengine.algorithms.functional import tsa_threshold
from sslengine.augment import to_float

SIZE = 8


def images(count: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (count, 1, SIZE, SIZE), dtype=torch.uint8, generator=generator)


LABELED = images(6)
LABELS = torch.tensor([0, 1, 2, 0, 1, 2])


def trainer(algorithm: str, **options) -> Trainer:
    config = TrainConfig(num_classes=3, algorithm=algorithm, in_channels=1, image_size=SIZE, batch_size=2, mu=2, **options)
    return Trainer(config, device="cpu")


def test_tsa_thresholds_rise_from_one_over_k_to_one_on_each_schedule():
    k = 10
    for schedule in ("exp", "linear", "log"):
        assert tsa_threshold(schedule, 0, 100, k) == pytest.approx(1 / k, abs=0.01)
        assert tsa_threshold(schedule, 100, 100, k) == pytest.approx(1.0, abs=0.01)
        assert tsa_threshold(schedule, 500, 100, k) == pytest.approx(1.0, abs=0.01)  # past the horizon: every image counts
    halfway = {schedule: tsa_threshold(schedule, 50, 100, k) for schedule in ("exp", "linear", "log")}
    assert halfway["linear"] == pytest.approx(0.55)
    assert halfway["exp"] == pytest.approx(math.exp(-2.5) * 0.9 + 0.1)
    assert halfway["log"] == pytest.approx((1 - math.exp(-2.5)) * 0.9 + 0.1)
    assert halfway["exp"] < halfway["linear"] < halfway["log"]
    assert tsa_threshold("none", 0, 100, k) == 1.0


def test_uda_tsa_holds_back_labeled_images_the_model_already_fits_early_on():
    early = trainer("uda", uda_tsa="exp", schedule_steps=10_000)
    without = trainer("uda", uda_tsa="none", schedule_steps=10_000)
    # one label repeated: the model fits it within a few steps, and exp-TSA's η ≈ 1/3 then drops it
    same = torch.zeros(6, dtype=torch.int64)
    kept_early = early.fit(LABELED, same, images(10, 1), steps=30).scalars["tsa_kept"]
    kept_without = without.fit(LABELED, same, images(10, 1), steps=30).scalars["tsa_kept"]
    assert kept_without == 1.0
    assert kept_early < 0.5


def test_uda_rejects_an_unknown_tsa_schedule():
    with pytest.raises(ValueError, match="uda_tsa"):
        trainer("uda", uda_tsa="cosine")


def test_remixmatch_trains_a_rotation_head_with_the_network_and_can_switch_it_off():
    remix = trainer("remixmatch")
    head = remix.algorithm.rotation_head
    assert head is not None and head.in_features == remix.model.feature_dim
    optimised = {id(p) for group in remix.optimizer.param_groups for p in group["params"]}
    assert {id(p) for p in head.parameters()} <= optimised
    before = head.weight.clone()
    result = remix.fit(LABELED, LABELS, images(10, 1), steps=2)
    assert result.scalars["loss_rotation"] > 0
    assert not torch.equal(head.weight, before)

    plain = trainer("remixmatch", remixmatch_rotation_weight=0.0)
    assert plain.algorithm.rotation_head is None
    assert "loss_rotation" not in plain.fit(LABELED, LABELS, images(10, 1), steps=1).scalars


def test_simmatch_builds_its_labeled_bank_from_the_ema_teacher():
    simmatch = trainer("simmatch", proj_dim=8)
    simmatch.fit(LABELED[:3], LABELS[:3], images(10, 1), steps=3)
    simmatch.fit(LABELED, LABELS, images(10, 1), steps=0)  # a new labeled set: the bank is rebuilt

    def embed(network) -> torch.Tensor:
        with torch.no_grad():
            return network.project(network.features(to_float(LABELED))).float()

    simmatch.model.eval()
    assert torch.allclose(simmatch.algorithm.bank, embed(simmatch.ema_model), atol=1e-6)
    assert not torch.allclose(simmatch.algorithm.bank, embed(simmatch.model), atol=1e-3)


def test_noisy_student_restarts_the_student_from_a_fresh_network_each_teacher_round():
    noisy = trainer("noisystudent", teacher_refresh_steps=0)
    noisy.fit(LABELED, LABELS, images(10, 1), steps=3)
    trained = [p.clone() for p in noisy.model.parameters()]
    noisy.fit(LABELED, LABELS, images(10, 1), steps=0)  # the next round: teacher = EMA, fresh student
    teacher = list(noisy.algorithm.teacher.parameters())
    student = list(noisy.model.parameters())
    assert not any(torch.equal(s, t) for s, t in zip(student, trained, strict=True) if s.ndim > 1)
    assert not any(torch.equal(s, t) for s, t in zip(student, teacher, strict=True) if s.ndim > 1)
    assert all(torch.equal(s, e) for s, e in zip(student, noisy.ema_model.parameters(), strict=True))  # the EMA restarts too

    kept = trainer("noisystudent", teacher_refresh_steps=0, noisy_student_reinit=False)
    kept.fit(LABELED, LABELS, images(10, 1), steps=3)
    trained = [p.clone() for p in kept.model.parameters()]
    kept.fit(LABELED, LABELS, images(10, 1), steps=0)
    assert all(torch.equal(s, t) for s, t in zip(kept.model.parameters(), trained, strict=True))
