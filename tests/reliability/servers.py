"""Throwaway servers for fault tests: a PostgreSQL cluster and the app's web server as real processes.

They never touch the machine's shared PostgreSQL or Redis: each lives in its own temp folder and port.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.test import Client

from labelapp.lib.processes import wait_until
from labelapp.web_server import web_command, web_environment

REPO = Path(__file__).resolve().parents[2]
PG_BIN = Path("/usr/lib/postgresql/15/bin")
CSRF = "a" * 32  # any 32 alphanumerics: Django compares the cookie with the header


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _as_postgres(command: list[str]) -> list[str]:
    """Root may not run PostgreSQL: run its binaries as the ``postgres`` system user."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def postgres_unavailable_reason() -> str | None:
    """Why a throwaway cluster cannot be started here, or ``None``."""
    if not (PG_BIN / "initdb").exists():
        return f"no PostgreSQL binaries in {PG_BIN}"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser"
    return None


@dataclass
class ThrowawayPostgres:
    """A PostgreSQL cluster in a temp folder, on a free port, with fsync off; stop/start it at will."""

    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="rel-pg-")))
    port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def init(self) -> None:
        os.chmod(self.folder, 0o777)
        subprocess.run(
            _as_postgres([str(PG_BIN / "initdb"), "-D", str(self.folder / "data"), "-A", "trust", "-U", "postgres",
                          "--no-sync"]),
            check=True, capture_output=True,
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.folder / "data"), "-o", options,
                          "-l", str(self.folder / "log"), "-w", "start"]),
            check=True, capture_output=True,
        )

    def stop(self) -> None:
        subprocess.run(
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.folder / "data"), "-m", "fast", "-w", "stop"]),
            capture_output=True,
        )

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


@dataclass
class Answer:
    """One HTTP answer of the web server."""

    status: int
    body: bytes
    headers: Message  # case-insensitive, as HTTP header names are (uvicorn sends them in lower case)

    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class WebServer:
    """The app's real web server (:func:`labelapp.web_server.web_command`: uvicorn, ``processes`` of it, in its
    own environment: a database pool per process) as a subprocess, and a tiny HTTP client for it."""

    env: dict[str, str]
    port: int = field(default_factory=free_port)
    processes: int = 1
    process: subprocess.Popen | None = None
    cookies: dict[str, str] = field(default_factory=dict)

    def start(self, timeout: float = 180.0) -> None:
        log = open(Path(self.env["DATA_DIR"]) / f"web-{self.port}.log", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            web_command(host="127.0.0.1", port=self.port, processes=self.processes),
            cwd=REPO, env=web_environment(self.env), stdout=log, stderr=subprocess.STDOUT,
        )
        if not wait_until(self._answers, timeout=timeout, interval=0.3):
            self.stop()
            raise RuntimeError(f"the web server did not answer within {timeout}s")

    def _answers(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"the web server exited with code {self.process.returncode}")
        try:
            return self.request("GET", "/accounts/login/").status == 200
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log_in(self, user: AbstractBaseUser) -> None:
        """A session for ``user`` in the shared database, sent as a cookie from now on."""
        client = Client()
        client.force_login(user)
        self.cookies = {settings.SESSION_COOKIE_NAME: client.cookies[settings.SESSION_COOKIE_NAME].value,
                        settings.CSRF_COOKIE_NAME: CSRF}

    def request(self, method: str, path: str, body: dict | None = None, *, accept: str = "application/json") -> Answer:
        headers = {"Accept": accept, "Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers |= {"Content-Type": "application/json", "X-CSRFToken": CSRF}
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return Answer(response.status, response.read(), response.headers)
        except urllib.error.HTTPError as error:
            return Answer(error.code, error.read(), error.headers)


def run_manage(args: list[str], env: dict[str, str], timeout: float = 300) -> str:
    """Run ``manage.py`` in a subprocess with ``env``; its stdout, or RuntimeError with its stderr."""
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return result.stdout


def poll(predicate, *, timeout: float) -> bool:
    """``wait_until`` with a shorter interval, for answers that come back within a second or two."""
    return wait_until(predicate, timeout=timeout, interval=0.2)

