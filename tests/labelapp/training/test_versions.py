"""Versions are history: real rounds keep every version's row and metrics, prune only old versions' bulky data
(prediction rows, checkpoint, embeddings) except pinned and exported ones, and an owner can roll back."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rq.job import Job

from labelapp.training import store
from labelapp.training.cache import checkpoint_path, embeddings_path
from labelapp.training.jobs import run_training_round
from labelapp.training.models import ModelVersion, Prediction
from labelapp.training.selectors import version_embeddings
from labelapp.training.services import VersionUnavailable, project_rollback, propagation_run, round_enqueue
from tests.helpers.training import run_burst_in_process

pytestmark = pytest.mark.django_db(transaction=True)


def versions(project) -> dict[int, ModelVersion]:
    return {version.number: version for version in ModelVersion.objects.filter(project=project)}


def has_bulky_data(version: ModelVersion) -> bool:
    return (
        Prediction.objects.filter(version=version).exists()
        and checkpoint_path(version.checkpoint).is_file()
        and embeddings_path(version).is_file()
    )


def test_rounds_keep_every_versions_row_and_prune_only_old_unpinned_bulky_data(small_project, settings, owner_client):
    settings.TRAINING_KEEP_VERSIONS = 2
    assert run_training_round(small_project.pk, steps=2) == "done v1"
    owner_client.post(reverse("training:version-pin", args=[small_project.slug, 1]), {"pinned": "1"})
    for number in (2, 3, 4):
        assert run_training_round(small_project.pk, steps=2) == f"done v{number}"
    kept = versions(small_project)
    assert sorted(kept) == [1, 2, 3, 4]  # every row stays, with its metrics, losses and timings
    assert all(v.metrics and v.losses and v.timings and v.finished_at for v in kept.values())
    assert kept[2].is_pruned and not has_bulky_data(kept[2])
    assert not Prediction.objects.filter(version=kept[2]).exists()
    assert kept[1].pinned and not kept[1].is_pruned and has_bulky_data(kept[1])  # pinned: kept whatever its age
    assert all(has_bulky_data(kept[n]) and not kept[n].is_pruned for n in (3, 4))  # the newest two

    # the pruned version's API predictions and model export say so instead of a 404 or 500
    response = owner_client.get(reverse("api:predictions", args=[small_project.slug, 2]))
    assert response.status_code == 410 and "pruned" in response.json()["detail"]
    response = owner_client.get(reverse("exports:model", args=[small_project.slug]), {"version": 2, "format": "torchscript"})
    assert response.status_code == 410 and "pruned" in response.content.decode()
    page = owner_client.get(reverse("projects:detail", args=[small_project.slug])).content.decode()
    assert "pruned (metrics only)" in page and page.count('<tr data-version="') == 4


def test_an_exported_version_is_pinned(small_project, settings, owner_client):
    settings.TRAINING_KEEP_VERSIONS = 1
    run_training_round(small_project.pk, steps=2)
    response = owner_client.get(reverse("exports:model", args=[small_project.slug]), {"version": 1, "format": "torchscript"})
    assert response.status_code == 200
    b"".join(response.streaming_content)
    run_training_round(small_project.pk, steps=2)
    run_training_round(small_project.pk, steps=2)
    kept = versions(small_project)
    assert kept[1].pinned and has_bulky_data(kept[1]) and kept[2].is_pruned


def test_an_owner_rolls_back_to_a_kept_version_and_the_next_round_resumes_from_it(small_project, settings, owner_client):
    settings.TRAINING_KEEP_VERSIONS = 3
    for _ in range(3):
        run_training_round(small_project.pk, steps=2)
    response = owner_client.post(reverse("training:version-rollback", args=[small_project.slug, 1]), follow=True)
    assert "Version 1 is current again" in response.content.decode()
    small_project.refresh_from_db()
    assert small_project.current_version.number == 1 and small_project.current_version.pinned

    assert run_training_round(small_project.pk, steps=2) == "done v4"  # numbers keep growing
    kept = versions(small_project)
    fourth = kept[4]
    assert fourth.steps == 2 + 2  # resumed from v1's checkpoint (2 steps), not v3's (6)
    assert fourth.total_seconds == pytest.approx(kept[1].total_seconds + fourth.seconds)  # v1's lineage, as steps
    assert kept[3].total_seconds == pytest.approx(sum(kept[n].seconds for n in (1, 2, 3)))
    assert sorted(versions(small_project)) == [1, 2, 3, 4]


def test_rolling_back_to_a_pruned_version_is_refused_with_the_reason(small_project, settings, annotator_client):
    settings.TRAINING_KEEP_VERSIONS = 1
    run_training_round(small_project.pk, steps=2)
    run_training_round(small_project.pk, steps=2)
    first = versions(small_project)[1]
    assert first.is_pruned
    with pytest.raises(VersionUnavailable, match="pruned"):
        project_rollback(project=small_project, version=first)
    small_project.refresh_from_db()
    assert small_project.current_version.number == 2
    # annotators may not roll back
    assert annotator_client.post(reverse("training:version-rollback", args=[small_project.slug, 2])).status_code == 404


def test_a_round_queued_after_a_rollback_runs_instead_of_being_stale(small_project, settings):
    settings.TRAINING_KEEP_VERSIONS = 3
    for _ in range(3):
        run_training_round(small_project.pk, steps=2)
    project_rollback(project=small_project, version=versions(small_project)[1])

    job_id = round_enqueue(project_id=small_project.pk, steps=2)  # as a new label or Start would
    run_burst_in_process()
    job = Job.fetch(job_id, connection=store.connection())
    assert job.return_value() == "done v4"
    assert job.kwargs["base_version"] == 3  # the newest finished version, not the current one
    assert versions(small_project)[4].steps == 2 + 2  # resumed from v1


def test_a_label_propagation_is_history_too_and_pruning_its_base_leaves_its_shared_files(small_project, settings):
    settings.TRAINING_KEEP_VERSIONS = 1
    assert run_training_round(small_project.pk, steps=2) == "done v1"
    propagated = propagation_run(project_id=small_project.pk)  # shares v1's checkpoint and embeddings file

    kept = versions(small_project)
    assert propagated.number == 2 and propagated.kind == ModelVersion.Kind.PROPAGATED
    assert kept[2].finished_at and kept[2].total_seconds == pytest.approx(kept[1].total_seconds)
    assert kept[1].is_pruned and not checkpoint_path(kept[1].checkpoint).exists()
    assert has_bulky_data(kept[2]) and version_embeddings(kept[2]) is not None

    assert run_training_round(small_project.pk, steps=2) == "done v3"  # resumes from v2's (v1's) checkpoint
    third = versions(small_project)[3]
    assert third.steps == 2 + 2 and third.total_seconds == pytest.approx(kept[1].seconds + third.seconds)
