"""Oversized request bodies are refused with 413 before they are read: in daphne's transport (a live
server) and in the ASGI application, for a declared Content-Length and for chunked bodies; members may
upload large files, everybody else sends small bodies, anonymous callers smallest (issue 14, item 4)."""

from __future__ import annotations

import socket
import time

import pytest
from asgiref.sync import async_to_sync
from asgiref.testing import ApplicationCommunicator
from django.conf import settings
from django.test import Client

from labelapp.asgi import application
from tests.helpers.training import worker_env
from tests.reliability.servers import WebServer

MIB = 2**20
HUGE = 300 * MIB


def session_cookie(user) -> bytes:
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode()


@async_to_sync
async def asgi_post(path: str, chunks: list[bytes], *, length: int | None = None, cookie: bytes = b"",
                    last: bool = False) -> tuple[int, bytes]:
    """POST ``chunks`` to the ASGI application (the last one closing the body only when ``last``) and
    return the answer; a TimeoutError when the application waits for more body instead of answering."""
    headers = [(b"host", b"testserver"), (b"content-type", b"application/x-www-form-urlencoded")]
    headers += [(b"content-length", str(length).encode())] if length is not None else []
    headers += [(b"cookie", cookie)] if cookie else []
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "", "headers": headers,
             "client": ("10.0.0.1", 5000), "server": ("testserver", 80)}
    communicator = ApplicationCommunicator(application, scope)
    for n, chunk in enumerate(chunks):
        await communicator.send_input({"type": "http.request", "body": chunk,
                                       "more_body": not (last and n == len(chunks) - 1)})
    start = await communicator.receive_output(timeout=10)
    body = await communicator.receive_output(timeout=10)
    await communicator.wait(timeout=10)
    return start["status"], body["body"]


def test_the_application_refuses_an_anonymous_huge_content_length_without_reading_the_body(transactional_db):
    status, body = asgi_post("/accounts/login/", [b"username=a"], length=HUGE)  # 10 bytes of 300 MiB sent
    assert status == 413 and b"at most 64 KiB may be sent before logging in" in body


def test_the_application_cuts_an_anonymous_chunked_body_at_the_limit(transactional_db):
    status, body = asgi_post("/api/token/", [b"x" * 16384] * 5)  # 80 KiB, no Content-Length, never ends
    assert status == 413 and b"Request body too large" in body


def test_members_who_may_upload_send_large_bodies_to_the_upload_routes_only(transactional_db, project, reviewer,
                                                                             annotator):
    big = [b"x" * MIB] * 3  # over MAX_REQUEST_BYTES (2 MiB), under MAX_UPLOAD_BYTES
    cookie = session_cookie(reviewer)
    status, _ = asgi_post(f"/p/{project.slug}/images/upload/", big, length=3 * MIB, cookie=cookie, last=True)
    assert status == 403  # read in full and handed to Django (which wants the CSRF token): not refused
    assert asgi_post(f"/p/{project.slug}/label/submit/", big, length=3 * MIB, cookie=cookie)[0] == 413
    assert asgi_post(f"/p/{project.slug}/images/upload/", big, length=3 * MIB,
                     cookie=session_cookie(annotator))[0] == 413  # annotators do not upload
    assert asgi_post(f"/p/{project.slug}/images/upload/", big, length=3 * MIB,
                     cookie=b"sessionid=forged")[0] == 413  # a made-up cookie is anonymous


# ---- the live server (daphne) -----------------------------------------------------------------------


@pytest.fixture
def live(transactional_db):
    server = WebServer(env=worker_env())
    server.start()
    yield server
    server.stop()


def rss_mib(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def raw_request(port: int, head: str, chunks: list[bytes] = (), timeout: float = 10) -> bytes:
    """Send a request head (and ``chunks``) over a plain socket and read what comes back until the server
    closes; a socket timeout when the server keeps waiting for the body."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head.encode())
        try:
            for chunk in chunks:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed while we were still sending
        answer = b""
        while data := sock.recv(65536):
            answer += data
        return answer


def test_the_web_server_answers_413_to_a_300_mib_anonymous_login_post_before_any_body_arrives(live):
    before = rss_mib(live.process.pid)
    started = time.monotonic()
    answer = raw_request(live.port, "POST /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                    f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {HUGE}\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 413 ") and b"at most 64 KiB may be sent before logging in" in answer
    assert time.monotonic() - started < 5
    assert rss_mib(live.process.pid) - before < 20


def test_the_web_server_cuts_a_chunked_anonymous_body(live):
    chunk = b"4000\r\n" + b"x" * 0x4000 + b"\r\n"  # 16 KiB chunks, no Content-Length
    answer = raw_request(live.port, "POST /api/token/ HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
                                    "Content-Type: application/json\r\n\r\n", [chunk] * 8)
    assert answer.startswith(b"HTTP/1.1 413 ") and b'{"detail": "Request body too large' in answer


def test_the_web_server_still_serves_small_anonymous_posts(live):
    answer = raw_request(live.port, "POST /api/token/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                                    "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n", [b"{}"])
    assert answer.startswith(b"HTTP/1.1 400 ")  # validation, not the size limit
