"""Model versions and their per-image predictions."""

from __future__ import annotations

from django.db import models

from labelapp.images.models import Image
from labelapp.projects.models import Project


class ModelVersion(models.Model):
    """What readers see of the model at one point: a checkpoint, one embedding per image (a file, see
    ``labelapp.training.cache.embeddings_path``), predictions when labels exist, counts, losses and metrics."""

    class Kind(models.TextChoices):
        TRAINED = "trained", "SSL round"  # embeddings and predictions of the project's SSL model
        PRETRAINED = "pretrained", "pre-training round"  # the pre-trained encoder's embeddings; propagated predictions once labels exist
        PROPAGATED = "propagated", "label propagation"  # the previous version's embeddings, predictions propagated from new labels

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.TRAINED)
    algorithm = models.CharField(max_length=40)
    backbone = models.CharField(max_length=40)
    checkpoint = models.CharField(max_length=500, help_text="Path of the checkpoint, relative to CHECKPOINT_DIR.")
    human_labels = models.PositiveIntegerField(default=0)
    pseudo_labels = models.PositiveIntegerField(default=0)
    images = models.PositiveIntegerField(default=0)
    steps = models.PositiveIntegerField(default=0, help_text="Optimizer steps since the first round.")
    round_steps = models.PositiveIntegerField(default=0, help_text="Steps of this round (pretext steps in a pre-training round).")
    pretrain_steps = models.PositiveIntegerField(default=0, help_text="Pre-training steps of the project's encoder so far.")
    pretrain_seconds = models.FloatField(default=0.0, help_text="Pre-training seconds of the project's encoder so far.")
    pretrain_images = models.PositiveIntegerField(
        default=0, help_text="Images in the pool when the encoder was last pre-trained (growth resumes pre-training)."
    )
    seconds = models.FloatField(default=0.0, help_text="Training time of the round that made it.")
    total_seconds = models.FloatField(default=0.0, help_text="Training time since the first round (like steps).")
    device = models.CharField(max_length=40, blank=True)
    losses = models.JSONField(default=dict)
    metrics = models.JSONField(default=dict)
    timings = models.JSONField(default=dict)
    labels_until = models.DateTimeField(
        null=True, blank=True, help_text="When the round read its training labels: later labels are unseen by it."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(
        null=True, blank=True, help_text="When the round made it current; a version without it is a dead round's leftover."
    )
    pinned = models.BooleanField(default=False, help_text="Its bulky data is never pruned (set by owners and by exports).")
    pruned_at = models.DateTimeField(
        null=True, blank=True, help_text="When its predictions, checkpoint and embeddings were deleted (the row stays)."
    )

    class Meta:
        ordering = ["project", "number"]
        constraints = [models.UniqueConstraint(fields=["project", "number"], name="unique_version_number")]

    def __str__(self) -> str:
        return f"{self.project} v{self.number}"

    @property
    def is_pruned(self) -> bool:
        return self.pruned_at is not None


class Prediction(models.Model):
    """One image's prediction under one model version."""

    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="predictions")
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="predictions")
    predicted_index = models.PositiveSmallIntegerField()
    confidence = models.FloatField()
    margin = models.FloatField()
    entropy = models.FloatField()
    probs = models.JSONField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["version", "image"], name="unique_prediction")]
        indexes = [
            models.Index(fields=["version", "confidence"]),
            models.Index(fields=["version", "predicted_index", "confidence"]),
        ]
