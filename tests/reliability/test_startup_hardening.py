"""Private data folder, production settings refused when weak, and password reset off without mail
(issue 14, item 12)."""

from __future__ import annotations

import runpy
import sqlite3

import pytest
from django.core import mail
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

from tests.reliability.servers import REPO

SETTINGS = str(REPO / "labelapp" / "settings.py")
PRODUCTION_ENV = {
    "PRODUCTION": "1", "SECRET_KEY": "k3Y-pQ" * 10, "DATABASE_URL": "postgres://u:p@db:5432/d",
    "REDIS_URL": "redis://redis:6379/0", "ALLOWED_HOSTS": "labels.example.com", "DEBUG": "0",
}


def settings_with(monkeypatch, **variables: str) -> dict:
    """The settings module evaluated afresh with these environment variables."""
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(SETTINGS)


def mode(path) -> int:
    return path.stat().st_mode & 0o777


def test_it_keeps_the_data_folder_and_its_files_private(tmp_path, monkeypatch):
    data = tmp_path / "data"
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("SECRET_KEY", raising=False)
    loaded = settings_with(monkeypatch, DATA_DIR=str(data), PRODUCTION="0")

    database = data / "db.sqlite3"
    assert loaded["DATABASES"]["default"]["NAME"] == str(database)
    with sqlite3.connect(database) as connection:  # what Django's migrate does to the file, WAL included
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("CREATE TABLE t (x)")
        connection.execute("INSERT INTO t VALUES (1)")
        assert mode(data) == 0o700
        assert {path.name: mode(path) for path in data.iterdir() if path.is_file()} == {
            "secret_key": 0o600, "db.sqlite3": 0o600, "db.sqlite3-wal": 0o600, "db.sqlite3-shm": 0o600}


def test_it_tightens_a_data_folder_and_secret_that_were_readable_by_others(tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    (data / "secret_key").write_text("s" * 60)
    (data / "secret_key").chmod(0o644)
    monkeypatch.delenv("SECRET_KEY", raising=False)
    settings_with(monkeypatch, DATA_DIR=str(data), PRODUCTION="0")
    assert mode(data) == 0o700 and mode(data / "secret_key") == 0o600


@pytest.mark.parametrize(("override", "message"), [
    ({"SECRET_KEY": "short"}, "SECRET_KEY is too weak for PRODUCTION=1"),
    ({"SECRET_KEY": "ab" * 40}, "SECRET_KEY is too weak for PRODUCTION=1"),
    ({"SECRET_KEY": "django-insecure-" + "x1y2z3" * 10}, "SECRET_KEY is too weak for PRODUCTION=1"),
    ({"DEBUG": "1"}, "DEBUG=1 is refused when PRODUCTION=1"),
], ids=["short-secret", "repetitive-secret", "django-insecure-secret", "debug"])
def test_production_refuses_a_weak_secret_and_debug_naming_the_variable(tmp_path, monkeypatch, override, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        settings_with(monkeypatch, DATA_DIR=str(tmp_path), **(PRODUCTION_ENV | override))


def test_production_starts_with_a_long_random_secret(tmp_path, monkeypatch):
    assert settings_with(monkeypatch, DATA_DIR=str(tmp_path), **PRODUCTION_ENV)["SECRET_KEY"] == "k3Y-pQ" * 10


def test_password_reset_says_it_is_off_and_sends_nothing_without_a_mail_server(owner, settings):
    settings.EMAIL_HOST = ""
    page = Client().get("/accounts/password_reset/")
    assert page.status_code == 200 and b"Password reset by email is not available" in page.content
    sent = Client().post("/accounts/password_reset/", {"email": owner.email})
    assert sent.status_code == 200 and b"Password reset by email is not available" in sent.content
    assert mail.outbox == []


def test_password_reset_mails_a_link_when_a_mail_server_is_configured(owner, settings):
    settings.EMAIL_HOST = "smtp.example.com"  # pytest-django's local-memory mail backend stands in for SMTP
    assert b"Password reset by email is not available" not in Client().get("/accounts/password_reset/").content
    assert Client().post("/accounts/password_reset/", {"email": owner.email}).status_code == 302
    assert len(mail.outbox) == 1 and owner.email in mail.outbox[0].to
