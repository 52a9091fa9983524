"""Owner-only exports: background export jobs (the project page's forms: start, follow, download for a
day) and direct downloads (labels streamed, model bundles built once per version and format; the
REST API serves the same table)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from labelapp.exports.background import ExportUnavailable, export_job_file, export_job_start
from labelapp.exports.downloads import DOWNLOADS, FileDownload
from labelapp.exports.forms import DistillForm
from labelapp.exports.models import Distillation, ExportJob
from labelapp.exports.selectors import distillation_state, export_job_state
from labelapp.exports.services import CONTENT_TYPES, distillation_start
from labelapp.lib.inputs import error_text
from labelapp.projects.models import Project, Role
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


def _panel_redirect(project: Project) -> HttpResponse:
    return redirect(reverse("projects:detail", kwargs={"slug": project.slug}) + "#exports-panel")


@login_required
@require_POST
def export_start(request: HttpRequest, slug: str) -> HttpResponseBase:
    """Owners only: queue a background export (``kind`` labels or model, with the direct download's
    parameters), then back to the project page, where the exports panel follows it."""
    project = get_project_for_user(request.user, slug, minimum=Role.OWNER)
    kind = request.POST.get("kind", "")
    if kind not in DOWNLOADS:
        return HttpResponseBadRequest("kind: choose labels or model", content_type="text/plain; charset=utf-8")
    serializer_class, _ = DOWNLOADS[kind]
    query = serializer_class(data=request.POST)
    if not query.is_valid():
        return HttpResponseBadRequest(error_text(query.errors), content_type="text/plain; charset=utf-8")
    try:
        export_job_start(project=project, kind=kind, options=dict(query.validated_data), user=request.user)
    except ValueError as exc:
        return HttpResponseBadRequest(str(exc), content_type="text/plain; charset=utf-8")
    return _panel_redirect(project)


def _owned_job(request: HttpRequest, slug: str, job_id: int) -> tuple[Project, ExportJob | None]:
    project = get_project_for_user(request.user, slug, minimum=Role.OWNER)
    return project, ExportJob.objects.filter(project=project, pk=job_id).select_related("project").first()


@login_required
@require_GET
def export_status(request: HttpRequest, slug: str, export_id: int) -> JsonResponse:
    """Owners only: progress of one of the project's exports and its row as the panel renders it."""
    project, job = _owned_job(request, slug, export_id)
    if job is None:
        return JsonResponse({"detail": "No such export in this project."}, status=404)
    html = render_to_string("exports/_job.html", {"job": job, "project": project}, request=request)
    return JsonResponse({**export_job_state(job=job), "html": html})


@login_required
@require_GET
def export_download(request: HttpRequest, slug: str, export_id: int) -> HttpResponseBase:
    """Owners only: the finished file; 409 while it is being built, 410 once it expired, each with the
    reason (a page with the way back for a browser, plain text otherwise)."""
    project, job = _owned_job(request, slug, export_id)
    if job is None:
        raise Http404("No such export in this project.")
    try:
        path = export_job_file(job=job)
    except ExportUnavailable as exc:
        if not request.accepts("text/html"):
            return HttpResponse(str(exc), status=exc.status_code, content_type="text/plain; charset=utf-8")
        context = {"project": project, "reason": str(exc), "status_code": exc.status_code}
        return render(request, "exports/unavailable.html", context, status=exc.status_code)
    content_type = "application/zip" if job.filename.endswith(".zip") else CONTENT_TYPES.get(job.options.get("format"), "application/octet-stream")
    response = FileDownload(path.open("rb"), as_attachment=True, filename=job.filename, content_type=content_type)
    response["Cache-Control"] = "no-store"
    return response
