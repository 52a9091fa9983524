"""Hypothesis fuzzing of the web side (pages, forms and the pages' JSON endpoints), which schemathesis
cannot see: no request may get a 5xx. The larger run of ``tests/reliability/test_web_fuzz.py``.

    .venv/bin/python benchmarks/web/fuzz.py [--examples 1000] [--seed 1]

What it does, with real parts only: a fresh DATA_DIR (SQLite + an embedded Redis, which label submits and
training switches enqueue to), migrations, the project "clothes" seeded like ``benchmarks/api/fuzz.py``
(24 real Fashion-MNIST images, human and pseudo labels, version 1 from a real 5-step checkpoint, so model
exports really run), then, for each role of the cast and anonymously, ``--examples`` requests drawn by
``tests/reliability/web_fuzz.py`` (every route of the URL map but the API and the admin, with the methods
each view takes; generated path ids, query strings and bodies) sent in-process with Django's test client,
which turns a view's exception into a 500 here. Writes ``benchmarks/web/results/fuzz.json`` (requests,
routes, statuses per role, every 5xx with its request); exits non-zero if any 5xx was found.
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent / "results"


def api_fuzz_seed():
    """``seed()`` of benchmarks/api/fuzz.py: the same cast and trained project (API tokens unused here)."""
    spec = importlib.util.spec_from_file_location("api_fuzz", REPO / "benchmarks" / "api" / "fuzz.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.seed


def fuzz_role(role, user, args, *, pairs, slugs, ids, errors) -> tuple[collections.Counter, set[str]]:
    """``args.examples`` generated requests as ``user`` (None: anonymous): statuses and routes seen; each 5xx
    is appended to ``errors``."""
    from django.test import Client
    from hypothesis import HealthCheck, Phase, given, seed, settings
    from hypothesis import strategies as st

    from tests.reliability.web_fuzz import send, web_requests

    statuses: collections.Counter = collections.Counter()
    routes: set[str] = set()

    @seed(args.seed)
    @settings(max_examples=args.examples, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def fuzz(data):
        request = data.draw(web_requests(pairs=pairs, slugs=slugs, ids=ids))
        client = Client(raise_request_exception=False)
        if user is not None:
            client.force_login(user)
        status = send(client, request)
        statuses[status] += 1
        routes.add(request.route)
        if status >= 500:
            errors.append({"role": role, "status": status, "method": request.method, "url": request.url,
                           "content_type": request.content_type, "data": repr(request.data)[:2000]})

    fuzz()
    return statuses, routes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=1000, help="requests per role")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="labelapp-webfuzz-"))
    os.environ.update(DATA_DIR=str(data_dir), DJANGO_SETTINGS_MODULE="labelapp.settings")
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("REDIS_URL", None)
    sys.path.insert(0, str(REPO))
    from labelapp.lib import embedded_redis

    socket = data_dir / "redis" / "redis.sock"
    redis_server = embedded_redis.start(socket)
    os.environ["REDIS_URL"] = embedded_redis.socket_url(socket)
    sys.argv = sys.argv[:1]  # the seed's Django setup must not read our options
    results: dict = {"benchmark": "web fuzz", "command": "benchmarks/web/fuzz.py " + " ".join(
        f"--{k} {v}" for k, v in vars(args).items()), "config": vars(args), "roles": {}}
    try:
        api_fuzz_seed()()
        from django.contrib.auth.models import User
        from django.test import Client
        from django.test.utils import setup_test_environment

        from labelapp.projects.models import Membership, Project
        from tests.reliability.web_fuzz import ROLES, routes_and_methods

        setup_test_environment()  # "testserver" allowed, e-mail kept in memory (the password-reset form sends one)
        project = Project.objects.get(slug="clothes")
        ids = list(project.images.values_list("pk", flat=True)[:10]) + list(Membership.objects.values_list("pk", flat=True))
        owner = Client()
        owner.force_login(User.objects.get(username="fuzz-owner"))
        pairs = routes_and_methods(owner, slug="clothes", some_id=ids[0])
        slugs = ["clothes", "elsewhere"]
        errors: list[dict] = []
        cast = {m.user_id: m.role for m in Membership.objects.filter(project=project)}
        for role in ROLES:
            user = None if role == "anonymous" else User.objects.get(username=f"fuzz-{role}")
            # The owner's requests may have removed or demoted members: each role starts from the seeded cast.
            for user_id, cast_role in cast.items():
                Membership.objects.update_or_create(project=project, user_id=user_id, defaults={"role": cast_role})
            started = time.monotonic()
            statuses, routes = fuzz_role(role, user, args, pairs=pairs, slugs=slugs, ids=ids, errors=errors)
            results["roles"][role] = {
                "requests": sum(statuses.values()), "routes": len(routes), "seconds": round(time.monotonic() - started, 1),
                "5xx": sum(n for code, n in statuses.items() if code >= 500),
                "statuses": dict(sorted(statuses.items())),
            }
            print(role, results["roles"][role], flush=True)
        results["route_method_pairs"] = len(pairs)
        results["routes_in_url_map"] = len({route for route, _ in pairs})
        results["requests"] = sum(r["requests"] for r in results["roles"].values())
        results["5xx"] = len(errors)
        results["server_errors"] = errors
    finally:
        redis_server.terminate()
        shutil.rmtree(data_dir, ignore_errors=True)
    OUT.mkdir(exist_ok=True)
    (OUT / "fuzz.json").write_text(json.dumps(results, indent=2))
    ok = results.get("5xx") == 0
    print("no 5xx" if ok else f"FAILED: {results.get('5xx')} responses >= 500, see benchmarks/web/results/fuzz.json")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
