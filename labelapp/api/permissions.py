"""Project scoping for every API view: one place that resolves the project and the role an action needs;
and the session authentication whose CSRF check comes before the body is parsed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from drf_spectacular.authentication import SessionScheme
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import ParseError, UnsupportedMediaType
from rest_framework.request import Request

from labelapp.projects.models import Project, Role
from labelapp.projects.selectors import get_project_for_user

# The class the mixin goes with, as its base for the type checker only: at run time ``rest_framework.views``
# imports this module (DEFAULT_AUTHENTICATION_CLASSES names the class below), so APIView cannot be a base here.
if TYPE_CHECKING:
    from rest_framework.views import APIView as _ScopedView
else:
    _ScopedView = object


class ProjectScoped(_ScopedView):
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


class CsrfFirstSessionAuthentication(SessionAuthentication):
    """DRF's session authentication, with a CSRF check that a body the view cannot parse does not beat.

    DRF hands Django's CSRF check its own request, whose ``POST`` parses the body with the view's parsers:
    a session with a CSRF cookie (every browser that has seen a page) posting JSON to a multipart-only
    endpoint without the token got 415, or 400 for a form body sent to a JSON endpoint, instead of 403.
    Here such a request is checked again on Django's own request (the token then comes from the header).
    """

    def enforce_csrf(self, request: Request) -> None:
        try:
            super().enforce_csrf(request)
        except (ParseError, UnsupportedMediaType):
            super().enforce_csrf(request._request)


class CsrfFirstSessionScheme(SessionScheme):
    """The OpenAPI description of :class:`CsrfFirstSessionAuthentication`: DRF's session cookie scheme."""

    # By import path, as drf-spectacular's own schemes name their classes (the attribute is typed ``str`` there).
    target_class = "labelapp.api.permissions.CsrfFirstSessionAuthentication"
