"""Export archives as people download them (page and API): every entry is a plain file inside the
archive's root, whatever the class and file names people typed."""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path, PurePosixPath

import pytest

from labelapp.images.models import Image
from labelapp.projects.models import LabelClass
from tests.labelapp.exports.helpers import tiny_model, trained_project  # noqa: F401  (shared fixtures)

HOSTILE_CLASSES = ["../../../../tmp/owned", "/etc/cron.d", "C:\\Windows\\System32", "..", ".", "a\x07b", "\u202eevil",
                   "con", "x" * 100]


@pytest.fixture(autouse=True)
def isolated_files(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.EXPORT_DIR = tmp_path / "exports"


def body_of(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def assert_every_entry_inside_one_root(data: bytes, tmp_path: Path, *, depth: int | None = None) -> list[str]:
    """Every entry: relative, no ``..``/``.``/backslash/drive/control characters, a regular file, unique, and
    extracting the archive writes only under the extraction folder."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = archive.infolist()
        names = [info.filename for info in infos]
        assert names and len(names) == len(set(names)), "duplicate entries"
        for info in infos:
            name = info.filename
            parts = PurePosixPath(name).parts
            assert not name.startswith("/") and "\\" not in name and ":" not in parts[0], name
            assert ".." not in parts and "." not in parts and "" not in parts, name
            assert not any(ord(ch) < 32 or ch in "\u202e\u202d" for ch in name), repr(name)
            assert not stat.S_ISLNK(info.external_attr >> 16) and not info.is_dir(), name
            if depth is not None:
                assert len(parts) == depth, name
        out = tmp_path / "extracted"
        archive.extractall(out)
    root = out.resolve()
    assert all(path.resolve().is_relative_to(root) for path in root.rglob("*"))
    assert not any(path.is_symlink() for path in root.rglob("*"))
    return names


@pytest.fixture
def hostile_project(trained_project):  # noqa: F811
    for index, name in enumerate(HOSTILE_CLASSES[:3]):
        LabelClass.objects.filter(project=trained_project, index=index).update(name=name)
    names = ["../../../x.png", "/abs.png", "a\\b.png"]
    for number, image in enumerate(Image.objects.filter(project=trained_project)):
        Image.objects.filter(pk=image.pk).update(original_name=names[number % len(names)])
    return trained_project


@pytest.mark.parametrize("url", ["/p/clothes/exports/labels/?format=imagefolder&include_pseudo=true&include_predictions=true",
                                 "/api/projects/clothes/exports/labels/?format=imagefolder&include_pseudo=true"])
def test_label_zip_entries_stay_inside_the_archive_whatever_the_class_and_file_names(hostile_project, owner_client, url, tmp_path):
    response = owner_client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    names = assert_every_entry_inside_one_root(body_of(response), tmp_path, depth=2)
    assert len({PurePosixPath(n).parts[0] for n in names}) == 3  # one folder per class, none escaped


@pytest.mark.parametrize("names", [HOSTILE_CLASSES[3:6], HOSTILE_CLASSES[6:9]], ids=["dots-and-control", "bidi-con-long"])
def test_more_hostile_class_names_still_give_safe_folders(trained_project, owner_client, names, tmp_path):  # noqa: F811
    for index, name in enumerate(names):
        LabelClass.objects.filter(project=trained_project, index=index).update(name=name)
    response = owner_client.get("/p/clothes/exports/labels/?format=imagefolder")
    assert_every_entry_inside_one_root(body_of(response), tmp_path, depth=2)


def test_model_zip_entries_sit_in_one_root_folder(hostile_project, owner_client, tmp_path):
    response = owner_client.get("/p/clothes/exports/model/?format=torchscript")
    assert response.status_code == 200
    names = assert_every_entry_inside_one_root(body_of(response), tmp_path, depth=2)
    assert {PurePosixPath(n).parts[0] for n in names} == {"clothes-v1"}
