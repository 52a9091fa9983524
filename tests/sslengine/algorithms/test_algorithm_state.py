"""Per-image state, phases and teachers of the algorithms, through the real Trainer on tiny images."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sslengine import TrainConfig, Trainer, list_algorithms
from sslengine.algorithms import Batch
from tests.helpers.tiny_images import LABELED, LABELS, SIZE, images


def trainer(algorithm: str, options: dict | None = None, **fields) -> Trainer:
    config = TrainConfig(
        num_classes=3, algorithm=algorithm, in_channels=1, image_size=SIZE, batch_size=2, mu=2,
        algorithm_options=options or {}, **fields,
    )
    return Trainer(config, device="cpu")


def record_batches(model_trainer: Trainer) -> list[Batch]:
    """Wrap the algorithm's train_step to keep the batches it receives."""
    seen: list[Batch] = []
    original = model_trainer.algorithm.train_step

    def train_step(model, batch):
        seen.append(batch)
        return original(model, batch)

    model_trainer.algorithm.train_step = train_step  # type: ignore[method-assign]
    return seen


def test_trainer_builds_the_views_an_algorithm_asks_for():
    mean_teacher = trainer("meanteacher")
    seen = record_batches(mean_teacher)
    mean_teacher.fit(LABELED, LABELS, images(10, 1), steps=1)
    batch = seen[0]
    assert batch.unlabeled_strong is None and len(batch.unlabeled_extra) == 1
    assert batch.unlabeled_extra[0].shape == batch.unlabeled_weak.shape
    assert batch.unlabeled_index.shape == (4,) and int(batch.unlabeled_index.max()) < 10
    assert mean_teacher.algorithm.ema_model is mean_teacher.ema_model
    assert not mean_teacher.ema_model.training  # the teacher's train-mode passes leave it in eval mode


def test_temporal_ensembling_state_resumes_from_a_checkpoint_and_grows_with_the_image_set(tmp_path: Path):
    first = trainer("temporal-ensembling")
    first.fit(LABELED, LABELS, images(10, 1), steps=3)
    assert first.algorithm.ensemble.shape == (10, 3) and int(first.algorithm.counts.sum()) > 0
    first.save(tmp_path / "te.pt")
    resumed = Trainer.load(tmp_path / "te.pt", device="cpu")
    assert torch.equal(resumed.algorithm.counts, first.algorithm.counts)
    assert torch.equal(resumed.algorithm.ensemble, first.algorithm.ensemble)
    grown = torch.cat([images(10, 1), images(4, 2)])
    resumed.algorithm.prepare_unlabeled(resumed.model, grown, torch.arange(14))
    assert torch.equal(resumed.algorithm.counts[:10], first.algorithm.counts)
    assert resumed.algorithm.counts[10:].tolist() == [0, 0, 0, 0]
    result = resumed.fit(LABELED, LABELS, grown, steps=2)
    assert result.global_step == 5 and resumed.algorithm.ensemble.shape == (14, 3)


def test_flexmatch_records_learning_status_per_image_and_resumes_it(tmp_path: Path):
    flex = trainer("flexmatch", threshold=0.01)  # every prediction counts as learned
    seen = record_batches(flex)
    flex.fit(LABELED, LABELS, images(10, 1), steps=2)
    drawn = torch.unique(torch.cat([batch.unlabeled_index for batch in seen]))
    status = flex.algorithm.selected_label
    assert (status[drawn] >= 0).all()
    not_drawn = torch.ones(10, dtype=torch.bool)
    not_drawn[drawn] = False
    assert (status[not_drawn] == -1).all()
    flex.save(tmp_path / "flex.pt")
    resumed = Trainer.load(tmp_path / "flex.pt", device="cpu")
    assert torch.equal(resumed.algorithm.selected_label, status)
    resumed.fit(LABELED, LABELS, images(12, 1), steps=1)
    assert resumed.algorithm.selected_label.shape == (12,)


def test_freematch_thresholds_resume_from_a_checkpoint(tmp_path: Path):
    free = trainer("freematch")
    free.fit(LABELED, LABELS, images(10, 1), steps=2)
    assert float(free.algorithm.global_threshold) != pytest.approx(1 / 3)
    free.save(tmp_path / "free.pt")
    resumed = Trainer.load(tmp_path / "free.pt", device="cpu")
    assert torch.equal(resumed.algorithm.global_threshold, free.algorithm.global_threshold)
    assert torch.equal(resumed.algorithm.class_means, free.algorithm.class_means)


