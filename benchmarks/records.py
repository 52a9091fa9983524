"""The head every benchmark's JSON record starts with: what ran, with which options."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def json_config(args: argparse.Namespace) -> dict:
    """The parsed options as JSON values (paths become strings)."""
    return {name: str(value) if isinstance(value, Path) else value for name, value in vars(args).items()}


def run_header(benchmark: str, script: str, args: argparse.Namespace, argv: list[str] | None = None) -> dict:
    """``benchmark``, the ``command`` that reproduces the run (``script`` + its arguments) and the ``config``."""
    arguments = sys.argv[1:] if argv is None else argv
    return {"benchmark": benchmark, "command": " ".join([script, *arguments]), "config": json_config(args)}
