"""The benchmark CLI runs end to end on an ImageFolder tree and writes its config and results."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from sslengine import bench


def _write_image_folder(root, fashion_small, per_class: int = 6) -> None:
    for cls in range(3):
        folder = root / fashion_small.classes[cls]
        folder.mkdir(parents=True)
        rows = (fashion_small.labels == cls).nonzero().flatten()[:per_class]
        for row in rows.tolist():
            Image.fromarray(fashion_small.images[row, 0].numpy().astype(np.uint8)).save(folder / f"{row}.png")


def test_bench_cli_trains_on_an_image_folder_and_writes_json(tmp_path, fashion_small):
    _write_image_folder(tmp_path / "images", fashion_small)
    out = tmp_path / "result.json"
    bench.main([
        "--dataset", "imagefolder", "--data-dir", str(tmp_path / "images"), "--image-size", "32",
        "--channels", "3", "--test-fraction", "0.34", "--labels-per-class", "2", "--algorithm", "fixmatch",
        "--steps", "2", "--batch-size", "4", "--mu", "2", "--seed", "0", "--device", "cpu", "--json", str(out),
    ])
    record = json.loads(out.read_text())
    for key in ("algorithm", "labels_per_class", "steps", "seconds", "images_per_second", "test_accuracy", "device"):
        assert key in record, key
    assert record["steps"] == 2 and record["labels_per_class"] == 2
    assert record["num_labeled"] == 6 and record["num_test"] == 6 and record["num_unlabeled"] == 12
    assert 0.0 <= record["test_accuracy"] <= 1.0 and record["images_per_second"] > 0
    assert record["config"]["in_channels"] == 3 and record["config"]["image_size"] == 32
