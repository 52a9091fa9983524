"""REST API views. Thin: scope the project (``ProjectScoped``), validate with a serializer, call one
selector or service, serialize. Every id in a URL or body is looked up inside the caller's project."""

from __future__ import annotations

from django.conf import settings
from django.http import FileResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, PolymorphicProxySerializer, extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from labelapp.api import serializers as s
from labelapp.api.models import ApiToken
from labelapp.api.pagination import ViewCursorPagination
from labelapp.api.permissions import ProjectScoped
from labelapp.api.services import api_token_create, api_token_revoke
from labelapp.exports.downloads import DOWNLOADS, LabelExportQuerySerializer, ModelExportQuerySerializer
from labelapp.images.models import Image
from labelapp.images.services import image_add, uploads_import
from labelapp.images.sources import import_limits
from labelapp.images.views import UPLOAD_ROLE
from labelapp.labeling import services as labeling
from labelapp.labeling.models import Annotation
from labelapp.labeling.selectors import current_version, review_queue
from labelapp.lib.files import member_file_response
from labelapp.lib.images import CONTENT_TYPES, InvalidImage
from labelapp.projects.models import LabelClass, Project, Role
from labelapp.projects.selectors import get_project_for_user, has_role, projects_for_user
from labelapp.training.models import ModelVersion, Prediction
from labelapp.training.services import training_start, training_stop

MIB = 1024 * 1024


class ProjectList(generics.ListAPIView):
    """Projects the caller belongs to."""

    serializer_class = s.ProjectSerializer
    pagination_class = ViewCursorPagination
    ordering = "id"

    def get_queryset(self):
        return projects_for_user(self.request.user).select_related("current_version").prefetch_related("classes")


class ProjectDetail(generics.RetrieveAPIView):
    """One project (404 unless the caller is a member)."""

    serializer_class = s.ProjectSerializer
    queryset = Project.objects.none()

    def get_object(self) -> Project:
        return get_project_for_user(self.request.user, self.kwargs["slug"])


class ClassList(ProjectScoped, generics.ListAPIView):
    """The project's classes, in model output order."""

    serializer_class = s.LabelClassSerializer
    pagination_class = ViewCursorPagination
    ordering = "index"
    queryset = LabelClass.objects.none()

    def get_queryset(self):
        return LabelClass.objects.filter(project=self.project)


@extend_schema_view(get=extend_schema(parameters=[s.ImageFilterSerializer]))
class ImageListCreate(ProjectScoped, generics.ListCreateAPIView):
    """GET: images by id (``?labeled=true|false``). POST (owner or reviewer), multipart: one image as
    ``file`` (201 when stored, 200 with ``created: false`` when the same content is already there, 400 with
    the reason when it is not an acceptable image), or several images or zips as ``files`` (200 with one
    result per file: added, duplicate or refused with the reason; a bad file never stops the rest)."""

    serializer_class = s.ImageSerializer
    pagination_class = ViewCursorPagination
    parser_classes = [MultiPartParser, FormParser]
    ordering = "id"
    write_role = UPLOAD_ROLE
    queryset = Image.objects.none()

    def get_queryset(self):
        query = s.ImageFilterSerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        images = Image.objects.filter(project=self.project).select_related("project", "annotation__label_class")
        labeled = query.validated_data.get("labeled")
        return images if labeled is None else images.filter(annotation__isnull=labeled == "false")

    @extend_schema(request=s.ImageUploadSerializer, responses={
        201: s.ImageUploadResultSerializer,
        200: PolymorphicProxySerializer(
            component_name="ImageUploadAnswer", serializers=[s.ImageUploadResultSerializer, s.ImageBatchResultSerializer],
            resource_type_field_name=None,
        ),
    })
    def post(self, request: Request, slug: str) -> Response:
        upload = s.ImageUploadSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        if "files" in upload.validated_data:
            report = uploads_import(
                project=self.project, uploads=upload.validated_data["files"], user=request.user,
                labels_from_folders=upload.validated_data["labels_from_folders"],
                may_create_classes=has_role(request.user, self.project, Role.OWNER),
            )
            return Response(report.as_dict(), status=status.HTTP_200_OK)
        file = upload.validated_data["file"]
        limit = min(import_limits().max_file_bytes, settings.MAX_UPLOAD_BYTES)
        if file.size > limit:
            raise ValidationError({"file": [f"The file is larger than {limit // MIB} MiB."]})
        try:
            image, created = image_add(project=self.project, name=file.name or "", data=file.read(), user=request.user)
        except InvalidImage as exc:
            raise ValidationError({"file": [str(exc)]}) from exc
        body = {"created": created, "image": s.ImageSerializer(image, context={"request": request}).data}
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class ImageDetail(ProjectScoped, generics.RetrieveAPIView):
    """One image of the project (ids of other projects are 404)."""

    serializer_class = s.ImageSerializer
    lookup_url_kwarg = "image_id"
    queryset = Image.objects.none()

    def get_queryset(self):
        return Image.objects.filter(project=self.project).select_related("project", "annotation__label_class")


