"""Image pages: the upload page and the member-only file and thumbnail views (the grid is the data
browser of :mod:`labelapp.labeling.browser_views`, which reads labels and predictions)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET, require_http_methods

from labelapp.images import services
from labelapp.images.models import Image
from labelapp.lib.files import member_file_response
from labelapp.lib.images import CONTENT_TYPES
from labelapp.lib.users import AuthenticatedHttpRequest
from labelapp.projects.models import Role
from labelapp.projects.selectors import get_project_for_user, has_role

# Uploading is for owners and reviewers; annotators label what is there.
UPLOAD_ROLE = Role.REVIEWER


@login_required
@require_http_methods(["GET", "POST"])
def image_upload(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    """GET: the upload page. POST (multipart ``files``, from upload.js): JSON with per-file results."""
    project = get_project_for_user(request.user, slug, minimum=UPLOAD_ROLE)
    if request.method == "GET":
        return render(request, "images/upload.html", {"project": project})
    uploads = request.FILES.getlist("files")
    if not uploads:
        return JsonResponse({"detail": "No files were sent."}, status=400)
    report = services.uploads_import(
        project=project, uploads=uploads, user=request.user,
        labels_from_folders=request.POST.get("labels_from_folders") == "1",
        may_create_classes=has_role(request.user, project, Role.OWNER),
    )
    return JsonResponse(report.as_dict())


@login_required
@require_GET
def image_file(request: AuthenticatedHttpRequest, slug: str, image_id: int) -> FileResponse:
    """The original, to project members only, with the content type of the format found by content."""
    project = get_project_for_user(request.user, slug)
    image = get_object_or_404(Image, project=project, pk=image_id)
    return member_file_response(image.file, CONTENT_TYPES[image.format])


@login_required
@require_GET
def image_thumbnail(request: AuthenticatedHttpRequest, slug: str, image_id: int) -> FileResponse:
    """The PNG thumbnail, to project members only."""
    project = get_project_for_user(request.user, slug)
    image = get_object_or_404(Image, project=project, pk=image_id)
    return member_file_response(image.thumbnail, "image/png")
