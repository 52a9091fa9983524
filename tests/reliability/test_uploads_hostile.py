"""Hostile files: decompression bombs (PNG, GIF, TIFF) refused before decoding with bounded memory;
HTML, SVG and polyglots named .png; hostile names; stored XSS through names; and no import path that
fetches a URL (so no SSRF: a URL string is refused, never requested)."""

from __future__ import annotations

import http.server
import io
import json
import re
import struct
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import get_resolver
from PIL import Image as PILImage

from labelapp.images.models import Image
from labelapp.lib.images import InvalidImage, check_image
from tests.helpers import fill, walk
from tests.labelapp.images.helpers import demo_pngs, zip_bytes
from tests.reliability.bombs import BOMBS, SIDE, chunk, png_bomb
from tests.reliability.servers import REPO

# ---- decompression bombs ----------------------------------------------------------------------------

# Refused from the header alone: by the app's pixel limit, or by Pillow's own bomb check at open().
REFUSED = f"{SIDE}×{SIDE} pixels, over the limit|decompression bomb"


@pytest.mark.parametrize("kind", sorted(BOMBS))
def test_a_tiny_file_that_decodes_to_20k_by_20k_is_refused_before_decoding(kind, monkeypatch):
    """Pillow's own bomb check is switched off: the app's pixel limit alone refuses it, from the header."""
    monkeypatch.setattr(PILImage, "MAX_IMAGE_PIXELS", None)
    data = BOMBS[kind]()
    assert len(data) < 200_000
    with PILImage.open(io.BytesIO(data)) as opened:
        assert opened.size == (SIDE, SIDE)  # what a decoder would have to allocate
    with pytest.raises(InvalidImage, match=f"{SIDE}×{SIDE} pixels, over the limit"):
        check_image(data, max_pixels=40_000_000)


