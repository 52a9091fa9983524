"""Loaded before Django starts (``pytest -p tests.bootstrap``).

Gives the run one temporary DATA_DIR and, unless REDIS_URL is set (CI points it at the
machine's Redis), a real embedded ``redis-server`` on a unix socket for the whole run.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

from labelapp.lib import embedded_redis

_data_dir = Path(tempfile.mkdtemp(prefix="labelapp-test-"))
os.environ["DATA_DIR"] = str(_data_dir)
# A labeled project's first round trains its SSL model at once (as before pre-training existed); the tests
# of pre-training ask for it. Worker subprocesses inherit this.
os.environ.setdefault("TRAINING_PRETRAIN_MIN_SECONDS", "0")
atexit.register(shutil.rmtree, _data_dir, ignore_errors=True)

if not os.environ.get("REDIS_URL"):
    _socket = _data_dir / "redis" / "redis.sock"
    _server = embedded_redis.start(_socket)
    os.environ["REDIS_URL"] = embedded_redis.socket_url(_socket)
    atexit.register(_server.terminate)
