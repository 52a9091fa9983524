"""``manage.py run_app`` (what ``make run`` calls): everything a newcomer needs, in one process tree.

Collects static files, migrates, makes sure an admin exists, seeds the demo project, then starts
the embedded Redis (unless REDIS_URL is set), two RQ workers (training, at a lower CPU priority; default) and the
ASGI server (uvicorn with ``WEB_PROCESSES`` processes, :mod:`labelapp.web_server`), prints the URL
and supervises them: Ctrl+C (or SIGTERM) stops all of them, and if one dies the rest are stopped.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from labelapp.lib import embedded_redis, env
from labelapp.lib.processes import Supervisor, wait_until
from labelapp.projects.services import AdminLogin, admin_account_ensure
from labelapp.training.worker import WORKER_CLASS
from labelapp.web_server import web_command, web_environment, web_processes

STARTUP_TIMEOUT = 180.0


def _stop_on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


class Command(BaseCommand):
    help = "Run the whole app locally: migrate, admin, demo project, embedded Redis, two RQ workers, the web server."

    def say(self, message: str) -> None:
        self.stdout.write(f"[run_app] {message}")
        self.stdout.flush()

    def handle(self, *args, **options) -> None:
        host = env.env_str("HOST", "127.0.0.1")
        port = env.env_int("PORT", 8000, minimum=1)
        if not _port_is_free(host, port):
            raise CommandError(f"port {port} on {host} is already in use: stop what uses it or set PORT=another")
        if settings.EMBEDDED_REDIS and embedded_redis.is_running(settings.REDIS_SOCKET):
            raise CommandError(
                f"an embedded Redis already answers on {settings.REDIS_SOCKET}: is another `make run` "
                f"using DATA_DIR={settings.DATA_DIR}? Stop it first."
            )
        self.say(f"data folder: {settings.DATA_DIR}")
        self.say("collecting static files")
        call_command("collectstatic", interactive=False, verbosity=0)
        self.say(f"migrating the database ({settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]})")
        call_command("migrate", interactive=False, verbosity=0)
        login = admin_account_ensure(
            username=env.env_str("ADMIN_USERNAME", "") or "admin",
            password=env.env_str("ADMIN_PASSWORD", "") or None,
            password_file=settings.DATA_DIR / "admin_password",
        )
        signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started in the background
        signal.signal(signal.SIGTERM, _stop_on_sigterm)
        supervisor = Supervisor(say=self.say)
        try:
            # Redis before the seed: seeding publishes events and clears cached counts, which would
            # otherwise retry an absent socket (half a minute) and log a warning per image.
            self._start_redis(supervisor)
            if env.env_bool("SEED_DEMO", True):
                try:
                    self._seed_demo(login)
                except KeyboardInterrupt:
                    raise CommandError("stopped while seeding the demo project; the next start completes it") from None
            self._start(supervisor, host, port)
            self._banner(host, port, login)
            while (dead := supervisor.dead()) is None:
                time.sleep(0.5)
            supervisor.children.remove(dead)
            self.say(f"{dead.name} exited with code {dead.process.returncode}; stopping the others")
            raise CommandError(f"{dead.name} stopped unexpectedly (see its output above)")
        except KeyboardInterrupt:
            self.say("stopping (Ctrl+C)")
        finally:
            supervisor.stop_all()
            self.say("all stopped")

    def _seed_demo(self, login: AdminLogin) -> None:
        """The images app's ``seed_demo`` command, owned by the admin account (called by name: projects
        sits below images)."""
        call_command("seed_demo", owner=login.username, stdout=self.stdout)

    def _start_redis(self, supervisor: Supervisor) -> None:
        if settings.EMBEDDED_REDIS:
            self.say(f"starting the embedded Redis on {settings.REDIS_SOCKET}")
            supervisor.adopt("redis", embedded_redis.start(settings.REDIS_SOCKET, die_with_parent=True))

    def _start(self, supervisor: Supervisor, host: str, port: int) -> None:
        base_dir = Path(settings.BASE_DIR)
        child_env = os.environ | {
            "DATA_DIR": str(settings.DATA_DIR),
            "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "labelapp.settings"),
            "PYTHONUNBUFFERED": "1",
        }
        # Training rounds run in a non-forking worker, so the model and image cache stay warm between
        # rounds (and CUDA is never re-initialised in a fork); other jobs get a worker of their own,
        # since a project in continuous training keeps the training queue busy.
        # The trainer also yields the CPU to the web (lower priority, a core left free: labelapp.training.worker).
        self.say(f"starting the RQ workers (training: warm, non-forking, nice {settings.TRAINING_NICE}, "
                 f"{settings.TRAINING_TORCH_THREADS} torch threads; default)")
        workers = {"trainer": ["training", "--worker-class", WORKER_CLASS], "worker": ["default"]}
        for name, arguments in workers.items():
            supervisor.start(name, [sys.executable, "manage.py", "rqworker", *arguments], env=child_env, cwd=base_dir)
        processes = web_processes()
        self.say(f"starting the web server (uvicorn, {processes} processes) on {host}:{port}")
        supervisor.start("web", web_command(host=host, port=port, processes=processes), env=web_environment(child_env),
                         cwd=base_dir)
        probe = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}/accounts/login/"
        ready = wait_until(lambda: supervisor.dead() is not None or _answers(probe), timeout=STARTUP_TIMEOUT)
        dead = supervisor.dead()
        if dead is not None:
            raise CommandError(f"{dead.name} exited during start-up with code {dead.process.returncode}")
        if not ready:
            raise CommandError(f"the web server did not answer on {probe} within {STARTUP_TIMEOUT:.0f}s")

    def _banner(self, host: str, port: int, login: AdminLogin) -> None:
        shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        if login.password is None:
            password = f"(set earlier; change it with `.venv/bin/python manage.py changepassword {login.username}`)"
        else:
            password = login.password
        lines = [
            "",
            f"  labelapp is running at  http://{shown_host}:{port}/",
            f"  log in as  {login.username}  /  {password}",
            "  Ctrl+C stops the web server, the workers and Redis.",
            "",
        ]
        self.stdout.write("\n".join(lines))
        self.stdout.flush()
