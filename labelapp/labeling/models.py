"""Human labels and accepted pseudo-labels: at most one current annotation per image."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from labelapp.images.models import Image
from labelapp.projects.models import LabelClass, Project


class Source(models.TextChoices):
    HUMAN = "human", "Human"
    PSEUDO = "pseudo", "Accepted pseudo-label"


class Annotation(models.Model):
    """The current label of an image. ``revision`` grows on every change (optimistic concurrency)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="annotations")
    image = models.OneToOneField(Image, on_delete=models.CASCADE, related_name="annotation")
    label_class = models.ForeignKey(LabelClass, on_delete=models.PROTECT, related_name="annotations")
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.HUMAN)
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    confidence = models.FloatField(null=True, blank=True, help_text="The model's confidence, for pseudo-labels.")
    from_version = models.PositiveIntegerField(null=True, blank=True, help_text="Model version a pseudo-label came from.")
    revision = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["project", "source"]),
            models.Index(fields=["project", "updated_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.image_id}: {self.label_class_id} ({self.source})"
