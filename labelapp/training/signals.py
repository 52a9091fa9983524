"""Label changes reach the model: new human labels queue a training round (on commit, deduplicated) while
the project's training is on, and every saved label (human or accepted pseudo-label) queues a label
propagation over the current embeddings, so predictions follow within seconds. Deletions (an undone
first label) send nothing: a ``post_delete`` receiver would make every cascade delete annotations one
by one; the next label or round catches up. A membership that changes or goes closes its user's open
sockets of the project (on commit).

Connected in :meth:`labelapp.training.apps.TrainingConfig.ready`. Bulk writes (``bulk_create``,
``update``) send no signal: code that writes labels in bulk calls
:func:`labelapp.training.chain.round_enqueue_on_commit` itself, and memberships are written one by one
(``labelapp.projects.services``, the admin, cascades when a user or project is deleted).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from labelapp.labeling.models import Annotation, Source
from labelapp.projects.models import Membership
from labelapp.training.chain import propagation_enqueue_on_commit, round_enqueue_on_commit
from labelapp.training.events import publish_membership_changed


def annotation_saved(sender: type[Annotation], instance: Annotation, **kwargs: Any) -> None:
    if instance.source == Source.HUMAN:
        round_enqueue_on_commit(project_id=instance.project_id)
    propagation_enqueue_on_commit(project_id=instance.project_id)


def membership_changed(sender: type[Membership], instance: Membership, **kwargs: Any) -> None:
    """post_save and post_delete of a membership: its user's sockets re-check their access once committed."""
    project_id, user_id = instance.project_id, instance.user_id
    transaction.on_commit(lambda: publish_membership_changed(project_id, user_id))