MEASURE = """
import resource, sys
from PIL import Image
Image.MAX_IMAGE_PIXELS = None  # only the app's own limit stands between the bombs and the decoder
from tests.reliability.bombs import BOMBS
from labelapp.lib.images import InvalidImage, check_image
bombs = {kind: make() for kind, make in BOMBS.items()}
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
for kind, data in bombs.items():
    try:
        check_image(data, max_pixels=40_000_000)
        print(kind, "ACCEPTED")
    except InvalidImage:
        pass
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""


def test_refusing_the_bombs_keeps_memory_bounded():
    """In a fresh process, Pillow's bomb check off: refusing all three grows peak memory by well under one
    decoded bomb (400 MB)."""
    result = subprocess.run([sys.executable, "-c", MEASURE], cwd=REPO, capture_output=True, text=True, timeout=120,
                            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "DJANGO_SETTINGS_MODULE": ""})
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.split()
    assert "ACCEPTED" not in lines
    assert int(lines[-1]) < 32 * 1024, f"peak RSS grew by {int(lines[-1]) // 1024} MiB"  # ru_maxrss is in KiB


def test_bombs_are_refused_through_the_upload_page_and_the_api(project, owner_client):
    files = [SimpleUploadedFile(f"bomb.{kind}", make()) for kind, make in BOMBS.items()]
    body = owner_client.post(f"/p/{project.slug}/images/upload/", {"files": files}).json()
    assert body["refused"] == 3 and body["added"] == 0
    response = owner_client.post(f"/api/projects/{project.slug}/images/", {"file": SimpleUploadedFile("b.png", png_bomb())})
    assert response.status_code == 400 and re.search(REFUSED, json.dumps(response.json()))
    assert not Image.objects.exists()


# ---- hostile content and names ---------------------------------------------------------------------

SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(document.cookie)"><script>alert(1)</script></svg>'
HTML = b"<!doctype html><html><body><script>fetch('/api/token/')</script></body></html>"
GIFAR_JS = b"GIF89a/*\x01\x00\x01\x00\x00\x00\x00*/=alert(document.domain);//"  # GIF header that is also JavaScript


def png_with_html_appended() -> bytes:
    """A real PNG with an HTML page after IEND and in a text chunk: a valid image and a sniffable page."""
    data = demo_pngs(1)[0][1]
    text = chunk(b"tEXt", b"Comment\0<html><script>alert(1)</script></html>")
    return data[:33] + text + data[33:] + HTML


@pytest.mark.parametrize(("name", "data"), [("evil.png", HTML), ("logo.png", SVG), ("logo.svg", SVG),
                                            ("gifar.png", GIFAR_JS), ("page.html", HTML)],
                         ids=["html", "svg-named-png", "svg", "gif-js-polyglot", "html-name"])
def test_html_svg_and_script_files_are_refused_whatever_their_name(project, owner_client, name, data):
    body = owner_client.post(f"/p/{project.slug}/images/upload/", {"files": [SimpleUploadedFile(name, data)]}).json()
    assert body["refused"] == 1, body
    response = owner_client.post(f"/api/projects/{project.slug}/images/", {"file": SimpleUploadedFile(name, data)})
    assert response.status_code == 400
    assert not Image.objects.exists()


HOSTILE_NAMES = ["../../../../etc/passwd.png", "..\\..\\windows\\win.ini.png", "/abs/path.png", "nul\0byte.png",
                 "<script>alert(1)</script>.png", "x" * 5000 + ".png", "a/b/../../../c.png", "\u202egnp.exe"]


def test_a_polyglot_png_is_stored_under_a_server_name_and_served_only_as_an_image(project, owner_client):
    files = [SimpleUploadedFile(name, png_with_html_appended() + str(i).encode()) for i, name in enumerate(HOSTILE_NAMES)]
    body = owner_client.post(f"/p/{project.slug}/images/upload/", {"files": files}).json()
    assert body["added"] == len(HOSTILE_NAMES), body

    media = Path(Image.objects.first().file.storage.location)
    for image in Image.objects.filter(project=project):
        assert re.fullmatch(rf"images/{project.pk}/[0-9a-f]{{2}}/[0-9a-f]{{32}}\.png", image.file.name)
        assert (media / image.file.name).resolve().is_relative_to(media.resolve())
        assert "/" not in image.original_name and "\\" not in image.original_name and "\0" not in image.original_name
        assert len(image.original_name) <= 255
        for path in (f"/p/{project.slug}/images/{image.pk}/file/", f"/api/projects/{project.slug}/images/{image.pk}/file/"):
            response = owner_client.get(path)
            assert response["Content-Type"] == "image/png"
            assert response["X-Content-Type-Options"] == "nosniff"
            assert "sandbox" in response["Content-Security-Policy"]
        assert owner_client.get(f"/media/{image.file.name}").status_code == 404  # only the member-only views serve it
    written = [p.relative_to(media).as_posix() for p in media.rglob("*") if p.is_file()]
    assert all(re.fullmatch(r"(images|thumbs)/\d+/[0-9a-f]{2}/[0-9a-f]{32}\.(png)", p) for p in written), written


PAYLOAD = "<script>alert('xss')</script>"
NAME_PAYLOAD = "<img src=x onerror=alert(1)>"  # no "/": a file name keeps it whole


def test_names_people_type_are_escaped_on_every_page(project, owner_client):
    """Stored XSS: a project, class and image name holding a script never reach a page unescaped."""
    project.name = f"Clothes {PAYLOAD}"
    project.description = PAYLOAD
    project.save()
    label_class = project.classes.first()
    label_class.name = f"shirt{PAYLOAD}"
    label_class.save()
    owner_client.post(f"/p/{project.slug}/images/upload/",
                      {"files": [SimpleUploadedFile(f"{NAME_PAYLOAD}.png", demo_pngs(1)[0][1])]})
    image = Image.objects.get(project=project)
    assert NAME_PAYLOAD in image.original_name

    pages = 0
    for route in walk(get_resolver().url_patterns):
        if route.startswith(("admin/", "static/", "media/", "api/")) or "membership" in route:
            continue
        url = fill(route, {"slug": project.slug, "id": str(image.pk)})
        response = owner_client.get(url)
        if response.status_code == 200 and response.get("Content-Type", "").startswith("text/html"):
            pages += 1
            assert PAYLOAD.encode() not in response.content, url
            assert NAME_PAYLOAD.encode() not in response.content, url
    assert pages >= 8


# ---- no URL fetching (SSRF) -------------------------------------------------------------------------


@pytest.fixture
def listener():
    """A local HTTP server that counts requests: stands for an internal or metadata address."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()
            self.wfile.write(demo_pngs(1)[0][1])

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/latest/meta-data/x.png", hits
    server.shutdown()


