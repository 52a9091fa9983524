"""The training panel on the project page."""

from django import template

from labelapp.projects.models import Project, Role
from labelapp.projects.selectors import has_role
from labelapp.training.selectors import training_status

register = template.Library()


@register.inclusion_tag("training/_panel.html", takes_context=True)
def training_panel(context: template.Context, project: Project) -> dict:
    user = context["user"]
    status = training_status(project)
    return {
        "project": project,
        "user": user,
        "request": context.get("request"),
        "status": status,
        # Exactly one of Stop and Start shows: Stop while training is on and a round runs or waits; Start
        # otherwise (also when training is on but idle, e.g. after a dead worker: Start resumes it).
        "active": status["training_enabled"] and (status["running"] or status["queued"]),
        "is_owner": has_role(user, project, Role.OWNER),
    }
