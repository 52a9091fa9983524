"""The RQ job of the ``default`` queue that distils a model version (``manage.py rqworker default``)."""

from __future__ import annotations

from django.db import close_old_connections

from labelapp.exports.services import distillation_run


def run_distillation(distillation_id: int) -> str:
    """Run one queued distillation; returns its final status (a failure is recorded on the row and raised)."""
    close_old_connections()
    try:
        return distillation_run(distillation_id=distillation_id).status
    finally:
        close_old_connections()
