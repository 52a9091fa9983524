"""A project with real images, real labels and a real (tiny) trained model version, shared by the
exports and API tests. The checkpoint is trained once per test session (5 steps of cnn-small)."""

from __future__ import annotations

import io
import statistics
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import torch
from django.conf import settings
from django.utils import timezone
from PIL import Image as PILImage

from labelapp.images.models import Image
from labelapp.images.services import image_add
from labelapp.labeling import services as labeling
from labelapp.projects.models import LabelClass, Project
from labelapp.training.models import ModelVersion, Prediction
from sslengine import TrainConfig, Trainer
from sslengine.datasets import load_npz

NPZ = Path(__file__).resolve().parents[2] / "data" / "fashion_mnist_small.npz"
FASHION_INDEX = {"shirt": 6, "trouser": 1, "bag": 8}  # the shared project's classes in Fashion-MNIST
IMAGES_PER_CLASS = 8
HUMAN_PER_CLASS = 3
CHECKPOINT = "tests/exports-v1.pt"  # relative to CHECKPOINT_DIR, like the training app stores it
METRICS = {
    "running_accuracy": 0.5,
    "running_count": 6,
    "holdout_accuracy": None,
    "holdout_count": 0,
    "per_class": {"shirt": {"precision": 0.5, "recall": 0.5, "support": 2}},
    "confusion": [[1, 1, 0], [0, 2, 0], [0, 0, 2]],
    "pseudo_label_rate": 0.25,
}


@cache
def _fashion() -> tuple[np.ndarray, np.ndarray]:
    data = load_npz(NPZ)
    return data.images.numpy(), data.labels.numpy()


def class_pixels(name: str, count: int, *, start: int = 0) -> np.ndarray:
    """``count`` real uint8 [1, 28, 28] images of one of the project's classes."""
    images, labels = _fashion()
    return images[np.flatnonzero(labels == FASHION_INDEX[name])[start : start + count]]


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    PILImage.fromarray(array[0]).save(buffer, format="PNG")
    return buffer.getvalue()


@dataclass(frozen=True)
class TinyModel:
    checkpoint: str  # relative to settings.CHECKPOINT_DIR
    trainer: Trainer


def tiny_model_train() -> TinyModel:
    """A real cnn-small trained 5 steps on real images of the three classes, saved as a checkpoint."""
    names = list(FASHION_INDEX)
    pixels = np.concatenate([class_pixels(name, 40, start=IMAGES_PER_CLASS) for name in names])
    labels = np.repeat(np.arange(len(names)), 40)
    config = TrainConfig(num_classes=3, in_channels=1, image_size=28, batch_size=8, mu=2, seed=0)
    trainer = Trainer(config, device="cpu")
    trainer.fit(torch.from_numpy(pixels), torch.from_numpy(labels), torch.from_numpy(pixels), steps=5)
    trainer.save(Path(settings.CHECKPOINT_DIR) / CHECKPOINT)
    return TinyModel(CHECKPOINT, trainer)


@pytest.fixture(scope="session")
def tiny_model() -> TinyModel:
    """:func:`tiny_model_train`, once per test session."""
    return tiny_model_train()


def project_pixels(project: Project) -> tuple[list[Image], torch.Tensor]:
    """The project's images in id order and their pixels, decoded from the stored files."""
    images = list(Image.objects.filter(project=project).order_by("id"))
    arrays = []
    for image in images:
        with image.file.open("rb") as handle, PILImage.open(handle) as decoded:
            arrays.append(np.asarray(decoded.convert("L"))[None])
    return images, torch.from_numpy(np.stack(arrays))


def version_add(project: Project, model: TinyModel) -> ModelVersion:
    """Version 1 of ``project`` from the tiny model, with its real predictions for every image. The version
    gets a checkpoint file of its own: a prune of another test's version deletes that version's file."""
    checkpoint = f"tests/exports-p{project.pk}-v1.pt"
    model.trainer.save(Path(settings.CHECKPOINT_DIR) / checkpoint)
    version = ModelVersion.objects.create(
        project=project, number=1, algorithm="fixmatch", backbone="cnn-small", checkpoint=checkpoint,
        human_labels=HUMAN_PER_CLASS * 3, pseudo_labels=0, images=Image.objects.filter(project=project).count(),
        steps=5, round_steps=5, seconds=1.25, total_seconds=1.25, device="cpu", metrics=METRICS,
        finished_at=timezone.now(),
    )
    images, pixels = project_pixels(project)
    predictions = model.trainer.predict(pixels)
    Prediction.objects.bulk_create(
        Prediction(
            version=version, image=image, predicted_index=int(predictions.predicted[row]),
            confidence=float(predictions.confidence[row]), margin=float(predictions.margin[row]),
            entropy=float(predictions.entropy[row]), probs=predictions.probs[row].tolist(),
        )
        for row, image in enumerate(images)
    )
    project.current_version = version
    project.save(update_fields=["current_version"])
    return version


def trained_project_fill(project: Project, *, owner, annotator, reviewer, model: TinyModel) -> Project:
    """Give ``project`` (classes shirt, trouser, bag) 24 real images: 9 human labels (annotator and owner),
    version 1 with real predictions, τ at the median unlabeled confidence, 2 accepted pseudo-labels and
    1 rejected."""
    for name in FASHION_INDEX:
        label_class = LabelClass.objects.get(project=project, name=name)
        for row, array in enumerate(class_pixels(name, IMAGES_PER_CLASS)):
            image, _ = image_add(project=project, name=f"{name}-{row}.png", data=png(array), user=owner)
            if row < HUMAN_PER_CLASS:
                labeling.annotation_submit(
                    project=project, image=image, label_class=label_class,
                    user=annotator if row % 2 == 0 else owner, expected_revision=None,
                )
    version = version_add(project, model)
    unlabeled = Prediction.objects.filter(version=version, image__annotation__isnull=True).order_by("-confidence", "image_id")
    project.threshold = statistics.median(unlabeled.values_list("confidence", flat=True))
    project.save(update_fields=["threshold"])
    confident = list(unlabeled.values_list("image_id", flat=True)[:3])
    labeling.pseudo_labels_accept(project=project, user=reviewer, image_ids=confident[:2], version_number=1)
    labeling.pseudo_labels_reject(project=project, user=reviewer, image_ids=confident[2:], version_number=1)
    return project


@pytest.fixture
def trained_project(project, owner, annotator, reviewer, tiny_model) -> Project:
    """The shared cast's project filled by :func:`trained_project_fill`."""
    return trained_project_fill(project, owner=owner, annotator=annotator, reviewer=reviewer, model=tiny_model)
