"""The project's navigation bar, showing each link only to the roles that may use it."""

from django import template

from labelapp.projects.models import Project, Role
from labelapp.projects.selectors import role_of

register = template.Library()


@register.inclusion_tag("projects/_nav.html", takes_context=True)
def project_nav(context: template.Context, project: Project, active: str = "") -> dict:
    role = role_of(context["user"], project)
    return {
        "project": project,
        "active": active,
        "role": role,
        "is_owner": role == Role.OWNER,
        "can_upload": role in (Role.OWNER, Role.REVIEWER),
    }
