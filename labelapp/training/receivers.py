"""A membership that changes or goes closes its user's open sockets of the project (on commit).

Connected in :meth:`labelapp.training.apps.TrainingConfig.ready`. Memberships are written one by one
(``labelapp.projects.services``, the admin, cascades when a user or project is deleted), so every change
sends a signal. (Label changes reach the model through the labeling app's receivers,
:mod:`labelapp.labeling.signals`.)
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from labelapp.projects.models import Membership
from labelapp.training.events import publish_membership_changed


def membership_changed(sender: type[Membership], instance: Membership, **kwargs: Any) -> None:
    """post_save and post_delete of a membership: its user's sockets re-check their access once committed."""
    project_id, user_id = instance.project_id, instance.user_id
    transaction.on_commit(lambda: publish_membership_changed(project_id, user_id))
