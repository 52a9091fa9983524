"""The websocket follows membership: a member removed from the project stops receiving its events at once
(the socket is closed with 4404), a member whose role changes is closed with 4409 and reconnects under the
new role, other members are not disturbed; and only pages of this very site (host *and* port) may open it.

Real ASGI application, real channels_redis layer, real members page (Channels' WebsocketCommunicator).
"""

from __future__ import annotations

import runpy

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator

from labelapp.projects import services
from labelapp.projects.models import Membership, Role
from labelapp.training.consumers import NOT_FOUND, ROLE_CHANGED
from labelapp.training.events import publish, version_ready
from tests.helpers.sockets import socket_for
from tests.reliability.servers import REPO

pytestmark = pytest.mark.django_db(transaction=True)


async def _version_seen(project_id: int, number: int, *sockets: WebsocketCommunicator) -> bool:
    """Publish version ``number``: does every one of ``sockets`` receive it?

    Each scenario disconnects every socket it opened before its event loop ends: a consumer left waiting in a
    closed loop leaves channels_redis's per-channel receive lock bound to that loop, and the next test's
    consumer that has to wait on it fails with "bound to a different event loop" (seen once in CI)."""
    await sync_to_async(publish)(project_id, version_ready(number, {}))
    return all([(await socket.receive_json_from(timeout=5))["version"] == number for socket in sockets])


def test_a_member_removed_on_the_members_page_is_closed_and_gets_no_more_events(
    project, owner_client, annotator, annotator_client, reviewer_client
):
    membership = Membership.objects.get(project=project, user=annotator)

    async def scenario() -> tuple[dict, bool]:
        removed, other = socket_for(project.slug, annotator_client), socket_for(project.slug, reviewer_client)
        assert (await removed.connect())[0] and (await other.connect())[0]
        assert await _version_seen(project.pk, 1, removed, other)
        answer = await sync_to_async(owner_client.post)(f"/p/{project.slug}/members/{membership.pk}/remove/")
        assert answer.status_code == 302 and not await sync_to_async(Membership.objects.filter(pk=membership.pk).exists)()
        closed = await removed.receive_output(timeout=5)
        await sync_to_async(publish)(project.pk, version_ready(2, {"human": 1}))
        still_relayed = (await other.receive_json_from(timeout=5))["version"] == 2
        nothing_more = await removed.receive_nothing(timeout=0.5)
        await removed.disconnect()  # every consumer ends inside this event loop (see _version_seen)
        await other.disconnect()
        return closed, still_relayed and nothing_more

    closed, others_fine = async_to_sync(scenario)()
    assert closed == {"type": "websocket.close", "code": NOT_FOUND}
    assert others_fine


def test_a_role_change_closes_the_socket_and_the_reconnect_gets_the_new_role(project, reviewer, reviewer_client):
    membership = Membership.objects.get(project=project, user=reviewer)

    async def scenario() -> tuple[dict, bool]:
        socket = socket_for(project.slug, reviewer_client)
        assert (await socket.connect())[0]
        await sync_to_async(services.membership_set_role)(membership=membership, role=Role.ANNOTATOR)
        closed = await socket.receive_output(timeout=5)
        await socket.disconnect()
        again = socket_for(project.slug, reviewer_client)
        assert (await again.connect())[0]
        seen = await _version_seen(project.pk, 3, again)
        await again.disconnect()
        return closed, seen

    closed, seen = async_to_sync(scenario)()
    assert closed == {"type": "websocket.close", "code": ROLE_CHANGED} and seen


def test_an_unrelated_membership_change_leaves_the_socket_open(project, outsider, annotator_client):
    async def scenario() -> bool:
        socket = socket_for(project.slug, annotator_client)
        assert (await socket.connect())[0]
        await sync_to_async(services.membership_add)(project=project, user=outsider, role=Role.ANNOTATOR)
        seen = await _version_seen(project.pk, 4, socket)
        await socket.disconnect()
        return seen

    assert async_to_sync(scenario)()


@pytest.mark.parametrize("origin,host,accepted", [
    (b"http://testserver", b"testserver", True),
    (b"http://testserver:8000", b"testserver:8000", True),
    (b"https://testserver", b"testserver", True),  # behind a TLS proxy: Host without a port
    (b"http://testserver:9999", b"testserver:8000", False),  # another program's page on another port
    (b"http://testserver:9999", b"testserver", False),
    (b"http://testserver", b"testserver:8000", False),
    (b"http://evil.example", b"evil.example", False),  # not in ALLOWED_HOSTS
    (b"null", b"testserver", False),
    (b"", b"testserver", False),
])
def test_only_pages_of_this_host_and_port_may_open_the_socket(project, annotator_client, origin, host, accepted):
    async def scenario() -> bool:
        socket = socket_for(project.slug, annotator_client, origin=origin, host=host)
        connected, _ = await socket.connect()
        await socket.disconnect()
        return connected

    assert async_to_sync(scenario)() is accepted


def test_testserver_is_not_an_allowed_host_of_the_running_app(tmp_path, monkeypatch):
    """Django's test runner adds "testserver" for the tests; the settings a running app reads have none."""
    monkeypatch.delenv("ALLOWED_HOSTS", raising=False)
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    running = runpy.run_path(str(REPO / "labelapp" / "settings.py"))
    assert "testserver" not in running["ALLOWED_HOSTS"] and "127.0.0.1" in running["ALLOWED_HOSTS"]
