"""``manage.py run_round`` without a running app: it starts the embedded Redis for its own lifetime, and
with an unreachable REDIS_URL it says in one line what to do (no traceback). Real subprocesses, real Redis."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.conf import settings

from labelapp.lib import embedded_redis
from labelapp.training.models import ModelVersion
from tests.helpers.training import REPO, worker_env

pytestmark = pytest.mark.django_db(transaction=True)


def run_round(slug: str, **env: str) -> subprocess.CompletedProcess:
    environment = worker_env(**env)
    environment.pop("REDIS_URL")
    environment.update({name: value for name, value in env.items() if name == "REDIS_URL"})
    return subprocess.run(
        [sys.executable, "manage.py", "run_round", "--project", slug, "--steps", "2"],
        cwd=REPO, env=environment, capture_output=True, text=True, timeout=300,
    )


def test_run_round_starts_the_embedded_redis_for_its_lifetime_when_no_app_runs(small_project, tmp_path):
    (tmp_path / "media").symlink_to(settings.MEDIA_ROOT)  # a data folder where no `make run` is going
    socket = tmp_path / "redis" / "redis.sock"
    assert not embedded_redis.is_running(socket)
    result = run_round(small_project.slug, DATA_DIR=str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("done v1") and "Traceback" not in result.stderr
    assert ModelVersion.objects.filter(project=small_project, number=1).exists()
    assert not embedded_redis.is_running(socket)  # stopped with the command


def test_run_round_with_an_unreachable_redis_url_says_what_to_do_in_one_line(small_project):
    result = run_round(small_project.slug, REDIS_URL="redis://127.0.0.1:9/0")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "Redis at redis://127.0.0.1:9/0 does not answer" in result.stderr and "unset REDIS_URL" in result.stderr
    assert not ModelVersion.objects.filter(project=small_project).exists()
