"""Turn the JSONs of ``benchmarks/algorithms/run.sh`` into the "Every algorithm" markdown table.

    .venv/bin/python benchmarks/algorithms/table.py                 # print the section
    .venv/bin/python benchmarks/algorithms/table.py --update benchmarks/RESULTS.md

``--update`` replaces the "## Every algorithm" section of that file (up to the next "## " heading)
and leaves every other section as it is; the section is appended when the file has none. The
hand-written reading in ``notes.md`` (next to this script) goes below the table.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
NOTES = Path(__file__).resolve().parent / "notes.md"  # hand-written reading of the table, appended
HEADING = "## Every algorithm"


Runs = dict[str, dict[int, list[dict[str, Any]]]]  # algorithm → labels per class → one record per seed


def load(folder: Path, seeds: set[int] | None = None) -> Runs:
    """The JSON records of the folder (of ``seeds`` only, if given), by algorithm and label count."""
    records: Runs = defaultdict(lambda: defaultdict(list))
    for path in sorted(folder.glob("*.json")):
        record = json.loads(path.read_text())
        if seeds is None or record["seed"] in seeds:
            records[record["algorithm"]][int(record["labels_per_class"])].append(record)
    for runs in records.values():
        for seeds in runs.values():
            seeds.sort(key=lambda record: record["seed"])
    return records


def _mean(seeds: list[dict[str, Any]], key: str) -> float:
    return statistics.mean(record[key] for record in seeds)


def _accuracy(seeds: list[dict[str, Any]]) -> str:
    """Mean accuracy over seeds, each seed's in parentheses when there are several."""
    if not seeds:
        return "—"
    text = f"{_mean(seeds, 'test_accuracy'):.1%}"
    if len(seeds) > 1:
        text += " (" + ", ".join(f"{record['test_accuracy']:.1%}" for record in seeds) + ")"
    return text


def _number(seeds: list[dict[str, Any]], key: str) -> str:
    return "—" if not seeds else f"{_mean(seeds, key):.0f}"


def section(records: Runs) -> str:
    """The markdown section: the setup, then one row per algorithm, best mean accuracy first."""
    every = [record for runs in records.values() for seeds in runs.values() for record in seeds]
    if not every:
        return f"{HEADING}\n\nNo runs yet: `bash benchmarks/algorithms/run.sh ALGORITHM ...`.\n"
    sample = every[0]
    config = sample["config"]
    seeds = sorted({record["seed"] for record in every})
    devices = sorted({record["device"] for record in every})
    steps = sorted({record["steps"] for record in every})

    def mean_accuracy(name: str) -> float:
        return statistics.mean(_mean(seeds, "test_accuracy") for seeds in records[name].values())

    lines = [
        HEADING,
        "",
        f"Fashion-MNIST, {sample['num_unlabeled']:,} training images unlabeled, 4 or 10 labeled per class "
        f"(stratified draw with the seed); accuracy of the EMA weights on the {sample['num_test']:,}-image test "
        f"split. Same budget for every run: {', '.join(map(str, steps))} optimizer steps, backbone "
        f"`{config['backbone']}`, batch {config['batch_size']} labeled + {config['mu']}×{config['batch_size']} "
        f"unlabeled, lr {config['lr']}, threshold τ {config['threshold']}, every other option at its "
        f"`TrainConfig` default; seeds {', '.join(map(str, seeds))} (accuracy: mean, then each seed's); one intra-op thread "
        f"(`OMP_NUM_THREADS=1`). Device: {'; '.join(devices)}, shared with the rest of the team, so seconds "
        "and images/s are indicative only (accuracy depends on the step budget alone). "
        "**GPU: none was lent to this task**, so there is no GPU column with numbers.",
        "",
        "Commands: `SEED=0 bash benchmarks/algorithms/run.sh supervised fixmatch ...` for each seed (one run at a "
        "time, a JSON and a log per run in `benchmarks/algorithms/results/`), then "
        f"`.venv/bin/python benchmarks/algorithms/table.py --seeds {' '.join(map(str, seeds))} "
        "--update benchmarks/RESULTS.md`.",
        "",
        "| algorithm | acc. 4/class | acc. 10/class | seconds 4 / 10 | train images/s 4 / 10 | GPU |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name in sorted(records, key=mean_accuracy, reverse=True):
        four, ten = records[name].get(4, []), records[name].get(10, [])
        lines.append(
            f"| {name} | {_accuracy(four)} | {_accuracy(ten)} | "
            f"{_number(four, 'seconds')} / {_number(ten, 'seconds')} | "
            f"{_number(four, 'images_per_second')} / {_number(ten, 'images_per_second')} | not lent |"
        )
    notes = NOTES.read_text().strip() if NOTES.exists() else ""
    return "\n".join(lines) + "\n" + (f"\n{notes}\n" if notes else "")


def update(path: Path, text: str) -> None:
    """Replace (or append) the section in ``path``, keeping every other section."""
    current = path.read_text() if path.exists() else "# Benchmark results\n"
    start = current.find(HEADING + "\n")
    if start < 0:
        path.write_text(current.rstrip("\n") + "\n\n" + text)
        return
    end = current.find("\n## ", start + len(HEADING))
    tail = "" if end < 0 else current[end:]
    path.write_text(current[:start] + text + tail)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--update", type=Path, default=None, help="markdown file whose section to replace")
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="only these seeds (default: all)")
    args = parser.parse_args()
    text = section(load(args.results, set(args.seeds) if args.seeds else None))
    if args.update:
        update(args.update, text)
    print(text)


if __name__ == "__main__":
    main()
