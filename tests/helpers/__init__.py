"""Helpers shared by tests that walk the whole URL map (outsider isolation, cross-project ids, CSRF), sign in a
browser page, or post the classes formset; more in the modules beside this one (accounts, training, browser,
sockets)."""

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


def classes_post(project, rows, extra_blank=3):
    """The classes formset as the browser posts it: ``rows`` are (pk or "", name, hotkey, delete)."""
    data = {"form-TOTAL_FORMS": str(len(rows) + extra_blank), "form-INITIAL_FORMS": str(sum(1 for r in rows if r[0])),
            "form-MIN_NUM_FORMS": "0", "form-MAX_NUM_FORMS": "1000"}
    for i, (pk, name, hotkey, delete) in enumerate(rows):
        data |= {f"form-{i}-pk": pk, f"form-{i}-name": name, f"form-{i}-hotkey": hotkey}
        if delete:
            data[f"form-{i}-DELETE"] = "on"
    return data
