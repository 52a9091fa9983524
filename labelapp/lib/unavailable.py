"""A clear 503 when the database or Redis is down, instead of a stack trace or a bare 500.

``ServiceUnavailableMiddleware.process_exception`` turns the connection errors of the database
(``django.db.OperationalError``/``InterfaceError``) and of Redis (``redis.ConnectionError``/``TimeoutError``)
raised by a view into a 503 with ``Retry-After`` and a one-line message: JSON for the API and for
scripts, plain text otherwise. The error is logged; the client retries once the service is back.
"""

from __future__ import annotations

import logging

import redis
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5
_REDIS_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
_DATABASE_ERRORS = (OperationalError, InterfaceError)


def unavailable_service(exc: BaseException) -> str | None:
    """``"database"`` or ``"job queue (Redis)"`` when ``exc`` means that service is unreachable, else ``None``."""
    if isinstance(exc, _DATABASE_ERRORS):
        return "database"
    if isinstance(exc, _REDIS_ERRORS):
        return "job queue (Redis)"
    return None


def _wants_json(request: HttpRequest) -> bool:
    return request.path.startswith("/api/") or (
        request.accepts("application/json") and not request.accepts("text/html")
    ) or request.content_type == "application/json"


class ServiceUnavailableMiddleware:
    """Answers 503 with a message when a view fails because the database or Redis is unreachable."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        service = unavailable_service(exception)
        if service is None:
            return None
        logger.error("%s %s: the %s is unavailable: %s", request.method, request.path, service, exception)
        message = f"The {service} is unavailable right now. Try again in a moment."
        if _wants_json(request):
            response: HttpResponse = JsonResponse({"detail": message}, status=503)
        else:
            response = HttpResponse(message, status=503, content_type="text/plain; charset=utf-8")
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        response["Cache-Control"] = "no-store"
        return response
