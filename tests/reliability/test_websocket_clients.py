"""Websocket clients that are dead (in the group, never reading) or slow (connected, not reading) do not
hold up the others, and a page that missed messages catches up by asking for the current version.

Runs on the real ASGI application and the real channels_redis layer (Channels' WebsocketCommunicator).
"""

from __future__ import annotations

import asyncio
import re
import time

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from labelapp.training.events import GROUP_MESSAGE_TYPE, group_name, publish, version_ready
from tests.helpers.sockets import socket_for
from tests.labelapp.labeling.helpers import add_images, add_version
from tests.reliability.servers import REPO

pytestmark = pytest.mark.django_db(transaction=True)
DEAD = 40  # channels in the group that nobody reads: a browser tab killed without a clean close
BURST = 150  # events, over channels_redis's per-channel capacity (100): the dead channels fill up


def event(version: int) -> dict:
    return {"type": GROUP_MESSAGE_TYPE, "event": dict(version_ready(version, {}))}


def test_dead_and_slow_clients_do_not_hold_up_a_live_one(project, annotator_client, reviewer_client):
    async def scenario() -> tuple[list[int], float, float]:
        layer = get_channel_layer()
        group = group_name(project.pk)
        live, slow = socket_for(project.slug, annotator_client), socket_for(project.slug, reviewer_client)
        assert (await live.connect())[0] and (await slow.connect())[0]
        for _ in range(DEAD):
            await layer.group_add(group, await layer.new_channel())

        received: list[int] = []

        async def read() -> None:
            while not received or received[-1] != 10_000:
                received.append((await live.receive_json_from(timeout=10))["version"])

        reader = asyncio.create_task(read())
        started = time.monotonic()
        for number in range(1, BURST + 1):
            await layer.group_send(group, event(number))
            await asyncio.sleep(0.01)  # ~100 events/s: far above the 2/s a round sends
        sending = time.monotonic() - started
        mark = time.monotonic()
        await layer.group_send(group, event(10_000))
        await asyncio.wait_for(reader, timeout=10)
        latency = time.monotonic() - mark
        await live.disconnect()
        await slow.disconnect()
        return received, sending, latency

    received, sending, latency = async_to_sync(scenario)()
    # In order and (on a machine not starved for CPU) all of them; a reader that fell 100 events behind would
    # lose some to its own channel's capacity, which is what catching up by version is for.
    assert received == sorted(received) and received[-1] == 10_000
    assert len(received) > BURST * 0.9, f"the live client got only {len(received)} of {BURST + 1} events"
    assert sending < 15, f"sending {BURST} events took {sending:.1f}s with {DEAD} full dead channels"
    assert latency < 2, f"the last event reached the live client after {latency:.2f}s"


def test_a_websocket_from_another_site_is_refused(project, annotator_client):
    """Cross-site websocket hijacking: the session cookie rides along, the Origin check refuses it."""

    async def scenario() -> bool:
        socket = socket_for(project.slug, annotator_client, origin=b"https://evil.example")
        connected, _ = await socket.connect()
        await socket.disconnect()
        return connected

    assert async_to_sync(scenario)() is False


def test_a_page_that_missed_the_event_catches_up_by_version(project, annotator_client):
    """No event is sent for this version: the state endpoint the pages poll (on reconnect and every 30 s)
    reports it, and so does the training status the project page reads."""
    images = add_images(project, 3)
    before = annotator_client.get(f"/p/{project.slug}/label/state/").json()["version"]
    add_version(project, {image: (0, 0.99) for image in images})  # flips the project without publishing
    assert before == 0
    assert annotator_client.get(f"/p/{project.slug}/label/state/").json()["version"] == 1
    assert annotator_client.get(f"/p/{project.slug}/training/status/").json()["current_version"] == 1


def test_the_pages_catch_up_on_reconnect_and_on_a_timer():
    """The browser half of catching up: live.js reconnects with backoff and calls onReconnect; the labeling
    pages fetch the state there and every 30 s."""
    live = (REPO / "static" / "js" / "live.js").read_text()
    labeling = (REPO / "static" / "js" / "labeling.js").read_text()
    assert re.search(r'addEventListener\("open".*?onReconnect\(\)', live, re.S)
    assert re.search(r'addEventListener\("close".*?setTimeout\(\(\) => open\(', live, re.S)
    assert "onReconnect: catchUp" in labeling and re.search(r"setInterval\(catchUp, \d+\)", labeling)


def test_publishing_to_a_project_with_no_open_page_returns_at_once(project):
    started = time.monotonic()
    for number in range(50):
        publish(project.pk, version_ready(number, {}))
    assert time.monotonic() - started < 5
