"""The exports' download table: the query each kind of download takes and the response it builds. The
project page's buttons (:mod:`labelapp.exports.views`) and the REST API's export endpoints both serve
their downloads from :data:`DOWNLOADS`, so a parameter means the same in both."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

from asgiref.sync import sync_to_async
from django.http import FileResponse, Http404, HttpResponse, StreamingHttpResponse
from django.utils.http import content_disposition_header
from rest_framework import serializers
from rest_framework.serializers import Serializer

from labelapp.exports.selectors import LabelOptions, version_for_export
from labelapp.exports.services import (
    CONTENT_TYPES,
    LABEL_FORMATS,
    MODEL_FORMATS,
    DistillationUnavailable,
    VersionPruned,
    labels_export_chunks,
    labels_export_filename,
    model_export_archive,
    model_export_filename,
)
from labelapp.labeling.inputs import version_field
from labelapp.projects.models import Project
from labelapp.training.models import ModelVersion
from sslengine import list_backbones


class LabelExportQuerySerializer(serializers.Serializer):
    """Query of a label export (the project page's button sends the same parameters)."""

    format = serializers.ChoiceField(choices=LABEL_FORMATS)
    include_pseudo = serializers.BooleanField(default=False, help_text="Add accepted pseudo-labels.")
    include_predictions = serializers.BooleanField(
        default=False, help_text="Add unreviewed predictions at or above τ, flagged with source 'prediction'."
    )

    def options(self) -> LabelOptions:
        return LabelOptions(self.validated_data["include_pseudo"], self.validated_data["include_predictions"])


class ModelExportQuerySerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=MODEL_FORMATS)
    version = version_field(required=False, help_text="Default: the current version.")
    variant = serializers.CharField(
        required=False, default="trained", max_length=60,
        help_text="trained (default), int8 (ONNX, quantised) or distilled:<student backbone> (a finished distillation).",
    )

    def validate_variant(self, value: str) -> str:
        if value in ("trained", "int8"):
            return value
        kind, _, student = value.partition(":")
        if kind == "distilled" and student in list_backbones():
            return value
        raise serializers.ValidationError(
            f"choose trained, int8 or distilled:<student> with a student among {', '.join(list_backbones())}"
        )

    def validate(self, data: dict) -> dict:
        if data.get("variant") == "int8" and data.get("format") != "onnx":
            raise serializers.ValidationError({"variant": "int8 models are exported as ONNX only"})
        return data


def _next_chunk(chunks: Iterator[bytes]) -> bytes | None:
    return next(chunks, None)


class ChunkByChunk(StreamingHttpResponse):
    """Serve a synchronous iterator one chunk at a time under ASGI too (a base of the streaming responses below).

    Django's ``StreamingHttpResponse.__aiter__`` turns a synchronous iterator into a list first (the
    whole export in memory); here each chunk is pulled with ``sync_to_async`` in the request's thread,
    where the export's database cursor lives. Under WSGI nothing changes.
    """

    async def __aiter__(self) -> AsyncIterator[bytes]:
        content = self.streaming_content
        assert isinstance(content, Iterator)  # the downloads below stream synchronous iterators only
        chunks = iter(content)
        while (chunk := await sync_to_async(_next_chunk)(chunks)) is not None:
            yield chunk


class StreamingDownload(ChunkByChunk):
    """A generated download (label exports)."""


class FileDownload(ChunkByChunk, FileResponse):
    """A file download (model bundles)."""


def labels_response(project: Project, fmt: str, options: LabelOptions) -> StreamingHttpResponse:
    """A streaming download of the project's labels in ``fmt``."""
    response = StreamingDownload(
        labels_export_chunks(project=project, fmt=fmt, options=options), content_type=CONTENT_TYPES[fmt]
    )
    disposition = content_disposition_header(True, labels_export_filename(project=project, fmt=fmt))
    assert disposition is not None  # None only for an inline response without a file name
    response["Content-Disposition"] = disposition
    response["Cache-Control"] = "no-store"
    return response


def model_response(version: ModelVersion, fmt: str, variant: str = "trained") -> HttpResponse | FileResponse:
    """The zip of model + card + predict example of ``version``; 410 with the reason when it was pruned,
    404 when its checkpoint (or the asked-for distillation) is gone otherwise."""
    try:
        path = model_export_archive(version=version, fmt=fmt, variant=variant)
    except VersionPruned as exc:
        return HttpResponse(str(exc), status=410, content_type="text/plain; charset=utf-8")
    except (FileNotFoundError, ValueError, DistillationUnavailable) as exc:  # checkpoint gone, classes changed, not distilled
        raise Http404(str(exc)) from exc
    return FileDownload(
        path.open("rb"), as_attachment=True, filename=model_export_filename(version=version, fmt=fmt, variant=variant),
        content_type="application/zip",
    )


def labels_query_response(project: Project, query: LabelExportQuerySerializer) -> StreamingHttpResponse:
    """The label download a validated query asks for."""
    return labels_response(project, query.validated_data["format"], query.options())


def model_query_response(project: Project, query: ModelExportQuerySerializer) -> HttpResponse | FileResponse:
    """The model download a validated query asks for (404 when there is no such version)."""
    version = version_for_export(project=project, number=query.validated_data.get("version"))
    if version is None:
        raise Http404("No such model version.")
    return model_response(version, query.validated_data["format"], query.validated_data["variant"])


# kind → (query serializer, response builder); the REST API's export endpoints use the same table.
DOWNLOADS: dict[str, tuple[type[Serializer], Callable]] = {
    "labels": (LabelExportQuerySerializer, labels_query_response),
    "model": (ModelExportQuerySerializer, model_query_response),
}
