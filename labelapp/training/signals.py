"""The signal the training app sends, for the apps above it to react to (they import training; training
never imports them).

``version_ready``: a version just became the project's current one: a round's, a label propagation's or
a rollback's. Sent synchronously by :mod:`labelapp.training.versions` and :mod:`labelapp.training.rounds`
before open pages are told (the ``version.ready`` event), so what receivers prepare (the labeling app
ranks the label queue of the new version) is there when a page re-fetches. Keyword arguments:
``project`` and ``version``; the sender is :class:`~labelapp.training.models.ModelVersion`.
"""

from __future__ import annotations

from django.dispatch import Signal

version_ready = Signal()
