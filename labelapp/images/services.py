"""Writes for images: validate by content, deduplicate, store under a server-made name, thumbnail once;
import many files at once with per-file results."""

from __future__ import annotations

import hashlib
import io
import unicodedata
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import chain

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from PIL import Image as PILImage

from labelapp.images.models import Image
from labelapp.images.signals import images_labeled
from labelapp.images.sources import SourceFile, folder_label, import_limits, iter_upload, request_budget
from labelapp.lib.images import InvalidImage, check_image
from labelapp.lib.users import User
from labelapp.projects.models import LabelClass, Project
from labelapp.projects.services import label_class_add

THUMBNAIL_SIZE = 128
LABEL_BATCH = 500  # folder labels saved per bulk write during an import


def display_name(name: str) -> str:
    """A safe display-only name: last path component, no control characters, at most 255 chars."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip()
    return (cleaned or "unnamed")[:255]


def _png(picture: PILImage.Image) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def image_add(
    *, project: Project, name: str, data: bytes, user: User | None = None
) -> tuple[Image, bool]:
    """Add one image; returns ``(image, created)``. A duplicate (same bytes in this project) is not stored again.

    Raises :class:`labelapp.lib.images.InvalidImage` when the bytes are not an acceptable image.
    """
    digest = hashlib.sha256(data).hexdigest()
    existing = Image.objects.filter(project=project, sha256=digest).first()
    if existing is not None:
        return existing, False
    checked, preview = check_image(data, max_pixels=settings.MAX_IMAGE_PIXELS, preview_size=THUMBNAIL_SIZE)
    stem = uuid.uuid4().hex
    folder = f"images/{project.pk}/{stem[:2]}"
    stored = default_storage.save(f"{folder}/{stem}.{checked.extension}", ContentFile(data))
    thumb = default_storage.save(f"thumbs/{project.pk}/{stem[:2]}/{stem}.png", ContentFile(_png(preview)))
    try:
        with transaction.atomic():
            image = Image.objects.create(
                project=project,
                file=stored,
                thumbnail=thumb,
                original_name=display_name(name),
                sha256=digest,
                format=checked.format,
                width=checked.width,
                height=checked.height,
                uploaded_by=user,
            )
    except IntegrityError:  # the same bytes landed concurrently
        default_storage.delete(stored)
        default_storage.delete(thumb)
        return Image.objects.get(project=project, sha256=digest), False
    return image, True


class ImportStatus(StrEnum):
    ADDED = "added"
    DUPLICATE = "duplicate"
    REFUSED = "refused"


@dataclass(frozen=True)
class ImportResult:
    """What happened to one file: added, duplicate (same content already in the project) or refused (``reason``)."""

    name: str
    status: ImportStatus
    reason: str = ""
    image_id: int | None = None
    label: str = ""

    def as_dict(self) -> dict:
        return {"name": self.name, "status": str(self.status), "reason": self.reason,
                "image_id": self.image_id, "label": self.label}


@dataclass
class ImportReport:
    """Per-file results of one import, with counts and the classes that the import created."""

    results: list[ImportResult] = field(default_factory=list)
    created_classes: list[str] = field(default_factory=list)

    def count(self, status: ImportStatus) -> int:
        return sum(1 for result in self.results if result.status == status)

    @property
    def labeled(self) -> int:
        return sum(1 for result in self.results if result.status == ImportStatus.ADDED and result.label)

    def as_dict(self) -> dict:
        return {
            "added": self.count(ImportStatus.ADDED),
            "duplicates": self.count(ImportStatus.DUPLICATE),
            "refused": self.count(ImportStatus.REFUSED),
            "labeled": self.labeled,
            "created_classes": self.created_classes,
            "results": [result.as_dict() for result in self.results],
        }


class _FolderClasses:
    """Maps ImageFolder folder names to classes (case-insensitive).

    Unknown folder names become new classes only when the importer may create classes (owners, and
    the server's own commands) and only while the project has no labels at all (checked once, when
    the import starts); otherwise their files are refused, so an import never changes the meaning of
    a trained model's outputs behind the owners' back, and reviewers never create classes.
    """

    def __init__(self, project: Project, *, by_owner: bool) -> None:
        self.project = project
        self.by_name = {label_class.name.lower(): label_class for label_class in project.classes.all()}
        self.by_owner = by_owner
        self.may_create = by_owner and not project.annotations.exists()
        self.created: list[str] = []

    def check(self, folder: str) -> None:
        """Raise ``ValidationError`` (a message for the user) when files in ``folder`` must be refused."""
        if folder.lower() not in self.by_name and not self.may_create:
            names = ", ".join(label_class.name for label_class in self.by_name.values())
            if not self.by_owner:
                raise ValidationError(
                    f"folder {folder!r} is not a class of this project (classes: {names}); only the project's "
                    "owners create classes: ask an owner to add it on the Classes page, or upload without folder labels"
                )
            raise ValidationError(
                f"folder {folder!r} is not a class of this project (classes: {names}); the project already "
                "has labels, so imports do not create classes: add it on the Classes page first"
            )

    def resolve(self, folder: str) -> LabelClass:
        """The class named ``folder``, created if :meth:`check` allowed it."""
        self.check(folder)
        known = self.by_name.get(folder.lower())
        if known is not None:
            return known
        label_class = label_class_add(project=self.project, name=folder)
        self.by_name[folder.lower()] = label_class
        self.created.append(label_class.name)
        return label_class


def images_import(
    *,
    project: Project,
    files: Iterable[SourceFile],
    user: User | None = None,
    labels_from_folders: bool = False,
    may_create_classes: bool = True,
    on_result: Callable[[ImportResult], None] | None = None,
) -> ImportReport:
    """Import many files; a bad file is refused with a reason and never stops the rest.

    With ``labels_from_folders`` the name of the folder holding each file (ImageFolder layout)
    becomes a human label by ``user``, saved in batches of ``LABEL_BATCH`` (:func:`images_label`).
    Files at the top level of the source are imported unlabeled. ``may_create_classes`` is False
    for anyone but the project's owners (web uploads pass the caller's right; commands run by the
    server's operator keep the default).
    """
    report = ImportReport()
    folder_classes = _FolderClasses(project, by_owner=may_create_classes) if labels_from_folders else None
    labels: list[tuple[int, int]] = []
    for source in files:
        result, label_class = _import_one(project=project, source=source, user=user, folder_classes=folder_classes)
        if label_class is not None and result.image_id is not None:
            labels.append((result.image_id, label_class.pk))
        if len(labels) >= LABEL_BATCH:
            images_label(project=project, labels=labels, user=user)
            labels = []
        report.results.append(result)
        if on_result is not None:
            on_result(result)
    images_label(project=project, labels=labels, user=user)
    if folder_classes is not None:
        report.created_classes = folder_classes.created
    return report


def _import_one(
    *, project: Project, source: SourceFile, user: User | None, folder_classes: _FolderClasses | None
) -> tuple[ImportResult, LabelClass | None]:
    """One file added (or refused), and the class its folder names when it is to be labeled."""
    name = display_name(source.name)
    if source.data is None:
        return ImportResult(name, ImportStatus.REFUSED, source.error), None
    folder = folder_label(source.name) if folder_classes is not None else None
    try:
        if folder_classes is not None and folder:
            folder_classes.check(folder)
        image, created = image_add(project=project, name=source.name, data=source.data, user=user)
    except InvalidImage as exc:
        return ImportResult(name, ImportStatus.REFUSED, str(exc)), None
    except ValidationError as exc:
        return ImportResult(name, ImportStatus.REFUSED, " ".join(exc.messages)), None
    if not created:
        duplicate = ImportResult(name, ImportStatus.DUPLICATE, "same content as an image already in the project", image.pk)
        return duplicate, None
    if folder_classes is None or not folder:
        return ImportResult(name, ImportStatus.ADDED, image_id=image.pk), None
    try:
        label_class = folder_classes.resolve(folder)
    except ValidationError as exc:
        return ImportResult(name, ImportStatus.ADDED, f"imported unlabeled: {' '.join(exc.messages)}", image.pk), None
    return ImportResult(name, ImportStatus.ADDED, image_id=image.pk, label=label_class.name), label_class


def images_label(*, project: Project, labels: list[tuple[int, int]], user: User | None) -> None:
    """Hand the labels an import found for its new images, ``(image id, label class id)``, to the app that
    saves labels (the ``images_labeled`` receiver: human labels with their history; a label given since
    is kept, imports never overwrite one)."""
    if not labels:
        return
    if not images_labeled.send(Image, project=project, labels=labels, user=user):
        raise ImproperlyConfigured("no app saves imported labels (labelapp.labeling is not installed)")


def uploads_import(
    *,
    project: Project,
    uploads: Iterable[UploadedFile],
    user: User | None,
    labels_from_folders: bool = False,
    may_create_classes: bool = False,
) -> ImportReport:
    """Files sent in one request (the upload page's ``files``, the API's ``files``): each an image or a zip,
    with the same caps and per-file results as :func:`images_import`. All the zips of the request share one
    inflation budget (:func:`~labelapp.images.sources.request_budget`); folder labels create classes only
    when ``may_create_classes`` (the caller is an owner)."""
    limits, budget = import_limits(), request_budget()
    return images_import(
        project=project,
        files=chain.from_iterable(
            iter_upload(uploaded, name=uploaded.name or "", size=uploaded.size or 0,
                        max_upload_bytes=settings.MAX_UPLOAD_BYTES, limits=limits, budget=budget)
            for uploaded in uploads
        ),
        user=user,
        labels_from_folders=labels_from_folders,
        may_create_classes=may_create_classes,
    )
