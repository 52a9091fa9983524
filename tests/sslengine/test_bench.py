"""The benchmark CLI runs end to end on an ImageFolder tree and writes its config and results."""

from __future__ import annotations

import json

import numpy as np
import pytest
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


def _bench(tmp_path, *options: str) -> dict:
    out = tmp_path / "result.json"
    bench.main([
        "--dataset", "imagefolder", "--data-dir", str(tmp_path / "images"), "--image-size", "32",
        "--channels", "1", "--test-fraction", "0.34", "--algorithm", "fixmatch", "--batch-size", "4",
        "--mu", "2", "--seed", "0", "--device", "cpu", "--json", str(out), *options,
    ])
    return json.loads(out.read_text())


def test_bench_pretrains_on_the_pool_selects_by_typicality_and_records_a_curve(tmp_path, fashion_small):
    _write_image_folder(tmp_path / "images", fashion_small, per_class=8)
    record = _bench(tmp_path, "--labels-per-class", "2", "--select", "typicality", "--pretrain-seconds", "1",
                    "--seconds", "1.5", "--eval-every", "0.5")
    assert record["select"] == "typicality" and record["num_labeled"] == 6
    assert sum(record["labeled_per_class_counts"]) == 6  # the count per class is not guaranteed
    pretrain = record["pretrain"]
    assert pretrain["steps"] >= 1 and pretrain["seconds"] >= 1.0 and "loss" in pretrain["scalars"]
    assert 0.0 <= pretrain["test_quality"]["knn_accuracy"] <= 1.0
    assert record["total_seconds"] == record["pretrain"]["seconds"] + record["seconds"]
    assert record["cpu_seconds"] > 0
    curve = record["curve"]
    assert len(curve) == 3 and [point["global_step"] for point in curve] == sorted(point["global_step"] for point in curve)
    assert all(0.0 <= point["test_accuracy"] <= 1.0 for point in curve)
    assert curve[-1]["total_seconds"] == record["total_seconds"]


def test_bench_trains_on_a_fixed_labeled_set_from_a_file(tmp_path, fashion_small):
    _write_image_folder(tmp_path / "images", fashion_small, per_class=8)
    (tmp_path / "labeled.json").write_text("[0, 5, 9, 12]")
    record = _bench(tmp_path, "--labeled-indices", str(tmp_path / "labeled.json"), "--steps", "2")
    assert record["select"] == "labeled-indices" and record["num_labeled"] == 4 and record["pretrain"]["steps"] == 0
    (tmp_path / "bad.json").write_text("[0, 0]")
    with pytest.raises(SystemExit, match="repeat"):
        _bench(tmp_path, "--labeled-indices", str(tmp_path / "bad.json"), "--steps", "2")


def test_bench_passes_algorithm_options_to_the_chosen_algorithm_and_records_them(tmp_path, fashion_small):
    _write_image_folder(tmp_path / "images", fashion_small)
    record = _bench(tmp_path, "--labels-per-class", "2", "--steps", "1", "--algorithm", "vat",
                    "--algorithm-option", "eps=1.5", "--algorithm-option", "iterations=2")
    assert record["algorithm"] == "vat"
    assert record["config"]["algorithm_options"] == {"xi": 1e-6, "eps": 1.5, "iterations": 2, "entropy_weight": 0.0}
    assert bench.parse_algorithm_options(["warmup=false", "name=text"]) == {"warmup": False, "name": "text"}
    with pytest.raises(SystemExit):
        bench.parse_args(["--labels-per-class", "2", "--steps", "1", "--algorithm-option", "eps"])
