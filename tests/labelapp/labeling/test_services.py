"""Labels, undo, skips, leases and review decisions: the rules of the labeling services."""

from __future__ import annotations

import pytest
from django.utils import timezone

from labelapp.labeling import selectors, services
from labelapp.labeling.models import Annotation, AnnotationEvent, ImageLease, QueueOrder, ReviewDecision, Source

from .helpers import add_images, add_version


@pytest.fixture
def images(project):
    return add_images(project, 6)


def submit(project, image, index, user, expected_revision=None):
    return services.annotation_submit(
        project=project, image=image, label_class=project.classes.get(index=index), user=user,
        expected_revision=expected_revision,
    )


def test_submitting_the_same_label_twice_is_a_no_op(project, images, annotator):
    first = submit(project, images[0], 1, annotator)
    again = submit(project, images[0], 1, annotator)
    assert again.pk == first.pk and again.revision == 1
    assert AnnotationEvent.objects.filter(image=images[0]).count() == 1


def test_another_persons_label_is_not_overwritten_without_seeing_it(project, images, annotator, reviewer):
    submit(project, images[0], 1, annotator)
    with pytest.raises(services.AnnotationConflict, match="anna-annotator already labeled this image “trouser”"):
        submit(project, images[0], 2, reviewer)
    annotation = Annotation.objects.get(image=images[0])
    assert annotation.label_class.index == 1 and annotation.annotator == annotator


def test_a_person_who_saw_the_label_may_change_it(project, images, annotator, reviewer):
    submit(project, images[0], 1, annotator)
    changed = submit(project, images[0], 2, reviewer, expected_revision=1)
    assert (changed.label_class.index, changed.annotator, changed.revision) == (2, reviewer, 2)
    with pytest.raises(services.AnnotationConflict):  # anna's view (revision 1) is now stale
        submit(project, images[0], 0, annotator, expected_revision=1)


def test_a_human_label_replaces_a_pseudo_label_and_keeps_its_history(project, images, annotator, reviewer):
    version = add_version(project, {images[0]: (2, 0.99)})
    services.pseudo_labels_accept(project=project, user=reviewer, image_ids=[images[0].pk], version_number=version.number)
    annotation = submit(project, images[0], 0, annotator)
    assert (annotation.source, annotation.label_class.index, annotation.confidence) == (Source.HUMAN, 0, None)
    event = AnnotationEvent.objects.filter(image=images[0]).latest("id")
    assert (event.previous_source, event.previous_class.index, event.previous_confidence) == (Source.PSEUDO, 2, 0.99)


def test_undo_removes_my_latest_label_and_leases_the_image_back(project, images, annotator):
    submit(project, images[0], 0, annotator)
    submit(project, images[1], 1, annotator)
    lease = services.annotation_undo(project=project, user=annotator)
    assert lease.image == images[1] and lease.user == annotator
    assert not Annotation.objects.filter(image=images[1]).exists()
    lease = services.annotation_undo(project=project, user=annotator)  # a second undo goes one further back
    assert lease.image == images[0] and not Annotation.objects.exists()
    with pytest.raises(services.LabelingError, match="Nothing to undo"):
        services.annotation_undo(project=project, user=annotator)


def test_undo_restores_the_label_that_was_replaced(project, images, annotator, reviewer):
    version = add_version(project, {images[0]: (2, 0.97)})
    services.pseudo_labels_accept(project=project, user=reviewer, image_ids=[images[0].pk], version_number=version.number)
    submit(project, images[0], 0, annotator)
    services.annotation_undo(project=project, user=annotator)
    annotation = Annotation.objects.get(image=images[0])
    assert (annotation.source, annotation.label_class.index, annotation.confidence, annotation.from_version) == (
        Source.PSEUDO, 2, 0.97, version.number,
    )


