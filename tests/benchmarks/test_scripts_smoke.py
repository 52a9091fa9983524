"""The benchmark scripts keep working: each answers ``--help`` and runs one tiny configuration end to end
(real app, real worker round, real export, real servers), writing its JSON results."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sslengine.datasets import DEFAULT_FASHION_MNIST_DIR

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ["benchmarks/label_efficiency/run.py", "benchmarks/speed/run.py", "benchmarks/web_load/run.py",
           "benchmarks/engine/bn_recalibration.py", "benchmarks/engine/pretrain_budget.py",
           "benchmarks/engine/learning_test_seeds.py", "benchmarks/speed/inference_batch.py"]
POSTGRES = "postgres://postgres@127.0.0.1:5432"


def run_script(script: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DATA_DIR", "DATABASE_URL", "REDIS_URL")}
    result = subprocess.run([sys.executable, script, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.mark.parametrize("script", SCRIPTS)
def test_script_answers_help(script: str) -> None:
    assert "usage:" in run_script(script, "--help").stdout


needs_fashion_mnist = pytest.mark.skipif(
    not DEFAULT_FASHION_MNIST_DIR.is_dir(),
    reason=f"{DEFAULT_FASHION_MNIST_DIR} missing: install Debian's dataset-fashion-mnist (.ci/run does)",
)


@needs_fashion_mnist
def test_label_efficiency_tiny_run_scores_exported_model_and_counts_review_actions(tmp_path: Path) -> None:
    out = tmp_path / "le.json"
    run_script(SCRIPTS[0], "--pool", "60", "--actions", "10", "--batch", "5", "--steps", "1", "--test-limit", "200",
               "--policies", "fixmatch-active-review", "--out", str(out))
    record = json.loads(out.read_text())
    points = record["policies"]["fixmatch-active-review"]["points"]
    assert [p["actions"] for p in points] == [5, 10]
    assert points[-1]["labels"] + points[-1]["accepted"] + points[-1]["rejected"] == 10
    assert all(0.0 <= p["test_accuracy"] <= 1.0 for p in points) and points[-1]["version"] == 2
    assert out.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@needs_fashion_mnist
def test_pretrain_budget_tiny_run_reports_every_arm_of_the_ablation_at_every_budget(tmp_path: Path) -> None:
    out = tmp_path / "pb.json"
    run_script(SCRIPTS[4], "--pool", "100", "--budgets", "0,1", "--labels", "10", "--test-limit", "100", "--json", str(out))
    points = json.loads(out.read_text())["points"]
    assert [p["steps"] > 0 for p in points] == [False, True]
    for point in points:
        assert set(point["ablation"]) == {"typicality@10", "random@10"}
        assert all(0.0 <= arm["propagation"] <= 1.0 and 0.0 <= arm["nearest_labeled"] <= 1.0 for arm in point["ablation"].values())


def test_learning_test_seeds_tiny_run_scores_each_seed(tmp_path: Path) -> None:
    out = tmp_path / "seeds.json"
    run_script(SCRIPTS[5], "--algorithms", "supervised", "--seeds", "0,1", "--steps", "2", "--json", str(out))
    assert [(r["seed"], 0.0 <= r["test_accuracy"] <= 1.0) for r in json.loads(out.read_text())["runs"]] == [(0, True), (1, True)]


def test_speed_tiny_run_reports_rates_and_flops(tmp_path: Path) -> None:
    out = tmp_path / "speed.json"
    run_script(SCRIPTS[1], "--backbones", "cnn-small", "--geometries", "28-gray", "--steps", "1", "--warmup-steps", "1",
               "--predict-images", "64", "--repeats", "1", "--threads", "1", "--out", str(out))
    (row,) = json.loads(out.read_text())["rows"]
    assert row["train_images_per_s"] > 0 and row["predict_images_per_s"] > 0 and row["forward_mflops_per_image"] > 0


def test_inference_batch_tiny_run_times_every_backbone_at_every_batch(tmp_path: Path) -> None:
    out = tmp_path / "batch.json"
    run_script(SCRIPTS[6], "--scale", "0.002", "--batches", "2,4", "--repeats", "1", "--out", str(out))
    rows = json.loads(out.read_text())["rows"]
    assert len(rows) == 4 and all(set(row["cpu_s"]) == {"2", "4"} for row in rows)


@needs_fashion_mnist
def test_bn_recalibration_tiny_run_scores_both_arms_every_round(tmp_path: Path) -> None:
    out = tmp_path / "bn.json"
    run_script(SCRIPTS[3], "--algorithms", "supervised", "--seeds", "0", "--pool", "60", "--rounds", "2", "--steps", "1",
               "--out", str(out))
    (run,) = json.loads(out.read_text())["algorithms"]["supervised"]["runs"].values()
    assert [r["labels"] for r in run] == [25, 50]
    assert all(0.0 <= r["trained_bn"] <= 1.0 and 0.0 <= r["recalibrated_bn"] <= 1.0 for r in run)


@needs_fashion_mnist
def test_web_load_tiny_run_has_no_errors(tmp_path: Path) -> None:
    try:
        import psycopg

        psycopg.connect(f"{POSTGRES}/postgres", connect_timeout=3).close()
    except Exception as error:  # noqa: BLE001 - any failure to connect means no server here
        pytest.skip(f"no PostgreSQL at {POSTGRES}: {error}")
    out = tmp_path / "web.json"
    run_script(SCRIPTS[2], "--images", "300", "--labeled", "10", "--annotators", "2", "--reviewers", "1", "--cycles", "2",
               "--pages", "1", "--think", "0", "--repeats", "1", "--round-seconds", "0",
               "--web-processes", "1",  # one uvicorn start; two processes are tests/reliability/test_web_processes.py's
               "--database", f"bench_web_smoke_{os.getpid()}", "--out", str(out))
    (variant,) = json.loads(out.read_text())["variants"].values()  # the default: the yielding training worker
    median = variant["median"]
    assert median["next"]["count"] == 4 and median["submit"]["count"] == 4 and median["review_page"]["count"] == 1
    assert sum(m["errors"] for m in median.values()) == 0


def _run_record(seed: int, accuracies: list[float]) -> dict:
    points = [{"actions": 25 * (i + 1), "test_accuracy": a, "labels": 25 * (i + 1), "accepted": 0, "rejected": 0}
              for i, a in enumerate(accuracies)]
    return {"command": f"run.py --seed {seed}", "machine": {}, "config": {"seed": seed, "pool": 100, "steps": 1,
            "batch": 25, "backbone": "cnn-small"}, "policies": {"p": {"description": "d", "points": points}}}


def test_label_efficiency_aggregate_takes_medians_over_runs_and_never_reached_counts_as_more(tmp_path: Path) -> None:
    runs = [_run_record(0, [0.70, 0.81, 0.86]), _run_record(1, [0.60, 0.79, 0.80]), _run_record(2, [0.50, 0.85, 0.84])]
    paths = []
    for index, record in enumerate(runs):
        paths.append(tmp_path / f"seed{index}.json")
        paths[-1].write_text(json.dumps(record))
    out = tmp_path / "median.json"
    table = run_script(SCRIPTS[0], "--aggregate", *map(str, paths), "--out", str(out)).stdout

    policy = json.loads(out.read_text())["policies"]["p"]
    assert [p["test_accuracy"] for p in policy["points"]] == [0.60, 0.81, 0.84]
    assert [(p["low"], p["high"]) for p in policy["points"]][0] == (0.50, 0.70)
    assert policy["actions_to_reach_runs"] == {"0.80": [50, 75, 50], "0.85": [75, None, 50], "0.90": [None, None, None]}
    assert policy["actions_to_reach"] == {"0.80": 50, "0.85": 75, "0.90": None}
    assert "75 (75, > 75, 50)" in table and "> 75 (> 75, > 75, > 75)" in table


def test_label_efficiency_pool_first_pretrains_before_the_first_action_and_spends_equal_cpu(tmp_path: Path) -> None:
    out = tmp_path / "pool.json"
    run_script(SCRIPTS[0], "--pool", "80", "--actions", "20", "--batch", "10", "--cpu-per-action", "0.2",
               "--pretrain-cpu-seconds", "3", "--test-limit", "200", "--policies", "pool-first,supervised-random",
               "--out", str(out), timeout=300)
    policies = json.loads(out.read_text())["policies"]
    assert policies["pool-first"]["pretrain_cpu_seconds"] >= 3
    for name in ("pool-first", "supervised-random"):
        points = policies[name]["points"]
        assert [p["actions"] for p in points] == [10, 20]
        assert all(p["kind"] == "trained" for p in points)
        # equal compute: the worker's CPU meets the budget to within a quarter batch (its rounds top it up)
        assert points[-1]["worker_cpu_seconds"] >= 0.2 * 20 - 0.25 * 0.2 * 10
