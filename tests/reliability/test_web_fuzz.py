"""Hypothesis-generated query strings and bodies against every web route (pages, forms, the pages' JSON
endpoints; the REST API is fuzzed by schemathesis in ``benchmarks/api/fuzz.py``), as each role of the cast
and anonymously: no response is a 5xx and no request raises. Bounded to a few seconds here; the larger run
is ``benchmarks/web/fuzz.py`` (figures in benchmarks/RESULTS.md)."""

from __future__ import annotations

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labelapp.labeling.models import Annotation, Source
from labelapp.projects.models import Membership
from tests.labelapp.labeling.helpers import add_images, add_version
from tests.reliability.web_fuzz import ROLES, routes_and_methods, send, web_requests

pytestmark = pytest.mark.django_db

EXAMPLES = 50  # per role; benchmarks/web/fuzz.py runs thousands


@pytest.fixture
def fuzzed_project(project, other_project, owner):
    """``clothes`` with 6 images, 2 human labels and a current version; ``elsewhere`` belongs to the outsider."""
    images = add_images(project, 6)
    for image in images[:2]:
        Annotation.objects.create(project=project, image=image, label_class=project.classes.first(),
                                  source=Source.HUMAN, annotator=owner)
    add_version(project, {image: (i % 3, 0.99 if i % 2 else 0.6) for i, image in enumerate(images)})
    ids = [image.pk for image in images] + list(Membership.objects.values_list("pk", flat=True))
    owner_client = Client()
    owner_client.force_login(owner)
    return routes_and_methods(owner_client, slug=project.slug, some_id=images[0].pk), [project.slug, other_project.slug], ids


@pytest.mark.parametrize("role", ROLES)
def test_no_generated_web_request_gets_a_server_error(role, fuzzed_project, request):
    pairs, slugs, ids = fuzzed_project
    user = None if role == "anonymous" else request.getfixturevalue(role)

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(st.data())
    def fuzz(data):
        web_request = data.draw(web_requests(pairs=pairs, slugs=slugs, ids=ids))
        client = Client()
        if user is not None:
            client.force_login(user)  # afresh: a generated POST to accounts/logout/ must not log the next one out
        status = send(client, web_request)
        assert status < 500, (web_request, status)

    fuzz()
