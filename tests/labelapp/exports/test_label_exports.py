"""Label exports: each format round-trips, ImageFolder re-imports, names never escape the archive."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path, PurePosixPath

import pytest
from django.core.management import call_command

from labelapp.exports.selectors import PREDICTION, LabelOptions, class_folders, safe_component
from labelapp.exports.services import CSV_COLUMNS, labels_export_chunks, labels_export_write
from labelapp.images.models import Image
from labelapp.images.services import images_import
from labelapp.images.sources import import_limits, iter_path
from labelapp.labeling.models import Annotation, ReviewDecision, Source
from labelapp.labeling.selectors import review_queue
from labelapp.projects.models import LabelClass, Project
from labelapp.training.models import Prediction

ALL = LabelOptions(include_pseudo=True, include_predictions=True)


def expected_rows(project: Project, options: LabelOptions) -> list[dict[str, str]]:
    """What the database says the export must hold, built independently of the exporter."""
    sources = [Source.HUMAN, Source.PSEUDO] if options.include_pseudo else [Source.HUMAN]
    rows = [
        {
            "filename": a.image.original_name,
            "label": a.label_class.name,
            "source": a.source,
            "confidence": "" if a.confidence is None else repr(a.confidence),
            "annotator": a.annotator.username if a.annotator else "",
            "updated": a.updated_at.isoformat(),
            "image_id": str(a.image_id),
        }
        for a in Annotation.objects.filter(project=project, source__in=sources).order_by("image_id")
    ]
    if options.include_predictions:
        version = project.current_version
        names = dict(project.classes.values_list("index", "name"))
        rows += [
            {
                "filename": p.image.original_name,
                "label": names[p.predicted_index],
                "source": PREDICTION,
                "confidence": repr(p.confidence),
                "annotator": "",
                "updated": version.created_at.isoformat(),
                "image_id": str(p.image_id),
            }
            for p in review_queue(project, version=version).order_by("image_id")
        ]
    return rows


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames) == CSV_COLUMNS
        return list(reader)


@pytest.mark.parametrize("options", [LabelOptions(), LabelOptions(include_pseudo=True), ALL])
def test_csv_export_reads_back_equal_to_the_database(trained_project, tmp_path, options) -> None:
    path = labels_export_write(project=trained_project, fmt="csv", options=options, path=tmp_path / "labels.csv")
    assert read_csv(path) == expected_rows(trained_project, options)


def test_export_holds_human_pseudo_and_flagged_prediction_rows(trained_project, tmp_path) -> None:
    rows = read_csv(labels_export_write(project=trained_project, fmt="csv", options=ALL, path=tmp_path / "l.csv"))
    sources = [row["source"] for row in rows]
    assert sources.count("human") == 9 and sources.count("pseudo") == 2
    rejected = set(ReviewDecision.objects.values_list("image_id", flat=True))
    predicted = [row for row in rows if row["source"] == PREDICTION]
    assert predicted and all(float(row["confidence"]) >= trained_project.threshold for row in predicted)
    assert not rejected & {int(row["image_id"]) for row in predicted}


def test_json_export_round_trips(trained_project, tmp_path) -> None:
    path = labels_export_write(project=trained_project, fmt="json", options=ALL, path=tmp_path / "labels.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["project"] == "clothes"
    assert data["classes"] == [{"index": 0, "name": "shirt"}, {"index": 1, "name": "trouser"}, {"index": 2, "name": "bag"}]
    read_back = [
        {
            "filename": row["filename"], "label": row["label"], "source": row["source"],
            "confidence": "" if row["confidence"] is None else repr(row["confidence"]),
            "annotator": row["annotator"], "updated": row["updated"], "image_id": str(row["image_id"]),
        }
        for row in data["labels"]
    ]
    assert read_back == expected_rows(trained_project, ALL)
    names = dict(trained_project.classes.values_list("index", "name"))
    assert all(names[row["class_index"]] == row["label"] for row in data["labels"])


def test_imagefolder_export_reimports_into_a_new_project_with_the_same_labels(trained_project, owner, tmp_path) -> None:
    options = LabelOptions(include_pseudo=True)
    path = labels_export_write(project=trained_project, fmt="imagefolder", options=options, path=tmp_path / "l.zip")
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        assert {PurePosixPath(name).parts[0] for name in archive.namelist()} == {"shirt", "trouser", "bag"}
    fresh = Project.objects.create(slug="reimport", name="Re-import", image_size=28, grayscale=True)
    report = images_import(project=fresh, files=iter_path(path, limits=import_limits()), user=owner, labels_from_folders=True)
    assert report.count("refused") == 0
    before = {
        a.image.sha256: a.label_class.name
        for a in Annotation.objects.filter(project=trained_project).select_related("image", "label_class")
    }
    after = {
        a.image.sha256: a.label_class.name
        for a in Annotation.objects.filter(project=fresh).select_related("image", "label_class")
    }
    assert after == before and len(after) == 11


def test_imagefolder_entries_are_made_by_the_server_and_stay_inside_the_archive(trained_project, tmp_path) -> None:
    LabelClass.objects.filter(project=trained_project, index=0).update(name="../../etc/passwd")
    LabelClass.objects.filter(project=trained_project, index=1).update(name="C:\\Windows\\system32")
    LabelClass.objects.filter(project=trained_project, index=2).update(name=".hidden\x07bag")
    Image.objects.filter(project=trained_project).update(original_name="../../../evil.png")
    path = labels_export_write(project=trained_project, fmt="imagefolder", options=ALL, path=tmp_path / "x.zip")
    folders = set(class_folders(trained_project).values())
    assert folders == {"00__._etc_passwd", "01_C__Windows_system32", "02_hiddenbag"}
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        assert len(names) == Annotation.objects.count() + len([r for r in expected_rows(trained_project, ALL) if r["source"] == PREDICTION])
        for name in names:
            parts = PurePosixPath(name).parts
            assert len(parts) == 2 and parts[0] in folders and ".." not in parts and "\\" not in name
            assert parts[1].split(".")[0].isdigit()
        archive.extractall(tmp_path / "out")
    root = (tmp_path / "out").resolve()
    assert all(p.resolve().is_relative_to(root) for p in root.rglob("*"))


def test_prediction_entries_are_flagged_in_the_zip(trained_project, tmp_path) -> None:
    path = labels_export_write(project=trained_project, fmt="imagefolder", options=ALL, path=tmp_path / "x.zip")
    with zipfile.ZipFile(path) as archive:
        flagged = [name for name in archive.namelist() if ".predicted." in name]
    assert len(flagged) == sum(1 for r in expected_rows(trained_project, ALL) if r["source"] == PREDICTION) > 0


def test_zip_entries_hold_the_stored_image_bytes(trained_project, tmp_path) -> None:
    path = labels_export_write(project=trained_project, fmt="imagefolder", options=LabelOptions(), path=tmp_path / "x.zip")
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            image = Image.objects.get(pk=int(PurePosixPath(name).name.split(".")[0]))
            with image.file.open("rb") as handle:
                assert archive.read(name) == handle.read()


def test_exports_are_a_lazy_stream_of_chunks(trained_project, monkeypatch) -> None:
    monkeypatch.setattr("labelapp.exports.services.CHUNK_BYTES", 1)  # one chunk per CSV line
    chunks = labels_export_chunks(project=trained_project, fmt="csv", options=ALL)
    first = next(chunks)
    assert first == (",".join(f'"{column}"' for column in CSV_COLUMNS) + "\n").encode()
    rest = b"".join(chunks)
    assert rest.count(b"\n") == len(expected_rows(trained_project, ALL))


def test_safe_component_removes_separators_controls_and_leading_dots() -> None:
    assert safe_component("../a/b\\c") == "_a_b_c"
    assert safe_component("..") == "" and safe_component("a..b") == "a.b"
    assert safe_component("t-shirt") == "t-shirt"
    assert safe_component("Ünïcode ok") == "Ünïcode ok"


def test_class_folders_fall_back_to_index_prefixes_when_names_clash(project) -> None:
    LabelClass.objects.filter(project=project, index=0).update(name="a/b")
    LabelClass.objects.filter(project=project, index=1).update(name="00_a_b")
    assert class_folders(project) == {0: "00_a_b", 1: "01_00_a_b", 2: "02_bag"}


@pytest.mark.parametrize("fmt", ["csv", "json", "coco", "imagefolder"])
def test_export_labels_command_writes_each_format(trained_project, tmp_path, fmt) -> None:
    out = tmp_path / f"labels.{fmt}"
    stdout = io.StringIO()
    call_command("export_labels", "--project", "clothes", "--format", fmt, "--out", str(out), "--include-pseudo", stdout=stdout)
    assert out.is_file() and "wrote" in stdout.getvalue()
    if fmt == "csv":
        assert read_csv(out) == expected_rows(trained_project, LabelOptions(include_pseudo=True))
    if fmt == "coco":
        assert len(json.loads(out.read_text())["annotations"]) == 11  # 9 human labels, 2 accepted pseudo-labels


def test_export_labels_command_refuses_an_unknown_project(db, tmp_path) -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no project with slug 'nope'"):
        call_command("export_labels", "--project", "nope", "--format", "csv", "--out", str(tmp_path / "x.csv"))


def test_no_prediction_rows_before_a_version_exists(project, tmp_path) -> None:
    path = labels_export_write(project=project, fmt="csv", options=ALL, path=tmp_path / "x.csv")
    assert read_csv(path) == []
    assert Prediction.objects.count() == 0
