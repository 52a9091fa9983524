"""The project websocket: members join the project's group and receive its events as JSON."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.http import Http404

from labelapp.projects.models import Project
from labelapp.projects.selectors import get_project_for_user
from labelapp.training.events import group_name

NOT_FOUND = 4404  # close code for anonymous users, outsiders and unknown projects (like HTTP 404)


@database_sync_to_async
def _project_for(user: Any, slug: str) -> Project | None:
    try:
        return get_project_for_user(user, slug)
    except Http404:
        return None


class ProjectConsumer(AsyncJsonWebsocketConsumer):
    """``ws/p/<slug>/``: relays the typed events of :mod:`labelapp.training.events`; receives nothing."""

    group: str | None = None

    async def connect(self) -> None:
        project = await _project_for(self.scope["user"], self.scope["url_route"]["kwargs"]["slug"])
        await self.accept()  # accept first so that browsers see the close code
        if project is None:
            await self.close(code=NOT_FOUND)
            return
        self.group = group_name(project.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)

    async def disconnect(self, code: int) -> None:
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def project_event(self, message: dict[str, Any]) -> None:
        await self.send_json(message["event"])
