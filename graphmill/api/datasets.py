"""`/api/v1/datasets`: datasets, their data, status, raw downloads, graph views."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from starlette.responses import Response, StreamingResponse

from graphmill.api.deps import ServicesDep, UserDep
from graphmill.api.download import blob_response
from graphmill.api.dto import (
    BIGINT_MAX,
    DataDTO,
    DatasetCreationPayload,
    DatasetDTO,
    DatasetGraphSummaryDTO,
    DatasetSchemaPayloadDTO,
    GraphDTO,
    RunDTO,
)
from graphmill.api.query import FastQueryRoute
from graphmill.api.sse import event_stream
from graphmill.auth.users import UserInfo
from graphmill.catalog import data as data_service
from graphmill.catalog import datasets as dataset_service
from graphmill.errors import InvalidInput
from graphmill.graph import store as graph_store
from graphmill.pipelines import ledger, service
from graphmill.pipelines import status as status_view
from graphmill.services import Services

router = APIRouter(route_class=FastQueryRoute)  # status may carry 1,000 ids


@router.get("", response_model=list[DatasetDTO])
@router.get("/", response_model=list[DatasetDTO], include_in_schema=False)
async def list_datasets(services: ServicesDep, user: UserDep) -> list[DatasetDTO]:
    return [DatasetDTO.of(d) for d in await dataset_service.list_datasets(services.db, user)]


@router.post("", response_model=DatasetDTO)
@router.post("/", response_model=DatasetDTO, include_in_schema=False)
async def create_dataset(
    payload: DatasetCreationPayload, services: ServicesDep, user: UserDep
) -> DatasetDTO:
    """Idempotent: the caller's dataset of that name, created if missing."""
    return DatasetDTO.of(await dataset_service.create_dataset(services.db, user, payload.name))


@router.delete("")
@router.delete("/", include_in_schema=False)
async def delete_all_datasets(services: ServicesDep, user: UserDep) -> None:
    await dataset_service.delete_all_datasets(services.db, services.blobs, user)


@router.get("/status")
async def get_status(
    services: ServicesDep,
    user: UserDep,
    dataset: Annotated[list[uuid.UUID] | None, Query()] = None,
    pipeline: Annotated[list[str] | None, Query()] = None,
) -> Response:
    """Latest run status per dataset: flat for one pipeline, nested for several."""
    pipelines = status_view.check_pipelines(pipeline or [ledger.COGNIFY_PIPELINE])
    if dataset is not None and len(dataset) > services.settings.max_status_datasets:
        raise InvalidInput(
            f"At most {services.settings.max_status_datasets} datasets per status query."
        )
    # The database writes the body: the map can hold thousands of entries.
    body = await status_view.status_json(services.db, user, dataset, pipelines)
    return Response(body, media_type="application/json")


@router.get("/status/progress")
async def get_progress(
    services: ServicesDep,
    user: UserDep,
    dataset: Annotated[list[uuid.UUID] | None, Query()] = None,
    pipeline: Annotated[list[str] | None, Query()] = None,
) -> dict[str, dict[str, Any]]:
    """cognee 1.6.5's progress: `{"<id>": {"status", "progress"}}` for one pipeline (default
    cognify), `{"<id>": {"<pipeline>": {"status", "progress"}}}` for several; a pipeline
    that never ran on a dataset is absent."""
    return await progress_view(services, user, dataset, pipeline)


