"""`graphmill cognify` with its live progress bar, and `graphmill runs ...`."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

import click

from graphmill.cli.base import Connection, emit, err, json_option, out, pass_connection

# rich's progress and tables, the client and the wire schemas are imported where used.
if TYPE_CHECKING:
    from rich.progress import Progress, TaskID
    from rich.table import Table

    from graphmill.api.dto import RunDTO
    from graphmill.client.base import Client

T = TypeVar("T")
POLL_SECONDS = 0.25


@dataclass
class Watched:
    """The runs being watched, kept outside the event loop so Ctrl-C can name them."""

    runs: dict[uuid.UUID, tuple[str, uuid.UUID]] = field(default_factory=dict)  # run → dataset
    final: dict[uuid.UUID, RunDTO] = field(default_factory=dict)


async def _watch(client: Client, watched: Watched, bar: Progress | None) -> None:
    """Poll each run and its item counts until every run is final; feed the bar."""
    from graphmill.client.base import FINAL_STATES

    tasks: dict[uuid.UUID, TaskID] = {}
    if bar is not None:
        for run_id, (name, _) in watched.runs.items():
            tasks[run_id] = bar.add_task(name, total=None, failed=0, stage="queued")
    while len(watched.final) < len(watched.runs):
        pending = [r for r in watched.runs if r not in watched.final]
        progress = await client.progress([watched.runs[r][1] for r in pending])
        for run_id in pending:
            run = await client.get_run(run_id)
            if run.state in FINAL_STATES:
                watched.final[run_id] = run
            if bar is None:
                continue
            counts = run.counts
            stage = (progress.get(str(run.dataset_id), {}).get("progress") or {}).get("stage")
            bar.update(
                tasks[run_id],
                total=counts.get("total") or None,
                completed=counts.get("completed", 0)
                + counts.get("failed", 0)
                + counts.get("skipped", 0),
                failed=counts.get("failed", 0),
                stage=run.state if run.state != "running" else stage or "running",
            )
        if len(watched.final) < len(watched.runs):
            await asyncio.sleep(POLL_SECONDS)


def _progress_bar() -> Progress:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        SpinnerColumn,
        Task,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class RateColumn(ProgressColumn):
        """Items finished (done, failed or skipped) per second since the bar started."""

        def render(self, task: Task) -> Text:
            elapsed = task.elapsed
            rate = task.completed / elapsed if elapsed and task.completed else None
            return Text(f"{rate:.2f} items/s" if rate else "- items/s", style="progress.data.speed")

    return Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("[red]{task.fields[failed]} failed"),
        TextColumn("{task.fields[stage]}"),
        TimeElapsedColumn(),
        RateColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=err,
    )


def _interrupted(conn: Connection, watched: Watched) -> None:
    for run_id, (name, _) in watched.runs.items():
        if run_id in watched.final:
            continue
        if conn.remote:
            err.print(
                f"Stopped watching dataset {name}: its run {run_id} goes on on the server. "
                f"Watch it again with `graphmill cognify {name}`, stop it with "
                f"`graphmill runs cancel {run_id}`.",
                highlight=False,
            )
        else:
            err.print(
                f"Interrupted: run {run_id} of dataset {name} is queued again; the items "
                f"it completed are kept. Resume with `graphmill cognify {name}` (or "
                f"`graphmill serve` picks it up); drop it with `graphmill runs cancel {run_id}`.",
                highlight=False,
            )


async def follow(conn: Connection, client: Client, watched: Watched) -> None:
    """Wait until every watched run is final: a live bar on stderr, none with --json."""
    if conn.as_json:
        await _watch(client, watched, None)
        return
    with _progress_bar() as bar:
        await _watch(client, watched, bar)


def require_server(conn: Connection, background: bool) -> None:
    if background and not conn.remote:
        raise click.UsageError("--background needs --url: here the run lives in this process.")


def run_watching(conn: Connection, watched: Watched, work: Callable[[Client], Awaitable[T]]) -> T:
    """`conn.run(work)`, runs executed here when in-process; on Ctrl-C it says how the
    watched runs go on (or resume) and exits 130."""
    try:
        return conn.run(work, execute=not conn.remote)
    except KeyboardInterrupt:
        _interrupted(conn, watched)
        raise click.exceptions.Exit(130) from None


@click.command()
@click.argument("datasets", nargs=-1)
@click.option("--background", is_flag=True, help="Queue the runs and return (needs a server).")
@json_option
@pass_connection
def cognify(conn: Connection, datasets: tuple[str, ...], background: bool) -> int:
    """Turn datasets (default: all yours) into a graph and vectors, with live progress."""
    from graphmill.client.base import find_dataset

    require_server(conn, background)
    watched = Watched()

    async def work(client: Client) -> None:
        if datasets:
            ids = [(await find_dataset(client, d)).id for d in datasets]
        else:
            me = (await client.me()).id
            ids = [d.id for d in await client.list_datasets() if d.owner_id == me]
            if not ids:
                raise click.UsageError("You have no dataset: add data first (graphmill add).")
        started = await client.cognify([], ids, background=True)
        for info in started.values():
            watched.runs[info.pipeline_run_id] = (info.dataset_name, info.dataset_id)
        if background:
            for run_id in watched.runs:
                watched.final[run_id] = await client.get_run(run_id)
            return
        await follow(conn, client, watched)

    run_watching(conn, watched, work)
    runs = list(watched.final.values())

    def human() -> None:
        for run in runs:
            name = watched.runs[run.run_id][0]
            c = run.counts
            out.print(
                f"{name}: {run.state} — {c.get('completed', 0)} completed, "
                f"{c.get('failed', 0)} failed, {c.get('skipped', 0)} skipped of "
                f"{c.get('total', 0)} (run {run.run_id})",
                highlight=False,
            )
            if c.get("failed"):
                out.print(f"  see why: graphmill data list {name} --status failed")

    emit(conn, runs, human)
    done = {"completed", "queued", "running"} if background else {"completed"}
    return 0 if all(r.state in done for r in runs) else 1


def _run_table(runs: list[RunDTO]) -> Table:
    from rich.table import Table

    table = Table("run", "pipeline", "state", "done", "failed", "total", "started", "error")
    for r in runs:
        table.add_row(
            str(r.run_id),
            r.pipeline_name,
            r.state,
            str(r.counts.get("completed", 0)),
            str(r.counts.get("failed", 0)),
            str(r.counts.get("total", 0)),
            r.started_at.strftime("%Y-%m-%d %H:%M:%S") if r.started_at else "",
            f"{r.error['class']}: {r.error['message']}" if r.error else "",
        )
    return table


@click.group()
def runs() -> None:
    """List, show and cancel pipeline runs."""


@runs.command("list")
@click.argument("dataset")
@json_option
@pass_connection
def runs_list(conn: Connection, dataset: str) -> int:
    """A dataset's runs, newest first."""
    from graphmill.client.base import find_dataset

    async def work(client: Client) -> list[RunDTO]:
        return await client.list_runs((await find_dataset(client, dataset)).id)

    found = conn.run(work)
    emit(conn, found, lambda: out.print(_run_table(found)))
    return 0


@runs.command("show")
@click.argument("run_id", type=click.UUID)
@json_option
@pass_connection
def runs_show(conn: Connection, run_id: uuid.UUID) -> int:
    """One run's state and counts."""
    run = conn.run(lambda c: c.get_run(run_id))
    emit(conn, run, lambda: out.print(_run_table([run])))
    return 0


@runs.command("cancel")
@click.argument("run_id", type=click.UUID)
@json_option
@pass_connection
def runs_cancel(conn: Connection, run_id: uuid.UUID) -> int:
    """Stop a run: no new work; completed items keep their results."""
    run = conn.run(lambda c: c.cancel_run(run_id))
    emit(conn, run, lambda: out.print(f"Run {run_id}: {run.state}."))
    return 0
