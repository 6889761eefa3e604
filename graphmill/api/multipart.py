"""Request forms read as a stream: each file part goes to a consumer while its bytes arrive
(never spooled to a temporary file first); other fields are kept in memory, each small.

The parser is python-multipart's, as in Starlette, with Starlette's limits and messages.
"""

from __future__ import annotations

import codecs
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass
from urllib.parse import unquote_plus

from python_multipart import MultipartParser, QuerystringParser
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import parse_options_header
from starlette.requests import ClientDisconnect, Request

from graphmill.errors import MalformedForm

MAX_FILES = 1000
MAX_FIELDS = 1000
MAX_FIELD_BYTES = 1024 * 1024
# All non-file fields together: labels and external_metadata are the big ones.
MAX_FIELDS_BYTES = 4 * MAX_FIELD_BYTES


@dataclass(frozen=True)
class FileField:
    """A file part, already handed to its consumer: only its name is kept."""

    file_name: str


FormItems = list[tuple[str, str | FileField]]
OnFile = Callable[[str, str, AsyncIterator[bytes]], Awaitable[None]]


async def read_form(request: Request, on_file: OnFile) -> FormItems:
    """The form's fields in order. Each file part is given to `on_file(field, file_name,
    chunks)` while it arrives; what the consumer leaves unread is skipped.

    multipart/form-data and application/x-www-form-urlencoded are read; any other body is an
    empty form and is not read.
    """
    content_type, params = parse_options_header(request.headers.get("content-type"))
    if content_type == b"multipart/form-data":
        return await _Multipart(request, params).read(on_file)
    if content_type == b"application/x-www-form-urlencoded":
        return await _read_urlencoded(request)
    return []


async def _body(request: Request) -> AsyncGenerator[bytes, None]:
    try:
        async for chunk in request.stream():
            yield chunk
    except ClientDisconnect as exc:
        raise MalformedForm("The client disconnected before the request body ended.") from exc


def _decode(raw: bytes | bytearray, charset: str) -> str:
    try:
        return raw.decode(charset)
    except UnicodeDecodeError:
        return raw.decode("latin-1")


class _Fields:
    """Counts and sizes of the non-file fields, against the limits."""

    def __init__(self) -> None:
        self.count = 0
        self.total = 0

    def start(self) -> None:
        self.count += 1
        if self.count > MAX_FIELDS:
            raise MalformedForm(f"Too many fields. Maximum number of fields is {MAX_FIELDS}.")

    def grow(self, size: int, kind: str) -> None:
        if size > MAX_FIELD_BYTES:
            raise MalformedForm(f"{kind} exceeded maximum size of {MAX_FIELD_BYTES // 1024}KB.")

    def add(self, size: int) -> None:
        self.total += size
        if self.total > MAX_FIELDS_BYTES:
            raise MalformedForm(
                f"Form fields exceeded maximum total size of {MAX_FIELDS_BYTES // 1024}KB."
            )


class _Multipart:
    """python-multipart's callbacks queue events; `read` pulls them and the body as needed."""

    def __init__(self, request: Request, params: dict[bytes, bytes]) -> None:
        charset = params.get(b"charset", b"utf-8").decode("latin-1")
        try:
            self.charset = codecs.lookup(charset).name
        except LookupError:
            self.charset = "latin-1"
        boundary = params.get(b"boundary")
        if boundary is None:
            raise MalformedForm("Missing boundary in multipart.")
        self.request = request
        # (kind, data): ("part", its Content-Disposition), ("data", bytes) or ("end", b"").
        self.events: deque[tuple[str, bytes]] = deque()
        self.ended = False
        self.header_name = b""
        self.header_value = b""
        self.disposition = b""
        try:
            self.parser = MultipartParser(
                boundary,
                {
                    "on_part_begin": self._on_part_begin,
                    "on_header_field": self._on_header_field,
                    "on_header_value": self._on_header_value,
                    "on_header_end": self._on_header_end,
                    "on_headers_finished": self._on_headers_finished,
                    "on_part_data": self._on_part_data,
                    "on_part_end": self._on_part_end,
                    "on_end": self._on_end,
                },
            )
        except FormParserError as exc:
            raise MalformedForm() from exc

    def _on_part_begin(self) -> None:
        self.disposition = b""

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_name += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def _on_header_end(self) -> None:
        if self.header_name.lower() == b"content-disposition":
            self.disposition = self.header_value
        self.header_name = self.header_value = b""

    def _on_headers_finished(self) -> None:
        self.events.append(("part", self.disposition))

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        self.events.append(("data", data[start:end]))

    def _on_part_end(self) -> None:
        self.events.append(("end", b""))

    def _on_end(self) -> None:
        self.ended = True

    async def _next(self, body: AsyncIterator[bytes]) -> tuple[str, bytes]:
        """The next event, reading the body as far as needed; ("done", b"") after the last."""
        while not self.events:
            if self.ended:
                return "done", b""
            chunk = await anext(body, None)
            if chunk is None:
                raise MalformedForm()  # the body ended before the closing boundary
            try:
                self.parser.write(chunk)
            except FormParserError as exc:
                raise MalformedForm() from exc
        return self.events.popleft()

    async def _part(self, body: AsyncIterator[bytes]) -> AsyncGenerator[bytes, None]:
        while (event := await self._next(body))[0] == "data":
            yield event[1]

    async def read(self, on_file: OnFile) -> FormItems:
        items: FormItems = []
        fields = _Fields()
        files = 0
        async with aclosing(_body(self.request)) as body:
            while (event := await self._next(body))[0] == "part":
                _, options = parse_options_header(event[1])
                if b"name" not in options:
                    raise MalformedForm(
                        'The Content-Disposition header field "name" must be provided.'
                    )
                name = _decode(options[b"name"], self.charset)
                if b"filename" in options:
                    files += 1
                    if files > MAX_FILES:
                        raise MalformedForm(
                            f"Too many files. Maximum number of files is {MAX_FILES}."
                        )
                    file_name = _decode(options[b"filename"], self.charset)
                    async with aclosing(self._part(body)) as chunks:
                        await on_file(name, file_name, chunks)
                        async for _ in chunks:
                            pass
                    items.append((name, FileField(file_name)))
                else:
                    fields.start()
                    value = bytearray()
                    async for data in self._part(body):
                        value += data
                        fields.grow(len(value), "Part")
                    fields.add(len(value))
                    items.append((name, _decode(value, self.charset)))
        return items


async def _read_urlencoded(request: Request) -> FormItems:
    items: FormItems = []
    fields = _Fields()
    name = bytearray()
    value = bytearray()

    def on_field_start() -> None:
        name.clear()
        value.clear()
        fields.start()

    def on_field_name(data: bytes, start: int, end: int) -> None:
        name.extend(data[start:end])
        fields.grow(len(name) + len(value), "Field")

    def on_field_data(data: bytes, start: int, end: int) -> None:
        value.extend(data[start:end])
        fields.grow(len(name) + len(value), "Field")

    def on_field_end() -> None:
        fields.add(len(name) + len(value))
        items.append((unquote_plus(name.decode("latin-1")), unquote_plus(value.decode("latin-1"))))

    parser = QuerystringParser(
        {
            "on_field_start": on_field_start,
            "on_field_name": on_field_name,
            "on_field_data": on_field_data,
            "on_field_end": on_field_end,
        }
    )
    async with aclosing(_body(request)) as body:
        async for chunk in body:
            parser.write(chunk)
    parser.finalize()
    return items
