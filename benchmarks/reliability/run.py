"""Reliability benchmark steps too heavy for ``make test``; writes results/reliability.json and prints the
markdown rows of benchmarks/RESULTS.md's "Reliability" section.

    .venv/bin/python benchmarks/reliability/run.py

1. PostgreSQL restart under a running web server (a throwaway cluster from initdb, a real daphne
   subprocess): ``RELIABILITY_SLOW=1 pytest tests/reliability/test_service_restarts.py -k postgres``.
2. An RQ worker through a Redis restart: a real ``manage.py rqworker training`` on a throwaway
   ``redis-server``; Redis is stopped for 5 s and started again (empty, as the embedded one is); a job
   enqueued afterwards is run by the same worker process.
3. Decompression bombs: for each 20,000 × 20,000 bomb (PNG, GIF, TIFF), the time to refuse it and the
   growth of peak RSS in a fresh process, with Pillow's own bomb check off (the app's limit alone).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).resolve().parent / "results" / "reliability.json"

BOMB_PROBE = """
import json, resource, time
from PIL import Image
Image.MAX_IMAGE_PIXELS = None
from tests.reliability.bombs import BOMBS
from labelapp.lib.images import InvalidImage, check_image
out = {}
for kind, make in BOMBS.items():
    data = make()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    try:
        check_image(data, max_pixels=40_000_000)
        verdict = "ACCEPTED"
    except InvalidImage as exc:
        verdict = str(exc)
    out[kind] = {"file_bytes": len(data), "seconds": round(time.perf_counter() - started, 4),
                 "peak_rss_growth_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before, "verdict": verdict}
print(json.dumps(out))
"""


def postgres_restart() -> dict:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/reliability/test_service_restarts.py", "-k", "postgres", "-q", "-rs"],
        cwd=REPO, env={**os.environ, "RELIABILITY_SLOW": "1"}, capture_output=True, text=True,
    )
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr[-500:]
    return {"passed": result.returncode == 0, "summary": summary, "seconds": round(time.perf_counter() - started, 1)}


def worker_through_redis_restart() -> dict:
    sys.path.insert(0, str(REPO))
    import redis
    from rq import Queue

    from labelapp.lib import embedded_redis

    folder = Path(tempfile.mkdtemp(prefix="rel-rq-"))
    socket = folder / "redis.sock"
    server = embedded_redis.start(socket)
    env = {**os.environ, "REDIS_URL": embedded_redis.socket_url(socket), "DATA_DIR": str(folder / "data")}
    log = folder / "worker.log"
    worker = subprocess.Popen([sys.executable, "manage.py", "rqworker", "training", "--worker-class", "rq.SimpleWorker"],
                              cwd=REPO, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    try:
        time.sleep(15)  # the worker is up and listening
        server.terminate()
        server.wait()
        time.sleep(5)
        alive_while_down = worker.poll() is None
        server = embedded_redis.start(socket)
        restarted = time.perf_counter()
        job = Queue("training", connection=redis.Redis(unix_socket_path=str(socket))).enqueue("os.getpid")
        while job.get_status(refresh=True) not in ("finished", "failed") and time.perf_counter() - restarted < 60:
            time.sleep(0.2)
        return {"worker_alive_while_down": alive_while_down, "job_status": str(job.get_status(refresh=True)),
                "same_worker_process": job.return_value() == worker.pid,
                "seconds_from_restart_to_job_done": round(time.perf_counter() - restarted, 1),
                "worker_log_tail": log.read_text().splitlines()[-6:]}
    finally:
        worker.terminate()
        worker.wait()
        server.terminate()


def bombs() -> dict:
    result = subprocess.run([sys.executable, "-c", BOMB_PROBE], cwd=REPO, capture_output=True, text=True,
                            env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO)}, check=True)
    return json.loads(result.stdout)


def main() -> None:
    results = {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "postgres_restart": postgres_restart(), "worker_redis_restart": worker_through_redis_restart(),
               "bombs": bombs()}
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    pg = results["postgres_restart"]
    print(f"| PostgreSQL restart under a running server | {'pass' if pg['passed'] else 'FAIL'} | {pg['summary']} ({pg['seconds']} s) |")
    rq = results["worker_redis_restart"]
    ok = rq["worker_alive_while_down"] and rq["same_worker_process"] and rq["job_status"].endswith("FINISHED")
    print(f"| RQ worker through a Redis restart | {'pass' if ok else 'FAIL'} | worker kept retrying while Redis was down; "
          f"a job enqueued after the restart ran on the same process {rq['seconds_from_restart_to_job_done']} s later |")
    for kind, row in results["bombs"].items():
        print(f"| {kind.upper()} bomb 20000×20000, {row['file_bytes']:,} bytes | refused in {row['seconds'] * 1000:.1f} ms, "
              f"peak RSS +{row['peak_rss_growth_kib'] / 1024:.1f} MiB | {row['verdict'][:60]} |")


if __name__ == "__main__":
    main()
