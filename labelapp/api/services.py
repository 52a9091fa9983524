"""Writes of API tokens: make one (the key is returned once), check one on use, revoke one."""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from labelapp.api.models import ApiToken
from labelapp.api.selectors import api_token_by_key, token_digest
from labelapp.lib.users import User

TOUCH_SECONDS = 60  # last_used is written at most once a minute per token (not on every request)


class TokenRefused(Exception):
    """A key that does not authenticate; the message says why (unknown, expired, password changed)."""


def api_token_create(*, user: User, name: str = "") -> tuple[ApiToken, str]:
    """A new token for ``user`` expiring after ``API_TOKEN_TTL_DAYS``; returns it and its key (not stored)."""
    key = secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=name.strip()[:100], digest=token_digest(key), prefix=key[:8],
        password_stamp=user.get_session_auth_hash(),
        expires_at=timezone.now() + timedelta(days=settings.API_TOKEN_TTL_DAYS),
    )
    return token, key


def api_token_authenticate(*, key: str) -> ApiToken:
    """The live token for ``key``, its last use recorded; a dead one is deleted and refused."""
    token = api_token_by_key(key=key)
    if token is None:
        raise TokenRefused("Invalid token.")
    now = timezone.now()
    if token.expires_at <= now:
        token.delete()
        raise TokenRefused("Token expired: get a new one (POST /api/token/ or the API tokens page).")
    if not constant_time_compare(token.password_stamp, token.user.get_session_auth_hash()):
        token.delete()
        raise TokenRefused("Token revoked: the password changed since it was made.")
    if not token.user.is_active:
        raise TokenRefused("User inactive or deleted.")
    if token.last_used is None or (now - token.last_used).total_seconds() >= TOUCH_SECONDS:
        ApiToken.objects.filter(pk=token.pk).update(last_used=now)
        token.last_used = now
    return token


def api_token_revoke(*, user: User, token_id: int) -> bool:
    """Delete one of ``user``'s tokens; False when ``user`` has no such token."""
    deleted, _ = ApiToken.objects.filter(user=user, pk=token_id).delete()
    return deleted > 0
