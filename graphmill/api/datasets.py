"""`/api/v1/datasets`: datasets, their data, status, raw downloads, graph views."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from graphmill.api.deps import ServicesDep, UserDep
from graphmill.api.download import blob_response
from graphmill.api.dto import (
    DataDTO,
    DatasetCreationPayload,
    DatasetDTO,
    DatasetGraphSummaryDTO,
    GraphDTO,
)
from graphmill.catalog import data as data_service
from graphmill.catalog import datasets as dataset_service
from graphmill.errors import InvalidInput
from graphmill.pipelines import ledger

router = APIRouter()


@router.get("", response_model=list[DatasetDTO])
@router.get("/", response_model=list[DatasetDTO], include_in_schema=False)
async def list_datasets(services: ServicesDep, user: UserDep) -> list[DatasetDTO]:
    return [DatasetDTO.of(d) for d in await dataset_service.list_datasets(services.db, user.id)]


@router.post("", response_model=DatasetDTO)
@router.post("/", response_model=DatasetDTO, include_in_schema=False)
async def create_dataset(
    payload: DatasetCreationPayload, services: ServicesDep, user: UserDep
) -> DatasetDTO:
    """Idempotent: the caller's dataset of that name, created if missing."""
    return DatasetDTO.of(await dataset_service.create_dataset(services.db, user.id, payload.name))


@router.delete("")
@router.delete("/", include_in_schema=False)
async def delete_all_datasets(services: ServicesDep, user: UserDep) -> None:
    await dataset_service.delete_all_datasets(services.db, services.blobs, user.id)


@router.get("/status")
async def get_status(
    services: ServicesDep,
    user: UserDep,
    dataset: Annotated[list[uuid.UUID] | None, Query()] = None,
    pipeline: Annotated[list[str] | None, Query()] = None,
) -> dict[str, str | dict[str, str]]:
    """Latest run status per dataset: flat for one pipeline, nested for several."""
    pipelines = ledger.check_pipelines(pipeline or [ledger.COGNIFY_PIPELINE])
    if dataset is not None and len(dataset) > services.settings.max_status_datasets:
        raise InvalidInput(
            f"At most {services.settings.max_status_datasets} datasets per status query."
        )
    statuses = await ledger.dataset_statuses(services.db, user.id, dataset, pipelines)
    if len(pipelines) == 1:
        name = pipelines[0]
        return {str(d): s[name] for d, s in statuses.items() if name in s}
    return {str(d): s for d, s in statuses.items()}


@router.get("/graph-summary", response_model=list[DatasetGraphSummaryDTO])
async def graph_summary(
    services: ServicesDep,
    user: UserDep,
    dataset_ids: Annotated[list[uuid.UUID] | None, Query()] = None,
) -> list[DatasetGraphSummaryDTO]:
    """Node and edge counts per readable dataset (empty until a graph exists)."""
    visible = await dataset_service.list_datasets(services.db, user.id)
    wanted = set(dataset_ids) if dataset_ids is not None else None
    return [
        DatasetGraphSummaryDTO(
            dataset_id=d.id, pipeline_run_id=None, num_nodes=0, num_edges=0, computed_at=None
        )
        for d in visible
        if wanted is None or d.id in wanted
    ]


@router.delete("/{dataset_id}")
async def delete_dataset(dataset_id: uuid.UUID, services: ServicesDep, user: UserDep) -> None:
    await dataset_service.delete_dataset(services.db, services.blobs, user.id, dataset_id)


@router.get("/{dataset_id}/data", response_model=list[DataDTO])
async def list_data(dataset_id: uuid.UUID, services: ServicesDep, user: UserDep) -> list[DataDTO]:
    items = await data_service.list_data(services.db, user.id, dataset_id)
    return [DataDTO.of(i) for i in items]


@router.delete("/{dataset_id}/data/{data_id}")
async def delete_data(
    dataset_id: uuid.UUID, data_id: uuid.UUID, services: ServicesDep, user: UserDep
) -> None:
    await data_service.delete_data(services.db, services.blobs, user.id, dataset_id, data_id)


@router.api_route("/{dataset_id}/data/{data_id}/raw", methods=["GET", "HEAD"])
async def download_raw(
    dataset_id: uuid.UUID,
    data_id: uuid.UUID,
    request: Request,
    services: ServicesDep,
    user: UserDep,
) -> Response:
    """Exactly the bytes that were uploaded, from whichever blob store holds them."""
    item = await data_service.get_data(services.db, user.id, dataset_id, data_id)
    return await blob_response(request, item, services.blobs)


@router.get("/{dataset_id}/graph", response_model=GraphDTO)
async def get_graph(dataset_id: uuid.UUID, services: ServicesDep, user: UserDep) -> GraphDTO:
    await dataset_service.get_dataset(services.db, user.id, dataset_id)
    return GraphDTO(nodes=[], edges=[])
