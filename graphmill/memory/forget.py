"""forget: delete an item, a dataset or everything the caller owns; or, with
`memory_only`, drop only what cognify derived and keep the uploads."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select

from graphmill.auth.audit import record
from graphmill.auth.permissions import authorize, visible_ids
from graphmill.auth.users import UserInfo
from graphmill.blobs import BlobStore
from graphmill.catalog import data as data_catalog
from graphmill.catalog import datasets as dataset_catalog
from graphmill.db import Database, lock_dataset
from graphmill.db.models import AuditAction, Data, Dataset, ItemStatus, Permission
from graphmill.errors import DataNotFound, DatasetNotFound, NoForgetTarget
from graphmill.graph import store as graph_store
from graphmill.memory import sessions
from graphmill.pipelines import ledger

NO_TARGET = (
    "Invalid request parameters. Specify dataset or dataset_id, data_id+dataset, "
    "or everything=True."
)


@dataclass(frozen=True)
class ForgetRequest:
    everything: bool = False
    dataset: str | None = None
    dataset_id: uuid.UUID | None = None
    data_id: uuid.UUID | None = None
    memory_only: bool = False


async def forget(
    db: Database, blobs: BlobStore, user: UserInfo, request: ForgetRequest
) -> dict[str, Any]:
    """cognee's answers: `{datasets_removed}`, `{dataset_id}`, `{data_id, dataset_id}` or,
    with memory_only, `{dataset_id, data_records_reset}`; all with `status: "success"`.
    Each dataset or item forgotten leaves one `forget` audit event."""
    if request.everything:
        # Everything the caller owns in the tenant they work in, of what the access rule
        # lets them delete (never a tenant they have left).
        owned_here = (
            Dataset.owner_id == user.id,
            Dataset.id.in_(visible_ids(user, Permission.DELETE)),
        )
        async with db.read() as session:
            owned = list(await session.scalars(select(Dataset.id).where(*owned_here)))
        if request.memory_only:
            everything = {"everything": True}
            reset = sum([await reset_memory(db, user, d, detail=everything) for d in owned])
            return {"datasets_reset": len(owned), "data_records_reset": reset, "status": "success"}
        for dataset_id in owned:
            await dataset_catalog.delete_dataset(
                db, blobs, user, dataset_id, action=AuditAction.FORGET, detail={"everything": True}
            )
        await sessions.delete_user_sessions(db, user.id)
        return {"datasets_removed": len(owned), "status": "success"}
    if request.dataset_id is None and not request.dataset:
        raise NoForgetTarget(NO_TARGET)
    dataset_id = request.dataset_id or await named_dataset(db, user, request.dataset or "")
    if request.data_id is not None:
        ids = {"data_id": str(request.data_id), "dataset_id": str(dataset_id)}
        if request.memory_only:
            reset = await reset_memory(db, user, dataset_id, [request.data_id])
            if not reset:
                raise DataNotFound()
            return ids | {"data_records_reset": reset, "status": "success"}
        await data_catalog.delete_data(
            db, blobs, user, dataset_id, request.data_id, action=AuditAction.FORGET
        )
        return ids | {"status": "success"}
    if request.memory_only:
        reset = await reset_memory(db, user, dataset_id)
        return {"dataset_id": str(dataset_id), "data_records_reset": reset, "status": "success"}
    await dataset_catalog.delete_dataset(db, blobs, user, dataset_id, action=AuditAction.FORGET)
    return {"dataset_id": str(dataset_id), "status": "success"}


async def named_dataset(db: Database, user: UserInfo, name: str) -> uuid.UUID:
    """The caller's dataset of that name, else one shared with the caller under it."""
    rows = await db.read_rows(
        select(Dataset.id, Dataset.owner_id)
        .where(Dataset.name == name, Dataset.id.in_(visible_ids(user)))
        .order_by(Dataset.created_at)
    )
    if not rows:
        raise DatasetNotFound()
    own = [r for r in rows if r[1] == user.id]
    return uuid.UUID(str((own or rows)[0][0]))


async def reset_memory(
    db: Database,
    user: UserInfo,
    dataset_id: uuid.UUID,
    data_ids: Sequence[uuid.UUID] | None = None,
    detail: dict[str, Any] | None = None,
) -> int:
    """Remove what cognify derived from the items (all of the dataset's when None): their
    chunks, vectors and their share of nodes and edges, exactly as a delete would, and
    their cognify state, so the next cognify makes them again. Needs delete permission.
    Recorded as one `forget` event (memoryOnly) when it reset anything."""
    async with db.write() as session:
        dataset = await authorize(session, user, dataset_id, Permission.DELETE)
        await lock_dataset(session, dataset_id)
        query = select(Data.id).where(Data.dataset_id == dataset_id)
        if data_ids is not None:
            query = query.where(Data.id.in_(list(data_ids)))
        found = list(await session.scalars(query))
        for data_id in found:
            await graph_store.remove_item(session, data_id)
        if found:
            await session.execute(
                delete(ItemStatus).where(
                    ItemStatus.data_id.in_(found),
                    ItemStatus.pipeline_name == ledger.COGNIFY_PIPELINE,
                )
            )
            await ledger.mark_pending(session, dataset_id, ledger.COGNIFY_PIPELINE)
            record(
                session,
                user,
                AuditAction.FORGET,
                dataset=dataset,
                data_id=data_ids[0] if data_ids is not None and len(data_ids) == 1 else None,
                detail={"name": dataset.name, "memoryOnly": True, "items": len(found)}
                | (detail or {}),
            )
        return len(found)
