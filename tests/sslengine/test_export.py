"""Exports of a really trained model (a few steps of cnn-small on real Fashion-MNIST images)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch
from PIL import Image

from sslengine import TrainConfig, Trainer
from sslengine.datasets import ImageSet, load_npz
from sslengine.export import (
    ExportMetadata,
    ModelCard,
    card_date,
    export_onnx,
    export_torchscript,
    load_torchscript,
    onnx_metadata,
    write_bundle,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "fashion_mnist_small.npz"
TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def images() -> ImageSet:
    return load_npz(DATA)


@pytest.fixture(scope="module")
def trainer(images: ImageSet) -> Trainer:
    config = TrainConfig(num_classes=10, in_channels=1, image_size=28, batch_size=8, mu=2, seed=0)
    trainer = Trainer(config, device="cpu")
    trainer.fit(images.images[:200], images.labels[:200], images.images, steps=5)
    return trainer


@pytest.fixture(scope="module")
def meta(trainer: Trainer, images: ImageSet) -> ExportMetadata:
    return ExportMetadata.for_trainer(trainer, classes=images.classes, version=7)


@pytest.fixture(scope="module")
def test_batch(images: ImageSet) -> torch.Tensor:
    """Real images the model never trained on, in an odd batch size (the export example used 2)."""
    return images.images[1500:1733]


def test_onnx_export_matches_trainer_predict_on_real_images(trainer, meta, test_batch, tmp_path) -> None:
    path = export_onnx(trainer, tmp_path / "model.onnx", meta)
    session = onnxruntime.InferenceSession(str(path))
    (probs,) = session.run(["probabilities"], {"images": test_batch.numpy()})
    expected = trainer.predict(test_batch).probs.numpy()
    assert probs.shape == expected.shape
    np.testing.assert_allclose(probs, expected, atol=TOLERANCE, rtol=0)


def test_torchscript_export_matches_trainer_predict_on_real_images(trainer, meta, test_batch, tmp_path) -> None:
    module, _ = load_torchscript(export_torchscript(trainer, tmp_path / "model.pt", meta))
    with torch.no_grad():
        probs = module(test_batch)
    torch.testing.assert_close(probs, trainer.predict(test_batch).probs, atol=TOLERANCE, rtol=0)


def test_exports_carry_class_names_version_and_input_spec(trainer, meta, tmp_path) -> None:
    onnx_meta = onnx_metadata(export_onnx(trainer, tmp_path / "model.onnx", meta))
    _, ts_meta = load_torchscript(export_torchscript(trainer, tmp_path / "model.pt", meta))
    for found in (onnx_meta, ts_meta):
        assert found["classes"] == list(meta.classes)
        assert found["version"] == 7
        assert found["image_size"] == 28 and found["in_channels"] == 1
    session = onnxruntime.InferenceSession(str(tmp_path / "model.onnx"))
    (model_input,) = session.get_inputs()
    assert model_input.type == "tensor(uint8)"
    assert model_input.shape[1:] == [1, 28, 28] and not isinstance(model_input.shape[0], int)


def test_onnx_export_refuses_old_opsets(trainer, meta, tmp_path) -> None:
    with pytest.raises(ValueError, match="opset"):
        export_onnx(trainer, tmp_path / "model.onnx", meta, opset=13)


def test_metadata_refuses_class_names_that_do_not_match_the_outputs(trainer) -> None:
    with pytest.raises(ValueError, match="3 class names for a model with 10 outputs"):
        ExportMetadata.for_trainer(trainer, classes=["a", "b", "c"], version=1)


def _card(trainer: Trainer, meta: ExportMetadata) -> ModelCard:
    metrics = {
        "running_accuracy": 0.625,
        "running_count": 40,
        "holdout_accuracy": None,
        "holdout_count": 0,
        "per_class": {"t-shirt": {"precision": 0.5, "recall": 1.0}},
        "confusion": [[1, 0], [0, 1]],
        "pseudo_label_rate": 0.25,
    }
    return ModelCard(
        meta=meta,
        config=trainer.config.to_dict(),
        data={"human_labels": 200, "pseudo_labels": 3, "images": 2000},
        metrics=metrics,
        training_seconds=12.5,
        steps=trainer.global_step,
        created_at=card_date(),
        project="fashion",
        last_round_steps=2,
        last_round_seconds=4.5,
    )


def test_model_card_json_and_markdown_state_the_versions_facts(trainer, meta) -> None:
    card = _card(trainer, meta)
    data = json.loads(card.to_json())
    assert data["metrics"] == card.metrics
    assert data["algorithm"] == "fixmatch" and data["backbone"] == "cnn-small"
    assert data["data"] == {"human_labels": 200, "pseudo_labels": 3, "images": 2000}
    assert data["training"]["steps"] == 5 and data["training"]["seconds"] == 12.5
    assert data["training"]["last_round"] == {"steps": 2, "seconds": 4.5}  # totals and the last round, named
    markdown = card.to_markdown()
    assert "- Training: 5 steps in 12.5 s over all rounds; the last round 2 steps in 4.5 s" in markdown
    assert "# Model card: fashion v7" in markdown
    assert "- running_accuracy: 0.6250" in markdown
    assert "| t-shirt | 0.5000 | 1.0000 |" in markdown
    assert "9. ankle-boot" in markdown


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_predict_example_classifies_real_image_files_like_the_engine(trainer, meta, images, tmp_path, fmt) -> None:
    bundle = tmp_path / "bundle"
    written = write_bundle(trainer, bundle, _card(trainer, meta), fmt)
    assert sorted(p.name for p in written) == sorted(
        ["model.onnx" if fmt == "onnx" else "model.pt", "model_card.json", "model_card.md", "predict.py"]
    )
    picks = images.images[1800:1806]
    files = []
    for index, array in enumerate(picks):
        path = tmp_path / f"img{index}.png"
        Image.fromarray(array[0].numpy()).save(path)
        files.append(str(path))
    result = subprocess.run(
        [sys.executable, str(bundle / "predict.py"), *files], capture_output=True, text=True, timeout=120, check=True
    )
    predicted = [line.split("\t")[1] for line in result.stdout.strip().splitlines()]
    expected = [images.classes[int(i)] for i in trainer.predict(picks).predicted]
    assert predicted == expected


def test_rgb_model_exports_match_at_another_size(tmp_path) -> None:
    """Three channels at 32 px (an untrained model is enough to check the wiring of channels and size)."""
    trainer = Trainer(TrainConfig(num_classes=4, in_channels=3, image_size=32), device="cpu")
    meta = ExportMetadata.for_trainer(trainer, classes=["a", "b", "c", "d"], version=1)
    images = torch.randint(0, 256, (5, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(3))
    session = onnxruntime.InferenceSession(str(export_onnx(trainer, tmp_path / "m.onnx", meta)))
    expected = trainer.predict(images).probs
    np.testing.assert_allclose(session.run(None, {"images": images.numpy()})[0], expected.numpy(), atol=TOLERANCE, rtol=0)
    module, _ = load_torchscript(export_torchscript(trainer, tmp_path / "m.pt", meta))
    torch.testing.assert_close(module(images), expected, atol=TOLERANCE, rtol=0)
