"""The websocket's same-origin check: the page that opens the socket must come from this very site.

Channels' ``AllowedHostsOriginValidator`` compares only the Origin's host with ``ALLOWED_HOSTS``, so a page
served by another program on another port of the same host (``http://127.0.0.1:9999``) could open the
socket with the user's cookies. Here, like Django's CSRF origin check, the Origin's host *and port* must be
the ones of the ``Host`` header (itself in ``ALLOWED_HOSTS``), or the Origin must be in
``CSRF_TRUSTED_ORIGINS``. A socket without an Origin or Host header is refused.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

DEFAULT_PORTS = {"http": 80, "https": 443}


def _header(scope: dict[str, Any], name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return ""


def _origin(text: str) -> tuple[str, int] | None:
    """``(host, port)`` of an Origin header, the port made explicit; ``None`` when it is not one."""
    try:
        parts = urlsplit(text)
        port = parts.port or DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname or port is None:
        return None
    return parts.hostname.lower(), port


def is_same_origin(origin: str, host: str) -> bool:
    """Whether a socket opened with these Origin and Host headers comes from this site."""
    if origin in settings.CSRF_TRUSTED_ORIGINS:
        return True
    parsed = _origin(origin)
    domain, port = split_domain_port(host)
    if parsed is None or not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return False
    # A Host without a port is the default port of the scheme the page was loaded with (a TLS proxy in front).
    expected_port = int(port) if port else DEFAULT_PORTS[urlsplit(origin).scheme]
    return parsed == (domain.strip("[]"), expected_port)  # urlsplit drops an IPv6 address's brackets


class SameOriginValidator:
    """ASGI middleware: websocket connections whose Origin is not this site are denied before they open."""

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] == "websocket" and not is_same_origin(_header(scope, b"origin"), _header(scope, b"host")):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)
