"""Add: store uploads once by content, record them as data items of a dataset."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import String, select
from sqlalchemy.ext.asyncio import AsyncSession

from graphmill.auth.permissions import authorize
from graphmill.auth.users import UserInfo
from graphmill.blobs import BlobStore, Staged
from graphmill.blobs.base import CHUNK
from graphmill.catalog.data import blob_lock_key, collect_garbage, record_blobs
from graphmill.catalog.datasets import (
    DatasetInfo,
    check_dataset_name,
    ensure_owned_dataset,
    touch_dataset,
)
from graphmill.db import Database, bind_strings, dialect_insert, in_ids, lock_dataset
from graphmill.db.models import Data, Permission
from graphmill.errors import (
    EmptyUpload,
    GraphmillError,
    InvalidExternalMetadata,
    InvalidInput,
    InvalidLabels,
    MissingDataset,
    NoFiles,
    UnsupportedFileType,
)
from graphmill.ingest import loaders
from graphmill.ingest.filetypes import FileType, clean_file_name, detect
from graphmill.pipelines.ledger import (
    ADD_PIPELINE,
    COGNIFY_PIPELINE,
    mark_pending,
    record_completed_run,
)

log = logging.getLogger("graphmill.ingest")


@dataclass(frozen=True)
class Upload:
    """One uploaded file: its name as sent and its bytes, as they arrive."""

    file_name: str | None
    chunks: AsyncIterator[bytes]


@dataclass(frozen=True)
class AddedItem:
    data_id: uuid.UUID
    already_present: bool


@dataclass(frozen=True)
class AddResult:
    run_id: uuid.UUID
    dataset: DatasetInfo
    items: list[AddedItem]


@dataclass(frozen=True)
class _Prepared:
    staged: Staged
    file_name: str
    kind: FileType
    label: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


# Deeper external_metadata is refused: nothing legitimate nests further, and every later
# walk of the value (JSON columns, DTOs, the graph) is recursive.
MAX_METADATA_DEPTH = 32


def _depth(value: Any) -> int:
    """How deeply lists and objects nest in a parsed JSON value, without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in item)
    return deepest


def parse_labels(raw: str | None, count: int) -> list[str | None]:
    """Labels paired with files by position: a JSON array of strings, or comma-separated."""
    if raw is None or raw.strip() == "":
        return [None] * count
    text = raw.strip()
    if text.startswith("["):
        try:
            values = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidLabels(f"labels is not valid JSON: {exc.msg}") from exc
        except RecursionError as exc:
            raise InvalidLabels("labels nests too deeply") from exc
        if not isinstance(values, list) or not all(v is None or isinstance(v, str) for v in values):
            raise InvalidLabels()
    else:
        values = [v.strip() for v in text.split(",")]
    if len(values) != count:
        raise InvalidLabels(f"labels has {len(values)} entries for {count} files")
    return [v or None for v in values]


def parse_external_metadata(raw: str | None, count: int) -> list[dict[str, Any]]:
    """Per-file metadata objects, paired by position; the key node_set is reserved."""
    if raw is None or raw.strip() == "":
        return [{} for _ in range(count)]
    try:
        values = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidExternalMetadata(f"external_metadata is not valid JSON: {exc.msg}") from exc
    except RecursionError as exc:
        raise InvalidExternalMetadata("external_metadata nests too deeply") from exc
    if isinstance(values, dict) and count == 1:
        values = [values]
    if not isinstance(values, list) or not all(v is None or isinstance(v, dict) for v in values):
        raise InvalidExternalMetadata()
    if len(values) != count:
        raise InvalidExternalMetadata(
            f"external_metadata has {len(values)} entries for {count} files"
        )
    if any(_depth(v) > MAX_METADATA_DEPTH for v in values):
        raise InvalidExternalMetadata(
            f"external_metadata nests deeper than {MAX_METADATA_DEPTH} levels per file"
        )
    if any(v is not None and "node_set" in v for v in values):
        raise InvalidExternalMetadata("external_metadata may not use the reserved key node_set")
    return [dict(v or {}) for v in values]


def parse_node_set(values: Sequence[str] | None) -> list[str] | None:
    """cognee maps the default [""] to None and stores values verbatim."""
    kept = [v for v in (values or []) if v != ""]
    return kept or None


