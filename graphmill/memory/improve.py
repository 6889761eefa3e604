"""improve: make a dataset's memory better, in cognee 1.6.5's ImproveResult shape.

Stages, in order:

1. `fold_session_answers`: the caller's session QA entries of the dataset marked useful
   (feedback score 4 or 5), not folded before, become one text item of the dataset and a
   cognify run, so they are in the graph with provenance, deletable and searchable like any
   document. Like cognee's `persist_session_qa`, it is the fatal stage: when its run fails,
   the next stage is skipped (`aborted_by_fatal_stage`).
2. `merge_duplicate_entities`: a `memify_pipeline` run in the ledger over the dataset's
   items: for each item, the entities it supports that are written differently elsewhere
   in the dataset (another case, a company suffix) become one node, provenance kept. An item
   done is skipped by later runs until cognify derives it again, so re-running improve pays
   for nothing twice."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from graphmill.auth.permissions import authorize
from graphmill.auth.users import UserInfo
from graphmill.blobs import BlobStore
from graphmill.db import Database
from graphmill.db.models import ItemState, Permission, RunState
from graphmill.graph.merge import merge_duplicates
from graphmill.ingest.add import StagedUploads, Upload, add_files
from graphmill.memory import sessions
from graphmill.pipelines import ledger, service
from graphmill.pipelines.engine import ItemContext, Pipeline, Step
from graphmill.pipelines.executors import Runtime
from graphmill.pipelines.ledger import MEMIFY_PIPELINE, RunInfo

MERGE = "merge_duplicate_entities"
FOLD = "fold_session_answers"


async def _merge_item(ctx: ItemContext[Any]) -> None:
    """One item's share of the merge, written when the item is recorded done (one
    transaction, under the dataset's lock: a replay merges what is left, nothing twice)."""
    item, run = ctx.item, ctx.run

    def write(conn: Connection) -> None:
        session = Session(bind=conn, autoflush=False)
        merged = merge_duplicates(session, item.dataset_id, item.data_id)
        session.flush()
        ledger.record_changes(conn, run, item.data_id, merged)

    ctx.on_commit(write)


def pipeline(tools: Any = None) -> Pipeline[None]:
    """The `memify_pipeline`: one step per item (it needs no model)."""
    return Pipeline([Step(MERGE, _merge_item)], lambda: None)


@dataclass
class Stage:
    """cognee's StageResult."""

    stage: str
    status: str  # completed | already_completed | skipped | errored
    reason: str | None = None
    error: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    duration_ms: int = 0
    run: dict[str, Any] | None = None  # cognee's PipelineRunInfo when the stage is a run
    active: bool = field(default=False, repr=False)  # its run was still going


@dataclass
class ImproveResult:
    dataset_id: uuid.UUID
    dataset_name: str
    session_ids: list[str]
    stages: list[Stage]
    background: bool
    error: str | None = None  # the fatal stage's error

    @property
    def finished(self) -> bool:
        return not any(s.active for s in self.stages)

    @property
    def status(self) -> str:
        """cognee's summary: running, errored, skipped (all stages), else completed."""
        if not self.finished:
            return "running"
        if self.error or any(s.status == "errored" for s in self.stages):
            return "errored"
        if all(s.status == "skipped" for s in self.stages):
            return "skipped"
        return "completed"

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset_id": str(self.dataset_id),
            "dataset_name": self.dataset_name,
            "session_ids": self.session_ids,
            "stages": [{k: v for k, v in vars(s).items() if k != "active"} for s in self.stages],
            "background": self.background,
            "finished": self.finished,
            "error": self.error,
            "rerun_requested": False,
            "rerun_passes": [],
            "memify_run": {},
            "status": self.status,
        }


def _run_info(run: RunInfo, dataset_name: str, status: str) -> dict[str, Any]:
    """cognee's PipelineRunInfo of a stage's run (its `status` is the run info's class)."""
    info: dict[str, Any] = {
        "status": status,
        "pipeline_run_id": str(run.id),
        "dataset_id": str(run.dataset_id),
        "dataset_name": dataset_name,
        "payload": None,
        "data_ingestion_info": None,
    }
    if status == "PipelineRunErrored":
        info |= {"error_class": run.error_class, "error_message": run.error_message}
    return info


