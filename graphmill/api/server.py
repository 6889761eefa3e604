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


class HeadTooLarge(Exception):
    """Raised from a parser callback: the head being parsed passed the limit."""


class BoundedHeadProtocol(HttpToolsProtocol):
    """httptools, refusing request heads over `max_head_bytes` with 431.

    Two measures, each refusing past the limit: the head's parsed parts (request target,
    header names and values) as httptools hands them over, for heads read whole in one go;
    and the raw bytes of reads that end inside a head, for heads that keep coming, which
    httptools would buffer whole before handing any part of them over. A read in which a head
    or a message ended is not counted raw: it may hold a body, even a whole request (a busy
    server reads a 100 KB upload at once), and the parsed measure covers its head.
    """

    max_head_bytes = 64 * 1024

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True
        self._raw_bytes = 0
        self._parsed_bytes = 0
        self._boundaries = 0
        self._too_large = False

    def on_message_begin(self) -> None:
        self._parsed_bytes = 0
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._grow(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._grow(len(name) + len(value) + 4)  # ": " and CRLF
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._boundaries += 1
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head, self._raw_bytes = True, 0
        self._boundaries += 1

    def _grow(self, size: int) -> None:
        self._parsed_bytes += size
        if self._parsed_bytes > self.max_head_bytes:
            self._too_large = True
            raise HeadTooLarge  # httptools stops; uvicorn answers through send_400_response

    def data_received(self, data: bytes) -> None:
        boundaries = self._boundaries
        super().data_received(data)
        if not self._in_head or self._boundaries != boundaries or self.transport.is_closing():
            return
        self._raw_bytes += len(data)
        if self._raw_bytes > self.max_head_bytes:
            self._too_large = True
            self.send_400_response("")

    def send_400_response(self, msg: str) -> None:
        """Every refusal before the application: 431 for a head past the limit, else 400."""
        default = self.server_state.default_headers
        if self._too_large:
            detail = (
                f"Request line and headers exceed {self.max_head_bytes} bytes"
                " (GRAPHMILL_MAX_HEADER_BYTES)."
            )
            self.logger.warning("request head too large: refused with 431")
            answer = _response(b"431 Request Header Fields Too Large", detail, default)
        else:
            answer = _response(b"400 Bad Request", msg, default)
        self.transport.write(answer)
        self.transport.close()


def http_protocol(max_head_bytes: int) -> type[HttpToolsProtocol]:
    """The protocol class for `uvicorn.Config(http=...)`, with this limit."""
    return type("BoundedHead", (BoundedHeadProtocol,), {"max_head_bytes": max_head_bytes})
