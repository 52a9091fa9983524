"""Projects, their ordered classes and their members' roles."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

# The longest class name: the column's width, which the services check names against before saving.
CLASS_NAME_MAX = 100


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    REVIEWER = "reviewer", "Reviewer"
    ANNOTATOR = "annotator", "Annotator"


class Project(models.Model):
    """A labeling project: classes, training settings and the model version that readers see."""

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    algorithm = models.CharField(max_length=40, default="fixmatch")
    backbone = models.CharField(max_length=40, default="cnn-small")
    strategy = models.CharField(max_length=40, default="pool-first")
    threshold = models.FloatField(
        default=0.95, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="τ: predictions at or above this confidence are offered as pseudo-labels.",
    )
    low_confidence_threshold = models.FloatField(
        default=0.5, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Predictions below this confidence join the low-confidence queue.",
    )
    image_size = models.PositiveSmallIntegerField(
        default=32, validators=[MinValueValidator(8), MaxValueValidator(512)]
    )
    grayscale = models.BooleanField(default=False, help_text="Train on one channel instead of RGB.")
    horizontal_flip = models.BooleanField(
        default=False,
        help_text="Mirror images left-right in training views. Leave off when a mirror image changes the class "
        "(digits, text, arrows); turn on for photos of objects.",
    )
    show_model_guess = models.BooleanField(
        default=False, help_text="Show the model's guess while labeling (off by default to avoid anchoring)."
    )
    holdout_fraction = models.FloatField(
        default=0.0, validators=[MinValueValidator(0.0), MaxValueValidator(0.5)],
        help_text="Share of human labels kept out of training to measure the model.",
    )
    training_enabled = models.BooleanField(default=False)
    round_seconds = models.PositiveIntegerField(default=60, validators=[MinValueValidator(1)])
    current_version = models.ForeignKey(
        "training.ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def in_channels(self) -> int:
        return 1 if self.grayscale else 3


class LabelClass(models.Model):
    """One class of a project, in the order the model's outputs use (``index``)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="classes")
    index = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=CLASS_NAME_MAX)
    hotkey = models.CharField(max_length=1, blank=True)

    class Meta:
        ordering = ["project", "index"]
        constraints = [
            models.UniqueConstraint(fields=["project", "index"], name="unique_class_index"),
            models.UniqueConstraint(fields=["project", "name"], name="unique_class_name"),
        ]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A user's role in one project."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "user"], name="unique_membership")]

    def __str__(self) -> str:
        return f"{self.user} · {self.role} · {self.project}"


class Invitation(models.Model):
    """A link that lets a person with no account yet set a password and join one project with a role.

    The account (``user``) is made, inactive and without a usable password, when the owner invites; the
    link's token is shown once and only its SHA-256 digest is kept, so a copy of the database opens no
    account. The link works once, until ``expires_at``, unless an owner revokes it.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="invitations")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="invitations",
        help_text="The invited account; unset when a revoke deleted the never-used account.",
    )
    username = models.CharField(max_length=150, help_text="The invited account's username, kept after a revoke.")
    role = models.CharField(max_length=20, choices=Role.choices)
    digest = models.CharField(max_length=64, unique=True)  # sha256 hex of the link's token
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["project", "used_at", "revoked_at"])]

    def __str__(self) -> str:
        return f"invitation of {self.username} to {self.project} as {self.role}"

    @property
    def expired(self) -> bool:
        return self.expires_at <= timezone.now()