async def _read_head(chunks: AsyncIterator[bytes]) -> tuple[bytes, bytes]:
    """The first CHUNK bytes of an upload (fewer if it is shorter), and what came with them."""
    buffer = bytearray()
    async for chunk in chunks:
        buffer += chunk
        if len(buffer) >= CHUNK:
            break
    return bytes(buffer[:CHUNK]), bytes(buffer[CHUNK:])


def _check_type(file_name: str, head: bytes) -> FileType:
    if not head:
        raise EmptyUpload(f"{file_name!r} is empty")
    kind = detect(file_name, head)
    if not loaders.supported(kind.extension, kind.mime_type):
        raise UnsupportedFileType(
            f"{file_name!r} is {kind.mime_type} (.{kind.extension}), which no loader reads; "
            f"supported: {loaders.SUPPORTED_TYPES}."
        )
    return kind


class StagedUploads:
    """The files of one add request, each staged (hashed, written once) while it arrives.

    The request's other fields may come after its files, so a refused file is remembered and
    `add_files` raises it after the checks that come first. Everything staged is discarded on
    exit; `add_files` has moved what it kept.
    """

    def __init__(self, blobs: BlobStore, max_bytes: int) -> None:
        self._blobs = blobs
        self._max_bytes = max_bytes
        self._files: list[_Prepared] = []
        self._refusal: GraphmillError | None = None
        self.count = 0

    def __enter__(self) -> StagedUploads:
        return self

    def __exit__(self, *exc: object) -> None:
        for item in self._files:
            item.staged.discard()

    async def stage(self, upload: Upload) -> None:
        """Stage one file; unread bytes of a refused one are left to the caller to skip.

        UploadTooLarge is raised at once, so that the rest of an oversized body is never read.
        """
        self.count += 1
        if self._refusal is not None:
            return  # the request fails anyway: keep nothing more
        file_name = clean_file_name(upload.file_name)
        head, rest = await _read_head(upload.chunks)

        async def chunks() -> AsyncGenerator[bytes, None]:
            yield head
            if rest:
                yield rest
            async for chunk in upload.chunks:
                yield chunk

        try:
            kind = _check_type(file_name, head)
            async with aclosing(chunks()) as body:
                staged = await self._blobs.stage(body, self._max_bytes)
        except (InvalidInput, UnsupportedFileType) as exc:
            self._refusal = exc
            return
        self._files.append(_Prepared(staged, file_name, kind))

    def accepted(self) -> list[_Prepared]:
        """Every staged file, in order; the first refusal if any file was refused."""
        if self._refusal is not None:
            raise self._refusal
        return self._files


async def add_files(
    db: Database,
    blobs: BlobStore,
    user: UserInfo,
    uploads: StagedUploads,
    *,
    dataset_id: uuid.UUID | None,
    dataset_name: str | None,
    node_set: list[str] | None = None,
    labels: str | None = None,
    external_metadata: str | None = None,
) -> AddResult:
    """Record staged uploads in the dataset; nothing is stored if any is invalid.

    Identical bytes already in the dataset keep their existing item and change nothing.
    """
    if dataset_id is None and not dataset_name:
        raise MissingDataset()
    if not uploads.count:
        raise NoFiles()
    label_list = parse_labels(labels, uploads.count)
    metadata_list = parse_external_metadata(external_metadata, uploads.count)
    if dataset_id is not None:
        async with db.read() as session:
            await authorize(session, user, dataset_id, Permission.WRITE)
    else:
        assert dataset_name is not None
        check_dataset_name(dataset_name)
    if node_set:
        metadata_list = [metadata | {"node_set": node_set} for metadata in metadata_list]
    prepared = [
        replace(item, label=label, metadata=metadata)
        for item, label, metadata in zip(uploads.accepted(), label_list, metadata_list, strict=True)
    ]
    return await _record(db, blobs, user, prepared, dataset_id, dataset_name, node_set)


