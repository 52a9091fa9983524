"""Distillations: a model version (the teacher) distilled into a smaller student, run as a background job."""

from __future__ import annotations

from django.conf import settings
from django.db import models

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
