"""The project boots: settings from the environment (bad values fail loudly), deploy checks, scoped
project pages, and a docker-compose file that parses."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse

from labelapp.lib import env

ROOT = Path(__file__).resolve().parent.parent


def test_outsider_gets_404_for_a_project_page(project, outsider_client):
    assert outsider_client.get(reverse("projects:detail", args=[project.slug])).status_code == 404


def test_member_sees_the_project_page(project, annotator_client):
    assert annotator_client.get(reverse("projects:detail", args=[project.slug])).status_code == 200


def test_anonymous_visitor_is_sent_to_login(client, project):
    response = client.get(reverse("projects:detail", args=[project.slug]))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def manage(args: list[str], tmp_path: Path, **overrides: str) -> subprocess.CompletedProcess:
    """Run ``manage.py`` in a fresh process with a clean environment plus ``overrides``."""
    keep = {"PATH", "HOME", "LANG", "SYSTEMROOT"}
    environment = {k: v for k, v in os.environ.items() if k in keep}
    environment |= {"DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(ROOT)} | overrides
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=environment,
                          capture_output=True, text=True, timeout=120)


PRODUCTION_ENV = {
    "PRODUCTION": "1",
    "SECRET_KEY": secrets.token_urlsafe(60),
    "DATABASE_URL": "postgres://labelapp:secret@db:5432/labelapp",
    "REDIS_URL": "redis://redis:6379/0",
    "ALLOWED_HOSTS": "labels.example.com",
}


def test_deploy_checks_pass_with_production_settings(tmp_path):
    result = manage(["check", "--deploy", "--fail-level", "WARNING"], tmp_path, **PRODUCTION_ENV)

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"DATABASE_URL": "mysql://db/x"}, "DATABASE_URL='mysql://db/x': scheme must be one of"),
        ({"REDIS_URL": "http://localhost:6379"}, "REDIS_URL='http://localhost:6379': scheme must be one of"),
        ({"DEBUG": "maybe"}, "DEBUG='maybe' is not a boolean"),
        ({"MAX_IMAGE_PIXELS": "lots"}, "MAX_IMAGE_PIXELS='lots' is not an integer"),
        ({"PRODUCTION": "1", "DATABASE_URL": "postgres://db/x", "REDIS_URL": "redis://r"},
         "SECRET_KEY must be set when PRODUCTION=1"),
    ],
    ids=["database-scheme", "redis-scheme", "debug-flag", "pixel-limit", "production-without-secret"],
)
def test_a_bad_setting_stops_start_up_with_its_name(tmp_path, overrides, message):
    result = manage(["check"], tmp_path, **overrides)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and message in result.stderr


def test_embedded_mode_generates_the_secret_once_in_the_data_folder(tmp_path):
    path = tmp_path / "secret_key"

    first, second = env.generated_secret(path), env.generated_secret(path)

    assert first == second and len(first) >= 50
    assert path.stat().st_mode & 0o777 == 0o600


def test_an_integer_below_its_minimum_is_refused(monkeypatch):
    monkeypatch.setenv("TRAINING_JOB_TIMEOUT", "5")
    with pytest.raises(ImproperlyConfigured, match="TRAINING_JOB_TIMEOUT=5 must be at least 60"):
        env.env_int("TRAINING_JOB_TIMEOUT", 1800, minimum=60)


def test_docker_compose_parses_and_declares_the_production_services():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())

    services = compose["services"]
    assert {"web", "worker", "redis", "db"} <= services.keys()
    assert services["worker"]["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
    assert {"media", "checkpoints", "pgdata"} <= compose["volumes"].keys()
    for name in ("web", "worker"):
        environment = services[name]["environment"]
        assert environment["PRODUCTION"] == "1" and environment["DATABASE_URL"].startswith("postgres://")
