"""The labeling panel on the project page: links to each queue with its size."""

from django import template

from labelapp.labeling.selectors import labeling_counts
from labelapp.projects.models import Project, Role
from labelapp.projects.selectors import has_role

register = template.Library()


@register.inclusion_tag("labeling/_panel.html", takes_context=True)
def labeling_panel(context: template.Context, project: Project) -> dict:
    user = context["user"]
    return {
        "project": project,
        "user": user,
        "request": context.get("request"),
        "counts": labeling_counts(project, reader=user),
        "can_review": has_role(user, project, Role.REVIEWER),
    }
