"""Images of a project, stored under server-made names and deduplicated by content."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from labelapp.projects.models import Project


class Image(models.Model):
    """One uploaded image. ``file`` and ``thumbnail`` are server-made names; ``original_name`` is display only."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="images")
    file = models.FileField(max_length=255)
    thumbnail = models.FileField(max_length=255, blank=True)
    original_name = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64)
    format = models.CharField(max_length=10)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    holdout = models.BooleanField(default=False, help_text="Kept out of training to measure the model.")
    decode_error = models.CharField(
        max_length=500, blank=True, default="",
        help_text="Why the training worker could not decode this image (then it is left out of training).",
    )
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["project", "sha256"], name="unique_image_content")]
        indexes = [models.Index(fields=["project", "id"])]

    def __str__(self) -> str:
        return self.original_name
