"""The labeling panel on the project page."""

from django import template

from labelapp.projects.models import Project

register = template.Library()


@register.inclusion_tag("labeling/_panel.html", takes_context=True)
def labeling_panel(context: template.Context, project: Project) -> dict:
    return {"project": project, "user": context["user"], "request": context.get("request")}
