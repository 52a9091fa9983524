"""The paper features of the seed methods (issue 16): SimMatch's EMA teacher, UDA's training signal
annealing, ReMixMatch's rotation loss, Noisy Student's re-initialised student and its stochastic depth,
Pseudo-Label's unfiltered targets.
Real Trainer, tiny images."""

from __future__ import annotations

import math

import pytest
import torch

from sslengine import TrainConfig, Trainer
from sslengine.algorithms.functional import tsa_threshold
from sslengine.augment import to_float
from sslengine.backbones import DropPath
from tests.helpers.tiny_images import LABELED, LABELS, SIZE, images


def trainer(algorithm: str, schedule_steps: int = 20_000, backbone: str = "cnn-small", **options: object) -> Trainer:
    """A tiny trainer of ``algorithm``; keyword arguments are that algorithm's own options."""
    config = TrainConfig(
        num_classes=3, algorithm=algorithm, backbone=backbone, in_channels=1, image_size=SIZE, batch_size=2, mu=2,
        schedule_steps=schedule_steps, algorithm_options=options,
    )
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
    early = trainer("uda", tsa="exp", schedule_steps=10_000)
    without = trainer("uda", tsa="none", schedule_steps=10_000)
    # one label repeated: the model fits it within a few steps, and exp-TSA's η ≈ 1/3 then drops it
    same = torch.zeros(6, dtype=torch.int64)
    kept_early = early.fit(LABELED, same, images(10, 1), steps=30).scalars["tsa_kept"]
    kept_without = without.fit(LABELED, same, images(10, 1), steps=30).scalars["tsa_kept"]
    assert kept_without == 1.0
    assert kept_early < 0.5


def test_the_new_paper_options_are_checked_by_their_algorithms_options():
    with pytest.raises(ValueError, match="invalid UDAOptions: tsa must be one of"):
        trainer("uda", tsa="cosine")
    with pytest.raises(ValueError, match="invalid ReMixMatchOptions: rotation_weight must be >= 0"):
        trainer("remixmatch", rotation_weight=-0.5)
    with pytest.raises(ValueError, match="invalid MixMatchOptions: rampup_steps must be >= 0"):
        trainer("mixmatch", rampup_steps=-1)
    with pytest.raises(ValueError, match=r"unknown UDAOptions fields: \['uda_tsa'\]"):
        trainer("uda", uda_tsa="none")  # the flat name of the h16learn branch is not an option


def test_pseudo_label_trains_on_every_unlabeled_image_as_the_paper_unless_told_to_use_the_threshold():
    paper = trainer("pseudolabel").fit(LABELED, LABELS, images(10, 1), steps=3).scalars["mask_ratio"]
    thresholded = trainer("pseudolabel", use_threshold=True).fit(LABELED, LABELS, images(10, 1), steps=3).scalars["mask_ratio"]
    assert paper == 1.0
    assert thresholded < 0.5  # an untrained network's 3-class guesses never reach τ = 0.95


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

    plain = trainer("remixmatch", rotation_weight=0.0)
    assert plain.algorithm.rotation_head is None
    assert "loss_rotation" not in plain.fit(LABELED, LABELS, images(10, 1), steps=1).scalars


def test_simmatch_embeds_newly_labeled_images_into_its_bank_with_the_ema_teacher():
    simmatch = trainer("simmatch", proj_dim=8)
    simmatch.fit(LABELED[:3], LABELS[:3], images(10, 1), steps=3)
    kept = simmatch.algorithm.bank.clone()
    simmatch.fit(LABELED, LABELS, images(10, 1), steps=0)  # images 3-5 newly labeled: only they are embedded

    def embed(network) -> torch.Tensor:
        with torch.no_grad():
            return network.project(network.features(to_float(LABELED[3:]))).float()

    simmatch.model.eval()
    bank = simmatch.algorithm.bank
    assert torch.equal(bank[:3], kept)  # still labeled with the same class: the entry stays (keyed by image id)
    assert torch.allclose(bank[3:], embed(simmatch.ema_model), atol=1e-6)
    assert not torch.allclose(bank[3:], embed(simmatch.model), atol=1e-3)


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

    kept = trainer("noisystudent", teacher_refresh_steps=0, reinit=False)
    kept.fit(LABELED, LABELS, images(10, 1), steps=3)
    trained = [p.clone() for p in kept.model.parameters()]
    kept.fit(LABELED, LABELS, images(10, 1), steps=0)
    assert all(torch.equal(s, t) for s, t in zip(kept.model.parameters(), trained, strict=True))


def test_noisy_student_restarts_the_ema_warm_up_with_each_fresh_student():
    noisy = trainer("noisystudent", teacher_refresh_steps=0)
    noisy.fit(LABELED, LABELS, images(10, 1), steps=3)
    assert noisy.algorithm.ema_warmup_from == 0
    noisy.fit(LABELED, LABELS, images(10, 1), steps=0)  # a fresh student: its EMA's warm-up counts from step 3
    assert noisy.algorithm.ema_warmup_from == 3
    assert Trainer.from_state(noisy.state_dict(), device="cpu").algorithm.ema_warmup_from == 3


