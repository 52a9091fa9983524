"""Markdown table of ``benchmarks/distill/run.py`` records: ``python benchmarks/distill/table.py A.json [B.json ...]``."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def rows(record: dict) -> list[str]:
    teacher = record["rows"][0]
    base_latency = teacher["latency"]["ms_per_image"]["1"]
    lines = []
    for row in record["rows"]:
        latency = row["latency"]["ms_per_image"]
        extra = []
        if "agreement_with_teacher" in row:
            extra.append(f"agrees with teacher {row['agreement_with_teacher']:.1%}; {row['steps']:,} steps in {row['seconds']:.0f} s")
        if "agreement_with_fp32" in row:
            extra.append(f"agrees with fp32 {row['agreement_with_fp32']:.2%}")
        lines.append(
            f"| {row['model']} | {row['test_accuracy']:.2%} | {(row['test_accuracy'] - teacher['test_accuracy']) * 100:+.2f} | "
            f"{latency['1'] * 1000:.1f} | {base_latency / latency['1']:.1f}× | {latency['64'] * 1000:.1f} | "
            f"{row['size_bytes'] / 1e3:,.0f} | {'; '.join(extra)} |"
        )
    return lines


def main(paths: list[str]) -> None:
    print("| model | test accuracy | vs teacher (points) | batch 1 (µs/image) | speed-up vs teacher | batch 64 (µs/image) | size (kB) | notes |")
    print("|---|---|---|---|---|---|---|---|")
    for path in paths:
        for line in rows(json.loads(Path(path).read_text())):
            print(line)


if __name__ == "__main__":
    main(sys.argv[1:])
