"""`/api/v1/search`: search the datasets the caller can read; the caller's search history."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from graphmill.api.deps import ServicesDep, UserDep
from graphmill.api.dto import (
    BIGINT_MAX,
    SearchEnvelopeDTO,
    SearchHistoryItemDTO,
    SearchPayloadDTO,
    SearchVerboseEnvelopeDTO,
)
from graphmill.auth.users import UserInfo
from graphmill.config import Settings
from graphmill.search.service import DatasetAnswer, SearchOutcome, SearchRequest, SearchService
from graphmill.search.types import DEFAULT_TYPE, SearchType

router = APIRouter()


async def get_search(request: Request) -> SearchService:
    search: SearchService = request.app.state.search
    return search


SearchDep = Annotated[SearchService, Depends(get_search)]


def _envelope(answer: DatasetAnswer, verbose: bool) -> SearchEnvelopeDTO | SearchVerboseEnvelopeDTO:
    common: dict[str, Any] = {
        "dataset_id": answer.dataset.id,
        "dataset_name": answer.dataset.name,
        "dataset_tenant_id": answer.dataset.tenant_id,
    }
    if answer.references:
        common["references"] = answer.references
    if answer.notes:
        common["notes"] = answer.notes
    if verbose:
        return SearchVerboseEnvelopeDTO(
            **common,
            text_result=answer.completion,
            context_result=answer.context,
            objects_result=answer.objects,
            search_type=answer.search_type.value,
        )
    return SearchEnvelopeDTO(**common, search_result=answer.result)


@router.post(
    "",
    response_model=list[SearchEnvelopeDTO | SearchVerboseEnvelopeDTO],
    response_model_exclude_unset=True,
)
async def search(
    payload: SearchPayloadDTO,
    response: Response,
    search: SearchDep,
    services: ServicesDep,
    user: UserDep,
) -> list[SearchEnvelopeDTO | SearchVerboseEnvelopeDTO]:
    """One envelope per searched dataset, in the order of the scope."""
    outcome, envelopes = await answer(search, services.settings, user, payload)
    embed_ms = outcome.embed_seconds * 1e3
    search_ms = outcome.total_seconds * 1e3 - embed_ms
    response.headers["Server-Timing"] = f"embed;dur={embed_ms:.2f}, search;dur={search_ms:.2f}"
    return envelopes


def search_request(payload: Any, search_type: SearchType | None) -> SearchRequest:
    """The search a search or recall payload asks for (they share these fields)."""
    return SearchRequest(
        query=payload.query,
        search_type=search_type or DEFAULT_TYPE,
        datasets=payload.datasets,
        dataset_ids=payload.dataset_ids,
        top_k=payload.top_k,
        system_prompt=payload.system_prompt,
        node_name=payload.node_name,
        only_context=payload.only_context,
        include_references=payload.include_references,
    )


async def answer(
    search: SearchService, settings: Settings, user: UserInfo, payload: SearchPayloadDTO
) -> tuple[SearchOutcome, list[SearchEnvelopeDTO | SearchVerboseEnvelopeDTO]]:
    """Search as the user (the CLI's too) and record it in the user's history."""
    outcome = await search.search(user, search_request(payload, payload.search_type))
    if settings.search_history:
        search.record(user.id, payload.query, outcome)
    return outcome, [_envelope(a, payload.verbose) for a in outcome.answers]


@router.get("", response_model=list[SearchHistoryItemDTO])
async def search_history(
    search: SearchDep,
    user: UserDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=BIGINT_MAX)] = 0,
) -> list[SearchHistoryItemDTO]:
    """The caller's queries ("user") and answers ("system"), newest first."""
    return [SearchHistoryItemDTO.of(e) for e in await search.history(user.id, limit, offset)]