def test_undo_never_touches_someone_elses_later_change(project, images, annotator, reviewer):
    submit(project, images[0], 0, annotator)
    submit(project, images[0], 1, reviewer, expected_revision=1)
    with pytest.raises(services.AnnotationConflict):
        services.annotation_undo(project=project, user=annotator)
    assert Annotation.objects.get(image=images[0]).annotator == reviewer


def test_only_my_own_labels_are_undone(project, images, annotator, reviewer):
    submit(project, images[0], 0, reviewer)
    with pytest.raises(services.LabelingError, match="Nothing to undo"):
        services.annotation_undo(project=project, user=annotator)


def test_two_annotators_are_leased_different_images(project, images, annotator, reviewer):
    first = services.lease_next(project=project, user=annotator)
    second = services.lease_next(project=project, user=reviewer)
    assert first.image_id != second.image_id


def test_reloading_the_page_gives_back_the_image_in_hand(project, images, annotator):
    first = services.lease_next(project=project, user=annotator)
    assert services.lease_next(project=project, user=annotator).image_id == first.image_id
    preloaded = services.lease_next(project=project, user=annotator, held=[first.image_id])
    assert preloaded.image_id != first.image_id


def test_an_expired_lease_frees_the_image_for_others(project, images, annotator, reviewer):
    lease = services.lease_next(project=project, user=annotator)
    ImageLease.objects.filter(pk=lease.pk).update(expires_at=timezone.now() - timezone.timedelta(seconds=1))
    taken = services.lease_next(project=project, user=reviewer)
    assert taken.image_id == lease.image_id and taken.token != lease.token


def test_held_images_get_their_leases_renewed(project, images, annotator):
    lease = services.lease_next(project=project, user=annotator)
    ImageLease.objects.filter(pk=lease.pk).update(expires_at=timezone.now() + timezone.timedelta(seconds=5))
    services.lease_next(project=project, user=annotator, held=[lease.image_id])
    assert ImageLease.objects.get(pk=lease.pk).expires_at > timezone.now() + timezone.timedelta(seconds=60)


def test_the_queue_ends_when_every_image_is_labeled_or_leased(project, images, annotator, reviewer):
    for image in images[:5]:
        submit(project, image, 0, annotator)
    assert services.lease_next(project=project, user=annotator).image == images[5]
    assert services.lease_next(project=project, user=reviewer) is None


def test_a_skipped_image_leaves_my_queue_and_goes_to_others(project, images, annotator, reviewer):
    lease = services.lease_next(project=project, user=annotator)
    services.image_skip(project=project, user=annotator, image=lease.image)
    assert not ImageLease.objects.filter(pk=lease.pk).exists()
    assert services.lease_next(project=project, user=annotator).image_id != lease.image_id
    assert services.lease_next(project=project, user=reviewer).image_id == lease.image_id


def test_accepting_pseudo_labels_records_their_source_and_never_replaces_a_human_label(
    project, images, annotator, reviewer
):
    project.threshold = 0.9
    project.save()
    version = add_version(project, {images[0]: (2, 0.98), images[1]: (1, 0.95), images[2]: (0, 0.5)})
    submit(project, images[1], 0, annotator)
    accepted = services.pseudo_labels_accept(
        project=project, user=reviewer, image_ids=[i.pk for i in images[:3]], version_number=version.number
    )
    assert accepted == 1
    pseudo = Annotation.objects.get(image=images[0])
    assert (pseudo.source, pseudo.label_class.index, pseudo.confidence, pseudo.from_version, pseudo.annotator) == (
        Source.PSEUDO, 2, 0.98, version.number, reviewer,
    )
    assert Annotation.objects.get(image=images[1]).source == Source.HUMAN
    assert not Annotation.objects.filter(image=images[2]).exists()  # below τ


