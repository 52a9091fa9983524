"""Label changes reach the model: new human labels queue a training round (on commit, deduplicated) while
the project's training is on, and every saved label (human or accepted pseudo-label) queues a label
propagation over the current embeddings, so predictions follow within seconds. Deletions (an undone
first label) send nothing: a ``post_delete`` receiver would make every cascade delete annotations one
by one; the next label or round catches up.

Connected in :meth:`labelapp.training.apps.TrainingConfig.ready`. Bulk writes (``bulk_create``,
``update``) send no signal: code that writes labels in bulk calls
:func:`labelapp.training.services.round_enqueue_on_commit` itself.
"""

from __future__ import annotations

from typing import Any

from labelapp.labeling.models import Annotation, Source
from labelapp.training.services import propagation_enqueue_on_commit, round_enqueue_on_commit


def annotation_saved(sender: type[Annotation], instance: Annotation, **kwargs: Any) -> None:
    if instance.source == Source.HUMAN:
        round_enqueue_on_commit(project_id=instance.project_id)
    propagation_enqueue_on_commit(project_id=instance.project_id)

