"""Login throttling: after ``LOGIN_FAILURE_LIMIT`` failed logins for one username from one IP address
within ``LOGIN_LOCKOUT_SECONDS``, that pair is locked out until the window ends, even with the right
password. Counts live in Django's cache (the default local-memory cache: right for the single web
process of ``make run`` and of the compose file; several web processes would need a shared cache).

The check sits in the authentication backend, so the login page, the admin's login and the API's
``/api/token/`` are all covered; the login page answers 429 with a clear message while locked.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.views import LoginView
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse


def _limit() -> int:
    return int(getattr(settings, "LOGIN_FAILURE_LIMIT", 5))


def _window() -> int:
    return int(getattr(settings, "LOGIN_LOCKOUT_SECONDS", 300))


def client_ip(request: HttpRequest | None) -> str:
    """The peer address (``X-Forwarded-For`` is not trusted: a client could send any value)."""
    return (request.META.get("REMOTE_ADDR") or "-") if request is not None else "-"


def _key(username: str, ip: str) -> str:
    digest = hashlib.sha256(f"{username.strip().lower()}\0{ip}".encode()).hexdigest()
    return f"login-failures:{digest}"


def login_locked(*, username: str, ip: str) -> bool:
    """Whether this username is locked out from this address."""
    return int(cache.get(_key(username, ip), 0)) >= _limit()


def login_failure_record(*, username: str, ip: str) -> int:
    """Count one failed login; returns the count in the current window (which starts at the first failure)."""
    key = _key(username, ip)
    if cache.add(key, 1, timeout=_window()):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=_window())
        return 1


def login_failures_clear(*, username: str, ip: str) -> None:
    """Forget the failures after a successful login."""
    cache.delete(_key(username, ip))


class ThrottledModelBackend(ModelBackend):
    """Django's ``ModelBackend`` with the lockout: a locked pair is refused without checking the password."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        name = username if username is not None else kwargs.get("email", "") or ""
        ip = client_ip(request)
        if login_locked(username=name, ip=ip):
            raise PermissionDenied("too many failed logins")  # stops every backend; the login fails
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            login_failure_record(username=name, ip=ip)
        else:
            login_failures_clear(username=name, ip=ip)
        return user


class ThrottledLoginView(LoginView):
    """The login page; while the username and address are locked out it answers 429 with a message."""

    def form_invalid(self, form) -> HttpResponse:
        if login_locked(username=self.request.POST.get("username", ""), ip=client_ip(self.request)):
            context = self.get_context_data(form=form, locked_minutes=max(1, _window() // 60))
            return self.render_to_response(context, status=429)
        return super().form_invalid(form)
