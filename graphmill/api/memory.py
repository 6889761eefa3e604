"""cognee's memory API: `/api/v1/remember`, `/remember/entry`, `/recall`, `/forget`."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from graphmill.api.add import dataset_id_of, read_staged
from graphmill.api.deps import ServicesDep, UserDep
from graphmill.api.dto import (
    AddFormDTO,
    FeedbackEntryDTO,
    ForgetPayloadDTO,
    ImprovePayloadDTO,
    QAEntryDTO,
    RecallPayloadDTO,
    RememberEntryDTO,
    RememberFormDTO,
    SearchHistoryItemDTO,
    SkillRunEntryDTO,
    TraceEntryDTO,
)
from graphmill.api.search import SearchDep, search_history, search_request
from graphmill.auth.users import UserInfo
from graphmill.catalog.data import delete_data
from graphmill.catalog.datasets import dataset_id_for, get_dataset, list_datasets
from graphmill.errors import InvalidInput, MissingDataset, UnsupportedOption
from graphmill.ingest.add import StagedUploads, parse_node_set
from graphmill.memory import forget as forget_service
from graphmill.memory import improve as improve_service
from graphmill.memory import recall as recall_service
from graphmill.memory import sessions
from graphmill.memory.remember import RememberResult, cognify_options, remember, update_item
from graphmill.search.service import SearchService
from graphmill.services import Services

router = APIRouter()


def _refuse_unsupported(form: RememberFormDTO) -> None:
    if form.content_type:
        raise UnsupportedOption(
            f"graphmill does not support content_type {form.content_type!r} "
            "(skills, code and cogx-archive imports); leave it empty for normal ingestion"
        )
    for name in ("import_mode", "skills_text", "skill_name", "repositories", "index_vectors"):
        if getattr(form, name):
            raise UnsupportedOption(
                f"{name} is only used with a content_type, which graphmill does not support"
            )


@router.post("/remember")
async def remember_data(request: Request, services: ServicesDep, user: UserDep) -> JSONResponse:
    """Add, then cognify, in one call; blocking unless `run_in_background`."""
    services.require_embedder()
    with StagedUploads(services.blobs, services.settings.max_upload_bytes) as uploads:
        form = await read_staged(
            request, uploads, RememberFormDTO, ("node_set", "ontology_key", "repositories")
        )
        result = await remember_uploads(services, user, uploads, form)
    # A blocking run that errored must not look like a success (cognee answers 409).
    return JSONResponse(result.to_dict(), status_code=409 if result.status == "errored" else 200)


async def remember_uploads(
    services: Services, user: UserInfo, uploads: StagedUploads, form: RememberFormDTO
) -> RememberResult:
    """`POST /remember` on staged uploads (the Python API's in-process remember too)."""
    _refuse_unsupported(form)
    options = cognify_options(
        form.custom_prompt,
        form.graph_model,
        form.chunk_size,
        form.chunks_per_batch,
        form.ontology_key,
    )
    return await remember(
        services.db,
        services.blobs,
        services.runtime,
        user,
        uploads,
        dataset_id=dataset_id_of(form.dataset_id),
        dataset_name=form.dataset_name,
        node_set=parse_node_set(form.node_set),
        labels=form.labels,
        external_metadata=form.external_metadata,
        options=options,
        session_id=form.session_id,
        background=form.run_in_background,
        data_per_batch=form.data_per_batch,
    )


@router.post("/remember/entry")
async def remember_entry(
    payload: RememberEntryDTO, services: ServicesDep, user: UserDep
) -> dict[str, Any]:
    """Keep a QA turn or a trace step in a session, or attach feedback to a QA turn."""
    return await store_entry(services, user, payload)


async def store_entry(
    services: Services, user: UserInfo, payload: RememberEntryDTO
) -> dict[str, Any]:
    """`POST /remember/entry`'s answer (the Python API's in-process remember_entry too)."""
    entry = payload.entry
    if isinstance(entry, SkillRunEntryDTO) or payload.skill_improvement:
        raise UnsupportedOption("graphmill does not support skill_run entries or skill_improvement")
    if not payload.session_id:
        raise InvalidInput(f"session_id is required for {entry.type} entries")
    if payload.dataset_id is not None:
        # An entry names only a dataset the caller reads (the uniform 404 otherwise).
        await get_dataset(services.db, user, payload.dataset_id)
    dataset_id = payload.dataset_id or await _own_dataset(services, user, payload.dataset_name)
    result = RememberResult(
        "session_stored",
        payload.dataset_name,
        dataset_id,
        None,
        0,
        0.0,
        session_ids=[payload.session_id],
        entry_type=entry.type,
    )
    if isinstance(entry, FeedbackEntryDTO):
        found = await sessions.add_feedback(
            services.db,
            user.id,
            payload.session_id,
            entry.qa_id,
            entry.feedback_text,
            entry.feedback_score,
        )
    elif isinstance(entry, QAEntryDTO):
        found = await sessions.add_entry(
            services.db,
            user.id,
            payload.session_id,
            dataset_id,
            sessions.QA,
            question=entry.question,
            answer=entry.answer,
            context=entry.context,
            feedback_text=entry.feedback_text,
            feedback_score=entry.feedback_score,
            payload={"used_graph_element_ids": entry.used_graph_element_ids}
            if entry.used_graph_element_ids
            else None,
        )
    else:
        assert isinstance(entry, TraceEntryDTO)
        found = await sessions.add_entry(
            services.db,
            user.id,
            payload.session_id,
            dataset_id,
            sessions.TRACE,
            payload=entry.model_dump(mode="json", exclude={"type", "generate_feedback_with_llm"}),
        )
    result.entry_id = str(found.id)
    return result.to_dict()


async def _own_dataset(services: Services, user: UserInfo, name: str) -> uuid.UUID | None:
    """The caller's dataset of that name when it exists (a session entry creates none)."""
    wanted = dataset_id_for(name, user.id, user.tenant_id)
    found = [d.id for d in await list_datasets(services.db, user) if d.id == wanted]
    return found[0] if found else None


@router.post("/recall")
async def recall(
    payload: RecallPayloadDTO, search: SearchDep, services: ServicesDep, user: UserDep
) -> list[dict[str, Any]]:
    """Search with cognee's memory shape, and the caller's session entries."""
    return await recall_items(search, services, user, payload)


async def recall_items(
    search: SearchService, services: Services, user: UserInfo, payload: RecallPayloadDTO
) -> list[dict[str, Any]]:
    """`POST /recall`'s items (the Python API's in-process recall too), kept in the history."""
    for name in ("response_schema", "code_query", "tool_connections"):
        if getattr(payload, name):
            raise UnsupportedOption(f"graphmill does not support the recall option {name}")
    request = recall_service.RecallRequest(
        recall_service.with_type(search_request(payload, None), payload.search_type),
        session_id=payload.session_id,
        scope=payload.scope,
        verbose=payload.verbose,
    )
    outcome = await recall_service.recall(search, services.db, user, request)
    if outcome.search is not None and services.settings.search_history:
        search.record(user.id, payload.query, outcome.search)
    return outcome.items


# cognee: `GET /api/v1/recall` is the search history.
router.get("/recall", response_model=list[SearchHistoryItemDTO])(search_history)


@router.post("/forget")
async def forget(payload: ForgetPayloadDTO, services: ServicesDep, user: UserDep) -> dict[str, Any]:
    """Delete an item, a dataset or everything the caller owns; `memory_only` keeps the
    uploads and drops what cognify derived from them."""
    return await forget_payload(services, user, payload)


async def forget_payload(
    services: Services, user: UserInfo, payload: ForgetPayloadDTO
) -> dict[str, Any]:
    """`POST /forget`'s answer (the Python API's in-process forget too)."""
    return await forget_service.forget(
        services.db,
        services.blobs,
        user,
        forget_service.ForgetRequest(
            everything=payload.everything,
            dataset=payload.dataset,
            dataset_id=payload.dataset_id,
            data_id=payload.data_id,
            memory_only=payload.memory_only,
        ),
    )


@router.patch("/update")
async def update(
    request: Request,
    services: ServicesDep,
    user: UserDep,
    data_id: uuid.UUID,
    dataset_id: uuid.UUID,
) -> JSONResponse:
    """Replace one item's content (multipart `data`, optional `node_set`) and re-derive it."""
    services.require_embedder()
    with StagedUploads(services.blobs, services.settings.max_upload_bytes) as uploads:
        form = await read_staged(request, uploads, AddFormDTO)
        result = await update_item(
            services.db,
            services.blobs,
            services.runtime,
            user,
            uploads,
            dataset_id=dataset_id,
            data_id=data_id,
            node_set=parse_node_set(form.node_set),
        )
    return JSONResponse(result.to_dict(), status_code=409 if result.status == "errored" else 200)


@router.delete("/delete")
async def legacy_delete(
    services: ServicesDep,
    user: UserDep,
    data_id: uuid.UUID,
    dataset_id: uuid.UUID,
    mode: Literal["soft", "hard"] = "soft",
) -> dict[str, str]:
    """cognee's deprecated delete. Both modes delete the item with exactly what it alone
    supported; an unknown or unreadable item is 404, not cognee's 200."""
    await delete_data(services.db, services.blobs, user, dataset_id, data_id)
    return {"status": "success"}


@router.post("/improve")
async def improve(payload: ImprovePayloadDTO, services: ServicesDep, user: UserDep) -> JSONResponse:
    """Merge duplicate entities, then fold useful session answers into the graph."""
    result = await improve_payload(services, user, payload)
    if result.error:
        # cognee: the fatal stage's abort is 409 with the partial result; another stage's
        # error is reported in a 200 body (`status: errored`).
        return JSONResponse(
            {"error": result.error, "improve_result": result.to_dict()}, status_code=409
        )
    return JSONResponse(result.to_dict())


async def improve_payload(
    services: Services, user: UserInfo, payload: ImprovePayloadDTO
) -> improve_service.ImproveResult:
    """`POST /improve`'s result (the Python API's in-process improve too)."""
    for name in ("extraction_tasks", "enrichment_tasks", "node_name", "data"):
        if getattr(payload, name):
            raise UnsupportedOption(f"graphmill does not support the improve option {name}")
    for name, what in (
        ("build_global_context_index", "a global context index"),
        ("build_truth_subspace", "a truth subspace"),
        ("review_conflicts", "conflict reviews"),
    ):
        if getattr(payload, name):
            raise UnsupportedOption(f"graphmill does not build {what} ({name})")
    if payload.feedback_alpha is not None:
        raise UnsupportedOption("graphmill has no feedback-weight stage for feedback_alpha to tune")
    services.require_embedder()
    if payload.dataset_id is None and not payload.dataset_name:
        raise MissingDataset()
    dataset_id = payload.dataset_id or await forget_service.named_dataset(
        services.db, user, payload.dataset_name or ""
    )
    return await improve_service.improve(
        services.db,
        services.blobs,
        services.runtime,
        user,
        dataset_id,
        payload.session_ids,
        background=payload.run_in_background,
        max_upload_bytes=services.settings.max_upload_bytes,
    )
