"""The RQ jobs of the ``default`` queue (``manage.py rqworker default``): distillations and background exports."""

from __future__ import annotations

from django.db import close_old_connections

from labelapp.exports.background import export_job_run
from labelapp.exports.services import distillation_run


def run_distillation(distillation_id: int) -> str:
    """Run one queued distillation; returns its final status (a failure is recorded on the row and raised)."""
    close_old_connections()
    try:
        return distillation_run(distillation_id=distillation_id).status
    finally:
        close_old_connections()


def run_export(job_id: int) -> str:
    """Build one queued export (:func:`labelapp.exports.background.export_job_run`); returns its final status."""
    close_old_connections()
    try:
        return export_job_run(job_id=job_id).status
    finally:
        close_old_connections()
