"""Helpers shared by tests that walk the whole URL map (outsider isolation, cross-project ids, CSRF)."""

from __future__ import annotations

import re

from django.apps import apps
from django.urls import URLPattern, URLResolver

SKIPPED_PREFIXES = ("admin/", "accounts/", "static/", "media/")
PARAM = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")


def walk(patterns, prefix=""):
    """Every route of the URL map as a template like ``p/<slug:slug>/images/<int:image_id>/file/``."""
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from walk(entry.url_patterns, route)
        elif isinstance(entry, URLPattern):
            yield route


def fill(route: str, values: dict[str, str]) -> str | None:
    """The route with its parameters filled in, or None when it takes an unknown non-numeric parameter."""
    def one(match: re.Match) -> str:
        converter, name = match.group("converter") or "str", match.group("name")
        if name == "slug":
            return values["slug"]
        if converter == "int" or name in {"pk", "id"} or name.endswith("_id"):
            return values["id"]
        if name == "format":
            return "json"
        return values.get(name, "x")
    route = route.lstrip("^").rstrip("$").replace("\\Z", "")
    return "/" + PARAM.sub(one, route)


def snapshot():
    """Every row of every model of the project's apps, as plain values."""
    rows = {}
    for model in apps.get_models():
        if model._meta.app_label in {"projects", "images", "labeling", "training", "exports", "api"}:
            rows[model._meta.label] = sorted(map(repr, model.objects.values()))
    return rows


def signed_in_page(browser, server: str, user, *, viewport: dict | None = None, timeout_ms: int = 60_000):
    """A new Playwright page of ``browser`` carrying ``user``'s session cookie for ``server``."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    context = browser.new_context(**({"viewport": viewport} if viewport else {}))
    context.add_cookies([{
        "name": settings.SESSION_COOKIE_NAME, "value": client.cookies[settings.SESSION_COOKIE_NAME].value, "url": server,
    }])
    page = context.new_page()
    page.set_default_timeout(timeout_ms)
    return page
