"""`POST /api/v1/add`: multipart uploads into a dataset."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile

from graphmill.api.deps import ServicesDep, UserDep
from graphmill.api.dto import DataIngestionInfo, PipelineRunInfo, RunStatus
from graphmill.blobs.base import CHUNK
from graphmill.errors import InvalidInput
from graphmill.ingest.add import Upload, add_files, parse_node_set

router = APIRouter()


def _reader(upload: UploadFile) -> Callable[[], AsyncIterator[bytes]]:
    async def read() -> AsyncIterator[bytes]:
        while chunk := await upload.read(CHUNK):
            yield chunk

    return read


def _dataset_id(raw: str | None) -> uuid.UUID | None:
    if raw is None or raw.strip() == "":
        return None
    try:
        return uuid.UUID(raw.strip())
    except ValueError as exc:
        raise InvalidInput(f"datasetId is not a valid UUID: {raw!r}") from exc


@router.post("", response_model=PipelineRunInfo)
async def add(
    services: ServicesDep,
    user: UserDep,
    data: Annotated[list[UploadFile] | None, File()] = None,
    datasetName: Annotated[str | None, Form(max_length=255)] = None,
    datasetId: Annotated[str | None, Form(max_length=64)] = None,
    node_set: Annotated[list[str] | None, Form()] = None,
    labels: Annotated[str | None, Form()] = None,
    external_metadata: Annotated[str | None, Form()] = None,
    run_in_background: Annotated[bool, Form()] = False,
) -> PipelineRunInfo:
    """Store the files once by content; identical bytes already in the dataset are reused."""
    result = await add_files(
        services.db,
        services.blobs,
        user.id,
        [Upload(f.filename, _reader(f)) for f in data or []],
        dataset_id=_dataset_id(datasetId),
        dataset_name=datasetName,
        node_set=parse_node_set(node_set),
        labels=labels,
        external_metadata=external_metadata,
        max_bytes=services.settings.max_upload_bytes,
    )

    def info(status: RunStatus, **extra: Any) -> PipelineRunInfo:
        return PipelineRunInfo(
            status=status,
            pipeline_run_id=result.run_id,
            dataset_id=result.dataset.id,
            dataset_name=result.dataset.name,
            **extra,
        )

    if run_in_background:
        # The bytes are stored before answering either way: an upload cannot outlive its request.
        return info("PipelineRunStarted", payload=[])
    return info(
        "PipelineRunCompleted",
        data_ingestion_info=[
            DataIngestionInfo(
                run_info=info(
                    "PipelineRunAlreadyCompleted"
                    if item.already_present
                    else "PipelineRunCompleted"
                ),
                data_id=item.data_id,
            )
            for item in result.items
        ],
    )
