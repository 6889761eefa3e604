"""Pipeline requests on behalf of a user: cognify, runs, cancel, progress."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from graphmill.auth.permissions import authorize, visible_ids
from graphmill.auth.users import UserInfo
from graphmill.catalog.datasets import DatasetInfo, ensure_owned_dataset, list_datasets
from graphmill.db import Database
from graphmill.db.models import Permission
from graphmill.errors import DatasetNotFound, MissingDataset, RunNotFound
from graphmill.graph.store import GraphCounts, graph_counts
from graphmill.pipelines import ledger
from graphmill.pipelines.executors import Runtime
from graphmill.pipelines.ledger import COGNIFY_PIPELINE, RunInfo
from graphmill.pipelines.status import compat_status


@dataclass(frozen=True)
class CognifyOutcome:
    dataset: DatasetInfo
    run: RunInfo
    # (data_id, item state, done by this run) once the run finished; None in background.
    items: list[tuple[uuid.UUID, str, bool]] | None


async def resolve_datasets(
    db: Database,
    user: UserInfo,
    dataset_ids: Sequence[uuid.UUID] | None,
    names: Sequence[str] | None,
    permission: Permission,
) -> list[DatasetInfo]:
    """Datasets by id (checked) or by owned name (created when missing, as cognee does)."""
    if not dataset_ids and not names:
        raise MissingDataset("No datasets or dataset_ids provided")
    async with db.write() as session:
        if dataset_ids:
            found = [
                await authorize(session, user, d, permission) for d in dict.fromkeys(dataset_ids)
            ]
        else:
            assert names is not None
            found = [await ensure_owned_dataset(session, user, n) for n in dict.fromkeys(names)]
        return [DatasetInfo.of(d) for d in found]


async def cognify(
    db: Database,
    runtime: Runtime,
    user: UserInfo,
    dataset_ids: Sequence[uuid.UUID] | None,
    names: Sequence[str] | None,
    *,
    background: bool,
    data_per_batch: int | None = None,
    pipeline: str = COGNIFY_PIPELINE,
) -> list[CognifyOutcome]:
    """Queue (or join) one run of the pipeline (cognify unless named) per dataset; wait for
    them unless in background. `data_per_batch`: at most that many items at once."""
    datasets = await resolve_datasets(db, user, dataset_ids, names, Permission.WRITE)
    queued: list[tuple[DatasetInfo, RunInfo]] = []
    for dataset in datasets:
        run, _ = await ledger.request_run(db, dataset.id, pipeline, user.id, data_per_batch)
        await runtime.dispatch(run.id)
        queued.append((dataset, run))
    if background:
        return [CognifyOutcome(d, r, None) for d, r in queued]
    outcomes = []
    for dataset, run in queued:
        finished = await runtime.wait_for(run.id)
        if finished is None:
            # Deleted while it ran: the dataset is gone, as it would be for any later request.
            raise DatasetNotFound(
                f"Dataset {dataset.id} was deleted while its "
                f"{pipeline.removesuffix('_pipeline')} run was in progress."
            )
        outcomes.append(
            CognifyOutcome(dataset, finished, await ledger.item_outcomes(db, finished.id))
        )
    return outcomes


async def get_run(db: Database, user: UserInfo, run_id: uuid.UUID) -> RunInfo:
    """A run of a dataset the user can read; RunNotFound otherwise (existence never leaks)."""
    run = await ledger.get_run(db, run_id)
    if run is None:
        raise RunNotFound()
    try:
        async with db.read() as session:
            await authorize(session, user, run.dataset_id, Permission.READ)
    except DatasetNotFound as exc:
        raise RunNotFound() from exc
    return run


async def cancel(db: Database, user: UserInfo, run_id: uuid.UUID) -> RunInfo:
    """Cancel a run; needs write permission on its dataset."""
    run = await get_run(db, user, run_id)
    async with db.read() as session:
        await authorize(session, user, run.dataset_id, Permission.WRITE)
    return await ledger.cancel_run(db, run_id)


async def list_runs(db: Database, user: UserInfo, dataset_id: uuid.UUID) -> list[RunInfo]:
    async with db.read() as session:
        await authorize(session, user, dataset_id, Permission.READ)
    return await ledger.list_runs(db, dataset_id)


@dataclass(frozen=True)
class Progress:
    status: str
    completed: int
    failed: int
    total: int
    skipped: int
    stage: str | None


async def progress(
    db: Database,
    user: UserInfo,
    dataset_ids: Sequence[uuid.UUID] | None,
    pipeline: str = COGNIFY_PIPELINE,
) -> dict[uuid.UUID, Progress]:
    """The latest run of the pipeline on each readable dataset, with its counts and current
    stage."""
    latest = await ledger.latest_progress(db, visible_ids(user), dataset_ids, pipeline)
    return {
        dataset_id: Progress(
            compat_status(p.run.state),
            p.run.completed,
            p.run.failed,
            p.run.total,
            p.run.skipped,
            p.stage,
        )
        for dataset_id, p in latest.items()
    }


@dataclass(frozen=True)
class GraphSummary:
    counts: GraphCounts
    run: RunInfo | None  # the latest finished cognify run


async def graph_summaries(
    db: Database, user: UserInfo, dataset_ids: Sequence[uuid.UUID] | None
) -> list[GraphSummary]:
    """Node and edge counts per readable dataset, with the latest finished cognify run."""
    visible = await list_datasets(db, user)
    wanted = set(dataset_ids) if dataset_ids is not None else None
    ids = [d.id for d in visible if wanted is None or d.id in wanted]
    runs = await ledger.latest_finished(db, ids, COGNIFY_PIPELINE)
    return [GraphSummary(c, runs.get(c.dataset_id)) for c in await graph_counts(db, ids)]
