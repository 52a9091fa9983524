"""Writes for images: validate by content, deduplicate, store under a server-made name, thumbnail once."""

from __future__ import annotations

import hashlib
import io
import unicodedata
import uuid

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from PIL import Image as PILImage

from labelapp.images.models import Image
from labelapp.lib.images import check_image
from labelapp.projects.models import Project

THUMBNAIL_SIZE = 128


def display_name(name: str) -> str:
    """A safe display-only name: last path component, no control characters, at most 255 chars."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip()
    return (cleaned or "unnamed")[:255]


def _thumbnail_png(data: bytes) -> bytes:
    with PILImage.open(io.BytesIO(data)) as image:
        image.seek(0)
        thumb = image.convert("RGB") if image.mode not in ("L", "RGB") else image.copy()
    thumb.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
    buffer = io.BytesIO()
    thumb.save(buffer, format="PNG")
    return buffer.getvalue()


def image_add(
    *, project: Project, name: str, data: bytes, user: AbstractBaseUser | None = None
) -> tuple[Image, bool]:
    """Add one image; returns ``(image, created)``. A duplicate (same bytes in this project) is not stored again.

    Raises :class:`labelapp.lib.images.InvalidImage` when the bytes are not an acceptable image.
    """
    digest = hashlib.sha256(data).hexdigest()
    existing = Image.objects.filter(project=project, sha256=digest).first()
    if existing is not None:
        return existing, False
    checked = check_image(data, max_pixels=settings.MAX_IMAGE_PIXELS)
    stem = uuid.uuid4().hex
    folder = f"images/{project.pk}/{stem[:2]}"
    stored = default_storage.save(f"{folder}/{stem}.{checked.extension}", ContentFile(data))
    thumb = default_storage.save(f"thumbs/{project.pk}/{stem[:2]}/{stem}.png", ContentFile(_thumbnail_png(data)))
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
