"""Owner-only downloads: labels (streamed) and model bundles (built once per version and format)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponseBadRequest, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from labelapp.exports.downloads import DOWNLOADS
from labelapp.exports.forms import DistillForm
from labelapp.exports.models import Distillation
from labelapp.exports.selectors import distillation_state
from labelapp.exports.services import distillation_start
from labelapp.lib.inputs import error_text
from labelapp.projects.models import Role
from labelapp.projects.selectors import get_project_for_user


@login_required
@require_GET
def download(request: HttpRequest, slug: str, kind: str) -> HttpResponseBase:
    """Owners only; a bad query is a 400 whose text names each wrong parameter."""
    project = get_project_for_user(request.user, slug, minimum=Role.OWNER)
    serializer_class, respond = DOWNLOADS[kind]
    query = serializer_class(data=request.GET)
    if not query.is_valid():
        return HttpResponseBadRequest(error_text(query.errors), content_type="text/plain; charset=utf-8")
    return respond(project, query)


@login_required
@require_POST
def distill_start(request: HttpRequest, slug: str) -> HttpResponseBase:
    """Owners only: queue a distillation of one of the project's versions, then back to the project page."""
    project = get_project_for_user(request.user, slug, minimum=Role.OWNER)
    form = DistillForm(request.POST, project=project)
    if not form.is_valid():
        return HttpResponseBadRequest(error_text(form.errors), content_type="text/plain; charset=utf-8")
    data = form.cleaned_data
    distillation_start(version=data["version"], student=data["student"], mode=data["mode"], seconds=data["seconds"], user=request.user)
    return redirect(reverse("projects:detail", kwargs={"slug": project.slug}) + "#exports-panel")


@login_required
@require_GET
def distillation_status(request: HttpRequest, slug: str, distillation_id: int) -> JsonResponse:
    """Owners only: progress and results of one of the project's distillations (the panel polls it)."""
    project = get_project_for_user(request.user, slug, minimum=Role.OWNER)
    distillation = get_object_or_404(Distillation, project=project, pk=distillation_id)
    return JsonResponse(distillation_state(distillation=distillation))
