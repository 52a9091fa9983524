"""Each queue returns exactly the images its definition says, in its order (hand-built predictions)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from labelapp.labeling import selectors, services
from labelapp.labeling.models import Annotation, ImageLease, ImageSkip, ReviewDecision, Source
from sslengine import list_strategies

from .helpers import add_images, add_version


def label(project, image, index, user, source=Source.HUMAN):
    return Annotation.objects.create(
        project=project, image=image, label_class=project.classes.get(index=index), source=source, annotator=user
    )


def queue_ids(project, user, queue=selectors.QUEUE_LABEL, limit=100):
    order = services.queue_order_build(project=project) if queue == selectors.QUEUE_LABEL else None
    return selectors.queue_candidate_ids(project=project, user=user, queue=queue, order=order, held=[], limit=limit)


@pytest.fixture
def images(project):
    return add_images(project, 12)


def test_review_queue_is_confident_unlabeled_unrejected_grouped_by_class_most_confident_first(
    project, images, annotator, reviewer
):
    project.threshold = 0.9
    project.save()
    version = add_version(
        project,
        {
            images[0]: (2, 0.99),
            images[1]: (0, 0.95),
            images[2]: (0, 0.97),
            images[3]: (1, 0.90),  # exactly τ: included
            images[4]: (1, 0.89),  # below τ
            images[5]: (0, 0.999),  # labeled by a person
            images[6]: (2, 0.93),  # rejected under this version
            images[7]: (2, 0.91),
        },
    )
    label(project, images[5], 1, annotator)
    services.pseudo_labels_reject(project=project, user=reviewer, image_ids=[images[6].pk], version_number=version.number)
    got = [p.image_id for p in selectors.review_queue(project, version=version)]
    assert got == [images[2].pk, images[1].pk, images[3].pk, images[0].pk, images[7].pk]
    only_bags = [p.image_id for p in selectors.review_queue(project, version=version, class_index=2)]
    assert only_bags == [images[0].pk, images[7].pk]


def test_review_queue_keyset_pages_cover_the_queue_once(project, images):
    version = add_version(project, {image: (i % 3, 0.96 + (i % 4) / 100) for i, image in enumerate(images)})
    everything = [p.image_id for p in selectors.review_queue(project, version=version)]
    seen, after = [], None
    while True:
        page = list(selectors.review_queue(project, version=version, after=after)[:5])
        if not page:
            break
        seen += [p.image_id for p in page]
        last = page[-1]
        after = selectors.ReviewCursor.decode(
            selectors.ReviewCursor(last.predicted_index, last.confidence, last.image_id).encode()
        )
    assert seen == everything and sorted(seen) == sorted(i.pk for i in images)


def test_a_rejection_in_an_older_version_does_not_hide_the_image_from_a_newer_review(project, images, reviewer):
    old = add_version(project, {images[0]: (0, 0.99)})
    services.pseudo_labels_reject(project=project, user=reviewer, image_ids=[images[0].pk], version_number=old.number)
    new = add_version(project, {images[0]: (0, 0.99)})
    assert [p.image_id for p in selectors.review_queue(project, version=new)] == [images[0].pk]


def test_low_confidence_queue_is_unlabeled_below_threshold_lowest_first(project, images, annotator):
    project.low_confidence_threshold = 0.6
    project.save()
    add_version(
        project,
        {images[0]: (0, 0.59), images[1]: (1, 0.35), images[2]: (2, 0.6), images[3]: (0, 0.45), images[4]: (1, 0.4)},
    )
    label(project, images[4], 1, annotator)
    got = queue_ids(project, annotator, queue=selectors.QUEUE_LOW_CONFIDENCE)
    assert got == [images[1].pk, images[3].pk, images[0].pk]
    version = selectors.current_version(project)
    assert [p.image_id for p in selectors.low_confidence_queue(project, version=version)] == got


def test_low_confidence_queue_is_empty_before_the_first_version(project, images, annotator):
    assert queue_ids(project, annotator, queue=selectors.QUEUE_LOW_CONFIDENCE) == []


def test_suspects_are_human_labels_the_model_confidently_contradicts(project, images, annotator, reviewer):
    project.threshold = 0.9
    project.save()
    version = add_version(
        project,
        {
            images[0]: (1, 0.99),  # labeled 0 by a person: suspect
            images[1]: (1, 0.95),  # labeled 0 by a person: suspect, less confident
            images[2]: (0, 0.99),  # agrees with the label
            images[3]: (1, 0.80),  # contradicts, but below τ
            images[4]: (1, 0.99),  # a pseudo-label, not a person's
            images[5]: (1, 0.97),  # unlabeled
            images[6]: (2, 0.98),  # kept by a reviewer
        },
    )
    for image in images[:4] + [images[6]]:
        label(project, image, 0, annotator)
    label(project, images[4], 0, reviewer, source=Source.PSEUDO)
    services.suspect_keep(project=project, user=reviewer, image=images[6], version_number=version.number)
    assert [p.image_id for p in selectors.suspects_queue(project, version=version)] == [images[0].pk, images[1].pk]


def test_a_kept_label_returns_to_suspects_once_it_changes(project, images, annotator, reviewer):
    version = add_version(project, {images[0]: (1, 0.99)})
    label(project, images[0], 0, annotator)
    services.suspect_keep(project=project, user=reviewer, image=images[0], version_number=version.number)
    assert not selectors.suspects_queue(project, version=version).exists()
    services.annotation_submit(
        project=project, image=images[0], label_class=project.classes.get(index=2), user=reviewer, expected_revision=1
    )
    assert [p.image_id for p in selectors.suspects_queue(project, version=version)] == [images[0].pk]


def test_label_queue_puts_rejected_pseudo_labels_first_then_least_confident(project, images, annotator, reviewer):
    project.strategy = "least-confidence"
    project.save(update_fields=["strategy"])
    confidences = [0.5, 0.38, 0.9, 0.7, 0.42, 0.8, 0.6, 0.4, 0.99, 0.35, 0.45, 0.55]
    version = add_version(project, {image: (0, c) for image, c in zip(images, confidences)})
    services.pseudo_labels_reject(project=project, user=reviewer, image_ids=[images[8].pk], version_number=version.number)
    label(project, images[4], 1, annotator)  # labeled: never offered
    by_confidence = sorted((c, image.pk) for image, c in zip(images, confidences) if image not in (images[4], images[8]))
    assert queue_ids(project, annotator) == [images[8].pk] + [pk for _, pk in by_confidence]


def test_label_queue_leaves_out_images_leased_by_others_and_my_skips(project, images, annotator, reviewer):
    project.strategy = "least-confidence"
    project.save(update_fields=["strategy"])
    add_version(project, {image: (0, 0.35 + i / 20) for i, image in enumerate(images)})
    ImageLease.objects.create(image=images[0], project=project, user=reviewer, expires_at=timezone.now() + timezone.timedelta(minutes=1))
    ImageLease.objects.create(image=images[1], project=project, user=reviewer, expires_at=timezone.now() - timezone.timedelta(seconds=1))
    ImageSkip.objects.create(image=images[2], user=annotator)
    got = queue_ids(project, annotator)
    assert images[0].pk not in got and images[2].pk not in got
    assert got[0] == images[1].pk  # an expired lease frees the image
    assert images[2].pk in queue_ids(project, reviewer)  # skips are personal


def test_label_queue_before_the_first_version_is_a_fixed_shuffle_of_every_image(project, images, annotator, reviewer):
    first = queue_ids(project, annotator)
    assert sorted(first) == sorted(image.pk for image in images)
    assert first != sorted(first)  # shuffled, not upload order
    assert queue_ids(project, reviewer) == first  # deterministic


def test_images_added_after_the_order_was_built_join_the_end(project, images, annotator):
    services.queue_order_build(project=project)
    late = add_images(project, 2, start=100)
    assert queue_ids(project, annotator)[-2:] == [late[0].pk, late[1].pk]


@pytest.mark.parametrize("strategy", list_strategies())
def test_every_registered_strategy_orders_all_unlabeled_images(project, images, annotator, strategy):
    project.strategy = strategy
    project.save()
    add_version(project, {image: (i % 3, 0.4 + i / 30) for i, image in enumerate(images)})
    label(project, images[0], 0, annotator)
    got = queue_ids(project, annotator)
    assert sorted(got) == sorted(image.pk for image in images[1:])


def test_counts_match_the_queues(project, images, annotator, reviewer):
    project.threshold, project.low_confidence_threshold = 0.9, 0.5
    project.save()
    version = add_version(project, {images[0]: (0, 0.95), images[1]: (1, 0.4), images[2]: (2, 0.99), images[3]: (0, 0.97)})
    label(project, images[2], 0, annotator)
    services.pseudo_labels_accept(project=project, user=reviewer, image_ids=[images[3].pk], version_number=version.number)
    counts = selectors.labeling_counts(project, fresh=True)
    assert counts == {
        "version": version.number, "images": 12, "human": 1, "pseudo": 1, "unlabeled": 10,
        "rejected": 0, "review": 1, "low_confidence": 1, "suspects": 1,
    }
    assert ReviewDecision.objects.count() == 0


def test_counts_after_labels_and_rejections_recount_the_labels_but_not_the_pool_until_an_image_changes(
    project, images, annotator, reviewer, django_capture_on_commit_callbacks
):
    project.threshold, project.low_confidence_threshold = 0.9, 0.5
    project.save()
    version = add_version(project, {images[0]: (0, 0.95), images[1]: (1, 0.4), images[2]: (2, 0.99), images[3]: (0, 0.97),
                                    images[4]: (1, 0.35)})

    def counts_and_sql() -> tuple[dict, str]:
        with CaptureQueriesContext(connection) as queries:
            counts = selectors.labeling_counts(project)
        return counts, " ".join(q["sql"] for q in queries.captured_queries)

    def queue_sizes(counts: dict) -> tuple[int, int]:
        return counts["review"], counts["low_confidence"]

    def queues() -> tuple[int, int]:
        return (selectors.review_queue(project, version=version).count(),
                selectors.low_confidence_queue(project, version=version).count())

    first, _ = counts_and_sql()
    assert queue_sizes(first) == queues() == (3, 2)
    with django_capture_on_commit_callbacks(execute=True):
        label(project, images[2], 0, annotator)  # confident: leaves the review queue
        label(project, images[4], 0, annotator)  # unsure: leaves the low-confidence queue
        services.pseudo_labels_reject(project=project, user=reviewer, image_ids=[images[3].pk], version_number=version.number)
    after, sql = counts_and_sql()
    assert queue_sizes(after) == queues() == (1, 1)
    assert (after["human"], after["rejected"], after["unlabeled"]) == (2, 1, 10)
    assert 'FROM "images_image"' not in sql  # the pool's counts were kept: only label-side rows were read
    with django_capture_on_commit_callbacks(execute=True):
        add_images(project, 1, start=20)
    grown, sql = counts_and_sql()
    assert (grown["images"], grown["unlabeled"]) == (13, 11) and 'FROM "images_image"' in sql


def test_others_labels_may_leave_a_readers_counts_seconds_old_but_the_readers_own_changes_show_at_once(
    project, images, annotator, reviewer, django_capture_on_commit_callbacks, monkeypatch
):
    assert selectors.labeling_counts(project, reader=reviewer)["human"] == 0
    with django_capture_on_commit_callbacks(execute=True):
        label(project, images[0], 0, annotator)
    assert selectors.labeling_counts(project, reader=reviewer)["human"] == 0  # someone else's, < 5 s ago
    assert selectors.labeling_counts(project, reader=annotator)["human"] == 0  # not marked as theirs: stale too
    with django_capture_on_commit_callbacks(execute=True):
        label(project, images[1], 0, annotator)
        services.labeling_counts_own_change(project_id=project.pk, user_id=annotator.pk)  # as a labeling POST does
    assert selectors.labeling_counts(project, reader=annotator)["human"] == 2
    assert selectors.labeling_counts(project, reader=reviewer)["human"] == 2  # the recount is shared
    with django_capture_on_commit_callbacks(execute=True):
        label(project, images[2], 0, annotator)
    assert selectors.labeling_counts(project)["human"] == 3  # no reader: fresh, as the count requests always were
    monkeypatch.setattr(selectors, "COUNTS_STALE_SECONDS", 0.0)
    with django_capture_on_commit_callbacks(execute=True):
        label(project, images[3], 0, annotator)
    assert selectors.labeling_counts(project, reader=reviewer)["human"] == 4  # older than allowed: recounted


def test_a_malformed_cursor_reads_as_none():
    assert selectors.ReviewCursor.decode("1:0.5") is None and selectors.SuspectCursor.decode("x:1") is None
    cursor = selectors.SuspectCursor(0.9500000000000001, 7)
    assert selectors.SuspectCursor.decode(cursor.encode()) == cursor


def test_an_unknown_strategy_falls_back_to_least_confidence(project, images, annotator):
    project.strategy = "no-such-strategy"
    project.save()
    add_version(project, {image: (0, 0.9 - i / 100) for i, image in enumerate(images)})
    assert queue_ids(project, annotator) == [image.pk for image in reversed(images)]
