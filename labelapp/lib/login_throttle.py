"""Login throttling: at most ``LOGIN_FAILURE_LIMIT`` password checks per username and *source* within
``LOGIN_LOCKOUT_SECONDS``; further attempts from that source are refused without checking the password.

The attempt is counted **before** the password is checked, with one atomic increment in Django's cache
(``cache.add`` then ``cache.incr``: ``INCRBY`` in the shared Redis cache that every web process uses, or a
lock-protected dict with ``CACHE_URL=locmem://``), so parallel guesses cannot slip past the limit: the sixth of twenty
simultaneous guesses is refused before the hasher runs, whatever the timing. A successful login clears
the count.

The source is the peer address, except for a browser that has logged in as that username before: it
carries a signed *device cookie* (OWASP's "Slow Down Online Guessing Attacks with Device Cookies") and
has a budget of its own. So a stranger who burns the budget of the owner's address (a shared NAT, a
proxy, the same machine) locks out only the untrusted callers from there; the owner's browser still
logs in with the right password, and a stolen-cookie guesser gets no more than the limit either.

The check sits in the authentication backend, so the login page, the admin's login and the API's
``/api/token/`` are all covered; the login page answers 429 with a clear message while locked.
"""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.views import LoginView
from django.core import signing
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

DEVICE_COOKIE = "login_device"
_DEVICE_SALT = "labelapp.login-device"
_DEVICE_MAX_AGE = 365 * 24 * 3600


def _limit() -> int:
    return int(getattr(settings, "LOGIN_FAILURE_LIMIT", 5))


def _window() -> int:
    return int(getattr(settings, "LOGIN_LOCKOUT_SECONDS", 300))


def client_ip(request: HttpRequest | None) -> str:
    """The peer address (``X-Forwarded-For`` is not trusted: a client could send any value)."""
    return (request.META.get("REMOTE_ADDR") or "-") if request is not None else "-"


def _normal(username: str) -> str:
    return username.strip().lower()


def device_cookie_value(*, username: str) -> str:
    """A signed cookie value naming a fresh device id, valid for ``username`` only."""
    return signing.dumps({"u": _normal(username), "d": secrets.token_hex(16)}, salt=_DEVICE_SALT)


def _trusted_device(request: HttpRequest | None, username: str) -> str | None:
    """The device id of a valid device cookie issued to ``username``, or ``None``."""
    raw = request.COOKIES.get(DEVICE_COOKIE) if request is not None else None
    if not raw:
        return None
    try:
        value = signing.loads(raw, salt=_DEVICE_SALT, max_age=_DEVICE_MAX_AGE)
    except signing.BadSignature:
        return None
    if not isinstance(value, dict) or value.get("u") != _normal(username):
        return None
    return str(value.get("d", "")) or None


def login_source(request: HttpRequest | None, username: str) -> str:
    """Whose budget an attempt spends: the trusted device's, else the peer address's."""
    device = _trusted_device(request, username)
    return f"device:{device}" if device else f"ip:{client_ip(request)}"


def _key(username: str, source: str) -> str:
    digest = hashlib.sha256(f"{_normal(username)}\0{source}".encode()).hexdigest()
    return f"login-attempts:{digest}"


def login_attempt_count(*, username: str, source: str) -> int:
    """Count one attempt atomically, before any password check; returns its number in the window
    (which starts at the first attempt)."""
    key = _key(username, source)
    for _ in range(3):
        cache.add(key, 0, timeout=_window())
        try:
            return cache.incr(key)
        except ValueError:  # the window expired between add and incr: start a new one
            continue
    raise RuntimeError("the login attempt counter keeps expiring")


def login_locked(*, username: str, source: str) -> bool:
    """Whether this username has spent its attempts from this source."""
    return int(cache.get(_key(username, source), 0)) >= _limit()


def login_attempts_clear(*, username: str, source: str) -> None:
    """Forget the attempts after a successful login."""
    cache.delete(_key(username, source))


class ThrottledModelBackend(ModelBackend):
    """Django's ``ModelBackend`` with the budget: an attempt over it is refused without checking the password."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        name = username if username is not None else kwargs.get("email", "") or ""
        source = login_source(request, name)
        if login_attempt_count(username=name, source=source) > _limit():
            raise PermissionDenied("too many failed logins")  # stops every backend; the login fails
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is not None:
            login_attempts_clear(username=name, source=source)
        return user


class ThrottledLoginView(LoginView):
    """The login page; while the username and source are locked out it answers 429 with a message.
    A successful login leaves a device cookie, so this browser keeps its own budget next time."""

    def form_valid(self, form) -> HttpResponse:
        response = super().form_valid(form)
        response.set_cookie(
            DEVICE_COOKIE, device_cookie_value(username=form.get_user().get_username()), max_age=_DEVICE_MAX_AGE,
            httponly=True, secure=settings.SESSION_COOKIE_SECURE, samesite="Lax",
        )
        return response

    def form_invalid(self, form) -> HttpResponse:
        name = self.request.POST.get("username", "")
        if login_locked(username=name, source=login_source(self.request, name)):
            context = self.get_context_data(form=form, locked_minutes=max(1, _window() // 60))
            return self.render_to_response(context, status=429)
        return super().form_invalid(form)