async def progress_view(
    services: Services,
    user: UserInfo,
    dataset_ids: list[uuid.UUID] | None,
    pipelines: list[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """The latest run's counts and stage per readable dataset and pipeline (the CLI's too)."""
    names = status_view.check_pipelines(pipelines or [ledger.COGNIFY_PIPELINE])
    by_pipeline = {
        name: await service.progress(services.db, user, dataset_ids, name) for name in names
    }
    if len(names) == 1:
        return {str(d): _progress(p) for d, p in by_pipeline[names[0]].items()}
    nested: dict[str, dict[str, Any]] = {}
    for name, found in by_pipeline.items():
        for d, p in found.items():
            nested.setdefault(str(d), {})[name] = _progress(p)
    return nested


def _progress(p: service.Progress) -> dict[str, Any]:
    """cognee's `completed_items`, `total_items`, `current_stage`, and graphmill's counts."""
    return {
        "status": p.status,
        "progress": {
            "completed_items": p.completed,
            "total_items": p.total,
            "current_stage": p.stage,
            "completed": p.completed,
            "failed": p.failed,
            "skipped": p.skipped,
            "total": p.total,
            "stage": p.stage,
        },
    }


@router.get("/graph-summary", response_model=list[DatasetGraphSummaryDTO])
async def graph_summary(
    services: ServicesDep,
    user: UserDep,
    dataset_ids: Annotated[list[uuid.UUID] | None, Query()] = None,
) -> list[DatasetGraphSummaryDTO]:
    """Node and edge counts per readable dataset, with the latest finished cognify run."""
    return [
        DatasetGraphSummaryDTO(
            dataset_id=s.counts.dataset_id,
            pipeline_run_id=s.run.id if s.run else None,
            num_nodes=s.counts.num_nodes,
            num_edges=s.counts.num_edges,
            computed_at=s.run.finished_at if s.run else None,
        )
        for s in await service.graph_summaries(services.db, user, dataset_ids)
    ]


@router.delete("/{dataset_id}")
async def delete_dataset(dataset_id: uuid.UUID, services: ServicesDep, user: UserDep) -> None:
    await dataset_service.delete_dataset(services.db, services.blobs, user, dataset_id)


@router.get("/{dataset_id}/data", response_model=list[DataDTO])
async def list_data(
    dataset_id: uuid.UUID,
    services: ServicesDep,
    user: UserDep,
    status: Annotated[str | None, Query(max_length=32)] = None,
    pipeline: Annotated[str, Query(max_length=64)] = ledger.COGNIFY_PIPELINE,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[DataDTO]:
    """Items with their state per pipeline, a page at a time (cognee 1.6.5: `limit` 100 by
    default, at most 1000); `?status=failed` keeps failed ones."""
    [pipeline] = status_view.check_pipelines([pipeline])
    items = await data_service.list_data(
        services.db, user, dataset_id, status, pipeline, limit, offset
    )
    return [DataDTO.of(i) for i in items]


@router.get("/{dataset_id}/data/count")
async def count_data(dataset_id: uuid.UUID, services: ServicesDep, user: UserDep) -> dict[str, int]:
    """`{"count": n}`: how many items the dataset holds."""
    return {"count": await data_service.count_data(services.db, user, dataset_id)}


@router.get("/{dataset_id}/runs")
async def list_runs(dataset_id: uuid.UUID, services: ServicesDep, user: UserDep) -> list[RunDTO]:
    return [RunDTO.of(r) for r in await service.list_runs(services.db, user, dataset_id)]


@router.get(
    "/{dataset_id}/events",
    response_class=StreamingResponse,
    responses={200: {"description": "Server-sent events", "content": {"text/event-stream": {}}}},
)
async def stream_events(
    dataset_id: uuid.UUID,
    request: Request,
    services: ServicesDep,
    user: UserDep,
    last_event_id: Annotated[int | None, Header(alias="Last-Event-ID", ge=0, le=BIGINT_MAX)] = None,
    after: Annotated[int | None, Query(ge=0, le=BIGINT_MAX)] = None,
) -> StreamingResponse:
    """Server-sent events for every run and item state change; resumable; closed once
    the caller's credential or read permission is gone."""
    await dataset_service.get_dataset(services.db, user, dataset_id)
    start = last_event_id if last_event_id is not None else (after or 0)
    return StreamingResponse(
        event_stream(request, services, user.id, dataset_id, start),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.delete("/{dataset_id}/data/{data_id}")
async def delete_data(
    dataset_id: uuid.UUID, data_id: uuid.UUID, services: ServicesDep, user: UserDep
) -> None:
    await data_service.delete_data(services.db, services.blobs, user, dataset_id, data_id)


_BYTES = {"*/*": {"schema": {"type": "string", "format": "binary"}}}


@router.get(
    "/{dataset_id}/data/{data_id}/raw",
    response_class=Response,
    responses={
        200: {"description": "The uploaded bytes, with their detected type", "content": _BYTES},
        206: {"description": "The requested range of the bytes", "content": _BYTES},
        304: {"description": "Not modified (If-None-Match)"},
    },
)
# HEAD answers the same headers; kept out of the schema (one operation id per route).
@router.head("/{dataset_id}/data/{data_id}/raw", include_in_schema=False)
async def download_raw(
    dataset_id: uuid.UUID,
    data_id: uuid.UUID,
    request: Request,
    services: ServicesDep,
    user: UserDep,
) -> Response:
    """Exactly the bytes that were uploaded, from whichever blob store holds them. A GET
    that sends bytes (the whole file or a range) is recorded in the audit trail first."""
    item = await data_service.get_data(services.db, user, dataset_id, data_id)
    response = await blob_response(request, item, services.blobs)
    if request.method == "GET" and response.status_code in (200, 206):
        byte_range = response.headers.get("content-range")
        await data_service.record_download(services.db, user, item, byte_range)
    return response


@router.get("/{dataset_id}/graph", response_model=GraphDTO)
async def get_graph(dataset_id: uuid.UUID, services: ServicesDep, user: UserDep) -> GraphDTO:
    await dataset_service.get_dataset(services.db, user, dataset_id)
    view = await graph_store.read_graph(services.db, dataset_id)
    return GraphDTO.model_validate({"nodes": view.nodes, "edges": view.edges})


@router.get("/{dataset_id}/graph/nodes/{node_id}/sources")
async def get_node_sources(
    dataset_id: uuid.UUID, node_id: uuid.UUID, services: ServicesDep, user: UserDep
) -> list[dict[str, Any]]:
    """The files that support a node, with links to their raw bytes (graphmill extension)."""
    found = await data_service.node_sources(services.db, user, dataset_id, node_id)
    return [
        {
            "data_id": s.data_id,
            "name": s.name,
            "mentions": s.mentions,
            "description": s.description,
            "raw_url": f"/api/v1/datasets/{dataset_id}/data/{s.data_id}/raw",
        }
        for s in found
    ]


@router.get("/{dataset_id}/schema")
async def get_schema(dataset_id: uuid.UUID, services: ServicesDep, user: UserDep) -> dict[str, Any]:
    """The dataset's extraction schema and prompt (cognee's shape)."""
    config = await dataset_service.get_config(services.db, user, dataset_id)
    return {"graph_schema": config.graph_schema, "custom_prompt": config.custom_prompt}


@router.put("/{dataset_id}/schema")
async def put_schema(
    dataset_id: uuid.UUID, payload: DatasetSchemaPayloadDTO, services: ServicesDep, user: UserDep
) -> dict[str, str]:
    """Set the schema and/or prompt used by the next extractions; null leaves one as is."""
    await dataset_service.set_config(
        services.db, user, dataset_id, payload.graph_schema, payload.custom_prompt
    )
    return {"status": "ok"}
