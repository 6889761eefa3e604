"""`POST /api/v1/add`: multipart uploads into a dataset, staged while the body arrives."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from graphmill.api.deps import ServicesDep, UserDep
from graphmill.api.dto import AddFormDTO, DataIngestionInfo, PipelineRunInfo, RunStatus
from graphmill.api.multipart import FileField, FormItems, read_form
from graphmill.errors import InvalidInput
from graphmill.ingest.add import AddResult, StagedUploads, Upload, add_files, parse_node_set

router = APIRouter()

FILES = "data"
F = TypeVar("F", bound=BaseModel)


def _request_body() -> dict[str, Any]:
    """The multipart body in the OpenAPI schema, as FastAPI described it from File/Form."""
    schema = AddFormDTO.model_json_schema(by_alias=True)
    files = {
        "anyOf": [
            {
                "type": "array",
                "items": {"type": "string", "contentMediaType": "application/octet-stream"},
            },
            {"type": "null"},
        ],
        "title": "Data",
    }
    schema["properties"] = {FILES: files, **schema["properties"]}
    schema["title"] = "Body_add_api_v1_add_post"
    del schema["description"]
    return {"requestBody": {"content": {"multipart/form-data": {"schema": schema}}}}


def parse_form(items: FormItems, model: type[F], lists: tuple[str, ...] = ("node_set",)) -> F:
    """The fields by FastAPI's form rules (the last value counts, an empty one is none;
    fields in `lists` keep every value), with its validation errors."""
    values: dict[str, list[str | FileField]] = {}
    for name, value in items:
        values.setdefault(name, []).append(value)
    errors: list[Any] = [
        {
            "type": "value_error",
            "loc": ("body", FILES, i),
            "msg": f"Value error, Expected UploadFile, received: {type(value)}",
            "input": value,
        }
        for i, value in enumerate(values.pop(FILES, []))
        if not isinstance(value, FileField)
    ]
    raw: dict[str, Any] = {name: v[-1] for name, v in values.items() if v[-1] != ""}
    for name in lists:
        if name in values:
            raw[name] = values[name]
    try:
        form = model.model_validate(raw)
    except ValidationError as exc:
        errors += [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
    if errors:
        raise RequestValidationError(errors, body=None)
    return form


async def read_staged(
    request: Request, uploads: StagedUploads, model: type[F], lists: tuple[str, ...] = ("node_set",)
) -> F:
    """Read a multipart body: its `data` files into staging while they arrive, its other
    fields into the model."""

    async def stage(field: str, file_name: str, chunks: AsyncIterator[bytes]) -> None:
        if field == FILES:
            await uploads.stage(Upload(file_name, chunks))

    return parse_form(await read_form(request, stage), model, lists)


def dataset_id_of(raw: str | None) -> uuid.UUID | None:
    if raw is None or raw.strip() == "":
        return None
    try:
        return uuid.UUID(raw.strip())
    except ValueError as exc:
        raise InvalidInput(f"datasetId is not a valid UUID: {raw!r}") from exc


@router.post("", response_model=PipelineRunInfo, openapi_extra=_request_body())
async def add(request: Request, services: ServicesDep, user: UserDep) -> PipelineRunInfo:
    """Store the files once by content; identical bytes already in the dataset are reused."""
    # The caller is authenticated (a dependency) before the body is read. Each file is written
    # once, to staging, while it arrives; the dataset fields may come after the files.
    with StagedUploads(services.blobs, services.settings.max_upload_bytes) as uploads:
        form = await read_staged(request, uploads, AddFormDTO)
        result = await add_files(
            services.db,
            services.blobs,
            user,
            uploads,
            dataset_id=dataset_id_of(form.dataset_id),
            dataset_name=form.dataset_name,
            node_set=parse_node_set(form.node_set),
            labels=form.labels,
            external_metadata=form.external_metadata,
        )

    return add_info(result, background=form.run_in_background)


def add_info(result: AddResult, *, background: bool) -> PipelineRunInfo:
    """The answer to an add: cognee's PipelineRunInfo, one ingestion entry per file."""

    def info(status: RunStatus, **extra: Any) -> PipelineRunInfo:
        return PipelineRunInfo(
            status=status,
            pipeline_run_id=result.run_id,
            dataset_id=result.dataset.id,
            dataset_name=result.dataset.name,
            **extra,
        )

    if background:
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
