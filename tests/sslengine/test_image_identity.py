"""Per-image state follows the image id, not the row: images deleted, added and re-sorted between
fits (and across a checkpoint) leave every surviving image with its own state."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sslengine import TrainConfig, Trainer, list_algorithms

SIZE = 8


def images(count: int, seed: int) -> torch.Tensor:
    return torch.randint(0, 256, (count, 1, SIZE, SIZE), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


LABELED = images(6, 0)
LABELS = torch.tensor([0, 1, 2, 0, 1, 2])
LABELED_IDS = torch.tensor([3, 14, 15, 92, 65, 35])
UNLABELED = images(12, 1)
UNLABELED_IDS = torch.arange(100, 1300, 100)  # Image primary keys, ascending as the app's cache keeps them


def tiny_trainer(algorithm: str, **options: object) -> Trainer:
    # threshold 0.01: FlexMatch gives every drawn image a learning status
    config = TrainConfig(
        num_classes=3, algorithm=algorithm, in_channels=1, image_size=SIZE, batch_size=2, mu=4, threshold=0.01,
        algorithm_options=options,
    )
    return Trainer(config, device="cpu")


def rows_by_id(ids: torch.Tensor, table: torch.Tensor) -> dict[int, torch.Tensor]:
    return {int(image_id): row.clone() for image_id, row in zip(ids, table)}


def changed_image_set(ids: torch.Tensor, pixels: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Delete every third image, add three new ones, and shuffle the order."""
    keep = torch.arange(ids.numel()) % 3 != 1
    new_ids = torch.tensor([7001, 7002, 7003])
    all_ids = torch.cat([ids[keep], new_ids])
    all_pixels = torch.cat([pixels[keep], images(3, seed)])
    order = torch.randperm(all_ids.numel(), generator=torch.Generator().manual_seed(seed))
    return all_ids[order], all_pixels[order]


@pytest.mark.parametrize(
    ("algorithm", "tables", "empty"),
    [("flexmatch", ("selected_label",), (-1,)), ("temporal-ensembling", ("ensemble", "counts"), (0.0, 0))],
)
def test_unlabeled_state_survives_deletions_additions_and_resorting_through_a_checkpoint(
    algorithm: str, tables: tuple[str, ...], empty: tuple[float, ...], tmp_path: Path
):
    trainer = tiny_trainer(algorithm)
    trainer.fit(LABELED, LABELS, UNLABELED, steps=6, labeled_ids=LABELED_IDS, unlabeled_ids=UNLABELED_IDS)
    state = trainer.algorithm.state_dict()
    assert torch.equal(state["image_ids"], UNLABELED_IDS)
    before = {name: rows_by_id(state["image_ids"], state[name]) for name in tables}
    assert any(bool((row != fill).any()) for row, fill in zip(before[tables[0]].values(), empty * 12))  # it learned something
    trainer.save(tmp_path / "model.pt")

    resumed = Trainer.load(tmp_path / "model.pt", device="cpu")
    ids, pixels = changed_image_set(UNLABELED_IDS, UNLABELED, seed=5)
    resumed.fit(LABELED, LABELS, pixels, steps=0, labeled_ids=LABELED_IDS, unlabeled_ids=ids)  # lays the tables out
    after = resumed.algorithm.state_dict()
    assert torch.equal(after["image_ids"], ids)
    for name, fill in zip(tables, empty):
        assert after[name].shape[0] == ids.numel()
        for image_id, row in rows_by_id(ids, after[name]).items():
            expected = before[name].get(image_id)
            assert torch.equal(row, expected) if expected is not None else bool((row == fill).all()), (name, image_id)
    resumed.fit(LABELED, LABELS, pixels, steps=2, labeled_ids=LABELED_IDS, unlabeled_ids=ids)  # and trains on


def test_simmatchs_labeled_bank_keeps_each_images_entry_when_the_labeled_set_changes():
    config = TrainConfig(
        num_classes=3, algorithm="simmatch", in_channels=1, image_size=SIZE, batch_size=2, mu=2,
        algorithm_options={"proj_dim": 8},
    )
    trainer = Trainer(config, device="cpu")
    trainer.fit(LABELED, LABELS, UNLABELED, steps=4, labeled_ids=LABELED_IDS, unlabeled_ids=UNLABELED_IDS)
    before = rows_by_id(trainer.algorithm.bank_ids, trainer.algorithm.bank)

    # id 14 is no longer labeled, id 92 was relabeled (class 0 → 2), id 777 is newly labeled; re-sorted
    ids = torch.tensor([35, 777, 92, 3, 65, 15])
    pixels = torch.cat([LABELED[5:6], images(1, 9), LABELED[3:4], LABELED[0:1], LABELED[4:5], LABELED[2:3]])
    labels = torch.tensor([2, 1, 2, 0, 1, 2])
    trainer.fit(pixels, labels, UNLABELED, steps=0, labeled_ids=ids, unlabeled_ids=UNLABELED_IDS)
    algorithm = trainer.algorithm
    assert torch.equal(algorithm.bank_ids, ids) and torch.equal(algorithm.bank_labels, labels)
    for row, image_id in enumerate(ids.tolist()):
        if image_id in (777, 92):  # a fresh embedding of the current network
            assert not torch.equal(algorithm.bank[row], before.get(image_id, algorithm.bank[row] + 1))
            assert float(algorithm.bank[row].norm()) == pytest.approx(1.0, abs=1e-5)
        else:
            assert torch.equal(algorithm.bank[row], before[image_id]), image_id


def test_fit_rejects_ids_that_do_not_name_each_image_once():
    trainer = tiny_trainer("flexmatch")
    with pytest.raises(ValueError, match="unlabeled_ids must be int64 \\[12\\]"):
        trainer.fit(LABELED, LABELS, UNLABELED, steps=1, unlabeled_ids=UNLABELED_IDS[:5])
    with pytest.raises(ValueError, match="labeled_ids must be unique"):
        trainer.fit(LABELED, LABELS, UNLABELED, steps=1, labeled_ids=torch.tensor([1, 1, 2, 3, 4, 5]))


@pytest.mark.parametrize("algorithm", list_algorithms())
def test_no_algorithm_keeps_rows_per_image_without_the_ids_they_belong_to(algorithm: str):
    options = {"pretrain_steps": 1} if algorithm == "selfmatch" else {}
    trainer = tiny_trainer(algorithm, **options)
    trainer.fit(LABELED, LABELS, UNLABELED, steps=1, labeled_ids=LABELED_IDS, unlabeled_ids=UNLABELED_IDS)
    tensors = [value for value in trainer.algorithm.state_dict().values() if isinstance(value, torch.Tensor) and value.dim()]
    for ids in (UNLABELED_IDS, LABELED_IDS):  # 12 and 6 rows: no other state has those lengths here
        if any(tensor.shape[0] == ids.numel() for tensor in tensors):
            assert any(torch.equal(tensor, ids) for tensor in tensors), "per-image rows kept without their image ids"
