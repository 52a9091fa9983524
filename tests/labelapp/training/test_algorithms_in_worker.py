"""Every algorithm the engine registers can be chosen in project setup and trains a round in the worker."""

from __future__ import annotations

import math

import pytest

import sslengine
from labelapp.projects.forms import ProjectSettingsForm
from labelapp.projects.models import Project
from labelapp.projects.services import project_update
from labelapp.training.jobs import run_training_round
from labelapp.training.models import ModelVersion, Prediction
from tests.helpers.training import add_images, label

pytestmark = pytest.mark.django_db(transaction=True)

IMAGES_PER_CLASS = 8
LABELS_PER_CLASS = 2


def test_a_project_set_up_with_each_algorithm_trains_a_round_and_publishes_predictions(project: Project):
    # One project for all of them (a transactional test's database flush costs seconds each): every
    # change of algorithm makes the worker start a fresh model, so each round is that algorithm's own.
    for name, images in add_images(project, per_class=IMAGES_PER_CLASS).items():
        for image in images[:LABELS_PER_CLASS]:
            label(project, image, name)
    choices = ProjectSettingsForm().fields["algorithm"].choices
    for number, algorithm in enumerate(sslengine.list_algorithms(), start=1):
        assert (algorithm, algorithm) in choices
        project_update(project=project, algorithm=algorithm)

        assert run_training_round(project.pk, steps=2) == f"done v{number}", algorithm

        version = ModelVersion.objects.get(project=project, number=number)
        assert (version.algorithm, version.steps, version.round_steps) == (algorithm, 2, 2)
        assert math.isfinite(version.losses["loss"]), algorithm
        confidences = list(Prediction.objects.filter(version=version).values_list("confidence", flat=True))
        assert len(confidences) == 3 * IMAGES_PER_CLASS, algorithm
        assert all(0.0 < confidence <= 1.0 for confidence in confidences), algorithm
