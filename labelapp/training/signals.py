"""The signals the training app sends, for the apps above it to react to (they import training; training
never imports them).

``version_publishing``: a version's rows and files are written and it is about to become the project's
current one (sent under the publish lock, right before the flip; a rollback's too). Receivers prepare
what the new version needs while readers still use the old one (the labeling app ranks its label queue),
so no request waits for it after the flip. Sent robustly: a receiver's error is logged, never stops the
publication (the receivers of ``version_ready`` catch up). Same keyword arguments as ``version_ready``.

``version_ready``: a version just became the project's current one: a round's, a label propagation's or
a rollback's. Sent synchronously by :mod:`labelapp.training.versions` and :mod:`labelapp.training.rounds`
before open pages are told (the ``version.ready`` event), so what receivers prepare (the labeling app
ranks the label queue of the new version) is there when a page re-fetches. Keyword arguments:
``project`` and ``version``; the sender is :class:`~labelapp.training.models.ModelVersion`.
"""

from __future__ import annotations

from django.dispatch import Signal

version_publishing = Signal()
version_ready = Signal()
