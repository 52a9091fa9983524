"""Training views: owners start and stop continuous training, members read the status."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_POST

from labelapp.projects.models import Project, Role
from labelapp.projects.selectors import get_project_for_user
from labelapp.training.selectors import training_status
from labelapp.training.services import training_start, training_stop


def _after_switch(request: HttpRequest, project: Project) -> HttpResponse:
    """JSON status for scripts (``Accept: application/json``), else back to the project page."""
    if request.accepts("application/json") and not request.accepts("text/html"):
        return JsonResponse(training_status(project))
    return redirect("projects:detail", slug=project.slug)


@login_required
@require_POST
def training_start_view(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug, minimum=Role.OWNER)
    training_start(project=project)
    return _after_switch(request, project)


@login_required
@require_POST
def training_stop_view(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug, minimum=Role.OWNER)
    training_stop(project=project)
    return _after_switch(request, project)


@login_required
@require_GET
def training_status_view(request: HttpRequest, slug: str) -> JsonResponse:
    return JsonResponse(training_status(get_project_for_user(request.user, slug)))