class ImageContent(ProjectScoped, APIView):
    """The image's original file (``content = "file"``) or its PNG thumbnail (``"thumbnail"``), to members."""

    content: str = "file"

    @extend_schema(responses={(200, "image/*"): OpenApiTypes.BINARY})
    def get(self, request: Request, slug: str, image_id: int) -> FileResponse:
        image = get_object_or_404(Image, project=self.project, pk=image_id)
        if self.content == "thumbnail":
            return member_file_response(image.thumbnail, "image/png")
        return member_file_response(image.file, CONTENT_TYPES[image.format])


class NextImage(ProjectScoped, APIView):
    """Lease the next image of a queue to the caller for a short while (null when the queue is empty)."""

    @extend_schema(request=s.NextImageRequestSerializer, responses=s.NextImageSerializer)
    def post(self, request: Request, slug: str) -> Response:
        query = s.NextImageRequestSerializer(data=request.data)
        query.is_valid(raise_exception=True)
        lease = labeling.lease_next(
            project=self.project, user=request.user, queue=query.validated_data["queue"],
            held=query.validated_data["held"],
        )
        if lease is None:
            return Response({"image": None, "lease": None})
        image = Image.objects.select_related("project", "annotation__label_class").get(pk=lease.image_id)
        return Response({
            "image": s.ImageSerializer(image, context={"request": request}).data,
            "lease": {"token": lease.token, "expires_at": lease.expires_at},
        })


@extend_schema_view(get=extend_schema(parameters=[s.AnnotationFilterSerializer]))
class AnnotationListCreate(ProjectScoped, generics.ListCreateAPIView):
    """GET: current labels (``?source=human|pseudo``, ``?image=<id>``). POST: label an image
    (``class_index``); 409 when someone else labeled it since ``expected_revision``."""

    serializer_class = s.AnnotationSerializer
    pagination_class = ViewCursorPagination
    ordering = "id"
    queryset = Annotation.objects.none()

    def get_queryset(self):
        query = s.AnnotationFilterSerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        annotations = Annotation.objects.filter(project=self.project, **query.validated_data)
        return annotations.select_related("label_class", "annotator")

    @extend_schema(request=s.AnnotationSubmitSerializer, responses={201: s.AnnotationSerializer, 200: s.AnnotationSerializer})
    def post(self, request: Request, slug: str) -> Response:
        body = s.AnnotationSubmitSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        image = get_object_or_404(Image, project=self.project, pk=body.validated_data["image"])
        label_class = LabelClass.objects.filter(project=self.project, index=body.validated_data["class_index"]).first()
        if label_class is None:
            raise ValidationError({"class_index": ["No class with this index in the project."]})
        existed = Annotation.objects.filter(image=image).exists()
        try:
            annotation = labeling.annotation_submit(
                project=self.project, image=image, label_class=label_class, user=request.user,
                expected_revision=body.validated_data.get("expected_revision"),
            )
        except labeling.LabelingError as exc:
            return Response({"detail": str(exc)}, status=exc.status)
        code = status.HTTP_200_OK if existed else status.HTTP_201_CREATED
        return Response(s.AnnotationSerializer(annotation).data, status=code)


@extend_schema_view(get=extend_schema(parameters=[s.PseudoLabelFilterSerializer]))
class PseudoLabels(ProjectScoped, generics.ListCreateAPIView):
    """GET (reviewers): the current version's confident predictions (≥ τ) on unlabeled, unrejected images
    (``?class_index=``). POST: accept some and reject others of one version, all or nothing."""

    serializer_class = s.PseudoLabelSerializer
    pagination_class = ViewCursorPagination
    ordering = "id"
    read_role = write_role = Role.REVIEWER
    queryset = Prediction.objects.none()

    def get_queryset(self):
        version = current_version(self.project)
        if version is None:
            return Prediction.objects.none()
        query = s.PseudoLabelFilterSerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return review_queue(self.project, version=version, **query.validated_data).select_related("version")

    def get_serializer_context(self) -> dict:
        names = dict(LabelClass.objects.filter(project=self.project).values_list("index", "name"))
        return {**super().get_serializer_context(), "class_names": names}

    @extend_schema(request=s.PseudoLabelDecisionSerializer, responses=s.DecisionResultSerializer)
    def post(self, request: Request, slug: str) -> Response:
        body = s.PseudoLabelDecisionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            result = labeling.pseudo_labels_decide(
                project=self.project, user=request.user, version_number=body.validated_data["version"],
                accept_ids=body.validated_data["accept"], reject_ids=body.validated_data["reject"],
            )
        except labeling.LabelingError as exc:
            return Response({"detail": str(exc)}, status=exc.status)
        return Response(result)


