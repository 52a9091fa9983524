"""Every saved or deleted label, review decision and image drops the project's cached counts (on commit).

Connected in :meth:`labelapp.labeling.apps.LabelingConfig.ready`. Bulk writes send no signal: code that
writes these rows in bulk calls :func:`labelapp.labeling.services.labeling_counts_forget` itself.
"""

from __future__ import annotations

from typing import Any

from labelapp.labeling.services import labeling_counts_forget


def counted_row_changed(sender: type, instance: Any, **kwargs: Any) -> None:
    labeling_counts_forget(project_id=instance.project_id)
