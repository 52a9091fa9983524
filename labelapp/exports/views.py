"""Owner-only downloads: labels (streamed) and model bundles (built once per version and format)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponseBadRequest, StreamingHttpResponse
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET

from labelapp.api.serializers import LabelExportQuerySerializer, ModelExportQuerySerializer
from labelapp.exports.selectors import LabelOptions, version_for_export
from labelapp.exports.services import (
    CONTENT_TYPES,
    labels_export_chunks,
    labels_export_filename,
    model_export_archive,
    model_export_filename,
)
from labelapp.projects.models import Project, Role
from labelapp.projects.selectors import get_project_for_user
from labelapp.training.models import ModelVersion


def labels_response(project: Project, fmt: str, options: LabelOptions) -> StreamingHttpResponse:
    """A streaming download of the project's labels in ``fmt``."""
    response = StreamingHttpResponse(
        labels_export_chunks(project=project, fmt=fmt, options=options), content_type=CONTENT_TYPES[fmt]
    )
    response["Content-Disposition"] = content_disposition_header(True, labels_export_filename(project=project, fmt=fmt))
    response["Cache-Control"] = "no-store"
    return response


def model_response(version: ModelVersion, fmt: str) -> FileResponse:
    """The zip of model + card + predict example of ``version``; 404 when its checkpoint is gone."""
    try:
        path = model_export_archive(version=version, fmt=fmt)
    except (FileNotFoundError, ValueError) as exc:  # checkpoint gone, or classes no longer match the model
        raise Http404(str(exc)) from exc
    return FileResponse(
        path.open("rb"), as_attachment=True, filename=model_export_filename(version=version, fmt=fmt),
        content_type="application/zip",
    )


def _errors(query) -> str:
    return "; ".join(f"{field}: {' '.join(str(m) for m in messages)}" for field, messages in query.errors.items())


@login_required
@require_GET
def labels_download(request: HttpRequest, slug: str):
    project = get_project_for_user(request.user, slug, minimum=Role.OWNER)
    query = LabelExportQuerySerializer(data=request.GET)
    if not query.is_valid():
        return HttpResponseBadRequest(_errors(query), content_type="text/plain; charset=utf-8")
    return labels_response(project, query.validated_data["format"], query.options())


@login_required
@require_GET
def model_download(request: HttpRequest, slug: str):
    project = get_project_for_user(request.user, slug, minimum=Role.OWNER)
    query = ModelExportQuerySerializer(data=request.GET)
    if not query.is_valid():
        return HttpResponseBadRequest(_errors(query), content_type="text/plain; charset=utf-8")
    version = version_for_export(project=project, number=query.validated_data.get("version"))
    if version is None:
        raise Http404("No such model version")
    return model_response(version, query.validated_data["format"])
