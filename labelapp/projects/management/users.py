"""Shared by the management commands: a ``--owner``/``--user`` option turned into a user."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from labelapp.lib.users import User


def user_option(username: str | None) -> User | None:
    """The user named ``username`` (None when no name is given); a CommandError when there is none."""
    if not username:
        return None
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise CommandError(f"no user named {username!r}")
    return user
