"""The images app's figures on other apps' pages (the project page's summary)."""

from django import template

from labelapp.images.selectors import image_counts as counts_of
from labelapp.projects.models import Project

register = template.Library()


@register.simple_tag
def image_counts(project: Project) -> dict[str, int]:
    """``{% image_counts project as counts %}``: the project's image and label counts."""
    return counts_of(project=project)
