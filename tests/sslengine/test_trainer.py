"""Trainer behaviour: budgets, schedule, EMA, reproducibility, resuming and crash-safe checkpoints."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from sslengine import TrainConfig, Trainer
from sslengine.trainer import cosine_lr, ema_decay_at

REPO_ROOT = Path(__file__).resolve().parents[2]


def _fit(trainer: Trainer, data, steps: int, labeled: int = 20):
    images, labels = data.images[:100], data.labels[:100]
    return trainer.fit(images[:labeled], labels[:labeled], images, steps=steps)


def _assert_same_state(a: Trainer, b: Trainer) -> None:
    assert a.global_step == b.global_step
    for name, tensor in a.model.state_dict().items():
        assert torch.equal(tensor, b.model.state_dict()[name]), name
    for name, tensor in a.ema_model.state_dict().items():
        assert torch.equal(tensor, b.ema_model.state_dict()[name]), name


@pytest.mark.parametrize("algorithm", ["fixmatch", "simmatch"])
def test_resumed_run_continues_from_the_checkpoint_step_and_state(algorithm, fashion_small, small_config, tmp_path):
    uninterrupted = Trainer(small_config(algorithm=algorithm), device="cpu")
    _fit(uninterrupted, fashion_small, 3)
    _fit(uninterrupted, fashion_small, 3)

    first_round = Trainer(small_config(algorithm=algorithm), device="cpu")
    _fit(first_round, fashion_small, 3)
    first_round.save(tmp_path / "model.ckpt")
    resumed = Trainer.load(tmp_path / "model.ckpt", device="cpu")
    assert resumed.global_step == 3
    assert resumed.config == first_round.config
    _fit(resumed, fashion_small, 3)

    assert resumed.global_step == 6
    _assert_same_state(uninterrupted, resumed)
    for name, value in uninterrupted.algorithm.state_dict().items():
        other = resumed.algorithm.state_dict()[name]
        assert torch.equal(value, other) if isinstance(value, torch.Tensor) else value == other, name
    assert resumed.optimizer.param_groups[0]["lr"] == uninterrupted.optimizer.param_groups[0]["lr"]


def test_same_seed_gives_the_same_losses_and_weights_on_cpu(fashion_small, small_config):
    runs = [Trainer(small_config(seed=3), device="cpu") for _ in range(2)]
    results = [_fit(trainer, fashion_small, 4) for trainer in runs]
    assert results[0].scalars == results[1].scalars
    _assert_same_state(*runs)

    other = Trainer(small_config(seed=4), device="cpu")
    assert _fit(other, fashion_small, 4).scalars != results[0].scalars


def _save_two_checkpoints_then_crash(trainer: Trainer, data, path: Path, crash) -> None:
    _fit(trainer, data, 1)
    trainer.save(path)
    _fit(trainer, data, 1)
    with pytest.raises(OSError):
        crash()


def test_crash_while_writing_a_checkpoint_leaves_the_previous_one_loadable(fashion_small, small_config, tmp_path, monkeypatch):
    trainer = Trainer(small_config(), device="cpu")
    path = tmp_path / "model.ckpt"

    def torn_write(state, handle):
        handle.write(b"half a checkpoint")
        raise OSError("disk full")

    def crash() -> None:
        monkeypatch.setattr("sslengine.checkpoint.torch.save", torn_write)
        trainer.save(path)

    _save_two_checkpoints_then_crash(trainer, fashion_small, path, crash)
    assert Trainer.load(path, device="cpu").global_step == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.ckpt"]  # temp file cleaned up


def test_crash_before_the_rename_leaves_the_previous_checkpoint_loadable(fashion_small, small_config, tmp_path, monkeypatch):
    trainer = Trainer(small_config(), device="cpu")
    path = tmp_path / "model.ckpt"

    def crash() -> None:
        monkeypatch.setattr("sslengine.checkpoint.os.replace", lambda *args: (_ for _ in ()).throw(OSError("power cut")))
        trainer.save(path)

    _save_two_checkpoints_then_crash(trainer, fashion_small, path, crash)
    assert Trainer.load(path, device="cpu").global_step == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.ckpt"]


def test_a_process_killed_while_saving_in_a_loop_leaves_a_loadable_checkpoint(tmp_path):
    path = tmp_path / "model.ckpt"
    script = textwrap.dedent(
        f"""
        import torch
        from sslengine import TrainConfig, Trainer
        torch.set_num_threads(1)
        trainer = Trainer(TrainConfig(num_classes=10, backbone="wrn-28-2"), device="cpu")
        while True:
            trainer.save({str(path)!r})
            trainer.global_step += 1
            print(trainer.global_step, flush=True)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    try:
        for _ in range(3):  # wait until a few saves completed, then kill it mid-way through the next
            assert child.stdout is not None and child.stdout.readline(), "child exited early"
        time.sleep(0.05)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert Trainer.load(path, device="cpu").global_step >= 2


