"""Distillations: a model version (the teacher) distilled into a smaller student, run as a background job."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from labelapp.projects.models import Project
from labelapp.training.models import ModelVersion


class Distillation(models.Model):
    """One distillation job of a version into a student backbone, its progress and its results."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    class Mode(models.TextChoices):
        HARD = "hard", "hard-label (DeiT)"
        SOFT = "soft", "soft (KL, τ=3, λ=0.1)"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="distillations")
    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="distillations")
    student = models.CharField(max_length=40, help_text="A registered backbone (sslengine.list_backbones()).")
    mode = models.CharField(max_length=8, choices=Mode.choices, default=Mode.HARD)
    seconds = models.FloatField(null=True, blank=True, help_text="Training budget in seconds (or steps).")
    steps = models.PositiveIntegerField(null=True, blank=True, help_text="Training budget in optimizer steps.")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    progress = models.FloatField(default=0.0, help_text="Fraction of the budget done, 0 to 1.")
    steps_done = models.PositiveIntegerField(default=0)
    checkpoint = models.CharField(max_length=500, blank=True, help_text="Student checkpoint, relative to CHECKPOINT_DIR.")
    metrics = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.version} → {self.student} ({self.mode})"


class ExportJob(models.Model):
    """One export (labels or a model bundle) built in the background on the ``default`` queue.

    ``options`` holds the validated query (the same parameters as the direct download); ``path`` is the
    built file relative to ``EXPORT_DIR``, kept until ``expires_at`` (``EXPORT_KEEP_HOURS`` after it was
    built), then deleted and cleared: the download answers 410 from then on.
    """

    class Kind(models.TextChoices):
        LABELS = "labels"
        MODEL = "model"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="export_jobs")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    options = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    progress = models.FloatField(default=0.0, help_text="Fraction done, 0 to 1.")
    message = models.CharField(max_length=200, blank=True, help_text="What the job does now, or what it did.")
    error = models.TextField(blank=True)
    skipped = models.PositiveIntegerField(default=0, help_text="Images left out because their file could not be read.")
    path = models.CharField(max_length=500, blank=True, help_text="The built file, relative to EXPORT_DIR.")
    filename = models.CharField(max_length=200, blank=True, help_text="The download's file name.")
    size = models.BigIntegerField(null=True, blank=True, help_text="Bytes.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.project} {self.kind} export {self.pk} ({self.status})"

    @property
    def title(self) -> str:
        """What was asked for, for people: "Labels: COCO, + accepted pseudo-labels", "Model v3: ONNX, int8"."""
        options = self.options
        fmt = {"imagefolder": "ImageFolder zip", "torchscript": "TorchScript"}.get(options.get("format", ""), options.get("format", "").upper())
        if self.kind == self.Kind.LABELS:
            extras = [text for key, text in (("include_pseudo", "+ accepted pseudo-labels"), ("include_predictions", "+ predictions ≥ τ")) if options.get(key)]
            return ", ".join([f"Labels: {fmt}", *extras])
        variant = options.get("variant", "trained")
        shown = "as trained" if variant == "trained" else variant.replace("distilled:", "distilled to ")
        return f"Model v{options.get('version')}: {fmt}, {shown}"

    @property
    def is_expired(self) -> bool:
        """A finished export past its download window (its file is, or is about to be, deleted)."""
        return self.expires_at is not None and self.expires_at <= timezone.now()
