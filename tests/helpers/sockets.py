"""Websockets opened in-process (Channels' WebsocketCommunicator) the way a browser opens them."""

from __future__ import annotations

from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from labelapp.asgi import application


def socket_for(
    slug: str, client: Client | None, origin: bytes = b"http://testserver", host: bytes = b"testserver"
) -> WebsocketCommunicator:
    """A socket opened the way a browser opens it from a page of ``host``: Origin, Host and the session cookie
    of ``client`` (none: an anonymous visitor)."""
    headers = [(b"origin", origin), (b"host", host)]
    if client is not None:
        cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
        headers.append((b"cookie", cookie.encode()))
    return WebsocketCommunicator(application, f"/ws/p/{slug}/", headers=headers)
