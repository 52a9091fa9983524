"""An outsider gets 404 for every page and API id of a project that is not theirs, and nothing changes.

The URL map is walked, so pages and endpoints added later by any app are covered too.
"""

from __future__ import annotations

from django.urls import get_resolver

from labelapp.images.services import image_add
from labelapp.labeling.models import Annotation
from tests.helpers import SKIPPED_PREFIXES, fill, snapshot, walk
from tests.labelapp.images.helpers import demo_pngs


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
