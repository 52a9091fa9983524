"""How large a request body may be, by route and caller, and the 413 answer for one that is larger.

Three tiers (settings, from the environment): ``MAX_ANONYMOUS_REQUEST_BYTES`` for callers without
credentials (the login form and ``/api/token/`` need a few hundred bytes), ``MAX_REQUEST_BYTES`` for
logged-in users on every route, and ``MAX_UPLOAD_BYTES`` for members who may upload, on the two
upload routes only. Pure functions of the path and the caller's tier: the web server's transport
(:mod:`labelapp.server_limits`) applies them from the headers before any body byte is stored, and
the ASGI middleware (:mod:`labelapp.request_limits`) again with the caller verified.
"""

from __future__ import annotations

import enum
import json
import re

from django.conf import settings

# The browser upload form and the API's image upload (POST /api/projects/<slug>/images/).
UPLOAD_PATH = re.compile(r"^/(?:p/(?P<slug>[-\w]+)/images/upload/|api/projects/(?P<api_slug>[-\w]+)/images/)$")


class Caller(enum.Enum):
    ANONYMOUS = "anonymous"
    USER = "user"
    UPLOADER = "uploader"  # a member allowed to upload into the project the path names


def upload_slug(path: str) -> str | None:
    """The project slug when ``path`` is an upload route, else ``None``."""
    match = UPLOAD_PATH.match(path)
    return (match.group("slug") or match.group("api_slug")) if match else None


def body_limit(*, path: str, caller: Caller) -> int:
    """The most body bytes this caller may send to this path."""
    if caller is Caller.ANONYMOUS:
        return settings.MAX_ANONYMOUS_REQUEST_BYTES
    if caller is Caller.UPLOADER and upload_slug(path) is not None:
        return settings.MAX_UPLOAD_BYTES
    return settings.MAX_REQUEST_BYTES


def _size(n: int) -> str:
    return f"{n / 2**20:.0f} MiB" if n >= 2**20 else f"{n / 2**10:.0f} KiB" if n >= 2**10 else f"{n} bytes"


def too_large_message(*, limit: int, caller: Caller) -> str:
    who = {Caller.ANONYMOUS: "before logging in", Caller.USER: "here",
           Caller.UPLOADER: "to this upload route"}[caller]
    return f"Request body too large: at most {_size(limit)} may be sent {who}."


def too_large_response(*, path: str, limit: int, caller: Caller) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """Headers and body of the 413 answer: JSON for the API, a short text page otherwise."""
    message = too_large_message(limit=limit, caller=caller)
    if path.startswith("/api/"):
        body, content_type = json.dumps({"detail": message}).encode(), b"application/json"
    else:
        body, content_type = message.encode() + b"\n", b"text/plain; charset=utf-8"
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode()),
               (b"connection", b"close")]
    return headers, body
