"""Project scoping for every API view: one place that resolves the project and the role an action needs."""

from __future__ import annotations

from rest_framework.request import Request

from labelapp.projects.models import Project, Role
from labelapp.projects.selectors import get_project_for_user


class ProjectScoped:
    """Mixin for views under ``api/projects/<slug>/``: ``self.project`` is resolved before any handler runs.

    ``get_project_for_user`` raises Http404 for outsiders and for members below the role the request's
    method needs (``read_role`` for safe methods, ``write_role`` otherwise), so another project's data is
    never reachable and never confirmed to exist.
    """

    read_role: Role = Role.ANNOTATOR
    write_role: Role = Role.ANNOTATOR
    project: Project

    def required_role(self, request: Request) -> Role:
        return self.read_role if request.method in ("GET", "HEAD", "OPTIONS") else self.write_role

    def initial(self, request: Request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)  # authentication and IsAuthenticated first
        self.project = get_project_for_user(request.user, kwargs["slug"], minimum=self.required_role(request))
