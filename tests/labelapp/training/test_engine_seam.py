"""The seam to the engine through real worker rounds: an algorithm added as one module trains in the
worker, and per-image state follows the Image primary key when images are deleted between rounds."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from labelapp.images.models import Image
from labelapp.projects.models import Project
from labelapp.projects.services import project_update
from labelapp.training import services
from labelapp.training.cache import checkpoint_path
from labelapp.training.models import ModelVersion
from sslengine import Trainer
from sslengine.checkpoint import load_checkpoint
from tests.helpers.toy_algorithm import TOY_NAME, toy_algorithm_installed
from tests.helpers.training import run_burst_in_process

pytestmark = pytest.mark.django_db(transaction=True)


def worker_round(project: Project, steps: int) -> ModelVersion:
    assert services.round_enqueue(project_id=project.pk, steps=steps)
    run_burst_in_process()
    return ModelVersion.objects.filter(project=project).latest("number")


def test_a_toy_algorithm_from_its_own_module_trains_a_worker_round_with_its_options(small_project: Project, tmp_path: Path):
    with toy_algorithm_installed(tmp_path) as module:
        project_update(project=small_project, algorithm=TOY_NAME)
        version = worker_round(small_project, steps=3)
        assert (version.algorithm, version.steps) == (TOY_NAME, 3)
        assert version.losses["weight"] == pytest.approx(0.1) and version.losses["entropy"] > 0
        state = load_checkpoint(checkpoint_path(version.checkpoint))
        assert state["config"]["algorithm"] == TOY_NAME and state["algorithm_options"] == {"entropy_weight": 0.1}
        assert Trainer.load(checkpoint_path(version.checkpoint)).config.algorithm_options == module.ToyEntropyOptions()


def test_deleting_images_between_worker_rounds_leaves_every_other_image_its_own_state(labeled_project: Project):
    project_update(project=labeled_project, algorithm="temporal-ensembling")
    first = worker_round(labeled_project, steps=3)
    before = load_checkpoint(checkpoint_path(first.checkpoint))["algorithm"]
    ids = Image.objects.filter(project=labeled_project).order_by("pk").values_list("pk", flat=True)
    assert before["image_ids"].tolist() == list(ids)

    unlabeled = list(Image.objects.filter(project=labeled_project, annotation__isnull=True).order_by("pk"))
    deleted = {image.pk for image in unlabeled[::7]}  # spread over the id range: every later row would shift
    Image.objects.filter(pk__in=deleted).delete()  # as the Django admin does
    second = worker_round(labeled_project, steps=1)
    after = load_checkpoint(checkpoint_path(second.checkpoint))["algorithm"]

    remaining = list(Image.objects.filter(project=labeled_project).order_by("pk").values_list("pk", flat=True))
    assert after["image_ids"].tolist() == remaining and not deleted & set(remaining)
    old_row = {int(image_id): row for row, image_id in enumerate(before["image_ids"])}
    untouched = 0
    for row, image_id in enumerate(after["image_ids"].tolist()):
        old = old_row[image_id]
        increase = int(after["counts"][row]) - int(before["counts"][old])
        assert increase in (0, 1), image_id  # one step: each image is updated at most once
        if increase == 0:
            assert torch.equal(after["ensemble"][row], before["ensemble"][old]), image_id
            untouched += 1
    assert untouched > len(remaining) // 3  # 112 draws of ~260 images leave most of them untouched
