"""An outsider gets 404 for every page and API id of a project that is not theirs, and nothing changes.

The URL map is walked, so pages and endpoints added later by any app are covered too.
"""

from __future__ import annotations

import re

from django.apps import apps
from django.urls import URLPattern, URLResolver, get_resolver

from labelapp.images.services import image_add
from labelapp.labeling.models import Annotation
from tests.labelapp.images.helpers import demo_pngs

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


def test_outsider_gets_404_for_every_project_page_and_api_id_and_nothing_changes(project, outsider_client):
    image, _ = image_add(project=project, name="a.png", data=demo_pngs(1)[0][1])
    Annotation.objects.create(project=project, image=image, label_class=project.classes.first())
    ids = {image.pk, project.pk, *project.classes.values_list("pk", flat=True),
           *project.memberships.values_list("pk", flat=True)}
    routes = [r for r in walk(get_resolver().url_patterns) if "<" in r and not r.startswith(SKIPPED_PREFIXES)]
    assert any("images/" in r for r in routes) and any(r.startswith("p/") for r in routes)
    before = snapshot()

    answers = {}
    for route in routes:
        for some_id in sorted(ids):
            url = fill(route, {"slug": project.slug, "id": str(some_id)})
            for method in ("get", "post", "put", "patch", "delete"):
                status = getattr(outsider_client, method)(url).status_code
                if status not in (404, 405):
                    answers[f"{method.upper()} {url}"] = status

    assert answers == {}
    assert snapshot() == before
