"""`graphmill remember`, `recall`, `forget`, `improve`, `sessions ...`: the memory API."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import click

from graphmill.cli.base import Connection, emit, err, json_option, out, pass_connection
from graphmill.cli.data import collect, confirm, query_options, query_payload, source_line
from graphmill.cli.runs import Watched, follow, require_server, run_watching

if TYPE_CHECKING:
    from graphmill.client import Client

RANGES = ("24h", "7d", "30d", "all")


def _uuid_or_none(ref: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(ref)
    except ValueError:
        return None


@click.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--dataset", "-d", default="main_dataset", show_default=True, help="Dataset name.")
@click.option("--session-id", help="Keep the text in this session too (for recall).")
@click.option("--background", is_flag=True, help="Start and return (needs a server).")
@json_option
@pass_connection
def remember(
    conn: Connection,
    paths: tuple[str, ...],
    dataset: str,
    session_id: str | None,
    background: bool,
) -> int:
    """Add files, folders, globs or `-` (stdin), then cognify them, with live progress."""
    from graphmill.api.dto import RememberFormDTO

    require_server(conn, background)
    sources = collect(paths)
    form = RememberFormDTO(dataset_name=dataset, session_id=session_id, run_in_background=True)
    watched = Watched()

    async def work(client: Client) -> dict[str, Any]:
        # Started in the background and watched as cognify is: the same bar, the same Ctrl-C.
        answer = await client.remember(sources, form)
        if answer["status"] != "running":
            return answer
        # A background remember names no run (as cognee's): it is the dataset's newest.
        dataset_id = uuid.UUID(answer["dataset_id"])
        runs = await client.list_runs(dataset_id)
        run_id = next(r.run_id for r in runs if r.pipeline_name == "cognify_pipeline")
        answer["pipeline_run_id"] = str(run_id)
        watched.runs[run_id] = (answer["dataset_name"], dataset_id)
        if background:
            return answer
        await follow(conn, client, watched)
        run = watched.final[run_id]
        states = {
            str(item.id): st.state
            for item in await client.list_data(dataset_id)
            if (st := item.pipeline_status.get("cognify_pipeline"))
        }
        done = sum(states.get(i["id"]) == "completed" for i in answer.get("items", []))
        answer["items_processed"] = done
        if run.state == "completed" and done == len(answer.get("items", [])):
            answer["status"] = "completed"
        else:
            answer["status"] = "errored"
            answer["error"] = (
                f"cognify ended {run.state}; {done} of {len(answer['items'])} item(s) made into "
                f"memory (why: graphmill data list {answer['dataset_name']} --status failed)"
            )
        return answer

    answer = run_watching(conn, watched, work)

    def human() -> None:
        items = len(answer.get("items", []))
        name = answer.get("dataset_name")
        run = answer.get("pipeline_run_id")
        if answer["status"] == "running":
            out.print(
                f"Remembering {items} item(s) in dataset {name} on the server (run {run}); "
                f"watch it with `graphmill cognify {name}`.",
                highlight=False,
            )
        else:
            out.print(
                f"{name}: {answer['status']} — {answer.get('items_processed', 0)} of {items} "
                f"item(s) made into memory (run {run})",
                highlight=False,
            )
        if answer.get("session_ids"):
            out.print(f"Kept in session {', '.join(answer['session_ids'])}.", highlight=False)
        if answer.get("error"):
            err.print(f"error: {answer['error']}", highlight=False)

    emit(conn, answer, human)
    return 1 if answer["status"] == "errored" else 0


@click.command()
@query_options(None, top_k=15)
@click.option("--session-id", help="Search this session's entries too.")
@json_option
@pass_connection
def recall(
    conn: Connection,
    query: str,
    search_type: str | None,
    datasets: tuple[str, ...],
    top_k: int,
    session_id: str | None,
) -> int:
    """Search the memory: the graph, and the session if named; each item with its source."""
    from graphmill.api.dto import RecallPayloadDTO

    payload = query_payload(
        RecallPayloadDTO, query, search_type, datasets, top_k, session_id=session_id
    )
    items = conn.run(lambda c: c.recall(payload))

    def human() -> None:
        if not items:
            out.print("Nothing found.")
        for item in items:
            where = item.get("dataset_name") or item.get("session_id") or ""
            out.print(f"[dim]{item['source']} {item.get('kind') or ''} {where}[/dim]")
            out.print(str(item.get("text", "")).strip(), highlight=False)
            raw = item.get("raw") or {}
            if raw.get("raw_url"):
                out.print(f"  [dim]source:[/dim] {source_line(raw)}", highlight=False)
            for ref in (item.get("metadata") or {}).get("references") or []:
                out.print(f"  [dim]source:[/dim] {source_line(ref)}", highlight=False)
            out.print()

    emit(conn, items, human)
    return 0


@click.command()
@click.option("--dataset", "-d", help="The dataset (name or id) to forget, or the item's.")
@click.option("--data-id", type=click.UUID, help="Only this item of the dataset.")
@click.option("--everything", is_flag=True, help="Every dataset you own.")
@click.option("--memory-only", is_flag=True, help="Keep the uploads; drop what cognify made.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask.")
@json_option
@pass_connection
def forget(
    conn: Connection,
    dataset: str | None,
    data_id: uuid.UUID | None,
    everything: bool,
    memory_only: bool,
    yes: bool,
) -> int:
    """Delete an item, a dataset or everything you own (asks first unless --yes or --json)."""
    from graphmill.api.dto import ForgetPayloadDTO

    if everything == bool(dataset):
        raise click.UsageError("give either --dataset NAME (with --data-id ID) or --everything")
    if data_id and not dataset:
        raise click.UsageError("--data-id needs the item's --dataset")
    dataset_id = _uuid_or_none(dataset) if dataset else None
    payload = ForgetPayloadDTO(
        data_id=data_id,
        dataset=None if dataset_id else dataset,
        dataset_id=dataset_id,
        everything=everything,
        memory_only=memory_only,
    )
    what = (
        "every dataset you own"
        if everything
        else f"item {data_id} of dataset {dataset}"
        if data_id
        else f"dataset {dataset}"
    )
    confirm(
        yes or conn.as_json,
        f"Forget {'what cognify made of ' if memory_only else ''}{what}?",
    )
    done = conn.run(lambda c: c.forget(payload))
    emit(conn, done, lambda: out.print(f"Forgot {what}.", highlight=False))
    return 0


@click.command()
@click.argument("dataset", default="main_dataset")
@click.option("--session-id", "session_ids", multiple=True, help="Fold this session in.")
@click.option("--background", is_flag=True, help="Start and return (needs a server).")
@json_option
@pass_connection
def improve(conn: Connection, dataset: str, session_ids: tuple[str, ...], background: bool) -> int:
    """Merge duplicate entities of DATASET (name or id), then fold the useful answers of
    the sessions into its graph."""
    from graphmill.api.dto import ImprovePayloadDTO

    require_server(conn, background)
    dataset_id = _uuid_or_none(dataset)
    payload = ImprovePayloadDTO(
        dataset_name=None if dataset_id else dataset,
        dataset_id=dataset_id,
        session_ids=list(session_ids) or None,
        run_in_background=background,
    )
    result = conn.run(lambda c: c.improve(payload), execute=not conn.remote)

    def human() -> None:
        from rich.table import Table

        out.print(f"{result['dataset_name']}: {result['status']}", highlight=False)
        table = Table("stage", "status", "counts", "note")
        for stage in result["stages"]:
            counts = ", ".join(f"{k} {v}" for k, v in (stage.get("counts") or {}).items())
            table.add_row(
                stage["stage"], stage["status"], counts, stage.get("error") or stage.get("reason")
            )
        out.print(table)

    emit(conn, result, human)
    return 1 if result["status"] == "errored" else 0


@click.group()
def sessions() -> None:
    """List and show your memory sessions."""


@sessions.command("list")
@click.option("--range", "window", type=click.Choice(RANGES), default="30d", show_default=True)
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True)
@click.option("--offset", type=click.IntRange(min=0), default=0, show_default=True)
@json_option
@pass_connection
def sessions_list(conn: Connection, window: str, limit: int, offset: int) -> int:
    """Your sessions, most recently active first."""
    page = conn.run(lambda c: c.list_sessions(window, limit, offset))

    def human() -> None:
        from rich.table import Table

        table = Table("session", "dataset", "last activity", "questions", "trace steps")
        for s in page["sessions"]:
            table.add_row(
                s["session_id"],
                s["dataset_id"] or "",
                s["last_activity_at"][:19].replace("T", " "),
                str(s["msg_count"]),
                str(s["tool_calls"]),
            )
        out.print(table)
        if page["has_more"]:
            out.print(f"[dim]{page['total']} in all: more with --offset[/dim]")

    emit(conn, page, human)
    return 0


@sessions.command("show")
@click.argument("session_id")
@json_option
@pass_connection
def sessions_show(conn: Connection, session_id: str) -> int:
    """One session's questions and answers and trace steps, oldest first."""
    found = conn.run(lambda c: c.get_session(session_id))

    def human() -> None:
        out.rule(f"[bold]{found['session_id']}")
        for qa in found["qas"]:
            if qa["question"]:
                out.print(f"[bold]Q:[/bold] {qa['question']}", highlight=False)
            out.print(f"[bold]A:[/bold] {qa['answer']}", highlight=False)
            if qa["feedback_text"] or qa["feedback_score"]:
                score = qa["feedback_score"] or "-"
                out.print(f"  [dim]feedback ({score}):[/dim] {qa['feedback_text'] or ''}")
        for trace in found["traces"]:
            out.print(f"[dim]trace[/dim] {trace['origin_function']} {trace['status']}")

    emit(conn, found, human)
    return 0
