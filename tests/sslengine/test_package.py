"""The engine is plain PyTorch: importing any of it never imports Django."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_importing_sslengine_does_not_import_django():
    script = (
        "import pkgutil, importlib, sys, sslengine\n"
        "for module in pkgutil.walk_packages(sslengine.__path__, 'sslengine.'):\n"
        "    importlib.import_module(module.name)\n"
        "leaked = sorted(m for m in sys.modules if m == 'django' or m.startswith('django.'))\n"
        "assert not leaked, leaked\n"
    )
    env_without_settings = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT)}
    completed = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, env=env_without_settings, capture_output=True, text=True
    )
    assert completed.returncode == 0, completed.stderr


def test_the_public_api_of_the_contract_is_importable_from_the_package():
    import sslengine

    for name in ("TrainConfig", "Trainer", "FitResult", "Predictions", "list_algorithms",
                 "list_strategies", "list_backbones", "select_indices", "strategy_in_force", "PretrainConfig",
                 "Pretrainer", "PretrainResult", "embedding_quality", "list_pretexts", "propagate"):
        assert hasattr(sslengine, name), name
    assert {"fixmatch", "simmatch", "supervised", "selfmatch"} <= set(sslengine.list_algorithms())
    assert {"least-confidence", "margin", "entropy", "random", "k-center", "typicality", "pool-first"} <= set(
        sslengine.list_strategies()
    )
    assert "simclr" in sslengine.list_pretexts()
    assert hasattr(sslengine.Trainer, "load_encoder") and "hflip" in sslengine.TrainConfig.__dataclass_fields__
    assert {"cnn-small", "wrn-28-2", "resnet18"} <= set(sslengine.list_backbones())
