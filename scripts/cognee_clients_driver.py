"""Drive cognee 1.6.5's real clients against a graphmill server; one JSON line per call.

Run by `scripts/check-cognee-clients` with the Python of a throw-away venv holding cognee
1.6.5 and cognee-mcp 0.5.7: the SDK in remote mode (`cognee.serve(url=..., api_key=...)`),
`cognee-cli --api-url` and the MCP server's API-mode client (`src.cognee_client`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

TEXT = (
    "Greymouth Harbour is a tidal port on the Vessland coast. Its lock gates were built by "
    "the Marwick Tidal Works in 1874. The harbour master in 1890 was Anders Holt."
)


def emit(client: str, call: str, ok: bool, detail: str) -> None:
    line = {"client": client, "call": call, "ok": ok, "detail": " ".join(detail.split())[:160]}
    print(json.dumps(line), flush=True)


async def attempt(
    client: str, call: str, run: Callable[[], Awaitable[Any]], check: Callable[[Any], str]
) -> Any:
    """Run one client call; `check` returns what to show, raising AssertionError if wrong."""
    started = time.monotonic()
    try:
        result = await run()
        detail = check(result)
        emit(client, call, True, f"{detail} ({time.monotonic() - started:.1f}s)")
        return result
    except Exception as exc:  # a report, not a library: every failure is a row
        tb = traceback.format_exception_only(type(exc), exc)[-1]
        emit(client, call, False, tb)
        return None


def as_dict(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return value


async def sdk(url: str, api_key: str) -> None:
    import cognee

    c = "SDK"
    await attempt(
        c,
        "serve(url, api_key)",
        lambda: cognee.serve(url=url, api_key=api_key),
        lambda r: type(r).__name__,
    )

    def remembered(r: Any) -> str:
        d = as_dict(r)
        assert d["status"] == "completed", d
        return f"status={d['status']} items={d.get('items_processed')}"

    await attempt(
        c, "remember(text)", lambda: cognee.remember(TEXT, dataset_name="sdk_memory"), remembered
    )

    def recalled(r: Any) -> str:
        items = [as_dict(i) for i in r]
        assert items, "no results"
        first = items[0]
        return f"{len(items)} items, first source={first.get('source')} kind={first.get('kind')}"

    await attempt(
        c,
        "recall(query)",
        lambda: cognee.recall("Who was harbour master in 1890?", datasets=["sdk_memory"]),
        recalled,
    )
    await attempt(
        c,
        "recall(query, auto-route)",
        lambda: cognee.recall("Anders Holt", query_type=None, datasets=["sdk_memory"]),
        recalled,
    )

    def improved(r: Any) -> str:
        d = as_dict(r)
        assert d.get("status") in ("completed", "skipped"), d
        return f"status={d['status']} stages={[s.get('stage') for s in d.get('stages', [])]}"

    await attempt(c, "improve(dataset)", lambda: cognee.improve(dataset="sdk_memory"), improved)
    await attempt(
        c,
        "add(text)",
        lambda: cognee.add(TEXT, dataset_name="sdk_added"),
        lambda r: f"{type(r).__name__}",
    )
    await attempt(
        c,
        "cognify(datasets)",
        lambda: cognee.cognify(datasets=["sdk_added"]),
        lambda r: f"{type(r).__name__}",
    )

    def searched(r: Any) -> str:
        assert r, "no results"
        return f"{len(r)} results"

    from cognee import SearchType

    await attempt(
        c,
        "search(CHUNKS)",
        lambda: cognee.search(
            query_text="lock gates", query_type=SearchType.CHUNKS, datasets=["sdk_added"]
        ),
        searched,
    )

    def forgotten(r: Any) -> str:
        d = as_dict(r)
        assert d.get("status") == "success", d
        return json.dumps(d)

    await attempt(c, "forget(dataset)", lambda: cognee.forget(dataset="sdk_added"), forgotten)


def cli(url: str, api_key: str, cognee_cli: str) -> None:
    c = "CLI"
    env = {**os.environ, "COGNEE_API_KEY": api_key}

    def run(call: str, args: list[str], expect: str) -> None:
        started = time.monotonic()
        done = subprocess.run(
            [cognee_cli, "--api-url", url, *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
        )
        # stdout holds the command's answer; stderr cognee's log lines
        out = re.sub(r"\x1b\[[0-9;]*m", "", done.stdout).strip()
        ok = done.returncode == 0 and expect.lower() in out.lower()
        shown = out if ok else f"{out} {done.stderr.strip()[-200:]}"
        emit(c, call, ok, f"rc={done.returncode} {shown[:140]} ({time.monotonic() - started:.1f}s)")

    run("remember", ["remember", TEXT, "-d", "cli_memory"], "cli_memory")
    run("recall", ["recall", "Who was harbour master in 1890?", "-d", "cli_memory"], "Holt")
    run("search", ["search", "lock gates", "-t", "CHUNKS", "-d", "cli_memory"], "lock")
    run("datasets list", ["datasets", "list"], "cli_memory")
    run("improve", ["improve", "-d", "cli_memory"], "")
    run("forget", ["forget", "--dataset", "cli_memory"], "")


async def mcp(url: str, token: str) -> None:
    from src.cognee_client import CogneeClient

    c = "MCP"
    client = CogneeClient(api_url=url, api_token=token)

    def status(expected: str) -> Callable[[Any], str]:
        def check(r: Any) -> str:
            assert r.get("status") == expected, r
            return f"status={r['status']}"

        return check

    await attempt(
        c,
        "remember (no session)",
        lambda: client.remember(TEXT, dataset_name="mcp_memory"),
        status("completed"),
    )
    await attempt(
        c,
        "remember (session)",
        lambda: client.remember(
            "The gate code is 4711.", dataset_name="mcp_memory", session_id="mcp-s1"
        ),
        status("session_stored"),
    )

    def recalled(r: Any) -> str:
        items = r.get("results", r) if isinstance(r, dict) else r
        assert items, "no results"
        sources = sorted({i.get("source") or i.get("_source") for i in items})
        return f"{len(items)} items, sources={sources}"

    await attempt(
        c,
        "recall (search_type null)",
        lambda: client.recall("Who was harbour master in 1890?", datasets=["mcp_memory"]),
        recalled,
    )
    await attempt(
        c,
        "recall (session)",
        lambda: client.recall("what is the gate code", session_id="mcp-s1"),
        recalled,
    )
    await attempt(
        c, "recall (no dataset: every name)", lambda: client.recall("Anders Holt"), recalled
    )
    datasets = await attempt(
        c, "list_datasets", client.list_datasets, lambda r: f"{len(r)} datasets"
    )
    ids = [d["id"] for d in datasets or [] if d["name"] == "mcp_memory"]
    if ids:
        await attempt(
            c,
            "get_pipeline_status",
            lambda: client.get_pipeline_status(ids, "cognify_pipeline"),
            lambda r: str(r)[:100],
        )
        await attempt(
            c,
            "get_recall_state (progress)",
            lambda: client.get_recall_state(["mcp_memory"]),
            lambda r: str(r),
        )
    await attempt(
        c,
        "improve",
        lambda: client.improve(dataset_name="mcp_memory", session_ids=["mcp-s1"]),
        lambda r: f"status={r.get('status')}",
    )
    await attempt(
        c, "forget (dataset)", lambda: client.forget(dataset="mcp_memory"), status("success")
    )
    await attempt(
        c, "forget (everything)", lambda: client.forget(everything=True), status("success")
    )
    await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--token", required=True, help="a login JWT (the MCP client sends Bearer)")
    parser.add_argument("--cognee-cli", default=str(Path(sys.executable).parent / "cognee-cli"))
    args = parser.parse_args()
    asyncio.run(sdk(args.url, args.api_key))
    cli(args.url, args.api_key, args.cognee_cli)
    asyncio.run(mcp(args.url, args.token))


if __name__ == "__main__":
    main()
