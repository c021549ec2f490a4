"""The HTTP/1.1 protocol the server runs: uvicorn's httptools protocol with a bound on the request
head (request line and headers).

httptools puts no limit on the head and joins a long header value chunk by chunk, so one request
with a 60 MB header held the event loop for seconds, and every other request with it. Here a head
still incomplete after :data:`MAX_HEAD_BYTES` is answered ``431 Request Header Fields Too Large``
and the connection closed; the rest of it is never parsed. The count starts with each request and
stops when its headers are complete, so bodies are not counted (one read of the socket is fed
whole before it is counted: a head may pass the bound by up to one read, 256 KiB).

``dancu serve`` runs it; to start uvicorn yourself, pass ``--http app.http_protocol:BoundedHead``.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEAD_BYTES = 64 * 1024
PROTOCOL = "app.http_protocol:BoundedHead"  # uvicorn's ``http`` option / ``--http``
# RFC 9457, as every other error (app.errors; this answer is made before the app sees the request).
_REASON = (b'{"type":"https://dancu.sandbox/problems/request-header-fields-too-large",'
           b'"title":"The request head (request line and headers) is too large","status":431}')
_REFUSAL = (b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: application/problem+json\r\n"
            b"content-length: " + str(len(_REASON)).encode() + b"\r\n"
            b"connection: close\r\n\r\n" + _REASON)


class BoundedHead(HttpToolsProtocol):
    """:class:`HttpToolsProtocol` refusing a request head over :data:`MAX_HEAD_BYTES`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True
        self._head_bytes = 0

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if not self._in_head or self.transport.is_closing():
            return
        self._head_bytes += len(data)
        if self._head_bytes > MAX_HEAD_BYTES:
            self.logger.warning("Request head over %d bytes refused.", MAX_HEAD_BYTES)
            self.transport.write(_REFUSAL)
            self.transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head, self._head_bytes = True, 0

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()
