"""Reads of API tokens."""

from __future__ import annotations

import hashlib

from django.db.models import QuerySet
from django.utils import timezone

from labelapp.api.models import ApiToken
from labelapp.lib.users import User


def token_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def api_token_by_key(*, key: str) -> ApiToken | None:
    """The token whose key is ``key`` (live or not), with its user."""
    return ApiToken.objects.select_related("user").filter(digest=token_digest(key)).first()


def api_tokens_live(*, user: User) -> QuerySet[ApiToken]:
    """The user's tokens that still work: not expired, made since the last password change."""
    return ApiToken.objects.filter(user=user, expires_at__gt=timezone.now(), password_stamp=user.get_session_auth_hash())
