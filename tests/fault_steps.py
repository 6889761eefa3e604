"""Cognify steps that misbehave on demand, for engine tests (GRAPHMILL_COGNIFY_STEPS).

Directives in an item's text: `@sleep=S` waits S seconds; `@fail` raises a permanent error;
`@transient=N` raises a connection error on the first N attempts; `@hang` never returns;
`@crash` kills the process on the spot. Then the real load and chunk steps run.
"""

from __future__ import annotations

import asyncio
import os
import re

from graphmill.pipelines.cognify import STEPS as COGNIFY_STEPS
from graphmill.pipelines.engine import ItemContext, Step


async def misbehave(ctx: ItemContext) -> None:
    text = (await ctx.read_bytes()).decode("utf-8", errors="replace")
    for name, value in re.findall(r"@(sleep|fail|transient|hang|crash)(?:=([\d.]+))?", text):
        if name == "sleep":
            await asyncio.sleep(float(value))
        elif name == "fail":
            raise ValueError(f"planted failure in {ctx.item.name}")
        elif name == "transient" and ctx.attempt <= int(value):
            raise ConnectionError(f"planted transient failure, attempt {ctx.attempt}")
        elif name == "hang":
            await asyncio.sleep(3600)
        elif name == "crash":
            os._exit(17)


STEPS = [Step("misbehave", misbehave), *COGNIFY_STEPS]