class _Versions(ProjectScoped):
    serializer_class = s.ModelVersionSerializer
    queryset = ModelVersion.objects.none()

    def get_queryset(self):
        return ModelVersion.objects.filter(project=self.project).select_related("project")


class VersionList(_Versions, generics.ListAPIView):
    """Model versions, newest first, with counts, losses, metrics and timings."""

    pagination_class = ViewCursorPagination
    ordering = "-number"


class VersionDetail(_Versions, generics.RetrieveAPIView):
    """One model version by number."""

    lookup_field = "number"


class Gone(APIException):
    status_code = 410
    default_detail = "This version's bulky data was pruned."
    default_code = "gone"


@extend_schema_view(get=extend_schema(responses={200: s.PredictionSerializer(many=True), 410: OpenApiResponse(
    description="The version's predictions were pruned (only the newest versions and pinned ones keep them)")}))
class PredictionList(ProjectScoped, generics.ListAPIView):
    """Per-image predictions of one version (reviewers and owners), by image id."""

    serializer_class = s.PredictionSerializer
    pagination_class = ViewCursorPagination
    ordering = "image_id"
    read_role = Role.REVIEWER
    queryset = Prediction.objects.none()

    def get_queryset(self):
        version = get_object_or_404(ModelVersion, project=self.project, number=self.kwargs["number"])
        if version.is_pruned:
            raise Gone(f"Version {version.number}'s predictions were pruned (its metrics are kept: see the version).")
        return Prediction.objects.filter(version=version)


class RawDownload(BaseContentNegotiation):
    """Export downloads are files, not renderings: ``?format=`` names the export format, not a renderer."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class ExportDownload(ProjectScoped, APIView):
    """Owners: a download built by the exports app from the validated query (same table as the page's buttons)."""

    read_role = Role.OWNER
    renderer_classes = [JSONRenderer]
    content_negotiation_class = RawDownload
    kind: str = "labels"

    def get(self, request: Request, slug: str) -> HttpResponseBase:
        serializer_class, respond = DOWNLOADS[self.kind]
        query = serializer_class(data=request.query_params)
        query.is_valid(raise_exception=True)
        return respond(self.project, query)


@extend_schema_view(get=extend_schema(
    parameters=[LabelExportQuerySerializer],
    responses={(200, "text/csv"): OpenApiTypes.BINARY, (200, "application/json"): OpenApiTypes.BINARY,
               (200, "application/zip"): OpenApiTypes.BINARY},
))
class ExportLabels(ExportDownload):
    """Owners: the labels as CSV, JSON or an ImageFolder zip, streamed."""

    kind = "labels"


@extend_schema_view(get=extend_schema(
    parameters=[ModelExportQuerySerializer],
    responses={(200, "application/zip"): OpenApiTypes.BINARY, 404: OpenApiResponse(description="No such version"),
               410: OpenApiResponse(description="The version was pruned: its checkpoint is gone")},
))
class ExportModel(ExportDownload):
    """Owners: a zip with the model (ONNX or TorchScript), its model card and a predict example."""

    kind = "model"


class TrainingSwitch(ProjectScoped, APIView):
    """Owners: turn continuous training on (a round is queued) or off (the running round finishes)."""

    write_role = Role.OWNER
    switch: str = "start"

    @extend_schema(request=None, responses=s.TrainingStateSerializer)
    def post(self, request: Request, slug: str) -> Response:
        (training_start if self.switch == "start" else training_stop)(project=self.project)
        return Response({"training_enabled": self.project.training_enabled})


class TokenView(APIView):
    """``POST``: a new API token for a username and password (the login budget applies); ``DELETE``: revoke
    the token this request is authenticated with."""

    def get_permissions(self):
        return [] if self.request.method == "POST" else super().get_permissions()

    @extend_schema(request=s.TokenRequestSerializer, responses={200: s.TokenCreatedSerializer})
    def post(self, request: Request) -> Response:
        form = s.TokenRequestSerializer(data=request.data, context={"request": request})
        form.is_valid(raise_exception=True)
        token, key = api_token_create(user=form.validated_data["user"], name=form.validated_data["name"])
        return Response(s.TokenCreatedSerializer({"id": token.pk, "token": key, "expires_at": token.expires_at}).data)

    @extend_schema(request=None, responses={204: OpenApiResponse(description="Revoked."),
                                            400: OpenApiResponse(description="Not authenticated with a token.")})
    def delete(self, request: Request) -> Response:
        if not isinstance(request.auth, ApiToken):
            return Response({"detail": "Send the token to revoke: DELETE /api/token/ with "
                                       "'Authorization: Token <key>'."}, status=status.HTTP_400_BAD_REQUEST)
        api_token_revoke(user=request.user, token_id=request.auth.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)
