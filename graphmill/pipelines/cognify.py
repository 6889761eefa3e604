"""The cognify pipeline's steps: text from bytes, then chunks, written with the item."""

from __future__ import annotations

import re

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from graphmill.db.models import Chunk
from graphmill.pipelines.engine import ItemContext, Step, StepFailed

CHUNK_WORDS = 200


async def load_text(ctx: ItemContext) -> None:
    raw = await ctx.read_bytes()
    if b"\x00" in raw[:8192]:
        raise StepFailed("no_extractable_text", f"{ctx.item.name}: no loader for binary content")
    text = raw.decode("utf-8", errors="replace").strip()
    if not text:
        raise StepFailed("no_extractable_text", f"{ctx.item.name}: no text")
    ctx.state["text"] = text


def split_words(text: str, size: int = CHUNK_WORDS) -> list[str]:
    """Paragraph-aware chunks of at most `size` words."""
    chunks: list[str] = []
    current: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text):
        words = paragraph.split()
        if current and len(current) + len(words) > size:
            chunks.append(" ".join(current))
            current = []
        while len(words) > size:
            chunks.append(" ".join(words[:size]))
            words = words[size:]
        current.extend(words)
    if current:
        chunks.append(" ".join(current))
    return chunks


async def chunk(ctx: ItemContext) -> None:
    pieces = split_words(ctx.state["text"])
    item = ctx.item

    async def write(session: AsyncSession) -> None:
        # Replace, never append: a replayed item cannot leave duplicate chunks.
        await session.execute(delete(Chunk).where(Chunk.data_id == item.data_id))
        session.add_all(
            Chunk(
                dataset_id=item.dataset_id,
                data_id=item.data_id,
                content_hash=item.content_hash,
                idx=i,
                text=piece,
                token_count=len(piece.split()),
            )
            for i, piece in enumerate(pieces)
        )

    ctx.on_commit(write)


STEPS = [Step("load", load_text), Step("chunk", chunk)]
