"""Labels that arrive with imported images go through the labeling services: history, undo, no overwrite."""

from __future__ import annotations

import pytest

from labelapp.images import services as images_services
from labelapp.images.services import images_import
from labelapp.images.sources import SourceFile
from labelapp.labeling import services
from labelapp.labeling.models import Annotation, AnnotationEvent, Source
from tests.labelapp.images.helpers import demo_pngs

from .helpers import add_images


def test_imported_folder_labels_have_their_history_and_the_importer_can_undo_them(project, owner, monkeypatch):
    monkeypatch.setattr(images_services, "LABEL_BATCH", 3)  # several bulk writes in one import
    entries = [(name, data) for name, data in demo_pngs(60) if name.split("/")[0] in {"shirt", "trouser", "bag"}]

    images_import(project=project, files=[SourceFile(n, d) for n, d in entries], user=owner, labels_from_folders=True)

    labels = Annotation.objects.filter(project=project)
    events = AnnotationEvent.objects.filter(project=project, user=owner, action=AnnotationEvent.Action.LABELED)
    assert labels.count() == events.count() == len(entries) > 3
    assert set(labels.values_list("source", "annotator", "revision").distinct()) == {(Source.HUMAN, owner.pk, 1)}
    newest = events.order_by("-id").first()
    lease = services.annotation_undo(project=project, user=owner)
    assert lease.image_id == newest.image_id and not Annotation.objects.filter(image_id=newest.image_id).exists()


def test_an_import_never_overwrites_a_label_given_meanwhile(project, annotator, owner):
    first, second = add_images(project, 2)
    shirt, trouser = project.classes.get(index=0), project.classes.get(index=1)
    services.annotation_submit(project=project, image=first, label_class=trouser, user=annotator, expected_revision=None)

    saved = services.annotations_import(project=project, labels=[(first.pk, shirt.pk), (second.pk, shirt.pk)], user=owner)

    assert [annotation.image_id for annotation in saved] == [second.pk]
    assert Annotation.objects.get(image=first).label_class == trouser
    assert AnnotationEvent.objects.filter(image=first).count() == 1


def test_an_import_cannot_label_another_projects_images(project, other_project, owner):
    theirs = add_images(other_project, 1)[0]
    with pytest.raises(services.LabelingError):
        services.annotations_import(project=project, labels=[(theirs.pk, project.classes.get(index=0).pk)], user=owner)
    assert not Annotation.objects.exists()
