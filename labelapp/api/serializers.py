"""API representations. Read serializers are flat and explicit; write serializers validate input only
(the services do the work and the checks that need the database)."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.authtoken.serializers import AuthTokenSerializer

from labelapp.images.models import Image
from labelapp.labeling.inputs import (  # noqa: F401  (the API's request bodies are the web endpoints' ones)
    AnnotationSubmitSerializer,
    NextImageRequestSerializer,
    PseudoLabelDecisionSerializer,
    class_index_field,
    version_field,
)
from labelapp.labeling.models import Annotation, Source
from labelapp.lib.inputs import id_field
from labelapp.projects.models import LabelClass, Project
from labelapp.projects.selectors import role_of
from labelapp.training.models import ModelVersion, Prediction


class LabelClassSerializer(serializers.ModelSerializer):
    class Meta:
        model = LabelClass
        fields = ["index", "name", "hotkey"]


class ProjectSerializer(serializers.ModelSerializer):
    """A project as its members see it, with the caller's role and the current version's number."""

    classes = LabelClassSerializer(many=True, read_only=True)
    current_version = serializers.SerializerMethodField()
    role = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = [
            "slug", "name", "description", "algorithm", "backbone", "strategy", "threshold",
            "low_confidence_threshold", "image_size", "grayscale", "holdout_fraction", "training_enabled",
            "round_seconds", "current_version", "role", "classes", "created_at",
        ]

    def get_current_version(self, project: Project) -> int | None:
        version = project.current_version
        return version.number if version else None

    def get_role(self, project: Project) -> str | None:
        role = role_of(self.context["request"].user, project)
        return str(role) if role else None


class CurrentLabelSerializer(serializers.ModelSerializer):
    class_index = serializers.IntegerField(source="label_class.index")
    label = serializers.CharField(source="label_class.name")

    class Meta:
        model = Annotation
        fields = ["class_index", "label", "source", "revision"]


class ImageSerializer(serializers.ModelSerializer):
    """An image with its current label (or null) and member-only API links to the file and thumbnail."""

    label = serializers.SerializerMethodField()
    file_url = serializers.SerializerMethodField()
    thumbnail_url = serializers.SerializerMethodField()

    class Meta:
        model = Image
        fields = ["id", "original_name", "format", "width", "height", "holdout", "created_at", "label",
                  "file_url", "thumbnail_url"]

    def _url(self, name: str, image: Image) -> str:
        path = reverse(f"api:{name}", kwargs={"slug": image.project.slug, "image_id": image.pk})
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path

    @extend_schema_field(CurrentLabelSerializer(allow_null=True))
    def get_label(self, image: Image) -> dict | None:
        annotation = getattr(image, "annotation", None)
        return CurrentLabelSerializer(annotation).data if annotation else None

    def get_file_url(self, image: Image) -> str:
        return self._url("image-file", image)

    def get_thumbnail_url(self, image: Image) -> str:
        return self._url("image-thumbnail", image)


class ImageFilterSerializer(serializers.Serializer):
    labeled = serializers.ChoiceField(choices=["true", "false"], required=False, help_text="Only labeled or unlabeled images.")


class ImageUploadSerializer(serializers.Serializer):
    """Either ``file`` (one image) or ``files`` (several images or zips, like the upload page)."""

    file = serializers.FileField(
        required=False, help_text="One image file (PNG, JPEG, GIF, BMP, WebP or TIFF), checked by content."
    )
    files = serializers.ListField(
        child=serializers.FileField(), required=False, allow_empty=False,
        help_text="Several image files or zips in one request (repeat the field); the answer has a result per file.",
    )
    labels_from_folders = serializers.BooleanField(
        default=False, help_text="With ``files``: a zip's ImageFolder sub-folder names become human labels."
    )

    def validate(self, data: dict) -> dict:
        if "file" not in data and "files" not in data:
            raise serializers.ValidationError({"file": ["No file was submitted."]})
        if "file" in data and "files" in data:
            raise serializers.ValidationError({"files": ["Send one `file` or several `files`, not both."]})
        return data


class ImportResultSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="The file's name in the upload (a zip member's own name).")
    status = serializers.ChoiceField(choices=["added", "duplicate", "refused"])
    reason = serializers.CharField(help_text="Why it was refused; empty otherwise.")
    image_id = serializers.IntegerField(allow_null=True)
    label = serializers.CharField(allow_null=True, help_text="The class it was labeled with (labels_from_folders).")


class ImageBatchResultSerializer(serializers.Serializer):
    """The answer to an upload of ``files``: counts and one result per file, as the upload page shows."""

    added = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    refused = serializers.IntegerField()
    labeled = serializers.IntegerField()
    created_classes = serializers.ListField(child=serializers.CharField())
    results = ImportResultSerializer(many=True)


class ImageUploadResultSerializer(serializers.Serializer):
    created = serializers.BooleanField(help_text="False when the same content was already in the project.")
    image = ImageSerializer()


class LeaseSerializer(serializers.Serializer):
    token = serializers.UUIDField()
    expires_at = serializers.DateTimeField()


class NextImageSerializer(serializers.Serializer):
    image = ImageSerializer(allow_null=True, help_text="null when the queue is empty")
    lease = LeaseSerializer(allow_null=True)


class AnnotationSerializer(serializers.ModelSerializer):
    class_index = serializers.IntegerField(source="label_class.index")
    label = serializers.CharField(source="label_class.name")
    annotator = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Annotation
        fields = ["id", "image", "class_index", "label", "source", "annotator", "confidence", "from_version",
                  "revision", "created_at", "updated_at"]


class AnnotationFilterSerializer(serializers.Serializer):
    source = serializers.ChoiceField(choices=Source.choices, required=False)
    image = id_field(required=False)


class PseudoLabelSerializer(serializers.ModelSerializer):
    """A confident prediction waiting for review."""

    label = serializers.SerializerMethodField()
    version = serializers.IntegerField(source="version.number")

    class Meta:
        model = Prediction
        fields = ["image", "predicted_index", "label", "confidence", "version"]

    def get_label(self, prediction: Prediction) -> str:
        return self.context["class_names"].get(prediction.predicted_index, "")


class PseudoLabelFilterSerializer(serializers.Serializer):
    class_index = class_index_field(required=False, help_text="Only this predicted class.")


class DecisionResultSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    rejected = serializers.IntegerField()


class ModelVersionSerializer(serializers.ModelSerializer):
    is_current = serializers.SerializerMethodField()

    class Meta:
        model = ModelVersion
        fields = ["number", "algorithm", "backbone", "human_labels", "pseudo_labels", "images", "steps",
                  "round_steps", "seconds", "device", "losses", "metrics", "timings", "created_at", "is_current",
                  "pinned", "pruned_at"]

    def get_is_current(self, version: ModelVersion) -> bool:
        return version.project.current_version_id == version.pk


class PredictionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Prediction
        fields = ["image", "predicted_index", "confidence", "margin", "entropy", "probs"]


class TrainingStateSerializer(serializers.Serializer):
    training_enabled = serializers.BooleanField()


class TokenRequestSerializer(AuthTokenSerializer):
    """Username and password (checked by the throttled login backend), and an optional name for the token."""

    name = serializers.CharField(required=False, default="", allow_blank=True, max_length=100,
                                 help_text="Shown on the API tokens page, e.g. the script or machine using it.")


class TokenCreatedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    token = serializers.CharField(help_text="The key: send it as `Authorization: Token <key>`. Shown only now.")
    expires_at = serializers.DateTimeField()
