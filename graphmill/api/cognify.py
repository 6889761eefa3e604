"""`POST /api/v1/cognify`: one cognify run per dataset, blocking or in the background."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from graphmill.api.deps import ServicesDep, UserDep
from graphmill.api.dto import CognifyPayloadDTO, DataIngestionInfo, PipelineRunInfo, RunStatus
from graphmill.auth.users import UserInfo
from graphmill.db.models import Permission
from graphmill.memory.remember import apply_options, cognify_options
from graphmill.pipelines import service
from graphmill.pipelines.ledger import RunState, counts_of
from graphmill.services import Services

router = APIRouter()

ITEM_STATUS: dict[tuple[str, bool], RunStatus] = {
    ("completed", True): "PipelineRunCompleted",
    ("completed", False): "PipelineRunAlreadyCompleted",
}


def outcome_info(outcome: service.CognifyOutcome) -> PipelineRunInfo:
    run, dataset = outcome.run, outcome.dataset

    def info(status: RunStatus, **extra: Any) -> PipelineRunInfo:
        return PipelineRunInfo(
            status=status,
            pipeline_run_id=run.id,
            dataset_id=dataset.id,
            dataset_name=dataset.name,
            **extra,
        )

    if outcome.items is None:
        return info("PipelineRunStarted", payload=[])
    ok = run.state == RunState.COMPLETED
    return info(
        "PipelineRunCompleted" if ok else "PipelineRunErrored",
        payload=None
        if ok
        else {
            "state": run.state,
            "error_class": run.error_class,
            "error_message": run.error_message,
            "counts": counts_of(run),
        },
        data_ingestion_info=[
            DataIngestionInfo(
                run_info=info(ITEM_STATUS.get((state, by_this_run), "PipelineRunErrored")),
                data_id=data_id,
            )
            for data_id, state, by_this_run in outcome.items
        ],
    )


@router.post("", response_model=dict[str, PipelineRunInfo])
async def cognify(
    payload: CognifyPayloadDTO, services: ServicesDep, user: UserDep
) -> dict[str, PipelineRunInfo]:
    """Queue or join the cognify run of each dataset (write permission needed)."""
    return await cognify_datasets(services, user, payload)


async def cognify_datasets(
    services: Services, user: UserInfo, payload: CognifyPayloadDTO
) -> dict[str, PipelineRunInfo]:
    """Queue or join one run per dataset; its answer by dataset id (the CLI's too)."""
    services.require_embedder()
    options = cognify_options(
        payload.custom_prompt,
        payload.graph_model,
        payload.chunk_size,
        payload.chunks_per_batch,
        payload.ontology_key,
    )
    if options.any():
        datasets = await service.resolve_datasets(
            services.db, user, payload.dataset_ids, payload.datasets, Permission.WRITE
        )
        for dataset in datasets:
            await apply_options(services.db, user, dataset.id, options)
    outcomes = await service.cognify(
        services.db,
        services.runtime,
        user,
        payload.dataset_ids,
        payload.datasets,
        background=payload.run_in_background,
        data_per_batch=payload.data_per_batch,
    )
    return {str(o.dataset.id): outcome_info(o) for o in outcomes}
