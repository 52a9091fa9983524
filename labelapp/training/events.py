"""Typed events sent to a project's Channels group; browsers receive them over ``ws/p/<slug>/``.

Events are small on purpose: a page that needs more re-fetches ``/p/<slug>/training/status/``.
Any app may publish, e.g. ``publish(project_id, labels_changed())``.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

# The consumer's handler for group messages is ``project_event`` (Channels maps "." to "_").
GROUP_MESSAGE_TYPE = "project.event"


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


class LabelsChanged(TypedDict):
    type: Literal["labels.changed"]


Event = RoundStarted | RoundProgress | VersionReady | RoundFailed | LabelsChanged


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


def labels_changed() -> LabelsChanged:
    return {"type": "labels.changed"}


def publish(project_id: int, event: Event | dict[str, Any]) -> None:
    """Send ``event`` to every open page of the project (from sync code: views, services, jobs)."""
    layer = get_channel_layer()
    if layer is None:
        return
    async_to_sync(layer.group_send)(group_name(project_id), {"type": GROUP_MESSAGE_TYPE, "event": dict(event)})
