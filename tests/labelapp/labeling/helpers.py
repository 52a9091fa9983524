"""Test data for labeling: real Fashion-MNIST PNGs and hand-built model versions with chosen predictions."""

from __future__ import annotations

import io
import math
from functools import cache
from pathlib import Path

from django.utils import timezone
from PIL import Image as PILImage

from labelapp.images.models import Image
from labelapp.images.services import image_add
from labelapp.projects.models import Project
from labelapp.training.models import ModelVersion, Prediction
from sslengine.datasets import load_npz

NPZ = Path(__file__).resolve().parents[2] / "data" / "fashion_mnist_small.npz"


@cache
def _pixels():
    return load_npz(str(NPZ)).images.numpy()


def png(index: int) -> bytes:
    """The ``index``-th image of the small Fashion-MNIST file as PNG bytes."""
    buffer = io.BytesIO()
    PILImage.fromarray(_pixels()[index, 0]).save(buffer, format="PNG")
    return buffer.getvalue()


def add_images(project: Project, count: int, *, start: int = 0) -> list[Image]:
    """``count`` real images added through the images app's service, in id order."""
    return [image_add(project=project, name=f"fm-{i}.png", data=png(i))[0] for i in range(start, start + count)]


def probs_for(predicted: int, confidence: float, num_classes: int) -> list[float]:
    """A probability vector with ``confidence`` on ``predicted`` and the rest spread evenly."""
    assert confidence >= 1.0 / num_classes, "the top probability cannot be below 1/K"
    rest = (1.0 - confidence) / (num_classes - 1)
    return [confidence if k == predicted else rest for k in range(num_classes)]


def add_version(
    project: Project, predictions: dict[Image, tuple[int, float]], *, make_current: bool = True
) -> ModelVersion:
    """A model version whose prediction for each image is ``(class index, confidence)``."""
    num_classes = project.classes.count()
    number = (ModelVersion.objects.filter(project=project).order_by("-number").values_list("number", flat=True).first() or 0) + 1
    version = ModelVersion.objects.create(
        project=project, number=number, algorithm="fixmatch", backbone="cnn-small", finished_at=timezone.now()
    )
    rows = []
    for image, (predicted, confidence) in predictions.items():
        probs = probs_for(predicted, confidence, num_classes)
        top = sorted(probs, reverse=True)
        rows.append(
            Prediction(
                version=version,
                image=image,
                predicted_index=predicted,
                confidence=confidence,
                margin=top[0] - top[1],
                entropy=-sum(p * math.log(p) for p in probs if p > 0),
                probs=probs,
            )
        )
    Prediction.objects.bulk_create(rows)
    if make_current:
        project.current_version = version
        project.save(update_fields=["current_version"])
    return version
