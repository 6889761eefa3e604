"""improve: make a dataset's memory better, in cognee 1.6.5's ImproveResult shape.

Stages, in order: `merge_duplicate_entities` (one entity written differently becomes one
node, provenance kept), then `fold_session_answers` (the caller's session QA entries of the
dataset marked useful become a text item of the dataset and a cognify run, so they are in
the graph with provenance, deletable and searchable like any document)."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from graphmill.auth.permissions import authorize
from graphmill.auth.users import UserInfo
from graphmill.blobs import BlobStore
from graphmill.db import Database, lock_dataset
from graphmill.db.models import Permission, RunState
from graphmill.graph.merge import merge_duplicates
from graphmill.ingest.add import StagedUploads, Upload, add_files
from graphmill.memory import sessions
from graphmill.pipelines import service
from graphmill.pipelines.executors import Runtime


@dataclass
class Stage:
    stage: str
    status: str  # completed | already_completed | skipped | errored
    reason: str | None = None
    error: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    duration_ms: int = 0
    run: dict[str, Any] | None = None


@dataclass
class ImproveResult:
    dataset_id: uuid.UUID
    dataset_name: str
    session_ids: list[str]
    stages: list[Stage]
    background: bool

    @property
    def status(self) -> str:
        """cognee's summary: running, errored, skipped (all stages), else completed."""
        if self.background and any(
            s.run and s.run.get("state") in ("queued", "running") for s in self.stages
        ):
            return "running"
        if any(s.status == "errored" for s in self.stages):
            return "errored"
        if all(s.status == "skipped" for s in self.stages):
            return "skipped"
        return "completed"

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "dataset_id": str(self.dataset_id),
            "dataset_name": self.dataset_name,
            "session_ids": self.session_ids,
            "stages": [vars(s) for s in self.stages],
            "background": self.background,
            "finished": self.status != "running",
            "error": None,
            "rerun_requested": False,
            "rerun_passes": [],
            "memify_run": {},
        }


def _qa_text(entries: Sequence[sessions.EntryInfo]) -> str:
    parts = []
    for e in entries:
        lines = [f"Question: {e.question}" if e.question else "", f"Answer: {e.answer}"]
        if e.feedback_text:
            lines.append(f"Feedback: {e.feedback_text}")
        parts.append("\n".join(line for line in lines if line))
    return "\n\n".join(parts) + "\n"


async def improve(
    db: Database,
    blobs: BlobStore,
    runtime: Runtime,
    user: UserInfo,
    dataset_id: uuid.UUID,
    session_ids: Sequence[str] | None,
    *,
    background: bool,
    max_upload_bytes: int,
) -> ImproveResult:
    """Run the stages on a dataset the caller may write; the fold's cognify run is in the
    ledger (status, events, cancel) and is waited for unless in background."""
    started = time.monotonic()
    name, merged = await _merge(db, user, dataset_id)
    merge = Stage("merge_duplicate_entities", "completed", counts={"merged_entities": merged})
    merge_ms = time.monotonic() - started
    fold = await _fold(
        db, blobs, runtime, user, dataset_id, session_ids, background, max_upload_bytes
    )
    if fold.status == "completed" and not background:
        # What the folded answers added is merged too (in background, the next improve).
        again = time.monotonic()
        merge.counts["merged_entities"] += (await _merge(db, user, dataset_id))[1]
        merge_ms += time.monotonic() - again
    merge.duration_ms = int(merge_ms * 1000)
    return ImproveResult(dataset_id, name, list(session_ids or []), [merge, fold], background)


async def _merge(db: Database, user: UserInfo, dataset_id: uuid.UUID) -> tuple[str, int]:
    async with db.write() as session:
        dataset = await authorize(session, user, dataset_id, Permission.WRITE)
        await lock_dataset(session, dataset_id)
        return dataset.name, await merge_duplicates(session, dataset_id)


async def _fold(
    db: Database,
    blobs: BlobStore,
    runtime: Runtime,
    user: UserInfo,
    dataset_id: uuid.UUID,
    session_ids: Sequence[str] | None,
    background: bool,
    max_upload_bytes: int,
) -> Stage:
    started = time.monotonic()
    useful = await sessions.useful_qas(db, user.id, dataset_id)
    if session_ids:
        useful = [e for e in useful if e.session_id in session_ids]
    if not useful:
        return Stage("fold_session_answers", "skipped", reason="no_useful_session_answers")
    text = _qa_text(useful).encode()

    async def chunks() -> AsyncIterator[bytes]:
        yield text

    name = f"session_answers_{hashlib.sha256(text).hexdigest()[:16]}.txt"
    with StagedUploads(blobs, max_upload_bytes) as uploads:
        await uploads.stage(Upload(name, chunks()))
        await add_files(
            db,
            blobs,
            user,
            uploads,
            dataset_id=dataset_id,
            dataset_name=None,
            node_set=["session_answers"],
        )
    await sessions.mark_improved(db, [e.id for e in useful])
    [outcome] = await service.cognify(db, runtime, user, [dataset_id], None, background=background)
    run = outcome.run
    failed = outcome.items is not None and run.state != RunState.COMPLETED
    return Stage(
        "fold_session_answers",
        "errored" if failed else "completed",
        error=run.error_message if failed else None,
        counts={"session_answers": len(useful)},
        duration_ms=int((time.monotonic() - started) * 1000),
        run={
            "pipeline_run_id": str(run.id),
            "pipeline_name": run.pipeline_name,
            "state": run.state,
        },
    )
