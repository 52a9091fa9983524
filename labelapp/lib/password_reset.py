"""The password-reset page: Django's reset-by-email form when a mail server is configured (``EMAIL_HOST``),
otherwise a page that says reset by email is off and what to do instead (nothing tries to send)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.views import PasswordResetView
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.shortcuts import render


class MailPasswordResetView(PasswordResetView):
    """``PasswordResetView`` that answers with an explanation, for GET and POST, while mail is off."""

    def dispatch(self, request: HttpRequest, *args, **kwargs) -> HttpResponseBase:
        if not settings.EMAIL_HOST:
            return render(request, "registration/password_reset_off.html")
        return super().dispatch(request, *args, **kwargs)
