"""API tokens: several per user, each with a name, an expiry and a last-use time.

Only a SHA-256 digest of the key is stored (the key is shown once, when it is made), so a copy of the
database does not hand out working tokens. A token also records the user's session hash
(``get_session_auth_hash``, an HMAC of the password hash) when it was made: a password change, by any
path (settings page, admin, ``manage.py changepassword``), makes every older token fail, the way Django
ends the sessions of that user.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ApiToken(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True)
    digest = models.CharField(max_length=64, unique=True)  # sha256 hex of the key
    prefix = models.CharField(max_length=8)  # the key's first characters, to tell tokens apart on the page
    password_stamp = models.CharField(max_length=128)  # the user's session hash when the token was made
    created = models.DateTimeField(auto_now_add=True)
    last_used = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField()

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"
