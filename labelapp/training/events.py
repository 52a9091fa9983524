"""Typed events sent to a project's Channels group; browsers receive them over ``ws/p/<slug>/``.

Events are small on purpose: a page that needs more re-fetches ``/p/<slug>/training/status/``.
Any app may publish, e.g. ``publish(project_id, version_ready(3, counts))``. New labels reach open pages
through the label propagation they queue while training is on (its ``version.ready`` refreshes counts and
panels), else at the pages' next refresh.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal, TypedDict

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from redis.exceptions import RedisError

from labelapp.training import store

logger = logging.getLogger(__name__)

# The consumer's handler for group messages is ``project_event`` (Channels maps "." to "_").
GROUP_MESSAGE_TYPE = "project.event"
# Handled by the consumer itself (``membership_changed``), never relayed to browsers: the sockets of the
# named user re-check their membership and close if it is gone or its role changed.
MEMBERSHIP_MESSAGE_TYPE = "membership.changed"


class RoundStarted(TypedDict):
    type: Literal["round.started"]
    version: int  # the number the round expects to produce (a label propagation published meanwhile takes it)
    activity: str  # what the worker does, for people: "learning the images", "training fixmatch from ..."


class RoundProgress(TypedDict):
    type: Literal["round.progress"]
    step: int  # optimizer steps done in this round
    steps: int  # planned steps, 0 when the budget is in seconds
    fraction: float  # share of the round's training budget used, 0..1 (steps or seconds)
    losses: dict[str, float]  # running means over the round: loss, loss_x, loss_u, mask_ratio, ...
    activity: str  # the round's activity with its step and figures, for people


class VersionReady(TypedDict):
    type: Literal["version.ready"]
    version: int
    counts: dict[str, int]  # human, pseudo, images, predictions


class RoundFailed(TypedDict):
    type: Literal["round.failed"]
    error: str


Event = RoundStarted | RoundProgress | VersionReady | RoundFailed


def group_name(project_id: int) -> str:
    """The Channels group of one project's open pages."""
    return f"project-{project_id}"


def round_started(version: int, activity: str = "training") -> RoundStarted:
    return {"type": "round.started", "version": version, "activity": activity}


def round_progress(
    *, step: int, steps: int, fraction: float, losses: dict[str, float], activity: str = "training"
) -> RoundProgress:
    rounded = {name: round(float(value), 4) for name, value in losses.items()}
    return {
        "type": "round.progress", "step": step, "steps": steps, "fraction": round(fraction, 3), "losses": rounded,
        "activity": activity,
    }


def version_ready(version: int, counts: dict[str, int]) -> VersionReady:
    return {"type": "version.ready", "version": version, "counts": counts}


def round_failed(error: str) -> RoundFailed:
    return {"type": "round.failed", "error": error[:500]}


def _group_send(project_id: int, message: dict[str, Any]) -> None:
    """Send to the project's group from sync code. A Redis that stays unreachable after the layer's retries
    loses the message with a warning instead of failing the caller (a round, a label): pages catch up by
    version when they reconnect and every 30 s."""
    layer = get_channel_layer()
    if layer is None:
        return
    send = async_to_sync(layer.group_send)
    try:
        if _loop_running_here():  # async_to_sync refuses to run here: send from a thread of its own
            with ThreadPoolExecutor(1) as thread:
                thread.submit(send, group_name(project_id), message).result()
        else:
            send(group_name(project_id), message)
    except RedisError as error:
        logger.warning("project %s: %s not sent to open pages: %s", project_id, message["type"], error)


def _loop_running_here() -> bool:
    """Whether this thread runs an event loop (sync code called from async code, or a save in a thread
    that drives Playwright's sync API in the browser tests)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def publish_membership_changed(project_id: int, user_id: int) -> None:
    """Tell the open sockets of ``project_id`` that ``user_id``'s membership changed (role, or removed)."""
    _group_send(project_id, {"type": MEMBERSHIP_MESSAGE_TYPE, "user": user_id})


def publish(project_id: int, event: Event | dict[str, Any]) -> None:
    """Send ``event`` to every open page of the project (from sync code: views, services, jobs)."""
    _group_send(project_id, {"type": GROUP_MESSAGE_TYPE, "event": dict(event)})


def announce(project_id: int, event: Event) -> None:
    """Publish to open pages and remember it for the status endpoint."""
    store.progress_set(project_id, dict(event))
    publish(project_id, event)
