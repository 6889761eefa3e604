"""`GET /api/v1/visualize?dataset_id=`: a self-contained HTML page of a dataset's graph."""

from __future__ import annotations

import functools
import html
import json
import uuid
from importlib import resources
from typing import Any

from fastapi import APIRouter
from starlette.responses import HTMLResponse, Response

from graphmill.api.deps import ServicesDep, UserDep
from graphmill.catalog import datasets as dataset_service
from graphmill.graph import store as graph_store

router = APIRouter()


# No external script, style or font: the page works offline and leaks nothing. A small
# force layout (repulsion, springs, centring) on an SVG; hover shows a node's properties.
@functools.cache
def _page() -> str:
    return (resources.files("graphmill.api") / "visualize.html").read_text(encoding="utf-8")


def _script_json(value: object) -> str:
    """JSON that cannot close its <script> element."""
    return (
        json.dumps(value, default=str)
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
    )


@router.get(
    "",
    response_class=Response,  # so the error statuses are documented as JSON, which they are
    responses={
        200: {
            "description": "A self-contained HTML page",
            "content": {"text/html": {"schema": {"type": "string"}}},
        }
    },
)
async def visualize(dataset_id: uuid.UUID, services: ServicesDep, user: UserDep) -> HTMLResponse:
    """The dataset's entities and relations, laid out in the browser; no external resource."""
    dataset = await dataset_service.get_dataset(services.db, user, dataset_id)
    view = await graph_store.read_graph(services.db, dataset_id)
    data = {
        "nodes": [
            {
                "id": str(n["id"]),
                "label": n["label"],
                "type": n["type"],
                "properties": n["properties"],
            }
            for n in view.nodes
        ],
        "edges": [
            {"source": str(e["source"]), "target": str(e["target"]), "label": e["label"]}
            for e in view.edges
        ],
    }
    return graph_page(f"graphmill: {dataset.name} ({len(view.nodes)} entities)", data)


def graph_page(title: str, data: dict[str, Any]) -> HTMLResponse:
    """The self-contained page drawing `{"nodes": [{id, label, type, properties}], "edges":
    [{source, target, label}]}`."""
    page = _page().replace("__TITLE__", html.escape(title))
    return HTMLResponse(page.replace("__DATA__", _script_json(data)))
