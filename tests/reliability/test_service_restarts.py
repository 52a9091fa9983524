"""Redis or PostgreSQL restarting under a running web server: while down, requests get a clear 503 (not a
stack trace); after the restart everything works again and no committed label is lost.

Both use throwaway servers (never the machine's shared ones): an embedded ``redis-server`` on a temp
socket, a PostgreSQL cluster from ``initdb`` on a free port. The web server is a real subprocess.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection

from labelapp.images.services import image_add
from labelapp.labeling.models import Annotation
from labelapp.lib import embedded_redis
from tests.helpers.training import worker_env
from tests.labelapp.images.helpers import demo_pngs
from tests.reliability.servers import (
    CSRF,
    REPO,
    ThrowawayPostgres,
    WebServer,
    free_port,
    poll,
    postgres_unavailable_reason,
    run_manage,
)


def submit(server: WebServer, image_id: int, class_index: int = 0):
    return server.request("POST", "/p/clothes/label/submit/", {"image": image_id, "class_index": class_index})


def assert_clear_503(answer, service: str) -> None:
    assert answer.status == 503, (answer.status, answer.body[:500])
    assert f"The {service} is unavailable" in answer.json()["detail"]
    assert b"Traceback" not in answer.body and answer.headers.get("Retry-After")


@pytest.fixture
def redis_socket():
    folder = Path(tempfile.mkdtemp(prefix="rel-redis-"))  # short: unix socket paths are limited to ~100 bytes
    return folder / "redis.sock"


@pytest.mark.django_db(transaction=True)
def test_redis_restart_gives_503s_while_down_labels_keep_saving_and_training_queues_again(project, annotator, redis_socket):
    project.training_enabled = True
    project.save(update_fields=["training_enabled"])
    images = [image_add(project=project, name=name, data=data)[0].pk for name, data in demo_pngs(3)]
    queued_key = f"labelapp:training:{project.pk}:queued"
    redis_server = embedded_redis.start(redis_socket)
    server = WebServer(env=worker_env(REDIS_URL=embedded_redis.socket_url(redis_socket)))
    try:
        server.start()
        server.log_in(annotator)
        assert server.request("GET", "/p/clothes/training/status/").status == 200
        assert submit(server, images[0]).status == 200
        queue = redis.Redis(unix_socket_path=str(redis_socket))
        assert queue.exists(queued_key), "a human label queues a round while training is on"

        redis_server.terminate()
        redis_server.wait()
        assert_clear_503(server.request("GET", "/p/clothes/training/status/"), "job queue (Redis)")
        answer = submit(server, images[1])  # labeling does not need Redis: the label is saved, no round queued
        assert answer.status == 200, answer.body[:500]
        assert Annotation.objects.filter(image_id=images[1]).exists()

        redis_server = embedded_redis.start(redis_socket)
        assert poll(lambda: server.request("GET", "/p/clothes/training/status/").status == 200, timeout=10)
        assert submit(server, images[2]).status == 200
        assert redis.Redis(unix_socket_path=str(redis_socket)).exists(queued_key), "rounds queue again"
    finally:
        server.stop()
        redis_server.terminate()
    assert set(Annotation.objects.filter(project=project).values_list("image_id", flat=True)) == set(images)


@pytest.mark.django_db(transaction=True)
def test_an_unreachable_database_gives_a_clear_503_and_the_next_request_after_it_works(project, annotator_client):
    """In-process and cheap (the full PostgreSQL restart below is a benchmark step): the connection's target
    is made unreachable for real (a missing SQLite folder, or a closed PostgreSQL port)."""
    saved = dict(connection.settings_dict)
    connection.close()
    if connection.vendor == "sqlite":
        connection.settings_dict["NAME"] = "/nonexistent-folder/db.sqlite3"
    else:
        connection.settings_dict["PORT"] = str(free_port())
    try:
        answer = annotator_client.get(f"/p/{project.slug}/label/state/", HTTP_ACCEPT="application/json")  # as pages ask
        page = annotator_client.get(f"/p/{project.slug}/", HTTP_ACCEPT="text/html")
        api = annotator_client.get(f"/api/projects/{project.slug}/annotations/")
    finally:
        connection.close()
        connection.settings_dict.update(saved)
    assert answer.status_code == 503 and "The database is unavailable" in answer.json()["detail"]
    assert answer["Retry-After"]
    assert page.status_code == 503 and page["Content-Type"].startswith("text/plain")
    assert b"The database is unavailable" in page.content and b"Traceback" not in page.content
    assert api.status_code == 503 and "database" in api.json()["detail"]
    assert annotator_client.get(f"/p/{project.slug}/label/state/").status_code == 200


SLOW = os.environ.get("RELIABILITY_SLOW") == "1"


@pytest.mark.skipif(not SLOW, reason="benchmark step (~45 s): RELIABILITY_SLOW=1, benchmarks/reliability/run.py")
@pytest.mark.skipif(postgres_unavailable_reason() is not None, reason=str(postgres_unavailable_reason()))
def test_postgres_restart_gives_503s_while_down_and_no_committed_label_is_lost(tmp_path, redis_socket):
    postgres = ThrowawayPostgres()
    redis_server = embedded_redis.start(redis_socket)
    env = worker_env(DATABASE_URL=postgres.url, DATA_DIR=str(tmp_path / "data"),
                     REDIS_URL=embedded_redis.socket_url(redis_socket))
    server = WebServer(env=env)
    try:
        postgres.init()
        postgres.start()
        run_manage(["migrate", "-v0"], env)
        script = (REPO / "tests" / "reliability" / "seed_app.py").read_text()
        seeded = json.loads(run_manage(["shell", "-c", script], env).strip().splitlines()[-1])
        images = seeded["images"]
        server.start()
        server.cookies = {settings.SESSION_COOKIE_NAME: seeded["session"], settings.CSRF_COOKIE_NAME: CSRF}
        assert submit(server, images[0], 1).status == 200

        postgres.stop()
        assert_clear_503(server.request("GET", "/p/clothes/label/state/"), "database")
        assert_clear_503(submit(server, images[1], 2), "database")
        assert_clear_503(server.request("GET", "/api/projects/clothes/annotations/"), "database")
        page = server.request("GET", "/p/clothes/label/", accept="text/html")
        assert page.status == 503 and b"The database is unavailable" in page.body and b"Traceback" not in page.body

        postgres.start()
        assert poll(lambda: submit(server, images[1], 2).status == 200, timeout=20)
        labels = server.request("GET", "/api/projects/clothes/annotations/").json()["results"]
        assert {(row["image"], row["class_index"]) for row in labels} == {(images[0], 1), (images[1], 2)}
    finally:
        server.stop()
        redis_server.terminate()
        postgres.remove()

