"""What every benchmark's JSON record starts with (what ran, with which options), and appending results to it."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def json_config(args: argparse.Namespace) -> dict:
    """The parsed options as JSON values (paths become strings)."""
    return {name: str(value) if isinstance(value, Path) else value for name, value in vars(args).items()}


def run_header(benchmark: str, script: str, args: argparse.Namespace, argv: list[str] | None = None) -> dict:
    """``benchmark``, the ``command`` that reproduces the run (``script`` + its arguments) and the ``config``."""
    arguments = sys.argv[1:] if argv is None else argv
    return {"benchmark": benchmark, "command": " ".join([script, *arguments]), "config": json_config(args)}


def record_append(record: dict, key: str, entry: dict, path: Path) -> None:
    """Add ``entry`` to ``record[key]``, print it as one JSON line and rewrite ``path``: a long run's results so
    far survive an interruption."""
    record[key].append(entry)
    print(json.dumps(entry), flush=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1))
