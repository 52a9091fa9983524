"""Schema-driven fuzzing of the REST API with schemathesis: no request may get a 5xx.

    .venv/bin/pip install "schemathesis==4.32.5"   # once: a benchmark tool, not in requirements.txt
    .venv/bin/python benchmarks/api/fuzz.py [--max-examples 30] [--max-time 240] [--seed 1]

What it does, with real parts only: a fresh DATA_DIR (SQLite + an embedded Redis), migrations, the
project "clothes" filled like the tests' ``trained_project`` (24 real Fashion-MNIST images, human and
pseudo labels, version 1 from a real 5-step checkpoint with real predictions), the app served by
``manage.py runserver`` (Daphne), then ``schemathesis run /api/schema/`` as each role of the cast
(owner, reviewer, annotator, outsider, each with an API token) with every path ``slug`` pinned to
"clothes", positive and negative data, the ``not_a_server_error`` check. Bounded by ``--max-examples``
per operation and ``--max-time`` per role. Writes ``benchmarks/api/results/fuzz.json``, each role's
schemathesis output and JUnit report, and every 5xx line of the server's log (``server-5xx.log``, empty
when none); exits non-zero if any 5xx was found.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent / "results"
ROLES = ("owner", "reviewer", "annotator", "outsider")
CONFIG = '[parameters]\n"path.slug" = "clothes"\n'


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def seed() -> dict[str, str]:
    """Migrate and fill the database; returns an API token per role."""
    import django

    django.setup()
    from django.core.management import call_command

    from labelapp.api.services import api_token_create
    from labelapp.projects.models import LabelClass, Membership, Project, Role
    from tests.helpers.accounts import make_user
    from tests.labelapp.exports.helpers import tiny_model_train, trained_project_fill

    call_command("migrate", verbosity=0)
    users = {role: make_user(f"fuzz-{role}") for role in ROLES}
    project = Project.objects.create(slug="clothes", name="Clothes", created_by=users["owner"], image_size=28, grayscale=True)
    for index, (name, key) in enumerate([("shirt", "1"), ("trouser", "2"), ("bag", "3")]):
        LabelClass.objects.create(project=project, index=index, name=name, hotkey=key)
    for role in (Role.OWNER, Role.REVIEWER, Role.ANNOTATOR):
        Membership.objects.create(project=project, user=users[str(role)], role=role)
    elsewhere = Project.objects.create(slug="elsewhere", name="Elsewhere", created_by=users["outsider"])
    LabelClass.objects.create(project=elsewhere, index=0, name="cat")
    Membership.objects.create(project=elsewhere, user=users["outsider"], role=Role.OWNER)
    trained_project_fill(
        project, owner=users["owner"], annotator=users["annotator"], reviewer=users["reviewer"], model=tiny_model_train()
    )
    return {role: api_token_create(user=user, name="fuzz")[1] for role, user in users.items()}


def wait_for(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"the server did not answer {url} within {timeout:.0f} s")


def summary_counts(text: str) -> dict[str, int]:
    """Numbers from schemathesis' final summary (operations, test cases, failures, errors)."""
    counts: dict[str, int] = {}
    for key, pattern in {
        "operations_tested": r"(\d+) (?:selected|tested)",
        "test_cases": r"(\d+) (?:test cases|generated)",
        "failures": r"(\d+) failures?",
        "errors": r"(\d+) errors?",
    }.items():
        match = re.search(pattern, text)
        counts[key] = int(match.group(1)) if match else 0
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=30, help="test cases per operation and phase")
    parser.add_argument("--max-time", type=int, default=240, help="seconds per role")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="labelapp-fuzz-"))
    os.environ.update(DATA_DIR=str(data_dir), DJANGO_SETTINGS_MODULE="labelapp.settings")
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("REDIS_URL", None)
    sys.path.insert(0, str(REPO))
    from labelapp.lib import embedded_redis

    redis_server = embedded_redis.start(data_dir / "redis" / "redis.sock")
    server = None
    OUT.mkdir(exist_ok=True)
    results: dict = {"config": vars(args), "roles": {}}
    try:
        tokens = seed()
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
            cwd=REPO, env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=(data_dir / "server.log").open("w"),
        )
        base = f"http://127.0.0.1:{port}"
        wait_for(f"{base}/api/schema/?format=json")
        config = data_dir / "schemathesis.toml"
        config.write_text(CONFIG)
        for role in ROLES:
            started = time.monotonic()
            command = [
                str(Path(sys.executable).parent / "schemathesis"), "--config-file", str(config), "run",
                f"{base}/api/schema/?format=json", "--header", f"Authorization: Token {tokens[role]}",
                "--checks", "not_a_server_error", "--max-examples", str(args.max_examples),
                "--max-time", str(args.max_time), "--seed", str(args.seed), "--workers", "1",
                "--request-timeout", "60", "--report", "junit",
                "--report-junit-path", str(OUT / f"junit-{role}.xml"),
            ]
            run = subprocess.run(command, cwd=data_dir, capture_output=True, text=True, check=False)
            (OUT / f"schemathesis-{role}.txt").write_text(run.stdout + run.stderr)
            results["roles"][role] = {
                "exit_code": run.returncode,
                "seconds": round(time.monotonic() - started, 1),
                **summary_counts(run.stdout),
            }
            print(role, results["roles"][role], flush=True)
        log = (data_dir / "server.log").read_text().splitlines()
        requests = [line for line in log if re.match(r"HTTP \S+ \S+ \d{3} ", line)]
        server_errors = [line for line in requests if re.match(r"HTTP \S+ \S+ 5\d\d ", line)]
        (OUT / "server-5xx.log").write_text("\n".join(server_errors))
        results["server_requests"] = len(requests)
        results["server_5xx_in_log"] = len(server_errors)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        redis_server.terminate()
        shutil.rmtree(data_dir, ignore_errors=True)
    (OUT / "fuzz.json").write_text(json.dumps(results, indent=2))
    ok = results.get("server_5xx_in_log") == 0 and all(r["exit_code"] == 0 for r in results["roles"].values())
    print("no 5xx" if ok else "FAILED: see benchmarks/api/results/", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
