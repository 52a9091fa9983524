"""The uint8 image cache, the metrics arithmetic, honest per-version metrics and the run_round command."""

from __future__ import annotations

import numpy as np
import pytest
from django.core.management import call_command

from labelapp.images.models import Image
from labelapp.labeling.models import Annotation
from labelapp.projects.models import LabelClass
from labelapp.training import cache, metrics
from labelapp.training.cache import cache_path, cache_update
from labelapp.training.jobs import run_training_round
from labelapp.training.models import ModelVersion, Prediction
from tests.helpers.training import FASHION_INDEX, add_images, fashion, label


@pytest.mark.django_db
def test_the_cache_decodes_only_new_images_and_drops_deleted_ones(project):
    add_images(project, per_class=2)
    first = cache_update(project=project)
    assert (first.decoded, len(first.cache)) == (6, 6)
    assert first.cache.images.shape == (6, 1, 28, 28) and first.cache.images.dtype == np.uint8
    source_images, labels = fashion()
    shirt = Image.objects.filter(project=project, original_name__startswith="shirt").first()
    row = int(shirt.original_name.split("-")[1].split(".")[0])
    assert np.array_equal(first.cache.images[first.cache.rows([shirt.pk])[0]], source_images[row])
    assert labels[row] == FASHION_INDEX["shirt"]

    assert cache_update(project=project).decoded == 0
    add_images(project, per_class=3)
    shirt.delete()
    update = cache_update(project=project)
    assert (update.decoded, update.dropped, len(update.cache)) == (3, 1, 8)
    assert list(update.cache.ids) == sorted(Image.objects.filter(project=project).values_list("id", flat=True))

    cache._warm.clear()  # another process reads the same file
    with np.load(cache_path(project)) as stored:
        assert np.array_equal(stored["images"], update.cache.images)
    assert cache_update(project=project).decoded == 0


@pytest.mark.django_db
def test_an_rgb_project_caches_three_channels_at_its_size(project):
    project.grayscale, project.image_size = False, 16
    project.save()
    add_images(project, per_class=1)
    assert cache_update(project=project).cache.images.shape == (3, 3, 16, 16)


def test_per_class_precision_recall_and_confusion_on_a_hand_example():
    true = np.array([0, 0, 1, 2, 2, 2])
    predicted = np.array([0, 1, 1, 2, 2, 0])
    matrix = metrics.confusion_matrix(true, predicted, 4)
    assert matrix.tolist() == [[1, 1, 0, 0], [0, 1, 0, 0], [1, 0, 2, 0], [0, 0, 0, 0]]
    report = metrics.per_class_report(matrix, {0: "a", 1: "b", 2: "c", 3: "d"})
    assert report["a"] == {"precision": 0.5, "recall": 0.5, "support": 2}
    assert report["b"] == {"precision": 0.5, "recall": 1.0, "support": 1}
    assert report["c"] == {"precision": 1.0, "recall": pytest.approx(2 / 3), "support": 3}
    assert report["d"] == {"precision": None, "recall": None, "support": 0}
    assert metrics.agreement(true, predicted) == pytest.approx(4 / 6)
    assert metrics.agreement(np.array([]), np.array([])) is None


@pytest.mark.django_db(transaction=True)
def test_running_accuracy_scores_the_previous_version_on_labels_given_after_it(small_project):
    assert run_training_round(small_project.pk, steps=3) == "done v1"
    first = ModelVersion.objects.get(project=small_project)
    assert first.metrics["running_accuracy"] is None and first.metrics["running_count"] == 0
    unlabeled = list(Image.objects.filter(project=small_project, annotation__isnull=True).order_by("-id")[:9])
    for image in unlabeled:
        label(small_project, image, image.original_name.split("-")[0])
    truth = {a.image_id: a.label_class.index for a in Annotation.objects.filter(image__in=unlabeled)}
    guesses = dict(Prediction.objects.filter(version=first, image__in=unlabeled).values_list("image_id", "predicted_index"))
    expected = np.mean([guesses[image_id] == index for image_id, index in truth.items()])

    assert run_training_round(small_project.pk, steps=3) == "done v2"
    second = ModelVersion.objects.get(project=small_project, number=2)
    assert second.metrics["running_count"] == 9
    assert second.metrics["running_accuracy"] == pytest.approx(expected)
    assert second.human_labels == 21


@pytest.mark.django_db(transaction=True)
def test_held_out_labels_stay_out_of_training_and_are_measured(project):
    project.holdout_fraction = 0.3
    project.save()
    for name, images in add_images(project, per_class=20).items():
        for image in images:
            label(project, image, name)
    assert call_command("run_round", "--project", project.slug, "--steps", "3") is None
    version = ModelVersion.objects.get(project=project)
    held = Image.objects.filter(project=project, holdout=True).count()
    assert 0 < held < 60
    assert version.human_labels == 60 - held
    m = version.metrics
    assert m["holdout_count"] == held and 0 <= m["holdout_accuracy"] <= 1
    assert set(m["holdout_per_class"]) == {"shirt", "trouser", "bag"}
    assert sum(map(sum, m["holdout_confusion"])) == held == sum(c["support"] for c in m["holdout_per_class"].values())
    assert set(m) >= {"running_accuracy", "running_count", "mask_ratio", "pseudo_label_rate"}


@pytest.mark.django_db(transaction=True)
def test_prequential_per_class_metrics_and_confusion_accumulate_without_held_out_labels(small_project):
    assert small_project.holdout_fraction == 0
    assert run_training_round(small_project.pk, steps=3) == "done v1"
    first = ModelVersion.objects.get(project=small_project)
    assert first.metrics["prequential_count"] == 0 and first.metrics["prequential_accuracy"] is None
    expected = np.zeros((3, 3), dtype=int)
    unlabeled = list(Image.objects.filter(project=small_project, annotation__isnull=True).order_by("id"))
    for number, batch in ((2, unlabeled[:9]), (3, unlabeled[9:15])):
        scorer = ModelVersion.objects.get(project=small_project, number=number - 1)
        guesses = dict(Prediction.objects.filter(version=scorer, image__in=batch).values_list("image_id", "predicted_index"))
        for image in batch:
            truth = label(small_project, image, image.original_name.split("-")[0]).label_class.index
            expected[truth, guesses[image.pk]] += 1
        assert run_training_round(small_project.pk, steps=3) == f"done v{number}"
        m = ModelVersion.objects.get(project=small_project, number=number).metrics
        assert np.array_equal(np.array(m["confusion"]), expected)  # every label once, scored before training on it
        assert m["prequential_count"] == expected.sum() and m["prequential_accuracy"] == pytest.approx(np.trace(expected) / expected.sum())
        assert sum(row["support"] for row in m["per_class"].values()) == expected.sum()
        assert m["holdout_count"] == 0
    names = dict(LabelClass.objects.filter(project=small_project).values_list("index", "name"))
    for index, name in names.items():
        recall = m["per_class"][name]["recall"]
        support = expected[index].sum()
        assert recall == (pytest.approx(expected[index, index] / support) if support else None)
