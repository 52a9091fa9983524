"""Reads of the training app: the current version, its embeddings, and the training status of a project."""

from __future__ import annotations

from typing import Any

import numpy as np

from labelapp.projects.models import Project
from labelapp.training import store
from labelapp.training.cache import embeddings_local
from labelapp.training.locks import round_running
from labelapp.training.models import ModelVersion


def version_embeddings(version: ModelVersion) -> tuple[np.ndarray, np.ndarray] | None:
    """``(image_ids int64 [N], embeddings float32 [N, D])`` of a version, or ``None`` when not stored."""
    path = embeddings_local(version)  # another host may have published it
    if not path.exists():
        return None
    with np.load(path) as data:
        return data["ids"], data["embeddings"]


def version_summary(version: ModelVersion | None) -> dict[str, Any] | None:
    """What a page shows about a version (JSON-safe)."""
    if version is None:
        return None
    return {
        "number": version.number,
        "kind": version.kind,
        "algorithm": version.algorithm,
        "backbone": version.backbone,
        "human_labels": version.human_labels,
        "pseudo_labels": version.pseudo_labels,
        "images": version.images,
        "steps": version.steps,
        "round_steps": version.round_steps,
        "pretrain_steps": version.pretrain_steps,
        "pretrain_seconds": version.pretrain_seconds,
        "seconds": version.seconds,
        "device": version.device,
        "losses": version.losses,
        "metrics": version.metrics,
        "timings": version.timings,
        "created_at": version.created_at.isoformat(),
    }


def strategy_summary(project: Project, version: ModelVersion | None) -> dict[str, str]:
    """The label queue's strategy and what it uses right now (a hybrid's current half, once the queue of the
    current version was ranked)."""
    ranked = store.strategy_get(project.pk)
    current = ranked is not None and version is not None and ranked["version"] == version.number
    in_force = ranked["in_force"] if ranked is not None and current and ranked["strategy"] == project.strategy else project.strategy
    return {"strategy": project.strategy, "strategy_in_force": in_force}


def training_activity(*, running: bool, progress: dict[str, Any] | None, version: ModelVersion | None) -> str:
    """What the worker is doing, for people: the running round's activity, else what the current version is."""
    if running and progress and progress.get("activity"):
        return progress["activity"]
    if version is None:
        return ""
    quality = version.metrics.get("embedding_quality") or {}
    knn = f" (kNN quality {quality['knn_accuracy']:.2f})" if "knn_accuracy" in quality else ""
    by_kind: dict[str, str] = {
        ModelVersion.Kind.PRETRAINED: f"v{version.number}: embeddings of the pre-trained encoder{knn}",
        ModelVersion.Kind.PROPAGATED: f"v{version.number}: labels propagated over the embeddings",
    }
    return by_kind.get(version.kind, f"v{version.number}: {version.algorithm} model")


def training_status(project: Project) -> dict[str, Any]:
    """Current version, whether training is on, running or queued, the latest round event, what the worker
    does and the label queue's strategy."""
    version = ModelVersion.objects.filter(pk=project.current_version_id).first() if project.current_version_id else None
    running = round_running(project.pk)
    progress = store.progress_get(project.pk)
    return {
        "current_version": version.number if version else None,
        "version": version_summary(version),
        "training_enabled": project.training_enabled,
        "running": running,
        "queued": store.queued_job_id(project.pk) is not None,
        "progress": progress,
        "activity": training_activity(running=running, progress=progress, version=version),
        **strategy_summary(project, version),
    }