def test_learning_rate_follows_the_cosine_then_stays_at_its_final_value(small_config):
    config = small_config(lr=0.1, schedule_steps=100)
    assert cosine_lr(config, 0) == pytest.approx(0.1)
    assert cosine_lr(config, 50) == pytest.approx(0.1 * math.cos(7 * math.pi / 32))
    final = 0.1 * math.cos(7 * math.pi / 16)
    assert cosine_lr(config, 100) == pytest.approx(final)
    assert cosine_lr(config, 10_000) == pytest.approx(final)


def test_ema_decay_warms_up_so_short_rounds_are_not_stuck_at_initialisation(small_config):
    config = small_config(ema_decay=0.999)
    assert ema_decay_at(config, 0) == pytest.approx(0.1)
    assert ema_decay_at(config, 90) == pytest.approx(0.91)
    assert ema_decay_at(config, 1_000_000) == pytest.approx(0.999)


def test_fit_takes_exactly_one_budget(fashion_small, small_config):
    trainer = Trainer(small_config(), device="cpu")
    images, labels = fashion_small.images[:20], fashion_small.labels[:20]
    with pytest.raises(ValueError, match="exactly one"):
        trainer.fit(images, labels, images)
    with pytest.raises(ValueError, match="exactly one"):
        trainer.fit(images, labels, images, steps=1, seconds=1.0)


def test_a_seconds_budget_stops_after_that_wall_time(fashion_small, small_config):
    trainer = Trainer(small_config(), device="cpu")
    images, labels = fashion_small.images[:40], fashion_small.labels[:40]
    progress: list[tuple[int, int]] = []
    result = trainer.fit(images, labels, images, seconds=0.5, on_progress=lambda s, p, _: progress.append((s, p)))
    assert 0.5 <= result.seconds < 5.0 and result.steps >= 1 and trainer.global_step == result.steps
    assert all(planned == 0 and step % trainer.config.log_every == 0 for step, planned in progress)


def test_fit_rejects_images_that_do_not_match_the_config(fashion_small, small_config):
    trainer = Trainer(small_config(), device="cpu")
    labels = fashion_small.labels[:4]
    with pytest.raises(ValueError, match="uint8"):
        trainer.fit(fashion_small.images[:4].float(), labels, None, steps=1)
    with pytest.raises(ValueError, match="uint8"):
        trainer.fit(torch.zeros(4, 3, 28, 28, dtype=torch.uint8), labels, None, steps=1)
    with pytest.raises(ValueError, match="labels"):
        trainer.fit(fashion_small.images[:4], torch.tensor([0, 1, 2, 10]), None, steps=1)


@pytest.mark.parametrize(
    "overrides",
    [{"num_classes": 1}, {"in_channels": 2}, {"bn_recalibration_images": -1}, {"threshold": 1.5}, {"mu": 0}, {"lr": 0.0}, {"algorithm": "nope"}, {"backbone": "vgg"}],
)
def test_config_fails_loudly_on_bad_values(overrides):
    fields = {"num_classes": 10, **overrides}
    with pytest.raises(ValueError, match="invalid TrainConfig"):
        TrainConfig(**fields)


def test_config_round_trips_through_a_plain_dict_and_rejects_unknown_keys():
    config = TrainConfig(num_classes=3, algorithm="simmatch", threshold=0.9)
    assert TrainConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown"):
        TrainConfig.from_dict({**config.to_dict(), "colour": "blue"})