def test_the_trainer_counts_the_ema_warm_up_from_the_algorithms_ema_start():
    run = trainer("supervised")
    run.fit(LABELED, LABELS, steps=30)  # the warm-up decay is now (1 + 30) / (10 + 30)
    run.algorithm.ema_warmup_from = 30  # as an algorithm that restarted the EMA at step 30
    ema_before = [p.clone() for p in run.ema_model.parameters()]
    run.fit(LABELED, LABELS, steps=1)
    for before, after, student in zip(ema_before, run.ema_model.parameters(), run.model.parameters(), strict=True):
        assert torch.allclose(after, before.lerp(student, 1.0 - 0.1), atol=1e-6)  # decay (1 + 0) / (10 + 0)


def survivals(network: torch.nn.Module) -> list[float]:
    return [module.survival for module in network.modules() if isinstance(module, DropPath)]


def test_noisy_student_stochastic_depth_noises_the_student_and_never_the_teacher():
    noisy = trainer("noisystudent", backbone="wrn-28-2", teacher_refresh_steps=0, student_survival=0.8)
    noisy.fit(LABELED, LABELS, images(10, 1), steps=2)
    noisy.fit(LABELED, LABELS, images(10, 1), steps=0)  # a second teacher round: a re-initialised student
    assert survivals(noisy.model)[-1] == pytest.approx(0.8)
    x = to_float(LABELED)
    with torch.no_grad():
        noisy.model.train()
        assert not torch.equal(noisy.model.features(x), noisy.model.features(x))  # branches dropped per draw
        teacher = noisy.algorithm.teacher
        assert not teacher.training
        assert torch.equal(teacher(x), teacher(x))
    assert torch.equal(noisy.predict(LABELED).probs, noisy.predict(LABELED).probs)


def test_noisy_student_stochastic_depth_option_is_checked():
    with pytest.raises(ValueError, match=r"invalid NoisyStudentOptions: student_survival must be in \(0, 1\]"):
        trainer("noisystudent", backbone="wrn-28-2", student_survival=0.0)
    with pytest.raises(ValueError, match="student_survival=0.8: stochastic depth needs a residual backbone"):
        trainer("noisystudent", student_survival=0.8)  # cnn-small has no residual blocks
    assert survivals(trainer("noisystudent", backbone="wrn-28-2").model) == [1.0] * 12  # off by default


def test_noisy_student_with_stochastic_depth_resumes_exactly_from_a_checkpoint():
    def make() -> Trainer:
        return trainer("noisystudent", backbone="wrn-28-2", teacher_refresh_steps=0, student_survival=0.8)

    uninterrupted, first = make(), make()
    for run in (uninterrupted, first):
        run.fit(LABELED, LABELS, images(10, 1), steps=2)
    resumed = Trainer.from_state(first.state_dict(), device="cpu")
    assert resumed.config.algorithm_options.student_survival == 0.8
    assert survivals(resumed.model) == survivals(first.model)
    expected = uninterrupted.fit(LABELED, LABELS, images(10, 1), steps=2)
    assert resumed.fit(LABELED, LABELS, images(10, 1), steps=2).scalars == expected.scalars
    for name, tensor in uninterrupted.model.state_dict().items():
        assert torch.equal(tensor, resumed.model.state_dict()[name]), name


def test_remixmatch_checkpoint_restores_the_rotation_head():
    remix = trainer("remixmatch")
    remix.fit(LABELED, LABELS, images(10, 1), steps=2)
    resumed = Trainer.from_state(remix.state_dict(), device="cpu")
    assert resumed.algorithm.rotation_head is not None
    assert torch.equal(resumed.algorithm.rotation_head.weight, remix.algorithm.rotation_head.weight)
    assert resumed.optimizer.state_dict()["state"].keys() == remix.optimizer.state_dict()["state"].keys()


def test_remixmatch_checkpoint_from_before_the_rotation_head_resumes_with_a_fresh_head_and_optimizer(caplog):
    old = trainer("remixmatch", rotation_weight=0.0)  # no head, no head parameters in the optimizer
    old.fit(LABELED, LABELS, images(10, 1), steps=2)
    state = old.state_dict()
    del state["algorithm_options"]["rotation_weight"]  # a checkpoint written before the option existed
    with caplog.at_level("WARNING"):
        resumed = Trainer.from_state(state, device="cpu")
    assert resumed.algorithm.rotation_head is not None
    assert torch.equal(resumed.model.state_dict()["head.weight"], old.model.state_dict()["head.weight"])
    assert "optimizer state does not fit" in caplog.text and "no rotation head" in caplog.text
    assert resumed.global_step == 2
    assert resumed.fit(LABELED, LABELS, images(10, 1), steps=1).scalars["loss_rotation"] > 0
