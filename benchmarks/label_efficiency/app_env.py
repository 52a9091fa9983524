"""Start the real app in-process for a benchmark: a temp DATA_DIR, a database and an embedded Redis.

Shared by the label-efficiency and web-load benchmarks (imported as ``benchmarks.label_efficiency.app_env``).
"""

from __future__ import annotations

import atexit
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def start_app(*, prefix: str, database_url: str | None = None, keep: bool = False) -> Path:
    """Point Django at a fresh temp DATA_DIR (SQLite inside it unless ``database_url``) and an embedded
    redis-server on a unix socket there, set Django up and migrate. Returns DATA_DIR."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from labelapp.lib import embedded_redis

    data_dir = Path(tempfile.mkdtemp(prefix=prefix))
    if not keep:
        atexit.register(shutil.rmtree, data_dir, ignore_errors=True)
    os.environ["DATA_DIR"] = str(data_dir)
    os.environ.pop("DATABASE_URL", None)
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    socket = data_dir / "redis" / "redis.sock"
    server = embedded_redis.start(socket, die_with_parent=True)
    atexit.register(server.terminate)
    os.environ["REDIS_URL"] = embedded_redis.socket_url(socket)
    os.environ["DJANGO_SETTINGS_MODULE"] = "labelapp.settings"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    return data_dir


def machine() -> dict:
    """What the figures were measured on, and when."""
    import torch

    try:
        load = os.getloadavg()
    except OSError:
        load = (0.0, 0.0, 0.0)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "load_average_at_start": [round(x, 2) for x in load],
        "git_commit": commit,
        "python": platform.python_version(),
    }
