"""The user type the app's code is annotated with, and the request type of the views behind log-in.

Settings leave ``AUTH_USER_MODEL`` at Django's default, so the user model is ``django.contrib.auth.models.User``:
the class django-stubs resolves the models' ``ForeignKey(settings.AUTH_USER_MODEL)`` and ``get_user_model()``
to. Services take this ``User`` (not ``AbstractBaseUser``, which has neither ``username`` nor the fields the
foreign keys expect); views behind ``login_required`` take ``AuthenticatedHttpRequest``, the pattern the
django-stubs README gives for "a HttpRequest that's guaranteed to have an authenticated user".
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.http import HttpRequest

__all__ = ["AuthenticatedHttpRequest", "User"]


class AuthenticatedHttpRequest(HttpRequest):
    """An annotation only (Django still builds its own request objects): the request of a view that
    ``login_required`` guards, whose ``user`` is therefore a ``User``, never ``AnonymousUser``."""

    user: User
