"""The API tokens page (``/accounts/tokens/``): the logged-in user's live tokens with their creation, last
use and expiry; make one (its key is shown once) or revoke one. Only the user's own tokens are reachable."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from labelapp.api.selectors import api_tokens_live
from labelapp.api.services import api_token_create, api_token_revoke
from labelapp.lib.users import AuthenticatedHttpRequest


@login_required
@require_http_methods(["GET", "POST"])
def token_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    new_key = None
    if request.method == "POST":
        _, new_key = api_token_create(user=request.user, name=request.POST.get("name", ""))
    return render(request, "api/tokens.html", {
        "tokens": api_tokens_live(user=request.user), "new_key": new_key, "ttl_days": settings.API_TOKEN_TTL_DAYS,
    }, status=201 if new_key else 200)


@login_required
@require_POST
def token_revoke(request: AuthenticatedHttpRequest, token_id: int) -> HttpResponse:
    if not api_token_revoke(user=request.user, token_id=token_id):
        raise Http404("No such token.")
    messages.success(request, "Token revoked: it no longer works.")
    return redirect("tokens")
