"""The project websocket: members join the project's group and receive its events as JSON.

Access is checked when the socket opens and again whenever the user's membership of the project changes
(``membership.changed``, sent on commit by :mod:`labelapp.training.receivers`): a removed member's socket is
closed with 4404, a member whose role changed is closed with 4409 and reconnects with the new role.
"""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.http import Http404
from redis.exceptions import RedisError

from labelapp.projects.models import Role
from labelapp.projects.selectors import get_project_for_user, role_of
from labelapp.training.events import group_name

NOT_FOUND = 4404  # close code for anonymous users, outsiders and unknown projects (like HTTP 404)
ROLE_CHANGED = 4409  # the user's role changed while connected: live.js reconnects and is checked afresh
TRY_AGAIN_LATER = 1013  # Redis unreachable: live.js reconnects with backoff


@database_sync_to_async
def _access(user: Any, slug: str) -> tuple[int, Role] | None:
    """The project's id and the user's role in it, or ``None`` when the user may not see it."""
    try:
        project = get_project_for_user(user, slug)
    except Http404:
        return None
    role = role_of(user, project)
    return (project.pk, role) if role is not None else None


class ProjectConsumer(AsyncJsonWebsocketConsumer):
    """``ws/p/<slug>/``: relays the typed events of :mod:`labelapp.training.events`; receives nothing."""

    group: str | None = None
    access: tuple[int, Role] | None = None

    async def connect(self) -> None:
        self.access = await _access(self.scope["user"], self.scope["url_route"]["kwargs"]["slug"])
        if self.access is None:
            await self._refuse(NOT_FOUND)
            return
        try:
            await self.channel_layer.group_add(group_name(self.access[0]), self.channel_name)
        except RedisError:  # still unreachable after the layer's retries: the page retries with backoff
            await self._refuse(TRY_AGAIN_LATER)
            return
        self.group = group_name(self.access[0])
        await self.accept()  # after joining: once the page sees the socket open, it gets every event
        # A change committed between the check and the join was announced before this socket listened.
        await self._recheck()

    async def _refuse(self, code: int) -> None:
        await self.accept()  # accept first so that browsers see the close code
        await self.close(code=code)

    async def disconnect(self, code: int) -> None:
        await self._leave()

    async def project_event(self, message: dict[str, Any]) -> None:
        await self.send_json(message["event"])

    async def membership_changed(self, message: dict[str, Any]) -> None:
        if message["user"] == self.scope["user"].pk:
            await self._recheck()

    async def _recheck(self) -> None:
        now = await _access(self.scope["user"], self.scope["url_route"]["kwargs"]["slug"])
        if now != self.access:
            await self._leave()
            await self.close(code=NOT_FOUND if now is None else ROLE_CHANGED)

    async def _leave(self) -> None:
        if self.group is not None:
            group, self.group = self.group, None
            await self.channel_layer.group_discard(group, self.channel_name)
