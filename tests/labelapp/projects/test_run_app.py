"""``make run``'s command: admin account, demo seed, and a real start/stop of Redis, workers and the web server."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from labelapp.images.demo import DEMO_CLASSES, demo_seed
from labelapp.labeling.models import Annotation, Source
from labelapp.lib.processes import Supervisor, descendants
from labelapp.projects.models import Membership, Role
from labelapp.projects.services import admin_account_ensure
from tests.labelapp.images.helpers import demo_pngs, zip_bytes

ROOT = Path(__file__).resolve().parents[3]


def test_generated_admin_password_is_stored_and_printed_again(db, tmp_path):
    file = tmp_path / "admin_password"

    first = admin_account_ensure(username="admin", password=None, password_file=file)
    again = admin_account_ensure(username="admin", password=None, password_file=file)

    assert first.created and not again.created and first.password == again.password
    assert file.read_text() == first.password and file.stat().st_mode & 0o777 == 0o600


def test_admin_password_from_the_environment_wins(db, tmp_path):
    file = tmp_path / "admin_password"
    admin_account_ensure(username="admin", password=None, password_file=file)

    login = admin_account_ensure(username="admin", password="from-env-1234", password_file=file)
    stale = admin_account_ensure(username="admin", password=None, password_file=file)

    assert login.password == "from-env-1234" and stale.password is None  # the stored one no longer works


def test_demo_seed_labels_two_per_class_and_is_idempotent(owner, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    archive = tmp_path / "demo.zip"
    archive.write_bytes(zip_bytes(list(demo_pngs(60))))

    project, seeded = demo_seed(owner=owner, zip_path=archive)
    again, seeded_again = demo_seed(owner=owner, zip_path=archive)

    assert seeded and not seeded_again and again.pk == project.pk
    assert [c.name for c in project.classes.all()] == DEMO_CLASSES
    assert [c.hotkey for c in project.classes.all()] == list("1234567890")
    assert project.images.count() == 60
    per_class = Annotation.objects.filter(project=project, source=Source.HUMAN).values_list("label_class__name", flat=True)
    assert sorted(set(per_class)) == sorted({name.split("/")[0] for name, _ in demo_pngs(60)})
    assert all(list(per_class).count(name) == 2 for name in set(per_class))
    assert Membership.objects.get(project=project).user == owner
    assert Membership.objects.get(project=project).role == Role.OWNER


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]


def test_run_app_serves_the_login_page_and_ctrl_c_stops_every_child(tmp_path):
    port = free_port()
    keep = {"PATH", "HOME", "LANG"}
    environment = {k: v for k, v in os.environ.items() if k in keep} | {
        "DATA_DIR": str(tmp_path / "data"), "PORT": str(port), "SEED_DEMO": "0",
        "ADMIN_USERNAME": "boss", "ADMIN_PASSWORD": "run-app-test-password",
    }
    process = subprocess.Popen([sys.executable, "manage.py", "run_app"], cwd=ROOT, env=environment,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = []
    try:
        for line in process.stdout:
            output.append(line)
            if "labelapp is running at" in line or process.poll() is not None:
                break
        banner = "".join(output)
        assert f"http://127.0.0.1:{port}/" in banner, banner
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=10) as response:
            assert response.status == 200 and b"csrfmiddlewaretoken" in response.read()
        children = descendants(process.pid)
        assert len(children) >= 4  # embedded Redis, two RQ workers, the web server (uvicorn)

        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert "all stopped" in rest
    deadline = time.monotonic() + 10
    while any(alive(child) for child in children) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(alive(child) for child in children)


STUBBORN = """
import signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)
time.sleep(120)
"""


def test_a_child_that_ignores_sigterm_is_killed_with_what_it_started_in_another_session(tmp_path):
    messages = []
    supervisor = Supervisor(say=messages.append)
    child = supervisor.start("stubborn", [sys.executable, "-c", STUBBORN], env=dict(os.environ), cwd=tmp_path)
    time.sleep(1.0)
    (helper,) = descendants(child.process.pid)

    supervisor.stop_all(timeout=1.0)

    assert child.process.poll() is not None
    deadline = time.monotonic() + 5
    while alive(helper) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(helper)
    assert messages[-1] == "stubborn did not stop within 1s; killing it"
