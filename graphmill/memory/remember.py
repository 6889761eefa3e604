"""remember: add, then cognify, in one call, with cognee's RememberResult; session entries."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from graphmill.auth.users import UserInfo
from graphmill.blobs import BlobStore
from graphmill.catalog import data as data_catalog
from graphmill.catalog.datasets import set_config
from graphmill.db import Database
from graphmill.errors import InvalidInput, UnsupportedOption
from graphmill.ingest.add import StagedUploads, add_files
from graphmill.memory import sessions
from graphmill.pipelines import service
from graphmill.pipelines.executors import Runtime
from graphmill.pipelines.ledger import RunState

SESSION_TEXT_BYTES = 65_536  # most bytes of a text upload also kept in its session


@dataclass(frozen=True)
class CognifyOptions:
    """cognee's cognify/remember options graphmill honours (kept as the dataset's settings)."""

    custom_prompt: str | None = None
    graph_model: dict[str, Any] | None = None
    chunk_size: int | None = None
    chunks_per_batch: int | None = None

    def any(self) -> bool:
        return any(v is not None for v in vars(self).values())


def cognify_options(
    custom_prompt: str | None,
    graph_model: dict[str, Any] | str | None,
    chunk_size: int | None,
    chunks_per_batch: int | None,
    ontology_key: list[str] | None,
) -> CognifyOptions:
    """The options cognify and remember honour; 400 naming any graphmill does not."""
    if [k for k in ontology_key or [] if k]:
        raise UnsupportedOption(
            "graphmill does not support ontology_key (ontologies are not implemented); "
            "send no ontology_key, or describe the graph to extract with graph_model"
        )
    if isinstance(graph_model, str):
        try:
            graph_model = json.loads(graph_model)
        except ValueError as exc:
            raise InvalidInput(f"graph_model is not valid JSON: {exc}") from exc
    if graph_model is not None and not isinstance(graph_model, dict):
        raise InvalidInput("graph_model must be a JSON object (a JSON schema of the graph)")
    return CognifyOptions(custom_prompt or None, graph_model or None, chunk_size, chunks_per_batch)


async def apply_options(
    db: Database, user: UserInfo, dataset_id: uuid.UUID, options: CognifyOptions
) -> None:
    """Store the options on the dataset: this run and later ones use them."""
    if options.any():
        await set_config(
            db,
            user,
            dataset_id,
            options.graph_model,
            options.custom_prompt,
            chunk_size=options.chunk_size,
            chunks_per_batch=options.chunks_per_batch,
        )


@dataclass
class RememberResult:
    status: str  # completed | running | errored | session_stored
    dataset_name: str | None
    dataset_id: uuid.UUID | None
    pipeline_run_id: uuid.UUID | None
    items_processed: int
    elapsed_seconds: float
    items: list[dict[str, Any]] = field(default_factory=list)
    content_hash: str | None = None
    session_ids: list[str] = field(default_factory=list)
    entry_type: str | None = None
    entry_id: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """cognee's RememberResult.to_dict: optional keys only when set."""
        body: dict[str, Any] = {
            "status": self.status,
            "dataset_name": self.dataset_name,
            "dataset_id": str(self.dataset_id) if self.dataset_id else None,
            "pipeline_run_id": str(self.pipeline_run_id) if self.pipeline_run_id else None,
            "items_processed": self.items_processed,
            "elapsed_seconds": round(self.elapsed_seconds, 3),
        }
        optional = {
            "session_ids": self.session_ids,
            "content_hash": self.content_hash,
            "items": self.items,
            "entry_type": self.entry_type,
            "entry_id": self.entry_id,
            "error": self.error,
        }
        return body | {k: v for k, v in optional.items() if v}