def _stage_of_run(
    name: str, run: RunInfo, dataset_name: str, started: float, counts: dict[str, int]
) -> Stage:
    """A pipeline-backed stage takes its status from its run, as cognee's does."""
    if run.active:
        status, info = "completed", "PipelineRunStarted"
    elif run.state != RunState.COMPLETED:
        status, info = "errored", "PipelineRunErrored"
    elif run.completed == 0 and run.skipped > 0:
        status, info = "already_completed", "PipelineRunAlreadyCompleted"
    else:
        status, info = "completed", "PipelineRunCompleted"
    return Stage(
        name,
        status,
        reason="no_new_items" if status == "already_completed" else None,
        error=run.error_message if status == "errored" else None,
        counts=counts,
        duration_ms=int((time.monotonic() - started) * 1000),
        run=_run_info(run, dataset_name, info),
        active=run.active,
    )


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
    """Run the stages on a dataset the caller may write; each stage's run is in the ledger
    (status, events, cancel, recovery) and is waited for unless in background."""
    async with db.read() as session:
        name = (await authorize(session, user, dataset_id, Permission.WRITE)).name
    result = ImproveResult(dataset_id, name, list(session_ids or []), [], background)
    fold = await _fold(
        db, blobs, runtime, user, dataset_id, name, session_ids, background, max_upload_bytes
    )
    result.stages.append(fold)
    if fold.status == "errored":
        result.error = f"{FOLD} failed: {fold.error}"
        result.stages.append(Stage(MERGE, "skipped", reason="aborted_by_fatal_stage"))
        return result
    result.stages.append(await _merge(db, runtime, user, dataset_id, name, background))
    return result


async def _merge(
    db: Database,
    runtime: Runtime,
    user: UserInfo,
    dataset_id: uuid.UUID,
    name: str,
    background: bool,
) -> Stage:
    started = time.monotonic()
    [outcome] = await service.cognify(
        db, runtime, user, [dataset_id], None, background=background, pipeline=MEMIFY_PIPELINE
    )
    run = outcome.run
    if run.total == 0 and not run.active:
        return Stage(MERGE, "skipped", reason="no_data")
    counts = {
        "items": run.completed,
        "items_already_merged": run.skipped,
        "merged_entities": await ledger.run_changes(db, run.id),
    }
    return _stage_of_run(MERGE, run, name, started, counts)


async def _fold(
    db: Database,
    blobs: BlobStore,
    runtime: Runtime,
    user: UserInfo,
    dataset_id: uuid.UUID,
    dataset_name: str,
    session_ids: Sequence[str] | None,
    background: bool,
    max_upload_bytes: int,
) -> Stage:
    started = time.monotonic()
    useful = await sessions.useful_qas(db, user.id, dataset_id)
    if session_ids:
        useful = [e for e in useful if e.session_id in session_ids]
    if not useful:
        return Stage(FOLD, "skipped", reason="no_useful_session_answers")
    text = _qa_text(useful).encode()

    async def chunks() -> AsyncIterator[bytes]:
        yield text

    name = f"session_answers_{hashlib.sha256(text).hexdigest()[:16]}.txt"
    with StagedUploads(blobs, max_upload_bytes) as uploads:
        await uploads.stage(Upload(name, chunks()))
        added = await add_files(
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
    stage = _stage_of_run(
        FOLD, outcome.run, dataset_name, started, {"session_answers": len(useful)}
    )
    # The stage is the folded item's: another item of the dataset failing is not its failure.
    [folded] = [i.data_id for i in added.items]
    state = {d: s for d, s, _ in outcome.items or []}.get(folded)
    if state is not None and state not in (ItemState.COMPLETED, ItemState.SKIPPED_DUPLICATE):
        stage.status, stage.error = "errored", f"the session answers' item ended {state}"
    elif state is not None and stage.status == "errored":
        stage.status, stage.error = "completed", None
        stage.run = _run_info(outcome.run, dataset_name, "PipelineRunCompleted")
    return stage
