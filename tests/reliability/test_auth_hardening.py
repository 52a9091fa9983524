"""CSRF on every form and session-authenticated write, login lockout, production cookie/HSTS settings,
and no secret in the repository."""

from __future__ import annotations

import json
import re
import runpy
import subprocess

import pytest
from django.test import Client
from django.urls import get_resolver, reverse

from labelapp.images.services import image_add
from labelapp.labeling.models import Annotation
from labelapp.projects.models import Project
from tests.helpers import fill, snapshot, walk
from tests.helpers.accounts import PASSWORD
from tests.labelapp.images.helpers import demo_pngs
from tests.reliability.servers import REPO

# ---- CSRF -----------------------------------------------------------------------------------------


def csrf_client(user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def every_route_filled(project: Project, image_id: int, membership_id: int) -> list[str]:
    """Every URL of the app (admin and static left out), filled with real ids of ``project``."""
    urls = []
    for route in walk(get_resolver().url_patterns):
        if route.startswith(("admin/", "static/", "media/")):
            continue
        some_id = str(membership_id) if "membership" in route else str(image_id)
        urls.append(fill(route, {"slug": project.slug, "id": some_id}))
    return urls


def test_every_post_of_a_logged_in_session_without_the_csrf_token_is_403_and_changes_nothing(project, owner):
    image, _ = image_add(project=project, name="a.png", data=demo_pngs(1)[0][1])
    urls = every_route_filled(project, image.pk, project.memberships.first().pk)
    assert any(u.startswith("/api/") for u in urls) and any("/label/submit/" in u for u in urls)
    client = csrf_client(owner)
    before = snapshot()

    answers = {}
    for url in urls:
        for body, content_type in (({"image": image.pk, "class_index": 0}, "application/json"),
                                   ({"name": "x", "slug": "x", "classes": "a\nb", "username": "x"}, None)):
            if content_type:
                response = client.post(url, json.dumps(body), content_type=content_type)
            else:
                response = client.post(url, body)
            if response.status_code != 403:
                answers[url] = response.status_code

    assert answers == {}
    assert snapshot() == before


def test_the_same_writes_with_the_token_go_through(project, owner):
    """The control for the test above: with the CSRF token the session's writes are accepted."""
    image, _ = image_add(project=project, name="a.png", data=demo_pngs(1)[0][1])
    client = csrf_client(owner)
    client.get(reverse("projects:detail", args=[project.slug]))
    token = client.cookies["csrftoken"].value
    response = client.post(f"/p/{project.slug}/label/submit/", json.dumps({"image": image.pk, "class_index": 0}),
                           content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200
    response = client.post(f"/api/projects/{project.slug}/annotations/", {"image": image.pk, "class_index": 1,
                           "expected_revision": 1}, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200, response.content
    assert Annotation.objects.get(image=image).label_class.index == 1


def test_login_and_logout_forms_need_the_csrf_token(owner):
    client = Client(enforce_csrf_checks=True)
    assert client.post("/accounts/login/", {"username": owner.username, "password": PASSWORD}).status_code == 403
    client.force_login(owner)
    assert client.post("/accounts/logout/").status_code == 403


def test_every_page_form_carries_the_csrf_token(project, owner_client):
    pages = ["/accounts/login/", "/new/", f"/p/{project.slug}/settings/", f"/p/{project.slug}/classes/",
             f"/p/{project.slug}/members/", f"/p/{project.slug}/", f"/p/{project.slug}/images/upload/"]
    for page in pages:
        html = (owner_client if page != "/accounts/login/" else Client()).get(page).content.decode()
        forms = re.findall(r"<form\b[^>]*method=\"post\"[^>]*>.*?</form>", html, flags=re.S | re.I)
        for form in forms:
            assert "csrfmiddlewaretoken" in form, (page, form[:200])


# ---- login lockout --------------------------------------------------------------------------------


def log_in(client: Client, username: str, password: str, ip: str = "10.0.0.1"):
    return client.post("/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=ip)


def test_five_failed_logins_lock_the_username_from_that_address_even_with_the_right_password(owner, settings):
    settings.LOGIN_FAILURE_LIMIT = 5
    client = Client()
    for _ in range(4):
        assert log_in(client, owner.username, "wrong").status_code == 200
    locked = log_in(client, owner.username, "wrong")
    assert locked.status_code == 429 and b"Too many failed logins" in locked.content
    right = log_in(client, owner.username, PASSWORD)
    assert right.status_code == 429 and "_auth_user_id" not in client.session

    assert log_in(Client(), owner.username, PASSWORD, ip="10.0.0.2").status_code == 302  # another address
    token = Client().post("/api/token/", {"username": owner.username, "password": PASSWORD}, REMOTE_ADDR="10.0.0.1")
    assert token.status_code == 400 and "token" not in token.json()  # the API's token login is locked too


def test_a_successful_login_clears_the_count(owner, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    client = Client()
    for _ in range(2):
        log_in(client, owner.username, "wrong")
    assert log_in(client, owner.username, PASSWORD).status_code == 302
    for _ in range(2):
        assert log_in(Client(), owner.username, "wrong").status_code == 200


def test_the_lockout_ends_after_its_window(owner, settings):
    from django.core.cache import cache

    settings.LOGIN_FAILURE_LIMIT = 1
    assert log_in(Client(), owner.username, "wrong").status_code == 429
    cache.clear()  # what the window's expiry does (the count's cache timeout is LOGIN_LOCKOUT_SECONDS)
    assert log_in(Client(), owner.username, PASSWORD).status_code == 302


# ---- production settings and secrets ----------------------------------------------------------------


PRODUCTION_ENV = {
    "PRODUCTION": "1", "SECRET_KEY": "x1-y2_z3" * 8, "DATABASE_URL": "postgres://u:p@db:5432/d",
    "REDIS_URL": "redis://redis:6379/0", "ALLOWED_HOSTS": "labels.example.com",
}


def test_production_mode_has_secure_cookies_hsts_and_https_redirect(tmp_path, monkeypatch):
    """The settings module evaluated afresh with the production environment (``check --deploy`` with it
    is tests/test_smoke_setup.py's)."""
    for name, value in PRODUCTION_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    production = runpy.run_path(str(REPO / "labelapp" / "settings.py"))
    values = {name: production.get(name) for name in (
        "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SESSION_COOKIE_HTTPONLY", "SECURE_HSTS_SECONDS",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_SSL_REDIRECT", "SECURE_CONTENT_TYPE_NOSNIFF", "X_FRAME_OPTIONS",
        "DEBUG", "SECRET_KEY")}
    assert values == {
        "SESSION_COOKIE_SECURE": True, "CSRF_COOKIE_SECURE": True, "SESSION_COOKIE_HTTPONLY": True,
        "SECURE_HSTS_SECONDS": 31_536_000, "SECURE_HSTS_INCLUDE_SUBDOMAINS": True, "SECURE_SSL_REDIRECT": True,
        "SECURE_CONTENT_TYPE_NOSNIFF": True, "X_FRAME_OPTIONS": "DENY", "DEBUG": False, "SECRET_KEY": "x1-y2_z3" * 8,
    }
    assert not (tmp_path / "secret_key").exists()  # production never falls back to a generated key


SECRET_PATTERNS = {
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "AWS access key": re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36}\b"),
    "Slack token": re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),
    "hard-coded SECRET_KEY": re.compile(r"""^\s*SECRET_KEY\s*[:=]\s*["'][^"'$]{8,}["']""", re.M),
    "hard-coded password in a URL": re.compile(r"://[A-Za-z0-9_.-]+:(?!\$\{)[^@/\s${}]{12,}@"),
}


def test_no_secret_is_committed():
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    names = [name for name in tracked.decode().split("\0") if name]
    assert names, "git ls-files listed nothing"
    assert not [n for n in names if re.search(r"(^|/)(\.env|secret_key|admin_password|id_rsa|.*\.pem|.*\.key)$", n)]
    found = []
    for name in names:
        path = REPO / name
        if not path.is_file() or path.stat().st_size > 2_000_000:
            continue
        text = path.read_bytes().decode("utf-8", errors="ignore")
        found += [f"{name}: {what}" for what, pattern in SECRET_PATTERNS.items() if pattern.search(text)]
    assert found == []


# Samples built by concatenation, so that this committed file does not itself match the patterns.
@pytest.mark.parametrize("text", [
    "-----BEGIN RSA " + "PRIVATE KEY-----", "SECRET_KEY = " + '"django-insecure-abcdefghijk"', "AKIA" + "ABCDEFGHIJKLMNOP",
    "postgres://admin:" + "hunter2hunter2@db/x", "gh" + "p_" + "a" * 36,
])
def test_the_secret_patterns_catch_what_they_look_for(text):
    assert any(pattern.search(text) for pattern in SECRET_PATTERNS.values())


def test_a_session_with_a_csrf_cookie_but_no_token_is_403_even_with_a_body_the_api_cannot_parse(project, owner):
    client = csrf_client(owner)
    client.get(reverse("projects:detail", args=[project.slug]))  # a browser that has seen a page has the cookie
    assert "csrftoken" in client.cookies
    before = snapshot()
    upload = client.post(f"/api/projects/{project.slug}/images/", json.dumps({"file": "x"}), content_type="application/json")
    export = client.post(f"/api/projects/{project.slug}/exports/model/", {"format": "onnx"})
    assert (upload.status_code, export.status_code) == (403, 403)  # not 415 / 400 from parsing first
    assert "CSRF" in upload.json()["detail"]
    assert snapshot() == before
