"""File names and types: what a name claims, checked against what the bytes are."""

from __future__ import annotations

import codecs
import mimetypes
import re
import unicodedata
from dataclasses import dataclass
from pathlib import PurePosixPath

import filetype

from graphmill.errors import ContentMismatch

# Types whose bytes carry a signature: a file named like one of these must start with it.
_SIGNED = {
    "application/pdf",
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/zip",
    "application/gzip",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}
_ZIP_FAMILY = {m for m in _SIGNED if "openxmlformats" in m} | {"application/zip"}
_EXTRA_TYPES = {".md": "text/markdown", ".csv": "text/csv", ".json": "application/json"}


@dataclass(frozen=True)
class FileType:
    name: str  # the stem, as cognee names data items
    extension: str
    mime_type: str


def clean_file_name(raw: str | None) -> str:
    """The upload's name as data: the last path segment, control characters removed.

    Names are only ever stored and echoed, never used as paths.
    """
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c) != "Cc").strip()
    return name or "upload"


def _mime_for_extension(extension: str) -> str | None:
    suffix = f".{extension}"
    return _EXTRA_TYPES.get(suffix) or mimetypes.types_map.get(suffix)


# Byte-order marks, longest first: a UTF-32 LE mark begins with the UTF-16 LE one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Control characters that text does not hold: all of C0 but tab, newlines, form feed, DOS's
# end-of-file ^Z and escape (ANSI colours in logs), and DEL.
_NOT_TEXT = re.compile("[\x00-\x08\x0e-\x19\x1c-\x1f\x7f]")


def _decodes(head: bytes, encoding: str) -> str | None:
    """The head as text in `encoding`, a character cut at its end allowed; None if not."""
    try:
        return codecs.getincrementaldecoder(encoding)().decode(head, final=False)
    except UnicodeDecodeError:
        return None


def _looks_textual(head: bytes) -> bool:
    """Text as the loaders read it: UTF-8/16/32 after a BOM, else UTF-8, else Windows-1252.

    NULs mean binary unless a UTF-16/32 BOM says they are half of every character. Bytes
    that are not UTF-8 are text only when, read as Windows-1252, they hold no control codes.
    """
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            text = _decodes(head[len(bom) :], encoding)
            return text is not None and _NOT_TEXT.search(text) is None
    if b"\x00" in head:
        return False
    if _decodes(head, "utf-8") is not None:
        return True
    text = _decodes(head, "cp1252")
    return text is not None and _NOT_TEXT.search(text) is None


def detect(file_name: str, head: bytes) -> FileType:
    """Name, extension and MIME type of an upload; ContentMismatch when they disagree."""
    path = PurePosixPath(file_name)
    extension = path.suffix[1:].lower()
    stem = path.stem if extension else path.name
    claimed = _mime_for_extension(extension) if extension else None
    if claimed == "application/octet-stream":
        claimed = None  # "some bytes" claims nothing the content could contradict
    sniffed = filetype.guess(head)
    actual = sniffed.mime if sniffed is not None else None
    if claimed is None:
        if sniffed is not None:
            return FileType(stem, extension or sniffed.extension, sniffed.mime)
        if _looks_textual(head):
            return FileType(stem, extension or "txt", "text/plain")
        return FileType(stem, extension or "bin", "application/octet-stream")
    if actual is not None and actual != claimed:
        if not (actual in _ZIP_FAMILY and claimed in _ZIP_FAMILY):
            raise ContentMismatch(
                f"{file_name!r} is named as {claimed} but its bytes are {actual}."
            )
    elif actual is None and claimed in _SIGNED:
        raise ContentMismatch(f"{file_name!r} is named as {claimed} but its bytes are not.")
    elif actual is None and claimed.startswith("text/") and not _looks_textual(head):
        raise ContentMismatch(f"{file_name!r} is named as {claimed} but its bytes are binary.")
    return FileType(stem, extension, claimed)