async def _record(
    db: Database,
    blobs: BlobStore,
    user: UserInfo,
    prepared: list[_Prepared],
    dataset_id: uuid.UUID | None,
    dataset_name: str | None,
    node_set: list[str] | None,
) -> AddResult:
    hashes = {p.staged.sha256 for p in prepared}
    recorded: list[str] = []
    try:
        async with db.key_lock(*(blob_lock_key(h) for h in hashes)):
            # Rows first, then objects: a process killed in between leaves a row no item uses,
            # which `sweep_unused_blobs` finds, never an object nothing records.
            recorded.extend(sorted(hashes))
            await record_blobs(db, blobs, {p.staged.sha256: p.staged.size for p in prepared})
            stored: set[str] = set()
            for item in prepared:
                if item.staged.sha256 not in stored:
                    await blobs.commit(item.staged)
                    stored.add(item.staged.sha256)
            async with db.write() as session:
                if dataset_id is not None:
                    dataset = await authorize(session, user, dataset_id, Permission.WRITE)
                else:
                    assert dataset_name is not None
                    dataset = await ensure_owned_dataset(session, user, dataset_name)
                # First, as every writer of the dataset: a concurrent delete of an item whose
                # content this add finds already present cannot slip in before it is read.
                await lock_dataset(session, dataset.id)
                items = await _insert_rows(session, dataset.id, user.id, prepared, node_set)
                run = await record_completed_run(
                    session,
                    dataset.id,
                    ADD_PIPELINE,
                    user.id,
                    completed=[i.data_id for i in items if not i.already_present],
                    skipped=[i.data_id for i in items if i.already_present],
                )
                await mark_pending(session, dataset.id, COGNIFY_PIPELINE)
                await touch_dataset(session, dataset.id)
                info = DatasetInfo.of(dataset)
    except BaseException:
        # Objects recorded for items that never committed: remove those nothing else uses.
        await collect_garbage(db, blobs, recorded, defer_failure=True)
        raise
    log.info(
        "data added",
        extra={"action": "add", "dataset_id": str(info.id), "run_id": str(run.id)},
    )
    return AddResult(run.id, info, items)


# Contents per query of an add that looks up those already in the dataset.
LOOKUP_BATCH = 500


async def _insert_rows(
    session: AsyncSession,
    dataset_id: uuid.UUID,
    owner_id: uuid.UUID,
    prepared: list[_Prepared],
    node_set: list[str] | None,
) -> list[AddedItem]:
    """The items' rows, in one `INSERT ... RETURNING` run with all of them (SQLAlchemy's
    "insertmanyvalues": multi-row statements made from one compiled statement; a row per
    file cost a round trip each, and a `.values(rows)` statement was compiled anew for each
    add: ~80 ms for 500 rows, holding the event loop); contents the dataset already holds,
    or that came twice in this add, are its existing items."""
    first: dict[str, _Prepared] = {}  # each content's first file
    for item in prepared:
        first.setdefault(item.staged.sha256, item)
    rows = [
        {
            "id": uuid.uuid4(),
            "dataset_id": dataset_id,
            "owner_id": owner_id,
            "name": item.kind.name,
            "original_name": item.file_name,
            "extension": item.kind.extension,
            "mime_type": item.kind.mime_type,
            "content_hash": sha,
            "size": item.staged.size,
            "label": item.label,
            "external_metadata": item.metadata,
            "node_set": node_set,
        }
        for sha, item in first.items()
    ]
    insert = dialect_insert(session)
    inserted = await session.execute(
        insert(Data)
        .on_conflict_do_nothing(index_elements=["dataset_id", "content_hash"])
        .returning(Data.content_hash, Data.id),
        rows,
    )
    ids: dict[str, tuple[uuid.UUID, bool]] = {row.content_hash: (row.id, False) for row in inserted}
    present = [sha for sha in first if sha not in ids]
    sqlite = session.get_bind().dialect.name == "sqlite"
    lookup = select(Data.content_hash, Data.id).where(
        Data.dataset_id == dataset_id, in_ids(Data.content_hash, "hashes", sqlite, String)
    )
    for start in range(0, len(present), LOOKUP_BATCH):
        hashes = bind_strings(present[start : start + LOOKUP_BATCH], sqlite)
        found = await session.execute(lookup, {"hashes": hashes})
        ids.update({row.content_hash: (row.id, True) for row in found})
    items: list[AddedItem] = []
    seen: set[str] = set()
    for item in prepared:
        sha = item.staged.sha256
        data_id, existed = ids[sha]
        items.append(AddedItem(data_id, already_present=existed or sha in seen))
        seen.add(sha)
    return items
