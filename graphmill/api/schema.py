"""`/api/v1/schema`: what a dataset's graph holds (cognee's schema inventory) and where the
caller's memory comes from (the provenance page)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.responses import HTMLResponse, Response

from graphmill.api.deps import ServicesDep, UserDep
from graphmill.api.visualize import graph_page
from graphmill.catalog import datasets as dataset_service
from graphmill.graph import inventory

router = APIRouter()


@router.get("/inventory")
async def schema_inventory(
    services: ServicesDep,
    user: UserDep,
    dataset_id: uuid.UUID,
    samples_per_type: Annotated[int, Query(ge=0, le=100)] = 5,
    sort: inventory.InventorySort = "count",
) -> list[dict[str, Any]]:
    """Per entity type of a readable dataset: count, sample names, relations to other types."""
    await dataset_service.get_dataset(services.db, user, dataset_id)
    return await inventory.schema_inventory(services.db, dataset_id, samples_per_type, sort)


@router.get(
    "/provenance",
    response_class=Response,
    responses={
        200: {
            "description": "A self-contained HTML page",
            "content": {"text/html": {"schema": {"type": "string"}}},
        }
    },
)
async def schema_provenance(
    services: ServicesDep, user: UserDep, include_memory: bool = False
) -> HTMLResponse:
    """The caller's readable datasets and their data items; `include_memory` adds the
    entities each item supports."""
    graph = await inventory.provenance_graph(services.db, user, include_memory)
    title = f"graphmill: memory provenance ({len(graph.nodes)} nodes"
    title += ", the most mentioned shown)" if graph.truncated else ")"
    return graph_page(title, {"nodes": graph.nodes, "edges": graph.edges})
