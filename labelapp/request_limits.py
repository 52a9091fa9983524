"""ASGI middleware: a request body over its limit (:mod:`labelapp.lib.body_limits`) is refused with 413
before Django reads it, for a declared ``Content-Length`` and for a chunked body as it streams.

The caller is only looked up (session cookie or API token, then the upload role in the project the
path names) when the body is larger than the anonymous limit, so ordinary requests cost nothing.
Under daphne the transport refuses first, from the headers (:mod:`labelapp.server_limits`); this layer
verifies the credentials and holds for any ASGI server.
"""

from __future__ import annotations

from importlib import import_module

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import get_user
from django.http import HttpRequest
from django.http.cookie import parse_cookie

from labelapp.api.services import TokenRefused, api_token_authenticate
from labelapp.images.views import UPLOAD_ROLE
from labelapp.lib.body_limits import Caller, body_limit, too_large_response, upload_slug
from labelapp.projects.models import Project
from labelapp.projects.selectors import has_role


def _header(scope: dict, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return ""


def _user(scope: dict):
    """The user of the request's session cookie or API token, or ``None``."""
    authorization = _header(scope, b"authorization").split()
    if len(authorization) == 2 and authorization[0] == "Token":
        try:
            return api_token_authenticate(key=authorization[1]).user
        except TokenRefused:
            return None
    session_key = parse_cookie(_header(scope, b"cookie")).get(settings.SESSION_COOKIE_NAME)
    if not session_key:
        return None
    request = HttpRequest()
    request.session = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    user = get_user(request)  # checks the session's password hash, as AuthenticationMiddleware does
    return user if user.is_authenticated else None


def verified_caller(scope: dict) -> Caller:
    """The caller's tier, credentials checked against the database."""
    user = _user(scope)
    if user is None:
        return Caller.ANONYMOUS
    slug = upload_slug(scope["path"])
    project = Project.objects.filter(slug=slug).first() if slug else None
    return Caller.UPLOADER if project is not None and has_role(user, project, UPLOAD_ROLE) else Caller.USER


class RequestBodyLimit:
    """Wraps the Django ASGI application; websockets and lifespan pass through untouched."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path, caller, limit = scope["path"], Caller.ANONYMOUS, settings.MAX_ANONYMOUS_REQUEST_BYTES

        async def widen() -> None:  # past the anonymous limit: find out who is asking
            nonlocal caller, limit
            caller = await sync_to_async(verified_caller)(scope)
            limit = body_limit(path=path, caller=caller)

        declared = _header(scope, b"content-length")
        if declared.isdigit() and int(declared) > limit:
            await widen()
            if int(declared) > limit:
                return await self._refuse(send, path, limit, caller)

        received, over, started = 0, False, False

        async def capped_receive():
            nonlocal received, over
            message = await receive()
            if message["type"] == "http.request" and not over:
                received += len(message.get("body", b""))
                if received > limit and caller is Caller.ANONYMOUS:
                    await widen()
                if received > limit:
                    over = True
                    return {"type": "http.disconnect"}  # Django stops reading and answers nothing
            return message

        async def watched_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, capped_receive, watched_send)
        if over and not started:
            await self._refuse(send, path, limit, caller)

    @staticmethod
    async def _refuse(send, path: str, limit: int, caller: Caller) -> None:
        headers, body = too_large_response(path=path, limit=limit, caller=caller)
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})
