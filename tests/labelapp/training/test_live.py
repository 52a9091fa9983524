"""The project websocket (Channels' WebsocketCommunicator on the real ASGI app and channel layer)."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async

from labelapp.training.jobs import run_training_round
from tests.helpers.sockets import socket_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_member_receives_the_progress_and_version_ready_events_of_a_real_round(small_project, annotator_client):
    async def scenario() -> list[dict]:
        socket = socket_for(small_project.slug, annotator_client)
        connected, _ = await socket.connect()
        assert connected
        await database_sync_to_async(run_training_round)(small_project.pk, steps=20)
        received = []
        while not received or received[-1]["type"] not in ("version.ready", "round.failed"):
            received.append(await socket.receive_json_from(timeout=30))
        await socket.disconnect()
        return received

    received = async_to_sync(scenario)()
    types = [event["type"] for event in received]
    assert types[0] == "round.started" and received[0]["version"] == 1
    assert types[-1] == "version.ready"
    assert received[-1]["version"] == 1 and received[-1]["counts"] == {"human": 12, "pseudo": 0, "images": 60}
    progress = [event for event in received if event["type"] == "round.progress"]
    assert progress and all(event["steps"] == 20 for event in progress)
    steps = [event["step"] for event in progress]
    assert steps == sorted(steps) and 1 <= steps[0] and steps[-1] <= 20
    assert progress[-1]["fraction"] == pytest.approx(steps[-1] / 20, abs=1e-3) and "loss" in progress[-1]["losses"]


@pytest.mark.parametrize("who", ["outsider", "anonymous"])
def test_outsiders_and_anonymous_users_are_closed_with_4404(project, outsider_client, who):
    async def scenario() -> dict:
        socket = socket_for(project.slug, outsider_client if who == "outsider" else None)
        connected, _ = await socket.connect()
        assert connected
        message = await socket.receive_output(timeout=5)
        await socket.wait()
        return message

    assert async_to_sync(scenario)() == {"type": "websocket.close", "code": 4404}


def test_a_member_of_another_project_is_closed_with_4404(other_project, annotator_client):
    async def scenario() -> dict:
        socket = socket_for(other_project.slug, annotator_client)
        await socket.connect()
        return await socket.receive_output(timeout=5)

    assert async_to_sync(scenario)()["code"] == 4404
