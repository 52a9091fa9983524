"""The project's navigation bar, showing each link only to the roles that may use it."""

from django import template

from labelapp.projects.models import Project, Role
from labelapp.projects.selectors import role_of

register = template.Library()


@register.inclusion_tag("projects/_nav.html", takes_context=True)
def project_nav(context: template.Context, project: Project) -> dict:
    """Links to the project's pages; the current page (by URL name, e.g. ``labeling:images``) is marked."""
    role = role_of(context["user"], project)
    request = context.get("request")
    match = getattr(request, "resolver_match", None)
    return {
        "project": project,
        "active": match.view_name if match else "",
        "role": role,
        "is_owner": role == Role.OWNER,
        "can_upload": role in (Role.OWNER, Role.REVIEWER),
    }
