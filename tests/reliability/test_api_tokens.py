"""API tokens die: revoke, expiry, password change; the user sees and manages them on a page
(issue 14, item 11)."""

from __future__ import annotations

from datetime import timedelta

from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from labelapp.api.models import ApiToken
from tests.helpers.accounts import PASSWORD, logged_in


def token_for(user, name: str = "") -> str:
    response = APIClient().post("/api/token/", {"username": user.username, "password": PASSWORD, "name": name},
                                format="json")
    assert response.status_code == 200, response.content
    return response.json()["token"]


def with_token(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_delete_revokes_the_token_it_is_sent_with(project, owner):
    key, other_key = token_for(owner), token_for(owner)
    client = with_token(key)
    assert client.get("/api/projects/").status_code == 200

    assert client.delete("/api/token/").status_code == 204

    refused = client.get("/api/projects/")
    assert refused.status_code == 401 and refused.json() == {"detail": "Invalid token."}
    assert with_token(other_key).get("/api/projects/").status_code == 200  # only that one is revoked


def test_delete_without_a_token_explains_itself(project, owner_client):
    assert APIClient().delete("/api/token/").status_code == 401
    answer = owner_client.delete("/api/token/")  # a browser session has no token to revoke
    assert answer.status_code == 400 and "Authorization: Token" in answer.json()["detail"]


def test_a_token_expires_after_api_token_ttl_days(project, owner, settings):
    settings.API_TOKEN_TTL_DAYS = 7
    before = timezone.now()
    answer = APIClient().post("/api/token/", {"username": owner.username, "password": PASSWORD}, format="json").json()
    token = ApiToken.objects.get(pk=answer["id"])
    assert timedelta(days=7) <= token.expires_at - before < timedelta(days=7, minutes=1)
    client = with_token(answer["token"])
    assert client.get("/api/projects/").status_code == 200

    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))  # 7 days on

    refused = client.get("/api/projects/")
    assert refused.status_code == 401 and "expired" in refused.json()["detail"]
    assert not ApiToken.objects.filter(pk=token.pk).exists()


def test_a_password_change_on_the_web_page_kills_every_older_token(project, owner):
    keys = [token_for(owner, "a"), token_for(owner, "b")]
    browser = logged_in(owner)
    changed = browser.post("/accounts/password_change/", {
        "old_password": PASSWORD, "new_password1": "a-new-long-passphrase-42", "new_password2": "a-new-long-passphrase-42"})
    assert changed.status_code == 302

    for key in keys:
        refused = with_token(key).get("/api/projects/")
        assert refused.status_code == 401 and "password changed" in refused.json()["detail"]
    assert not ApiToken.objects.filter(user=owner).exists()
    fresh = APIClient().post("/api/token/", {"username": owner.username, "password": "a-new-long-passphrase-42"},
                             format="json")
    assert with_token(fresh.json()["token"]).get("/api/projects/").status_code == 200


def test_a_password_set_by_an_admin_command_kills_older_tokens_too(project, owner):
    key = token_for(owner)
    owner.set_password("set-by-the-admin-77")
    owner.save()
    assert with_token(key).get("/api/projects/").status_code == 401


def test_logging_out_of_the_browser_leaves_tokens_working(project, owner):
    """The choice made: tokens are scripts' credentials, separate from browser sessions (README)."""
    key = token_for(owner)
    browser = logged_in(owner)
    browser.post("/accounts/logout/")
    assert with_token(key).get("/api/projects/").status_code == 200


def test_only_a_digest_of_the_key_is_stored(project, owner):
    key = token_for(owner)
    stored = ApiToken.objects.get(user=owner)
    assert key not in repr(list(ApiToken.objects.values())) and stored.prefix == key[:8]


def test_the_tokens_page_lists_creates_and_revokes_the_users_own_tokens(project, owner, reviewer):
    browser = logged_in(owner)
    assert 'href="/accounts/tokens/"' in browser.get(f"/p/{project.slug}/").content.decode()  # in the navigation
    key = token_for(owner, "nightly import")
    with_token(key).get("/api/projects/")
    page = browser.get("/accounts/tokens/").content.decode()
    assert "nightly import" in page and f"{key[:8]}…" in page and key not in page
    assert "never" not in page  # last use is shown

    made = browser.post("/accounts/tokens/", {"name": "notebook"})
    assert made.status_code == 201
    new = ApiToken.objects.get(user=owner, name="notebook")
    new_key = made.content.decode().split('class="token-key">')[1].split("<")[0]
    assert new.prefix == new_key[:8] and with_token(new_key).get("/api/projects/").status_code == 200

    theirs = ApiToken.objects.get(pk=APIClient().post(
        "/api/token/", {"username": reviewer.username, "password": PASSWORD}, format="json").json()["id"])
    assert browser.post(f"/accounts/tokens/{theirs.pk}/revoke/").status_code == 404  # another user's token
    assert ApiToken.objects.filter(pk=theirs.pk).exists()
    assert "nightly import" not in logged_in(reviewer).get("/accounts/tokens/").content.decode()

    assert browser.post(f"/accounts/tokens/{new.pk}/revoke/").status_code == 302
    assert with_token(new_key).get("/api/projects/").status_code == 401
    assert "notebook" not in browser.get("/accounts/tokens/").content.decode()


def test_the_tokens_page_needs_a_login(db):
    answer = Client().get("/accounts/tokens/")
    assert answer.status_code == 302 and answer["Location"].startswith("/accounts/login/")


def test_the_openapi_schema_stays_valid_and_describes_token_revoke(db, tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml"))
    schema = APIClient().get("/api/schema/?format=json").json()
    assert {"post", "delete"} <= set(schema["paths"]["/api/token/"])
    assert "204" in schema["paths"]["/api/token/"]["delete"]["responses"]
