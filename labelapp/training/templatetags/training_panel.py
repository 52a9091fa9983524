"""The training panel on the project page."""

from django import template

from labelapp.projects.models import Project, Role
from labelapp.projects.selectors import has_role
from labelapp.training.selectors import training_status

register = template.Library()


@register.inclusion_tag("training/_panel.html", takes_context=True)
def training_panel(context: template.Context, project: Project) -> dict:
    user = context["user"]
    return {
        "project": project,
        "user": user,
        "request": context.get("request"),
        "status": training_status(project),
        "is_owner": has_role(user, project, Role.OWNER),
    }
