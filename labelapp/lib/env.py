"""Environment parsing that fails loudly: a bad value stops start-up with the variable's name."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from urllib.parse import urlparse

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str) -> str:
    """The variable's value, or ``default`` when it is unset."""
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    """A boolean variable: 1/true/yes/on or 0/false/no/off (any case)."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use 1/0, true/false, yes/no, on/off)")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    """An integer variable, optionally bounded below."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer") from exc
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} must be at least {minimum}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    """A comma-separated list variable."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_url(name: str, default: str, *, schemes: set[str]) -> str:
    """A URL variable whose scheme must be one of ``schemes``."""
    raw = os.environ.get(name) or default
    scheme = urlparse(raw).scheme
    if scheme not in schemes:
        raise ImproperlyConfigured(f"{name}={raw!r}: scheme must be one of {sorted(schemes)}")
    return raw


def data_dir(name: str = "DATA_DIR", default: str = "data") -> Path:
    """The one folder that holds every piece of state (database, sessions, tokens, secrets); created when
    missing, and readable by its owner only (mode 700, also when it already existed)."""
    path = Path(os.environ.get(name) or default).resolve()
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.chmod(0o700)
    except OSError as exc:
        raise ImproperlyConfigured(f"{name}={str(path)!r} cannot be created: {exc}") from exc
    return path


def private_file(path: Path) -> Path:
    """``path`` created empty when missing, and readable by its owner only (mode 600) either way."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    path.chmod(0o600)
    return path


def production_secret_key(name: str = "SECRET_KEY") -> str:
    """The production secret: refused when short or repetitive (the bounds of Django's ``check --deploy``)."""
    value = env_str(name, "")
    if not value:
        raise ImproperlyConfigured(f"{name} must be set when PRODUCTION=1")
    if len(value) < 50 or len(set(value)) < 5 or value.startswith("django-insecure-"):
        raise ImproperlyConfigured(
            f"{name} is too weak for PRODUCTION=1: use at least 50 random characters "
            "(python3 -c 'import secrets; print(secrets.token_urlsafe(60))')")
    return value


def generated_secret(path: Path) -> str:
    """A secret key generated once and kept in ``path`` (mode 600), for the embedded mode only."""
    if path.exists():
        private_file(path)
        return path.read_text().strip()
    value = secrets.token_urlsafe(50)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    return value
