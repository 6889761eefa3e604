"""Data items: listing, lookup for download, deletion, and blob garbage collection."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import String, delete, exists, func, select

from graphmill.auth.audit import record
from graphmill.auth.permissions import authorize
from graphmill.auth.users import UserInfo
from graphmill.blobs import BlobStore
from graphmill.db import Database, bind_strings, dialect_insert, in_ids, lock_dataset
from graphmill.db.models import (
    AuditAction,
    Blob,
    Data,
    ItemState,
    ItemStatus,
    Node,
    NodeSource,
    Permission,
)
from graphmill.errors import DataNotFound, InvalidInput, StorageError
from graphmill.graph import store as graph_store

log = logging.getLogger("graphmill.catalog")


@dataclass(frozen=True)
class DataInfo:
    id: uuid.UUID
    dataset_id: uuid.UUID
    name: str
    original_name: str
    extension: str
    mime_type: str
    content_hash: str
    size: int
    location: str
    label: str | None
    external_metadata: dict[str, Any]
    node_set: list[str] | None
    created_at: datetime
    updated_at: datetime
    pipeline_status: dict[str, ItemStateInfo] = field(default_factory=dict)

    @classmethod
    def of(cls, row: Data, location: str) -> DataInfo:
        return cls(
            row.id,
            row.dataset_id,
            row.name,
            row.original_name,
            row.extension,
            row.mime_type,
            row.content_hash,
            row.size,
            location,
            row.label,
            row.external_metadata or {},
            row.node_set,
            row.created_at,
            row.updated_at,
        )


@dataclass(frozen=True)
class ItemStateInfo:
    state: str
    stage: str | None
    attempts: int
    error_class: str | None
    error_message: str | None
    run_id: uuid.UUID | None
    updated_at: datetime


def blob_lock_key(sha256: str) -> str:
    return f"blob:{sha256}"


async def list_data(
    db: Database,
    user: UserInfo,
    dataset_id: uuid.UUID,
    status: str | None = None,
    pipeline: str = "cognify_pipeline",
    limit: int | None = None,
    offset: int = 0,
) -> list[DataInfo]:
    """A readable dataset's items, largest first (as cognee sorts them), with their state in
    every pipeline; `status` keeps items in that state for `pipeline` (no state = pending);
    then `offset` items are skipped and at most `limit` kept."""
    if status is not None and status not in set(ItemState):
        raise InvalidInput(f"Unknown status {status!r}; one of: {', '.join(ItemState)}")
    async with db.read() as session:
        await authorize(session, user, dataset_id, Permission.READ)
        query = (
            select(Data, Blob.location)
            .join(Blob, Blob.sha256 == Data.content_hash)
            .where(Data.dataset_id == dataset_id)
            .order_by(Data.size.desc(), Data.created_at, Data.id)
        )
        if status is None and limit is not None:  # pages in the database when unfiltered
            query = query.limit(limit).offset(offset)
            limit, offset = None, 0
        rows = (await session.execute(query)).all()
        states = await session.scalars(
            select(ItemStatus).where(ItemStatus.data_id.in_([data.id for data, _ in rows]))
        )
        by_item: dict[uuid.UUID, dict[str, ItemStateInfo]] = {}
        for st in states:
            by_item.setdefault(st.data_id, {})[st.pipeline_name] = ItemStateInfo(
                st.state,
                st.stage,
                st.attempts,
                st.error_class,
                st.error_message,
                st.run_id,
                st.updated_at,
            )
    items = []
    for data, location in rows:
        info = replace(DataInfo.of(data, location), pipeline_status=by_item.get(data.id, {}))
        current = info.pipeline_status.get(pipeline)
        if status is None or (current.state if current else ItemState.PENDING) == status:
            items.append(info)
    return items[offset : None if limit is None else offset + limit]


async def count_data(db: Database, user: UserInfo, dataset_id: uuid.UUID) -> int:
    """How many items a readable dataset holds."""
    async with db.read() as session:
        await authorize(session, user, dataset_id, Permission.READ)
        return int(
            await session.scalar(
                select(func.count()).select_from(Data).where(Data.dataset_id == dataset_id)
            )
            or 0
        )


async def get_data(
    db: Database, user: UserInfo, dataset_id: uuid.UUID, data_id: uuid.UUID
) -> DataInfo:
    """One item of a readable dataset; DatasetNotFound or DataNotFound otherwise."""
    async with db.read() as session:
        await authorize(session, user, dataset_id, Permission.READ)
        found = (
            await session.execute(
                select(Data, Blob.location)
                .join(Blob, Blob.sha256 == Data.content_hash)
                .where(Data.id == data_id, Data.dataset_id == dataset_id)
            )
        ).first()
    if found is None:
        raise DataNotFound()
    return DataInfo.of(found[0], found[1])


async def delete_data(
    db: Database,
    blobs: BlobStore,
    user: UserInfo,
    dataset_id: uuid.UUID,
    data_id: uuid.UUID,
    *,
    action: AuditAction = AuditAction.DATA_DELETE,
    detail: dict[str, Any] | None = None,
) -> None:
    """Delete one item (needs delete permission), recorded as `action`; its blob goes when
    nothing else uses it."""
    async with db.write() as session:
        dataset = await authorize(session, user, dataset_id, Permission.DELETE)
        # The lock every writer of the dataset's graph takes first (one lock order).
        await lock_dataset(session, dataset_id)
        # Nodes and edges other items support stay, rebuilt; what only this one did goes.
        await graph_store.remove_item(session, data_id)
        deleted = (
            await session.execute(
                delete(Data)
                .where(Data.id == data_id, Data.dataset_id == dataset_id)
                .returning(Data.content_hash, Data.original_name)
            )
        ).first()
        if deleted is None:
            raise DataNotFound()
        content_hash, name = deleted
        detail = {"name": name} | (detail or {})
        record(session, user, action, dataset=dataset, data_id=data_id, detail=detail)
    await collect_garbage(db, blobs, [content_hash], defer_failure=True)


async def record_download(
    db: Database, user: UserInfo, item: DataInfo, byte_range: str | None
) -> None:
    """Record a raw download of an item `get_data` just gave the user, about to start: the
    whole item, or `byte_range` of it (a Content-Range, "bytes 0-99/1234")."""
    detail = {"name": item.original_name, "range": byte_range}
    # One insert, one hand-off to the writer: the item was read just now, and a readable
    # dataset belongs to the tenant the caller works in (the access rule).
    await db.run(
        lambda conn: record(
            conn,
            user,
            AuditAction.DATA_RAW_DOWNLOAD,
            tenant_id=user.tenant_id,
            dataset_id=item.dataset_id,
            data_id=item.id,
            detail=detail,
        )
    )


# Objects per garbage-collection batch.
GC_BATCH = 100


async def record_blobs(db: Database, blobs: BlobStore, sizes: dict[str, int]) -> None:
    """Record objects about to be stored (the caller holds their locks), before they are.

    Until an item uses it, such a row marks an object that may exist: garbage collection
    removes both if the add never completes (a failure, or the process killed).
    """
    rows = [
        {"sha256": sha, "size": size, "location": blobs.location(sha)}
        for sha, size in sorted(sizes.items())
    ]
    async with db.write() as session:
        insert = dialect_insert(session)
        await session.execute(insert(Blob).on_conflict_do_nothing(), rows)


async def collect_garbage(
    db: Database, blobs: BlobStore, hashes: Iterable[str], *, defer_failure: bool = False
) -> None:
    """Remove blobs that no data row references any more.

    `defer_failure`: when the stores refuse (a full or unwritable store), log it and leave
    the rest to the sweep, so that the caller's own outcome (an item deleted, an add's real
    error) is what its user sees.

    Runs under the blobs' locks, which `add` holds from recording the object until its items
    commit, so an object is never removed under a concurrent add of the same bytes. The
    object goes before its row: a process killed in between leaves a row that the next
    collection (`sweep_unused_blobs`) finishes, never an object nothing records.
    """
    ordered = sorted(set(hashes))
    try:
        for start in range(0, len(ordered), GC_BATCH):
            await _collect(db, blobs, ordered[start : start + GC_BATCH])
    except StorageError:
        if not defer_failure:
            raise
        log.warning(
            "blob clean-up deferred to the sweep", exc_info=True, extra={"action": "blob.gc"}
        )


async def _collect(db: Database, blobs: BlobStore, shas: list[str]) -> None:
    """Remove the objects of `shas` no item uses, and their rows, under their locks (see
    above): one query and one write for the batch (a query, a write and a lock of its own
    per object made a 1,000-item dataset's delete ~1,400 event-loop stretches).

    Only the candidates are locked: the objects no committed item uses when the batch
    begins. One that an item uses then is not garbage, and whoever removes its last item
    collects it; taking its lock as well made a delete wait for any add of content the
    dataset shared with others, and those adds wait for the delete."""
    unused_blob = ~exists().where(Data.content_hash == Blob.sha256)
    among = in_ids(Blob.sha256, "shas", db.is_sqlite, String)
    unused_among = select(Blob.sha256).where(among, unused_blob).order_by(Blob.sha256)
    candidates = [
        sha
        for (sha,) in await db.read_rows(unused_among, {"shas": bind_strings(shas, db.is_sqlite)})
    ]
    if not candidates:
        return
    removed: list[str] = []
    async with db.key_lock(*(blob_lock_key(sha) for sha in candidates)):
        unused = await db.read_rows(  # again, under the locks: an add may have used one since
            unused_among, {"shas": bind_strings(candidates, db.is_sqlite)}
        )
        try:
            for (sha,) in unused:
                await blobs.delete(sha)
                removed.append(sha)
        finally:  # the rows of the objects gone, even when a later one could not go
            if removed:
                gone = {"shas": bind_strings(removed, db.is_sqlite)}
                await db.run(
                    lambda conn: conn.execute(delete(Blob).where(among, unused_blob), gone)
                )
    if removed:
        log.info("blobs removed: %d", len(removed), extra={"action": "blob.gc"})


async def sweep_unused_blobs(db: Database, blobs: BlobStore) -> int:
    """Collect every recorded blob no data item uses: what killed processes left behind in
    the middle of an add or a delete. Returns how many were found."""
    async with db.read() as session:
        unused = list(
            await session.scalars(
                select(Blob.sha256).where(~exists().where(Data.content_hash == Blob.sha256))
            )
        )
    await collect_garbage(db, blobs, unused)
    return len(unused)


@dataclass(frozen=True)
class NodeSourceInfo:
    """A data item that supports a graph node, and what it said about it."""

    data_id: uuid.UUID
    name: str
    mentions: int
    description: str


async def node_sources(
    db: Database, user: UserInfo, dataset_id: uuid.UUID, node_id: uuid.UUID
) -> list[NodeSourceInfo]:
    """The items of a readable dataset that support one of its nodes, most mentions first."""
    async with db.read() as session:
        await authorize(session, user, dataset_id, Permission.READ)
        rows = await session.execute(
            select(Data.id, Data.original_name, NodeSource.mentions, NodeSource.description)
            .join(NodeSource, NodeSource.data_id == Data.id)
            .join(Node, Node.id == NodeSource.node_id)
            .where(Node.id == node_id, Node.dataset_id == dataset_id)
            .order_by(NodeSource.mentions.desc(), Data.original_name)
        )
        return [NodeSourceInfo(*row) for row in rows.all()]
