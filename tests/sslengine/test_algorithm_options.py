"""Each algorithm owns its options: declared and validated in its file, stored in checkpoints beside
the trainer-level config, restored on resume; a new algorithm is one new module."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from sslengine import TrainConfig, Trainer, list_algorithms
from sslengine.algorithms import ALGORITHMS, AlgorithmOptions
from sslengine.checkpoint import atomic_save, load_checkpoint
from tests.helpers.toy_algorithm import TOY_NAME, toy_algorithm_installed

SIZE = 8
LABELED = torch.randint(0, 256, (6, 1, SIZE, SIZE), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
LABELS = torch.tensor([0, 1, 2, 0, 1, 2])
UNLABELED = torch.randint(0, 256, (10, 1, SIZE, SIZE), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))


def tiny(algorithm: str, **options: object) -> TrainConfig:
    return TrainConfig(
        num_classes=3, algorithm=algorithm, in_channels=1, image_size=SIZE, batch_size=2, mu=2, algorithm_options=options
    )


@pytest.mark.parametrize("algorithm", list_algorithms())
def test_every_algorithm_gets_its_own_frozen_options_with_defaults_and_none_of_them_are_trainer_fields(algorithm: str):
    options_type = ALGORITHMS.get(algorithm).options_type
    config = tiny(algorithm)
    assert type(config.algorithm_options) is options_type and issubclass(options_type, AlgorithmOptions)
    assert dataclasses.is_dataclass(options_type) and options_type.__dataclass_params__.frozen
    trainer_fields = {field.name for field in dataclasses.fields(TrainConfig)}
    assert not trainer_fields & {field.name for field in dataclasses.fields(options_type)}
    assert Trainer(config, device="cpu").algorithm.options is config.algorithm_options


def test_bad_or_foreign_options_fail_loudly_where_the_algorithm_declares_them():
    assert tiny("vat", eps=1.5).algorithm_options.eps == 1.5
    with pytest.raises(ValueError, match="invalid VATOptions: xi and eps must be > 0"):
        tiny("vat", eps=-1.0)
    with pytest.raises(ValueError, match=r"unknown VATOptions fields: \['temperature'\]"):
        tiny("vat", temperature=0.5)
    with pytest.raises(ValueError, match="algorithm_options of 'fixmatch' must be AlgorithmOptions, got VATOptions"):
        dataclasses.replace(tiny("vat"), algorithm="fixmatch")
    with pytest.raises(ValueError, match="unknown algorithm 'nope'"):
        tiny("nope")


def test_options_are_stored_beside_the_config_and_come_back_on_resume(tmp_path: Path):
    trainer = Trainer(tiny("temporal-ensembling", ensemble_momentum=0.5, rampup_steps=7), device="cpu")
    trainer.fit(LABELED, LABELS, UNLABELED, steps=1)
    trainer.save(tmp_path / "te.pt")
    state = load_checkpoint(tmp_path / "te.pt")
    assert state["algorithm_options"] == {"ensemble_momentum": 0.5, "rampup_steps": 7}
    assert "algorithm_options" not in state["config"] and state["config"]["algorithm"] == "temporal-ensembling"
    resumed = Trainer.load(tmp_path / "te.pt", device="cpu")
    assert resumed.config == trainer.config and resumed.algorithm.options.rampup_steps == 7
    assert resumed.fit(LABELED, LABELS, UNLABELED, steps=1).global_step == 2


def test_a_format_1_checkpoint_loads_best_effort_with_its_flat_options_and_fresh_algorithm_state(tmp_path: Path):
    trainer = Trainer(tiny("temporal-ensembling"), device="cpu")
    trainer.fit(LABELED, LABELS, UNLABELED, steps=2)
    state = trainer.state_dict()
    # the format-1 layout: every algorithm's options flat in the config, per-image tables without ids
    state["config"].update(ensemble_momentum=0.5, rampup_steps=7, vat_eps=2.0, temperature=0.1, proj_dim=128)
    del state["algorithm_options"], state["algorithm"]["image_ids"]
    state["format"] = 1
    atomic_save(state, tmp_path / "old.pt")
    old = Trainer.load(tmp_path / "old.pt", device="cpu")
    assert old.config.algorithm_options == ALGORITHMS.get("temporal-ensembling").options_type(0.5, 7)
    assert old.global_step == 2 and torch.equal(old.ema_model.head.weight, trainer.ema_model.head.weight)
    assert old.algorithm.image_ids.numel() == 0  # rows could not be matched to images: the table restarts
    assert old.fit(LABELED, LABELS, UNLABELED, steps=1).global_step == 3
    state["format"] = 0
    with pytest.raises(ValueError, match="unsupported checkpoint format 0"):
        Trainer.from_state(state)


def test_a_toy_algorithm_in_its_own_module_registers_with_its_options_trains_and_resumes(tmp_path: Path):
    with toy_algorithm_installed(tmp_path) as module:
        assert TOY_NAME in list_algorithms()
        config = tiny(TOY_NAME, entropy_weight=0.25)
        assert isinstance(config.algorithm_options, module.ToyEntropyOptions)
        with pytest.raises(ValueError, match="entropy_weight must be >= 0"):
            tiny(TOY_NAME, entropy_weight=-1.0)
        trainer = Trainer(config, device="cpu")
        first = trainer.fit(LABELED, LABELS, UNLABELED, steps=3)
        assert first.scalars["weight"] == pytest.approx(0.25) and first.scalars["entropy"] > 0
        trainer.save(tmp_path / "toy.pt")
        resumed = Trainer.load(tmp_path / "toy.pt", device="cpu")
        assert resumed.config.algorithm_options == module.ToyEntropyOptions(entropy_weight=0.25)
        assert resumed.fit(LABELED, LABELS, UNLABELED, steps=1).global_step == 4
    assert TOY_NAME not in list_algorithms()