def test_a_rejected_pseudo_label_goes_to_the_front_of_the_label_queue(project, images, annotator, reviewer):
    version = add_version(project, {image: (0, 0.99 - i / 100) for i, image in enumerate(images)})
    result = services.pseudo_labels_decide(
        project=project, user=reviewer, version_number=version.number,
        accept_ids=[images[0].pk, images[1].pk], reject_ids=[images[2].pk],
    )
    assert result == {"accepted": 2, "rejected": 1}
    decision = ReviewDecision.objects.get()
    assert (decision.image, decision.kind, decision.version_number, decision.predicted_index) == (
        images[2], ReviewDecision.Kind.REJECTED, version.number, 0,
    )
    assert services.lease_next(project=project, user=annotator).image == images[2]
    assert images[2].pk not in [p.image_id for p in selectors.review_queue(project, version=version)]


def test_rejecting_twice_records_once(project, images, reviewer):
    version = add_version(project, {images[0]: (0, 0.99)})
    for _ in range(2):
        services.pseudo_labels_reject(project=project, user=reviewer, image_ids=[images[0].pk], version_number=version.number)
    assert ReviewDecision.objects.count() == 1


def test_a_version_of_another_project_is_refused(project, other_project, images, reviewer):
    foreign = add_version(other_project, {})
    with pytest.raises(services.LabelingError):
        services.pseudo_labels_accept(project=project, user=reviewer, image_ids=[images[0].pk], version_number=foreign.number)


def test_the_queue_order_is_built_once_per_version_and_strategy(project, images):
    first = services.queue_order_build(project=project)
    assert services.queue_order_build(project=project).pk == first.pk
    add_version(project, {image: (0, 0.9) for image in images})
    second = services.queue_order_build(project=project)
    assert second.pk != first.pk and second.version_number == 1 and second.size == len(images)
    assert not type(first).objects.filter(pk=first.pk).exists()  # old orders are dropped


def test_an_upcoming_versions_order_is_built_before_its_flip_while_the_current_order_keeps_serving(project, images):
    add_version(project, {image: (0, 0.9) for image in images})
    serving = services.queue_order_build(project=project)
    upcoming = add_version(project, {image: (1, 0.5) for image in images}, make_current=False)
    built = services.queue_order_build(project=project, upcoming=upcoming)
    assert (built.version_number, built.size) == (upcoming.number, len(images))
    assert selectors.queue_order_for(project).pk == serving.pk  # requests before the flip use the old order
    project.current_version = upcoming
    project.save(update_fields=["current_version"])
    assert selectors.queue_order_for(project).pk == built.pk  # after it, the new one, with no ranking to wait for
    assert services.queue_order_build(project=project).pk == built.pk  # version_ready finds it built
    assert not QueueOrder.objects.filter(pk=serving.pk).exists()


def test_an_order_left_by_a_failed_publication_of_the_same_number_is_rebuilt(project, images):
    upcoming = add_version(project, {image: (1, 0.5) for image in images}, make_current=False)
    leftover = services.queue_order_build(project=project, upcoming=upcoming)
    again = services.queue_order_build(project=project, upcoming=upcoming)
    assert again.pk != leftover.pk and not QueueOrder.objects.filter(pk=leftover.pk).exists()


def test_a_rollback_ranks_the_label_queue_of_the_version_before_making_it_current(project, images):
    from labelapp.training.signals import version_publishing
    from labelapp.training.versions import project_rollback

    older = add_version(project, {image: (0, 0.9) for image in images})
    newer = add_version(project, {image: (1, 0.5) for image in images})
    seen: list[tuple[int | None, bool]] = []

    def record(sender, *, project, version, **kwargs):
        current = type(project).objects.get(pk=project.pk).current_version_id
        seen.append((current, QueueOrder.objects.filter(project=project, version_number=version.number).exists()))

    version_publishing.connect(record, dispatch_uid="test-rollback-order")
    try:
        project_rollback(project=project, version=older)
    finally:
        version_publishing.disconnect(dispatch_uid="test-rollback-order")
    assert seen == [(newer.pk, True)]  # still the newer version while the older one's order is ranked
    assert selectors.queue_order_for(project).version_number == older.number
