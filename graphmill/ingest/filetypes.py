"""File names and types: what a name claims, checked against what the bytes are."""

from __future__ import annotations

import mimetypes
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


def _looks_textual(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sniffed head is still text.
        return exc.start >= len(head) - 3
    return True


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
