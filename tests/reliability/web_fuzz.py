"""Hypothesis strategies for fuzzing the web side of the app (pages, forms and the pages' JSON endpoints),
which schemathesis cannot see: it has no schema. Shared by ``test_web_fuzz.py`` (bounded, in the suite) and
``benchmarks/web/fuzz.py`` (the larger run).

Every route of the URL map is walked from ``get_resolver()`` (so a route added later is fuzzed without
editing this file), apart from the REST API (fuzzed by schemathesis from its schema) and Django's admin.
Path parameters get the cast's project or another one and real or absurd ids; query strings and bodies
get the parameter names the app reads with numbers, infinities, non-ASCII digits, cursors and junk; bodies
go as JSON (``json.dumps`` writes ``Infinity`` and ``NaN``), raw bytes, a form or multipart.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from urllib.parse import urlencode

from django.test import Client
from django.urls import get_resolver
from hypothesis import strategies as st

from tests.helpers import fill, walk

ROLES = ("owner", "reviewer", "annotator", "outsider", "anonymous")
SKIPPED = ("api/", "admin/", "static/", "media/")
METHODS = ("get", "post", "put", "patch", "delete")
KEYS = ("image", "images", "accept", "reject", "held", "version", "class_index", "expected_revision", "queue",
        "after", "before", "class", "show", "format", "include_pseudo", "include_predictions", "name", "role",
        "username", "password", "labels_from_folders", "threshold", "image_size", "classes", "files", "next")
ODD_NUMBERS = (math.inf, -math.inf, math.nan, 10**30, -(10**30), 2**63, 2**31, -1, 0, 1.5, 1e308)
LIST_KEYS = {"images", "accept", "reject", "held", "classes", "files"}
QUERY_KEYS = ("after", "before", "class", "show", "format", "include_pseudo", "include_predictions", "version",
              "queue", "next", "page", "q")
ODD_TEXT = ("Infinity", "-Infinity", "NaN", "1e400", "1" + "0" * 30, "-1", "0", "\u0661\u0662", "\u00b2", "\uff11",
            "1:0.5:1", "0:inf:1", "0.99:1", "nan:1", "label", "low_confidence", "csv", "onnx", "true", "1.5", "",
            "\x00", "../../etc/passwd", "<script>", "owner", "a" * 300)


@dataclass(frozen=True)
class WebRequest:
    route: str  # the URL map's template, e.g. ``p/<slug:slug>/label/submit/``
    method: str
    url: str
    content_type: str | None  # None: a form (Django's test client encodes it as multipart)
    data: object


def web_routes() -> list[str]:
    return [route for route in walk(get_resolver().url_patterns) if not route.startswith(SKIPPED)]


def routes_and_methods(client: Client, *, slug: str, some_id: int) -> list[tuple[str, str]]:
    """Each web route with each method its view takes, read from the ``Allow`` header of an OPTIONS request
    (Django's ``require_http_methods`` answers 405 with it; class-based views answer 200 with it) as ``client``
    (an owner, so that no page hides behind a 404); every method where there is none. Fuzzing the pairs a
    view takes, rather than collecting 405s, is what makes a few hundred examples find something."""
    pairs = []
    for route in web_routes():
        allow = client.options(fill(route, {"slug": slug, "id": str(some_id)})).headers.get("Allow", "")
        methods = [m for m in METHODS if m.upper() in allow.upper().replace(" ", "").split(",")] or list(METHODS)
        pairs.extend((route, method) for method in methods)
    return pairs


def text_values() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(ODD_TEXT),
        st.integers(-(2**80), 2**80).map(str),
        st.floats().map(repr),
        st.text(max_size=12),
        st.from_regex(r"\A[0-9]{1,3}:[0-9]\.[0-9]{1,3}:[0-9]{1,25}\Z"),
    )


def json_values() -> st.SearchStrategy[object]:
    return st.recursive(
        _leaves(), lambda children: st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=8), children, max_size=3),
        max_leaves=6,
    )


def _keys() -> st.SearchStrategy[str]:
    return st.sampled_from(KEYS) | st.text(max_size=6)


def _leaves() -> st.SearchStrategy[object]:
    return st.one_of(
        st.sampled_from(ODD_NUMBERS), st.integers(0, 40), st.integers(-(2**100), 2**100), st.floats(), text_values(),
        st.none(), st.booleans(),
    )


def _every_key(value: object) -> dict[str, object]:
    """One value under every name the app reads (in a list where a list is expected): whichever the route
    reads, it gets the odd value."""
    return {key: [value] if key in LIST_KEYS else value for key in KEYS}


@st.composite
def _body(draw: st.DrawFn) -> tuple[str | None, object]:
    kind = draw(st.sampled_from(("every", "every", "some", "some", "any", "raw", "form")))
    if kind == "raw":
        return "application/json", draw(st.binary(max_size=60) | st.text(max_size=60).map(str.encode))
    if kind == "form":
        return None, draw(st.dictionaries(_keys(), text_values() | st.lists(text_values(), max_size=3), max_size=3))
    # Small draws: a large one is discarded by hypothesis as an overrun, and the run ends with few examples.
    body = {
        "every": st.builds(_every_key, _leaves()),
        "some": st.dictionaries(st.sampled_from(KEYS), json_values(), max_size=4),
        "any": json_values(),
    }[kind]
    return "application/json", json.dumps(draw(body))


@st.composite
def web_requests(draw: st.DrawFn, *, pairs: list[tuple[str, str]], slugs: list[str], ids: list[int]) -> WebRequest:
    """One request to one of ``pairs`` (route, method); ``slugs`` (the first is the cast's project, drawn most
    often) and ``ids`` are the real values path parameters are drawn from, besides made-up ones."""
    route, method = draw(st.sampled_from(pairs))
    slug = draw(st.sampled_from([slugs[0]] * 8 + slugs[1:] + ["no-such-project"]))
    some_id = draw(st.sampled_from(ids) | st.integers(0, 2**70))
    url = fill(route, {"slug": slug, "id": str(some_id)})
    query = draw(st.dictionaries(st.sampled_from(QUERY_KEYS), text_values(), max_size=3))
    if query:
        url += "?" + urlencode(query)
    content_type, data = draw(_body()) if method != "get" else (None, None)
    return WebRequest(route, method, url, content_type, data)


def send(client: Client, request: WebRequest) -> int:
    """The response's status code (the client raises a view's exception unless built with
    ``raise_request_exception=False``, in which case that is a 500)."""
    call = getattr(client, request.method)
    if request.method == "get":
        return call(request.url).status_code
    if request.content_type is None:
        return call(request.url, request.data).status_code
    return call(request.url, request.data, content_type=request.content_type).status_code