def test_selfmatch_pre_trains_the_encoder_before_its_first_fixmatch_step_and_never_again(tmp_path: Path):
    from sslengine import PretrainConfig, Pretrainer

    selfmatch = trainer("selfmatch", {"pretrain_steps": 2})
    seen = record_batches(selfmatch)
    unlabeled = images(10, 1)
    first = selfmatch.fit(LABELED, LABELS, unlabeled, steps=1)
    assert first.steps == 1 and first.scalars["loss_x"] > 0 and "loss_contrastive" not in first.scalars
    assert seen[0].step == 0 and seen[0].unlabeled_extra == []  # every trained step is FixMatch's
    # the first step started from exactly the encoder a Pretrainer learns in 2 steps on the same images
    reference = Pretrainer(PretrainConfig(in_channels=1, image_size=SIZE, temperature=0.5, seed=0), device="cpu")
    reference.fit(unlabeled, steps=2)
    untrained = trainer("fixmatch")
    untrained.load_encoder(reference.encoder_state_dict())
    trained_once = trainer("fixmatch")
    trained_once.load_encoder(reference.encoder_state_dict())
    trained_once.fit(LABELED, LABELS, unlabeled, steps=1)
    for name, tensor in trained_once.model.state_dict().items():
        if name.startswith("body."):
            assert torch.equal(tensor, selfmatch.model.state_dict()[name]), name
    assert not torch.equal(untrained.model.body[0].weight, trainer("fixmatch").model.body[0].weight)
    selfmatch.save(tmp_path / "selfmatch.pt")
    resumed = Trainer.load(tmp_path / "selfmatch.pt", device="cpu")
    assert resumed.algorithm.pretrained
    before = resumed.model.body[0].weight.clone()
    resumed.algorithm.prepare_unlabeled(resumed.model, unlabeled, torch.arange(10))  # no second pre-training
    assert torch.equal(resumed.model.body[0].weight, before)


def test_noisy_student_teacher_is_the_frozen_ema_of_the_round_start():
    noisy = trainer("noisystudent", {"teacher_refresh_steps": 0})
    noisy.fit(LABELED, LABELS, images(10, 1), steps=2)
    ema_at_start = [p.clone() for p in noisy.ema_model.parameters()]
    noisy.fit(LABELED, LABELS, images(10, 1), steps=2)
    teacher = list(noisy.algorithm.teacher.parameters())
    assert all(torch.equal(t, e) for t, e in zip(teacher, ema_at_start))
    assert not any(torch.equal(t, p) for t, p in zip(teacher, noisy.ema_model.parameters()) if t.ndim > 1)
    assert not any(t.requires_grad for t in teacher)


@pytest.mark.parametrize("algorithm", ["mixmatch", "remixmatch"])
def test_mixup_draws_lambda_prime_from_a_seeded_generator_kept_in_checkpoints(algorithm: str, tmp_path: Path):
    a, b = trainer(algorithm), trainer(algorithm)
    lambdas = [a.fit(LABELED, LABELS, images(10, 1), steps=1).scalars["mixup_lambda"] for _ in range(3)]
    assert all(0.5 <= lam <= 1.0 for lam in lambdas)
    assert b.fit(LABELED, LABELS, images(10, 1), steps=1).scalars["mixup_lambda"] == lambdas[0]
    b.save(tmp_path / "mix.pt")
    resumed = Trainer.load(tmp_path / "mix.pt", device="cpu")
    assert resumed.fit(LABELED, LABELS, images(10, 1), steps=1).scalars["mixup_lambda"] == lambdas[1]


@pytest.mark.parametrize("algorithm", list_algorithms())
def test_a_resumed_run_continues_exactly_like_an_uninterrupted_one(algorithm: str, tmp_path: Path):
    options = {"selfmatch": {"pretrain_steps": 1}, "noisystudent": {"teacher_refresh_steps": 0}}.get(algorithm)
    unlabeled = images(10, 1)  # SelfMatch changes phase mid-way
    uninterrupted = trainer(algorithm, options)
    first = trainer(algorithm, options)
    for run in (uninterrupted, first):
        run.fit(LABELED, LABELS, unlabeled, steps=2)
    first.save(tmp_path / "model.pt")
    resumed = Trainer.load(tmp_path / "model.pt", device="cpu")
    expected = uninterrupted.fit(LABELED, LABELS, unlabeled, steps=2)
    assert resumed.fit(LABELED, LABELS, unlabeled, steps=2).scalars == expected.scalars
    for name, tensor in uninterrupted.model.state_dict().items():
        assert torch.equal(tensor, resumed.model.state_dict()[name]), name
    for name, value in uninterrupted.algorithm.state_dict().items():
        other = resumed.algorithm.state_dict()[name]
        assert torch.equal(value, other) if isinstance(value, torch.Tensor) else value == other, name
