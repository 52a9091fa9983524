"""Downloads stream chunk by chunk under ASGI too (Django's own path would list the iterator first)."""

from __future__ import annotations

import io
import zipfile

from asgiref.sync import async_to_sync

from labelapp.exports.downloads import StreamingDownload, labels_response
from labelapp.exports.selectors import LabelOptions


def test_asgi_iteration_pulls_one_chunk_at_a_time() -> None:
    produced: list[int] = []

    def chunks():
        for n in range(5):
            produced.append(n)
            yield b"x" * 10

    async def first_chunk(response) -> bytes:
        async for chunk in response:
            return chunk
        return b""

    assert async_to_sync(first_chunk)(StreamingDownload(chunks())) == b"x" * 10
    assert produced == [0]  # Django's StreamingHttpResponse would have produced all five first


def test_asgi_iteration_of_a_label_export_reads_the_database_in_the_request_thread(trained_project) -> None:
    async def collect(response) -> bytes:
        return b"".join([chunk async for chunk in response])

    body = async_to_sync(collect)(labels_response(trained_project, "imagefolder", LabelOptions(include_pseudo=True)))
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert archive.testzip() is None and len(archive.namelist()) == 11
