"""Reads of the training app: the current version, its embeddings, and the training status of a project."""

from __future__ import annotations

from typing import Any

import numpy as np

from labelapp.projects.models import Project
from labelapp.training import store
from labelapp.training.cache import embeddings_path
from labelapp.training.locks import round_running
from labelapp.training.models import ModelVersion


def version_embeddings(version: ModelVersion) -> tuple[np.ndarray, np.ndarray] | None:
    """``(image_ids int64 [N], embeddings float32 [N, D])`` of a version, or ``None`` when not stored."""
    path = embeddings_path(version)
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
        "algorithm": version.algorithm,
        "backbone": version.backbone,
        "human_labels": version.human_labels,
        "pseudo_labels": version.pseudo_labels,
        "images": version.images,
        "steps": version.steps,
        "round_steps": version.round_steps,
        "seconds": version.seconds,
        "device": version.device,
        "losses": version.losses,
        "metrics": version.metrics,
        "timings": version.timings,
        "created_at": version.created_at.isoformat(),
    }


def training_status(project: Project) -> dict[str, Any]:
    """Current version, whether training is on, running or queued, and the latest round event."""
    version = ModelVersion.objects.filter(pk=project.current_version_id).first()
    return {
        "current_version": version.number if version else None,
        "version": version_summary(version),
        "training_enabled": project.training_enabled,
        "running": round_running(project.pk),
        "queued": store.queued_job_id(project.pk) is not None,
        "progress": store.progress_get(project.pk),
    }
