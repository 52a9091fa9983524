"""Training views: owners start and stop continuous training, pin versions and roll back; members read the status."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_GET, require_POST

from labelapp.projects.models import Project, Role
from labelapp.projects.selectors import get_project_for_user
from labelapp.training.chain import training_start, training_stop
from labelapp.training.models import ModelVersion
from labelapp.training.selectors import training_status
from labelapp.training.versions import VersionUnavailable, project_rollback, version_pin


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


@login_required
@require_POST
def version_pin_view(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    """Owners: ``pinned=1`` keeps the version's predictions and checkpoint whatever its age, ``pinned=0`` stops."""
    project = get_project_for_user(request.user, slug, minimum=Role.OWNER)
    version = get_object_or_404(ModelVersion, project=project, number=number)
    pinned = request.POST.get("pinned", "1") != "0"
    version_pin(version=version, pinned=pinned)
    messages.success(request, f"Version {number} is {'pinned: its data is kept' if pinned else 'no longer pinned'}.")
    return redirect("projects:detail", slug=project.slug)


@login_required
@require_POST
def version_rollback_view(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    """Owners: make a kept version current again (refused, with the reason, for a pruned one)."""
    project = get_project_for_user(request.user, slug, minimum=Role.OWNER)
    version = get_object_or_404(ModelVersion, project=project, number=number)
    try:
        project_rollback(project=project, version=version)
    except VersionUnavailable as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Version {number} is current again (and pinned); the next round resumes from it.")
    return redirect("projects:detail", slug=project.slug)
