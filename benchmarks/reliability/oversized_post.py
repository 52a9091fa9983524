"""An anonymous oversized POST against a real web server (``manage.py runserver``, i.e. daphne, on a fresh
migrated DATA_DIR): how much of the body the server takes before it answers, what it answers, and how much
its RSS and the temp folder grow. Writes results/oversized_post.json.

    .venv/bin/python benchmarks/reliability/oversized_post.py [--size-mib 300] [--path /accounts/login/]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from benchmarks.records import run_header  # noqa: E402
from labelapp.lib.processes import wait_until  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "oversized_post.json"
MIB = 2**20


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def measure(port: int, pid: int, path: str, size: int) -> dict:
    """Stream ``size`` bytes of body after a declared Content-Length, sampling the server as it goes."""
    temp = tempfile.gettempdir()
    rss_before, free_before = rss_mib(pid), shutil.disk_usage(temp).free
    rss_peak, temp_peak, sent = rss_before, 0, 0
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                     f"Content-Length: {size}\r\n\r\n".encode())
        chunk = b"x" * MIB
        try:
            while sent < size:
                sock.sendall(chunk)
                sent += len(chunk)
                if sent % (16 * MIB) == 0:
                    rss_peak = max(rss_peak, rss_mib(pid))
                    temp_peak = max(temp_peak, free_before - shutil.disk_usage(temp).free)
        except OSError:
            pass  # the server answered and closed the connection
        try:
            status_line = sock.recv(4096).split(b"\r\n", 1)[0].decode()
        except OSError:
            status_line = "(connection reset)"
    seconds = time.perf_counter() - started
    time.sleep(1)
    return {"answer": status_line, "body_sent_mib": round(sent / MIB, 1), "seconds": round(seconds, 2),
            "rss_before_mib": round(rss_before), "rss_growth_mib": round(max(rss_peak, rss_mib(pid)) - rss_before, 1),
            "temp_growth_mib": round(max(temp_peak, 0) / MIB, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=300)
    parser.add_argument("--path", default="/accounts/login/")
    parser.add_argument("--port", type=int, default=8941)
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="oversized-post-"))
    env = {**os.environ, "DATA_DIR": str(data)}
    server = None
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=REPO, env=env, check=True)
        server = subprocess.Popen([sys.executable, "manage.py", "runserver", f"127.0.0.1:{args.port}", "--noreload"],
                                  cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_until(lambda: answers(args.port), timeout=120, interval=0.5):
            raise RuntimeError("the web server did not start")
        time.sleep(2)
        record = run_header("oversized_post", "benchmarks/reliability/oversized_post.py", args)
        record["result"] = measure(args.port, server.pid, args.path, args.size_mib * MIB)
    finally:
        if server is not None:
            server.terminate()
            server.wait()
        shutil.rmtree(data, ignore_errors=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record["result"]))


if __name__ == "__main__":
    main()
