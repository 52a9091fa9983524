"""Serving stored files to the members of a project: one set of headers for every app that does it."""

from __future__ import annotations

from django.db.models.fields.files import FieldFile
from django.http import FileResponse


def member_file_response(stored: FieldFile, content_type: str) -> FileResponse:
    """A stored upload (an image or its thumbnail) as a private, sandboxed download that browsers may cache.

    ``nosniff`` and the sandboxing CSP keep a crafted file from running as a page of the site; the caller
    has checked that the user is a member of the file's project.
    """
    response = FileResponse(stored.open("rb"), content_type=content_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, max-age=86400"
    return response