async def remember(
    db: Database,
    blobs: BlobStore,
    runtime: Runtime,
    user: UserInfo,
    uploads: StagedUploads,
    *,
    dataset_id: uuid.UUID | None,
    dataset_name: str | None,
    node_set: list[str] | None,
    labels: str | None,
    external_metadata: str | None,
    options: CognifyOptions,
    session_id: str | None,
    background: bool,
    data_per_batch: int | None = None,
) -> RememberResult:
    """Add the uploads, then cognify the dataset (waiting unless in background); with a
    session id, text uploads are kept in that session as well."""
    started = time.monotonic()
    added = await add_files(
        db,
        blobs,
        user,
        uploads,
        dataset_id=dataset_id,
        dataset_name=dataset_name,
        node_set=node_set,
        labels=labels,
        external_metadata=external_metadata,
    )
    dataset = added.dataset
    await apply_options(db, user, dataset.id, options)
    items = [await data_catalog.get_data(db, user, dataset.id, i.data_id) for i in added.items]
    result = RememberResult(
        "running",
        dataset.name,
        dataset.id,
        None,
        0,
        0.0,
        items=[
            {
                "id": str(i.id),
                "name": i.name,
                "content_hash": i.content_hash,
                "mime_type": i.mime_type,
                "data_size": i.size,
                "kind": "data",
            }
            for i in items
        ],
        content_hash=items[0].content_hash if items else None,
    )
    if session_id:
        for item in items:
            if item.mime_type.startswith("text/"):
                text = await _text_of(blobs, item.content_hash, item.size)
                await sessions.add_entry(
                    db, user.id, session_id, dataset.id, sessions.QA, answer=text
                )
        result.session_ids = [session_id]
    [outcome] = await service.cognify(
        db,
        runtime,
        user,
        [dataset.id],
        None,
        background=background,
        data_per_batch=data_per_batch,
    )
    if outcome.items is None:
        result.elapsed_seconds = time.monotonic() - started
        return result
    run = outcome.run
    result.pipeline_run_id = run.id
    done = {data_id for data_id, state, _ in outcome.items if state == "completed"}
    result.items_processed = sum(1 for i in items if i.id in done)
    # Errored when any item of this call was not made into memory (others' failures in the
    # same dataset do not count), or the run itself failed or was cancelled.
    if result.items_processed < len(items) or run.state in (RunState.FAILED, RunState.CANCELLED):
        result.status = "errored"
        missed = ", ".join(i.original_name for i in items if i.id not in done)
        result.error = f"{run.error_message or 'cognify ended ' + run.state}; not made into " + (
            f"memory: {missed or 'none'} (their errors: GET /api/v1/datasets/{dataset.id}/data"
            "?status=failed)"
        )
    else:
        result.status = "completed"
    result.elapsed_seconds = time.monotonic() - started
    return result


async def _text_of(blobs: BlobStore, sha256: str, size: int) -> str:
    end = min(size, SESSION_TEXT_BYTES) - 1
    data = b"".join([chunk async for chunk in blobs.read(sha256, 0, end)])
    return data.decode("utf-8", errors="replace")


@dataclass
class UpdateResult:
    status: str  # completed | errored
    data_id: uuid.UUID  # the item holding the new content
    previous_data_id: uuid.UUID
    dataset_id: uuid.UUID
    pipeline_run_id: uuid.UUID | None
    duration_seconds: float
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        body = {
            "status": self.status,
            "data_id": str(self.data_id),
            "previous_data_id": str(self.previous_data_id),
            "dataset_id": str(self.dataset_id),
            "pipeline_run_id": str(self.pipeline_run_id) if self.pipeline_run_id else None,
            "duration_seconds": round(self.duration_seconds, 3),
        }
        return body | ({"error": self.error} if self.error else {})


async def update_item(
    db: Database,
    blobs: BlobStore,
    runtime: Runtime,
    user: UserInfo,
    uploads: StagedUploads,
    *,
    dataset_id: uuid.UUID,
    data_id: uuid.UUID,
    node_set: list[str] | None,
) -> UpdateResult:
    """Replace one item's content: the new file is added, the old item deleted (with exactly
    what it alone supported), and the dataset cognified. The old item is deleted only once
    the new one is stored, so a refused upload changes nothing."""
    started = time.monotonic()
    if uploads.count != 1:
        raise InvalidInput("update replaces one item: send exactly one file as 'data'")
    old = await data_catalog.get_data(db, user, dataset_id, data_id)
    added = await add_files(
        db, blobs, user, uploads, dataset_id=dataset_id, dataset_name=None, node_set=node_set
    )
    [new] = added.items
    if new.data_id != old.id:
        await data_catalog.delete_data(db, blobs, user, dataset_id, old.id)
    [outcome] = await service.cognify(db, runtime, user, [dataset_id], None, background=False)
    states = {i: state for i, state, _ in outcome.items or []}
    ok = states.get(new.data_id) == "completed"
    return UpdateResult(
        "completed" if ok else "errored",
        new.data_id,
        old.id,
        dataset_id,
        outcome.run.id,
        time.monotonic() - started,
        None if ok else outcome.run.error_message or "cognify did not complete the item",
    )