def test_a_url_given_instead_of_a_file_is_refused_and_never_fetched(project, owner_client, listener):
    url, hits = listener
    urls = [url, "http://169.254.169.254/latest/meta-data/", "file:///etc/passwd", "http://[::1]/x.png"]
    for value in urls:
        api = owner_client.post(f"/api/projects/{project.slug}/images/", {"file": value, "url": value})
        assert api.status_code == 400, api.content
        page = owner_client.post(f"/p/{project.slug}/images/upload/", {"files": value, "url": value})
        assert page.status_code == 400
        as_file = owner_client.post(f"/p/{project.slug}/images/upload/", {"files": [SimpleUploadedFile("u.png", value.encode())]})
        assert as_file.json()["refused"] == 1
    with pytest.raises(Exception):  # noqa: B017  (the command says the path does not exist)
        call_command("import_images", url, project=project.slug)
    assert hits == []
    assert not Image.objects.exists()


FETCHERS = re.compile(r"^\s*(import|from)\s+(urllib\.request|urllib3|requests|httpx|aiohttp|http\.client|pycurl)\b|urlopen\(",
                      re.M)


# The one HTTP client use: ``make run`` waits until its own daphne answers on 127.0.0.1 (a fixed URL).
ALLOWED_FETCHERS = {"labelapp/projects/management/commands/run_app.py"}


def test_no_import_path_can_fetch_a_url():
    """The guarantee behind the test above: apart from ``make run``'s own health check, nothing under
    labelapp/ imports an HTTP client."""
    users = {str(p.relative_to(REPO)) for p in (REPO / "labelapp").rglob("*.py") if FETCHERS.search(p.read_text())}
    assert users <= ALLOWED_FETCHERS


# ---- zip bombs ---------------------------------------------------------------------------------------

STREAM_MIB = 8  # the hostile pass used 64 MiB x 32 (2 GiB, 11 s); the shape is the same


def overlapping_zip(copies: int = 32, mib: int = STREAM_MIB) -> bytes:
    """A zip whose ``copies`` central-directory entries all point at one deflate stream of ``mib`` MiB of
    zeros: ~``mib`` KB on the wire, ``copies`` x ``mib`` MiB once inflated by a reader that trusts it."""
    single = zip_bytes([("a.png", bytes(mib * 1024 * 1024))])
    eocd = single.rindex(b"PK\x05\x06")
    cd_size, cd_offset = struct.unpack("<II", single[eocd + 12 : eocd + 20])
    record = single[cd_offset : cd_offset + cd_size]
    tail = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, copies, copies, cd_size * copies, cd_offset, 0)
    return single[:cd_offset] + record * copies + tail


def test_it_refuses_a_zip_whose_entries_share_one_deflate_stream(project, owner_client, tmp_path):
    data = overlapping_zip()
    assert len(data) < 100_000
    with zipfile.ZipFile(io.BytesIO(data)) as archive:  # what a trusting reader would inflate
        assert sum(info.file_size for info in archive.infolist()) == 32 * STREAM_MIB * 1024 * 1024
    started = time.perf_counter()
    body = owner_client.post(f"/p/{project.slug}/images/upload/", {"files": [SimpleUploadedFile("bomb.zip", data)]}).json()
    assert time.perf_counter() - started < 2
    assert body["added"] == 0 and body["refused"] == 1
    assert "entries overlap" in body["results"][0]["reason"]
    path = tmp_path / "bomb.zip"
    path.write_bytes(data)
    with pytest.raises(CommandError, match="entries overlap"):
        call_command("import_images", str(path), project=project.slug, verbosity=0)
    assert not Image.objects.exists()


def test_it_caps_the_bytes_inflated_by_all_the_zips_of_one_request(project, owner_client, settings):
    pngs = demo_pngs(6)
    settings.IMPORT_MAX_REQUEST_BYTES = sum(len(data) for _, data in pngs[:3])
    zips = [SimpleUploadedFile(f"part{i}.zip", zip_bytes(list(pngs[2 * i : 2 * i + 2]))) for i in range(3)]
    body = owner_client.post(f"/p/{project.slug}/images/upload/", {"files": zips}).json()
    assert body["added"] == 3
    refused = [result["reason"] for result in body["results"] if result["status"] == "refused"]
    assert refused and all("unpacks to more than" in reason for reason in refused)


def test_it_refuses_a_member_that_inflates_far_more_than_images_do(project, owner_client):
    """8 MiB of zeros deflate ~1000:1; a member past 200:1 (and past 1 MiB) is refused without being kept."""
    data = zip_bytes([("flat.png", bytes(8 * 1024 * 1024)), *demo_pngs(1)])
    body = owner_client.post(f"/p/{project.slug}/images/upload/", {"files": [SimpleUploadedFile("z.zip", data)]}).json()
    assert body["added"] == 1
    (refused,) = [result for result in body["results"] if result["status"] == "refused"]
    assert refused["name"] == "flat.png" and "inflates more than 200:1" in refused["reason"]
