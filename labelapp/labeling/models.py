"""Human labels and accepted pseudo-labels (at most one current annotation per image), their history,
review decisions, and the label queue's leases, skips and precomputed order."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models

from labelapp.images.models import Image
from labelapp.projects.models import LabelClass, Project

if TYPE_CHECKING:
    from labelapp.labeling.selectors import Guess


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


class AnnotationEvent(models.Model):
    """One change of an image's label and what it replaced: the history behind undo and the dashboard.

    ``revision`` is the annotation's revision right after the change (0 when the change removed the label).
    """

    class Action(models.TextChoices):
        LABELED = "labeled", "Labeled by a person"
        PSEUDO_ACCEPTED = "pseudo_accepted", "Pseudo-label accepted"
        UNDONE = "undone", "Undone"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="annotation_events")
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="annotation_events")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(max_length=20, choices=Action.choices)
    label_class = models.ForeignKey(LabelClass, null=True, on_delete=models.CASCADE, related_name="+")
    source = models.CharField(max_length=10, choices=Source.choices, blank=True)
    revision = models.PositiveIntegerField()
    previous_class = models.ForeignKey(LabelClass, null=True, on_delete=models.CASCADE, related_name="+")
    previous_source = models.CharField(max_length=10, choices=Source.choices, blank=True)
    previous_annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    previous_confidence = models.FloatField(null=True)
    previous_from_version = models.PositiveIntegerField(null=True)
    undone = models.BooleanField(default=False, help_text="A later undo reverted this change.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["project", "created_at"]),
            models.Index(fields=["project", "user", "action", "undone"]),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.image_id} r{self.revision}"


class ReviewDecision(models.Model):
    """A reviewer's verdict that is not itself a label: a rejected pseudo-label, or a suspect label kept."""

    class Kind(models.TextChoices):
        REJECTED = "rejected", "Pseudo-label rejected"
        KEPT = "kept", "Suspected error kept"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="review_decisions")
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="review_decisions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    version_number = models.PositiveIntegerField(help_text="Model version whose prediction was judged.")
    predicted_index = models.PositiveSmallIntegerField(help_text="The class the model predicted.")
    confidence = models.FloatField()
    revision = models.PositiveIntegerField(null=True, help_text="For kept labels: the annotation revision kept.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["image", "kind", "version_number"]),
            models.Index(fields=["project", "kind", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.image_id} v{self.version_number}"


class ImageLease(models.Model):
    """A short claim on an image while one annotator looks at it, so nobody else is served it."""

    image = models.OneToOneField(Image, on_delete=models.CASCADE, related_name="lease")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    token = models.UUIDField(default=uuid.uuid4)
    expires_at = models.DateTimeField()
    # Not a column, and set only on the lease ``services.lease_next`` returns: the model's guess for the image,
    # read while locking it (``presenters.leased_image`` tests for it with ``hasattr``).
    guess: Guess | None

    class Meta:
        indexes = [models.Index(fields=["project", "user", "expires_at"])]

    def __str__(self) -> str:
        return f"lease {self.image_id} → {self.user_id} until {self.expires_at:%H:%M:%S}"


class ImageSkip(models.Model):
    """An annotator skipped this image: it leaves their queue (others still get it)."""

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["image", "user"], name="unique_skip")]


class QueueOrder(models.Model):
    """The label queue's order for one project, model version (0: before the first) and strategy,
    computed once with ``sslengine.select_indices`` and stored as :class:`QueueRank` rows."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="queue_orders")
    version_number = models.PositiveIntegerField()
    strategy = models.CharField(max_length=40)
    last_image_id = models.BigIntegerField(help_text="Images added after the order was built come after it, by id.")
    size = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "version_number", "strategy"], name="unique_queue_order")
        ]

    def __str__(self) -> str:
        return f"{self.project_id} v{self.version_number} {self.strategy}"


class QueueRank(models.Model):
    """One image's place in a :class:`QueueOrder` (lower rank: labeled sooner).

    Written 100k rows at a time, so without database foreign-key constraints (their per-row checks
    at commit cost seconds): Django deletes the ranks with their order, and a rank whose image was
    deleted is skipped by the queue (the lease finds no row to lock) until the next order replaces it.
    """

    order = models.ForeignKey(
        QueueOrder, on_delete=models.CASCADE, db_constraint=False, db_index=False, related_name="ranks"
    )  # the (order, rank) index serves lookups by order
    image = models.ForeignKey(Image, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+")
    rank = models.PositiveIntegerField()

    class Meta:
        indexes = [models.Index(fields=["order", "rank"])]
