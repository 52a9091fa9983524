"""The labeling app's receivers.

- Every saved or deleted label, review decision and image drops the project's cached counts (on commit).
  Bulk writes send no signal: code that writes these rows in bulk calls
  :func:`labelapp.labeling.services.labeling_counts_forget` itself.
- Label changes reach the model: new human labels queue a training round (on commit, deduplicated) while
  the project's training is on, and every saved label (human or accepted pseudo-label) queues a label
  propagation over the current embeddings, so predictions follow within seconds. Deletions (an undone
  first label) send nothing: a ``post_delete`` receiver would make every cascade delete annotations one
  by one; the next label or round catches up. Bulk label writes call
  :func:`labelapp.training.chain.round_enqueue_on_commit` themselves.
- After each HTTP response (``request_finished``), counts that a page served aged are recounted, so the
  next page finds fresh ones (:func:`labelapp.labeling.selectors.counts_refresh_due`); a failure there is
  logged and costs nothing but the refresh.
- Labels an import found for its new images (the images app's ``images_labeled``) are saved as human
  labels with their history (:func:`labelapp.labeling.services.annotations_import`).
- A version about to become current (training's ``version_publishing``) gets its label queue ranked while
  annotators still draw from the old one, so none waits for the ranking at the flip; ``version_ready``
  (the new current version, before pages are told) builds it only where that did not happen.

Connected in :meth:`labelapp.labeling.apps.LabelingConfig.ready`.
"""

from __future__ import annotations

import logging
from typing import Any

from labelapp.images.models import Image
from labelapp.labeling.models import Annotation, Source
from labelapp.labeling.selectors import counts_refresh_due
from labelapp.labeling.services import annotations_import, labeling_counts_forget, queue_order_build
from labelapp.lib.users import User
from labelapp.projects.models import Project
from labelapp.training.chain import propagation_enqueue_on_commit, round_enqueue_on_commit
from labelapp.training.models import ModelVersion

logger = logging.getLogger(__name__)


def counted_row_changed(sender: type, instance: Any, **kwargs: Any) -> None:
    labeling_counts_forget(project_id=instance.project_id, images=sender is Image)


def counts_refresh_after_response(sender: type, **kwargs: Any) -> None:
    try:
        counts_refresh_due()
    except Exception:  # the response is sent; a page that finds the counts too old recounts them itself
        logger.warning("refreshing the labeling counts after a response failed", exc_info=True)


def annotation_saved(sender: type[Annotation], instance: Annotation, **kwargs: Any) -> None:
    if instance.source == Source.HUMAN:
        round_enqueue_on_commit(project_id=instance.project_id)
    propagation_enqueue_on_commit(project_id=instance.project_id)


def queue_rank_for_version(sender: type[ModelVersion], *, project: Project, version: ModelVersion, **kwargs: Any) -> None:
    queue_order_build(project=project)


def queue_rank_upcoming_version(sender: type[ModelVersion], *, project: Project, version: ModelVersion, **kwargs: Any) -> None:
    queue_order_build(project=project, upcoming=version)


def imported_labels_save(
    sender: type, *, project: Project, labels: list[tuple[int, int]], user: User | None, **kwargs: Any
) -> int:
    return len(annotations_import(project=project, labels=labels, user=user))
