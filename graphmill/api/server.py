"""The HTTP server's protocol: uvicorn's httptools parser with a bound on request heads.

httptools keeps a request's header lines in memory however long they grow (a 20 MB header
was read whole); here a head past `max_header_bytes` gets 431 and the connection is closed,
so a head costs at most the limit plus one read. Errors the server answers before the
application sees the request are JSON, like every other error.
"""

from __future__ import annotations

import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


def _response(status: bytes, detail: str, default_headers: list[tuple[bytes, bytes]]) -> bytes:
    body = json.dumps({"detail": detail}).encode()
    lines = [b"HTTP/1.1 " + status + b"\r\n"]
    lines += [name + b": " + value + b"\r\n" for name, value in default_headers]
    lines += [
        b"content-type: application/json\r\n",
        b"content-length: " + str(len(body)).encode() + b"\r\n",
        b"connection: close\r\n\r\n",
        body,
    ]
    return b"".join(lines)


class BoundedHeadProtocol(HttpToolsProtocol):
    """httptools, refusing request heads over `max_head_bytes` with 431."""

    max_head_bytes = 64 * 1024

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True
        self._head_bytes = 0

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head, self._head_bytes = True, 0

    def data_received(self, data: bytes) -> None:
        was_in_head = self._in_head
        super().data_received(data)
        if not (was_in_head and self._in_head) or self.transport.is_closing():
            return
        self._head_bytes += len(data)
        if self._head_bytes > self.max_head_bytes:
            detail = (
                f"Request line and headers exceed {self.max_head_bytes} bytes"
                " (GRAPHMILL_MAX_HEADER_BYTES)."
            )
            self.logger.warning("request head too large: refused with 431")
            default = self.server_state.default_headers
            self.transport.write(_response(b"431 Request Header Fields Too Large", detail, default))
            self.transport.close()

    def send_400_response(self, msg: str) -> None:
        self.transport.write(_response(b"400 Bad Request", msg, self.server_state.default_headers))
        self.transport.close()


def http_protocol(max_head_bytes: int) -> type[HttpToolsProtocol]:
    """The protocol class for `uvicorn.Config(http=...)`, with this limit."""
    return type("BoundedHead", (BoundedHeadProtocol,), {"max_head_bytes": max_head_bytes})
