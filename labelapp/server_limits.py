"""Body limits in daphne's transport: refuse an oversized request from its headers, before any body byte
is stored.

Daphne (through Twisted) receives the whole body into memory or a temp file before the ASGI application
sees the request, and has no size option, so an ASGI middleware alone comes too late: a 300 MiB
anonymous POST was stored in full. This request class decides from the request line and headers only
(no database in the reactor thread): a caller presenting no session cookie and no ``Authorization``
header gets the anonymous limit; one presenting credentials gets the limit of what they claim (upload
size on the upload routes), which :mod:`labelapp.request_limits` then verifies before Django reads the
body. A declared ``Content-Length`` over the limit is answered at once; a chunked body is cut when it
passes the limit. Installed by :mod:`labelapp.asgi` (``install()``), which daphne imports before serving.
"""

from __future__ import annotations

from urllib.parse import unquote

from daphne import http_protocol
from django.conf import settings

from labelapp.lib.body_limits import Caller, body_limit, too_large_response, upload_slug

_REASON = b"Content Too Large"


class LimitedWebRequest(http_protocol.WebRequest):
    """Daphne's request with the body limit applied while the body arrives."""

    refused = False

    def _claimed_caller(self, path: str) -> Caller:
        cookies = self.received_cookies  # parsed by Twisted just before gotLength
        if not (self.requestHeaders.hasHeader(b"authorization")
                or settings.SESSION_COOKIE_NAME.encode() in cookies):
            return Caller.ANONYMOUS
        return Caller.UPLOADER if upload_slug(path) is not None else Caller.USER

    def gotLength(self, length):
        # Twisted sets the request line on the channel before the headers; ``self.path`` comes later.
        path = unquote(self.channel._path.split(b"?", 1)[0].decode("latin-1"))
        self.limit_path, self.limit_caller = path, self._claimed_caller(path)
        self.limit, self.body_seen = body_limit(path=path, caller=self.limit_caller), 0
        super().gotLength(length)
        if length is not None and length > self.limit:
            self._refuse()

    def handleContentChunk(self, data):
        if self.refused:
            return
        self.body_seen += len(data)
        if self.body_seen > self.limit:
            self._refuse()
            return
        super().handleContentChunk(data)

    def process(self):
        if not self.refused:
            return super().process()

    def _refuse(self) -> None:
        self.refused = True
        self.content.close()
        headers, body = too_large_response(path=self.limit_path, limit=self.limit, caller=self.limit_caller)
        head = b"HTTP/1.1 413 " + _REASON + b"\r\n" + b"".join(k + b": " + v + b"\r\n" for k, v in headers)
        self.channel.transport.write(head + b"\r\n" + body)
        self.channel.transport.loseConnection()


def install() -> None:
    """Make daphne build :class:`LimitedWebRequest` for every HTTP request (``HTTPFactory.buildProtocol``
    reads the module's ``WebRequest`` for each connection)."""
    http_protocol.WebRequest = LimitedWebRequest
