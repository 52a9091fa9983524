"""Classes are the owners': a reviewer's ImageFolder zip cannot create them; no class name, from the form,
the classes page or a zip's folders, carries control characters, ANSI escapes or bidi overrides; and the
model card and predict.py of an export stay what they say whatever the names."""

from __future__ import annotations

import ast
import re

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from labelapp.labeling.models import Annotation
from labelapp.projects.models import LabelClass
from labelapp.projects.services import ClassSpec, label_class_add, project_create
from sslengine.export import ExportMetadata, ModelCard, predict_example
from tests.helpers import classes_post
from tests.labelapp.images.helpers import demo_pngs, zip_bytes

HOSTILE_NAMES = {
    "ansi": "\x1b[31mred\x1b[0m",
    "csi": "cat\x9b2J",
    "newline": "cat\nFAKE LINE",
    "bell": "dog\x07",
    "rlo": "cat\u202egnp.exe",
    "lre": "\u202aleft",
    "isolate": "x\u2066y\u2069",
}


def folder_zip(*folders: str) -> bytes:
    return zip_bytes([(f"{folder}/{name.rsplit('/', 1)[-1]}", data) for folder, (name, data) in zip(folders, demo_pngs(len(folders)))])


def upload_with_folder_labels(client, project, data: bytes) -> dict:
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = client.post(f"/p/{project.slug}/images/upload/",
                           {"files": [SimpleUploadedFile("tree.zip", data)], "labels_from_folders": "1"})
    assert response.status_code == 200
    return response.json()


def test_a_reviewer_cannot_create_classes_through_a_folder_labeled_zip(project, reviewer_client):
    assert not Annotation.objects.filter(project=project).exists()  # the case where owners may create classes
    body = upload_with_folder_labels(reviewer_client, project, folder_zip("shirt", "cat"))
    assert set(project.classes.values_list("name", flat=True)) == {"shirt", "trouser", "bag"}
    assert body["created_classes"] == []
    by_folder = {result["name"]: result for result in body["results"]}
    refused = [result for result in body["results"] if result["status"] == "refused"]
    assert len(refused) == 1 and "only the project's owners create classes" in refused[0]["reason"]
    assert [result["label"] for result in by_folder.values() if result["status"] == "added"] == ["shirt"]


def test_an_owner_still_creates_classes_from_folders(project, owner_client):
    body = upload_with_folder_labels(owner_client, project, folder_zip("shirt", "cat"))
    assert body["created_classes"] == ["cat"] and body["labeled"] == 2


@pytest.mark.parametrize("name", HOSTILE_NAMES.values(), ids=HOSTILE_NAMES.keys())
def test_it_refuses_class_names_with_controls_ansi_or_bidi_from_every_source(name, project, owner, owner_client):
    with pytest.raises(ValidationError, match="contains (an ANSI escape|a control character|a bidirectional text override)"):
        label_class_add(project=project, name=name)
    with pytest.raises(ValidationError, match="contains"):
        project_create(name="Pets", classes=[ClassSpec(name="dog"), ClassSpec(name=name)], owner=owner)

    rows = [(c.pk, c.name, c.hotkey, False) for c in project.classes.order_by("index")] + [("", name, "", False)]
    response = owner_client.post(reverse("projects:classes", args=[project.slug]), classes_post(project, rows), follow=True)
    assert "contains" in response.content.decode()
    assert not LabelClass.objects.filter(name=name.strip()).exists()

    if "\n" not in name:  # a zip entry name cannot hold a newline folder reliably
        body = upload_with_folder_labels(owner_client, project, folder_zip(name))
        (result,) = body["results"]
        assert result["status"] == "added" and result["label"] == "" and "contains" in result["reason"]
    assert project.classes.count() == 3


def test_the_model_card_escapes_names_and_predict_py_stays_valid_python_for_any_name():
    names = ("# heading", "- bullet", '"""; import os; os.system("x") #', "[click](javascript:alert(1))",
             "<script>alert(1)</script>", "a | b", "1. fake", "plain")
    meta = ExportMetadata(classes=names, version=1, image_size=32, in_channels=3, algorithm="fixmatch", backbone="cnn-small")
    per_class = {name: {"precision": 0.5, "recall": 1.0} for name in names}
    card = ModelCard(meta=meta, config={}, data={"images": 8}, metrics={"per_class": per_class},
                     training_seconds=1.0, steps=1, created_at="2026-01-01T00:00:00+00:00", project="p")
    markdown = card.to_markdown()
    class_lines = [line for line in markdown.splitlines() if line[:2] in {f"{i}." for i in range(len(names))}]
    assert class_lines == [
        "0. \\# heading", "1. \\- bullet", '2. """; import os; os.system("x") #',
        "3. \\[click\\](javascript:alert(1))", "4. \\<script\\>alert(1)\\</script\\>", "5. a \\| b", "6. 1\\. fake", "7. plain",
    ]
    table_rows = [line for line in markdown.splitlines() if line.startswith("| ") and "0.5000" in line]
    assert len(table_rows) == len(names)
    assert all(len(re.findall(r"(?<!\\)\|", line)) == 4 for line in table_rows)  # three cells each, no more
    for fmt in ("onnx", "torchscript"):
        script = predict_example(fmt, meta)
        ast.parse(script)
        assert not any(name in script for name in names if name != "plain")  # names come from the model's metadata
