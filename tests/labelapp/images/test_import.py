"""Importing many files: ImageFolder labels, zips, duplicates, bad files, hostile names, caps."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from labelapp.images.models import Image
from labelapp.images.services import ImportStatus, images_import
from labelapp.images.sources import ImportLimits, SourceFile, import_limits, iter_path, iter_zip
from labelapp.labeling.models import Annotation, Source
from labelapp.projects.models import LabelClass, Project
from tests.labelapp.images.helpers import HTML_AS_PNG, bomb_png, corrupt_png, demo_pngs, zip_bytes

STORED_NAME = re.compile(r"^[0-9a-f]{32}\.(png|jpg|gif|bmp|webp|tif)$")


def write_tree(root: Path, entries) -> Path:
    for name, data in entries:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def import_files(project, entries, **kwargs):
    return images_import(project=project, files=[SourceFile(name, data) for name, data in entries], **kwargs)


def media_files() -> list[Path]:
    return [path for path in Path(settings.MEDIA_ROOT).rglob("*") if path.is_file()]


def test_imagefolder_import_creates_human_labels_from_folder_names(project, owner, tmp_path):
    entries = [(name, data) for name, data in demo_pngs(60) if name.split("/")[0] in {"shirt", "trouser", "bag"}]
    root = write_tree(tmp_path / "tree", entries)

    call_command("import_images", str(root), project=project.slug, labels_from_folders=True,
                 user=owner.username, verbosity=0)

    annotations = Annotation.objects.filter(project=project).select_related("label_class", "image")
    assert annotations.count() == len(entries) > 0
    expected = {Path(name).name: name.split("/")[0] for name, _ in entries}
    for annotation in annotations:
        assert annotation.source == Source.HUMAN and annotation.annotator == owner
        assert annotation.label_class.name == expected[annotation.image.original_name]


def test_unknown_folder_becomes_a_class_while_the_project_has_no_labels(project):
    entries = [(name, data) for name, data in demo_pngs(40) if name.startswith(("coat/", "shirt/"))]

    report = import_files(project, entries, labels_from_folders=True)

    assert report.created_classes == ["coat"]
    coat = LabelClass.objects.get(project=project, name="coat")
    assert coat.index == 3 and coat.hotkey == "4"
    assert Annotation.objects.filter(label_class=coat).count() == sum(name.startswith("coat/") for name, _ in entries)


def test_unknown_folder_is_refused_with_a_message_once_the_project_has_labels(project):
    shirts = [(name, data) for name, data in demo_pngs(40) if name.startswith("shirt/")]
    coats = [(name, data) for name, data in demo_pngs(40) if name.startswith("coat/")]
    import_files(project, shirts[:1], labels_from_folders=True)

    report = import_files(project, shirts[1:] + coats, labels_from_folders=True)

    refused = [r for r in report.results if r.status == ImportStatus.REFUSED]
    assert len(refused) == len(coats) and "'coat' is not a class of this project" in refused[0].reason
    assert report.count(ImportStatus.ADDED) == len(shirts) - 1
    assert not LabelClass.objects.filter(project=project, name="coat").exists()
    assert Image.objects.filter(project=project).count() == len(shirts)


def test_zip_import_streams_members_and_skips_directories(project, tmp_path):
    entries = list(demo_pngs(12))
    archive = tmp_path / "batch.zip"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr(zipfile.ZipInfo("empty-dir/"), b"")
        for name, data in entries:
            zf.writestr(name, data)
    archive.write_bytes(buffer.getvalue())

    report = images_import(project=project, files=iter_path(archive, limits=import_limits()))

    assert report.count(ImportStatus.ADDED) == 12 and len(report.results) == 12
    assert Image.objects.filter(project=project).count() == 12


def test_duplicate_upload_is_counted_and_skipped(project):
    entries = list(demo_pngs(5))
    import_files(project, entries)

    report = import_files(project, entries + [("copy-of-first.png", entries[0][1])])

    assert report.count(ImportStatus.DUPLICATE) == 6 and report.count(ImportStatus.ADDED) == 0
    assert Image.objects.filter(project=project).count() == 5
    assert len(media_files()) == 10  # five originals, five thumbnails: nothing stored twice


@pytest.mark.parametrize(
    ("bad_name", "bad_data", "message"),
    [
        ("corrupt.png", corrupt_png(), "corrupt image"),
        ("page.png", HTML_AS_PNG, "not an image"),
        ("bomb.png", bomb_png(), "decompression bomb"),
    ],
    ids=["corrupt", "html-named-png", "decompression-bomb"],
)
def test_bad_file_is_refused_by_name_while_the_rest_of_the_batch_lands(project, bad_name, bad_data, message):
    good = list(demo_pngs(6))
    batch = good[:3] + [(bad_name, bad_data)] + good[3:]

    report = import_files(project, batch)

    refused = [r for r in report.results if r.status == ImportStatus.REFUSED]
    assert [r.name for r in refused] == [bad_name] and message in refused[0].reason
    assert report.count(ImportStatus.ADDED) == 6
    assert Image.objects.filter(project=project).count() == 6


def test_hostile_names_never_reach_the_filesystem(project, tmp_path):
    pngs = [data for _, data in demo_pngs(3)]
    entries = [("../../escape.png", pngs[0]), ("/etc/cron.d/evil.png", pngs[1]), ("nul\x00byte.png", pngs[2])]
    outside = Path(settings.MEDIA_ROOT).parent

    report = images_import(
        project=project, files=iter_zip(io.BytesIO(zip_bytes(entries)), limits=import_limits())
    )
    report_direct = import_files(project, [("..\\..\\win.png", demo_pngs(4)[3][1]), ("a\x00/../b.png", b"junk")])

    assert report.count(ImportStatus.ADDED) == 3 and report_direct.count(ImportStatus.ADDED) == 1
    for path in media_files():
        assert STORED_NAME.match(path.name), path
    assert not list(outside.rglob("escape.png")) and not list(outside.rglob("evil.png"))
    for image in Image.objects.filter(project=project):
        assert "/" not in image.original_name and "\\" not in image.original_name
        assert "\x00" not in image.original_name and ".." not in image.file.name


def test_zip_over_the_uncompressed_cap_stops_with_a_message(project):
    entries = list(demo_pngs(10))
    limits = ImportLimits(max_members=100, max_total_bytes=sum(len(d) for _, d in entries[:4]), max_file_bytes=2**20)

    report = images_import(project=project, files=iter_zip(io.BytesIO(zip_bytes(entries)), limits=limits))

    assert report.count(ImportStatus.ADDED) == 4
    assert report.results[-1].status == ImportStatus.REFUSED and "were not imported" in report.results[-1].reason


def test_zip_with_too_many_members_is_refused_whole(project, tmp_path, settings):
    settings.IMPORT_MAX_ZIP_MEMBERS = 3
    archive = tmp_path / "many.zip"
    archive.write_bytes(zip_bytes(list(demo_pngs(5))))

    with pytest.raises(CommandError, match="over the limit of 3"):
        call_command("import_images", str(archive), project=project.slug, verbosity=0)
    assert not Image.objects.filter(project=project).exists()


def test_symlinks_in_a_folder_are_not_followed(project, tmp_path):
    root = write_tree(tmp_path / "tree", demo_pngs(2))
    secret = tmp_path / "secret.png"
    secret.write_bytes(demo_pngs(3)[2][1])
    (root / "link.png").symlink_to(secret)

    report = images_import(project=project, files=iter_path(root, limits=import_limits()))

    assert report.count(ImportStatus.ADDED) == 2
    assert [r.reason for r in report.results if r.status == ImportStatus.REFUSED] == ["is a symbolic link (not followed)"]


def test_import_command_reports_refused_files_and_counts(project, tmp_path, capsys):
    root = write_tree(tmp_path / "tree", list(demo_pngs(3)) + [("notes/readme.png", HTML_AS_PNG)])

    call_command("import_images", str(root), project=project.slug)

    out = capsys.readouterr()
    assert "refused readme.png: not an image" in out.out + out.err
    assert "3 added (0 labeled), 0 duplicates skipped, 1 refused" in out.out


def test_import_command_refuses_an_unknown_project(tmp_path, db):
    with pytest.raises(CommandError, match="no project"):
        call_command("import_images", str(tmp_path), project="nope", verbosity=0)
    assert not Project.objects.exists()


def test_import_progress_off_a_terminal_is_one_line_per_tenth_not_one_long_tqdm_line(project, tmp_path, capsys):
    root = write_tree(tmp_path / "tree", list(demo_pngs(20)))

    call_command("import_images", str(root), project=project.slug)

    err = capsys.readouterr().err  # a capture, not a terminal: like `make run`'s log
    assert "\r" not in err
    lines = [line for line in err.splitlines() if "% (" in line]
    assert lines == [f"{tenth * 10}% ({tenth * 2}/20 file)" for tenth in range(1, 11)]
