"""The websocket consumer and the event publisher ride out a Redis that stops answering for a while (issue
15: ``redis.exceptions.TimeoutError: Timeout reading from …/redis.sock`` crashed the consumer under load).

A real ``redis-server`` of its own is frozen with SIGSTOP for longer than the layer's socket timeout (what
a loaded machine does to a read) and thawed with SIGCONT; the layer is the app's own, from settings, with a
short socket timeout so that the test takes seconds.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from contextlib import contextmanager

import pytest
from asgiref.sync import async_to_sync, sync_to_async

from labelapp.lib import embedded_redis
from labelapp.training.events import publish, version_ready
from tests.helpers.sockets import socket_for

pytestmark = pytest.mark.django_db(transaction=True)
SOCKET_TIMEOUT = 2  # seconds; Redis is frozen for twice as long
FROZEN = 4.0


@pytest.fixture
def own_redis(tmp_path, settings):
    """A redis-server for this test only, and the app's channel layer pointed at it."""
    socket = tmp_path / "redis.sock"
    server = embedded_redis.start(socket)
    layer = dict(settings.CHANNEL_LAYERS["default"])
    layer["CONFIG"] = {**layer["CONFIG"], "retry_seconds": 1,
                       "hosts": [{"address": embedded_redis.socket_url(socket), "socket_timeout": SOCKET_TIMEOUT}]}
    settings.CHANNEL_LAYERS = {"default": layer}
    yield server
    os.kill(server.pid, signal.SIGCONT)
    server.terminate()
    server.wait(timeout=10)


@contextmanager
def frozen(server):
    os.kill(server.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(server.pid, signal.SIGCONT)


def test_an_open_socket_survives_a_frozen_redis_and_gets_the_next_event(own_redis, project, annotator_client):
    async def scenario() -> tuple[int, int]:
        socket = socket_for(project.slug, annotator_client)
        assert (await socket.connect())[0]
        await sync_to_async(publish)(project.pk, version_ready(1, {}))
        before = (await socket.receive_json_from(timeout=5))["version"]
        with frozen(own_redis):
            await asyncio.sleep(FROZEN)  # the consumer's blocking pop times out, more than once
        await sync_to_async(publish)(project.pk, version_ready(2, {}))
        after = (await socket.receive_json_from(timeout=15))["version"]
        await socket.disconnect()
        return before, after

    assert async_to_sync(scenario)() == (1, 2)


def test_an_idle_socket_outlives_the_blocking_pop_and_the_socket_timeout(own_redis, project, annotator_client):
    """No freeze: a consumer that waits longer than the socket timeout for its next message (every page
    between two rounds) must not see a read timeout at all."""

    async def scenario() -> int:
        socket = socket_for(project.slug, annotator_client)
        assert (await socket.connect())[0]
        await asyncio.sleep(SOCKET_TIMEOUT * 2.5)
        await sync_to_async(publish)(project.pk, version_ready(7, {}))
        version = (await socket.receive_json_from(timeout=10))["version"]
        await socket.disconnect()
        return version

    assert async_to_sync(scenario)() == 7


def test_publishing_while_redis_is_frozen_returns_instead_of_failing_the_caller(own_redis, project):
    """A training round or a label must not fail because the websocket's Redis is stuck: the event is
    dropped with a warning (pages catch up by version)."""
    with frozen(own_redis):
        started = time.monotonic()
        publish(project.pk, version_ready(3, {}))
        took = time.monotonic() - started
    assert took < SOCKET_TIMEOUT * 4
