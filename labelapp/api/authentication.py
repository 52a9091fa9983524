"""``Authorization: Token <key>`` against :class:`labelapp.api.models.ApiToken` (expiry, revocation,
password change), in place of DRF's never-expiring one-token-per-user model."""

from __future__ import annotations

from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

from labelapp.api.services import TokenRefused, api_token_authenticate


class ExpiringTokenAuthentication(TokenAuthentication):
    """DRF's token header and 401 challenge (``WWW-Authenticate: Token``); the key is checked by the service."""

    def authenticate_credentials(self, key: str):
        try:
            token = api_token_authenticate(key=key)
        except TokenRefused as exc:
            raise AuthenticationFailed(str(exc)) from exc
        return token.user, token
