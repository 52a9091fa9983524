"""The exports panel on the project page (owners only)."""

from django import template
from django.conf import settings
from django.db.models import Q

from labelapp.exports.forms import DistillForm
from labelapp.exports.selectors import distillations_of, distilled_students, export_jobs_of
from labelapp.exports.services import model_export_refusal
from labelapp.projects.models import Project, Role
from labelapp.projects.selectors import has_role
from labelapp.training.models import ModelVersion

register = template.Library()


@register.inclusion_tag("exports/_panel.html", takes_context=True)
def exports_panel(context: template.Context, project: Project) -> dict:
    user = context["user"]
    is_owner = has_role(user, project, Role.OWNER)
    versions = (
        ModelVersion.objects.filter(project=project)
        .filter(Q(finished_at__isnull=False) | Q(pk=project.current_version_id))  # not a dead round's leftover
        .order_by("-number")[:50]
        if is_owner else []
    )
    versions = list(versions)
    exportable = [version for version in versions if model_export_refusal(version) is None]
    panel = {"project": project, "user": user, "is_owner": is_owner, "versions": versions, "exportable": exportable,
             "keep": settings.TRAINING_KEEP_VERSIONS}
    if is_owner:
        panel.update(
            distillations=distillations_of(project=project),
            distilled_students=distilled_students(project=project),
            distill_form=DistillForm(project=project),
            export_jobs=export_jobs_of(project=project),
            keep_hours=settings.EXPORT_KEEP_HOURS,
        )
    return panel
