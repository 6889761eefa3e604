"""Wire schemas, with cognee's field names and casing. Handlers return these, never rows."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from graphmill.search.types import DEFAULT_SYSTEM_PROMPT, DEFAULT_TYPE, SearchType

# The domain types are only converted from (`X.of(info)`): the schemas themselves need no
# database, so a client over HTTP (the CLI's --url, graphmill.connect) never loads it.
if TYPE_CHECKING:
    from graphmill.auth.audit import AuditEventInfo
    from graphmill.auth.users import ApiKeyInfo, UserInfo
    from graphmill.catalog.data import DataInfo
    from graphmill.catalog.datasets import DatasetInfo
    from graphmill.pipelines.ledger import RunInfo
    from graphmill.search.history import HistoryEntry

# Largest integer a query may carry: SQLite and PostgreSQL store 64-bit integers, and a
# larger offset or event id is refused with 400 instead of overflowing in the driver.
BIGINT_MAX = 2**63 - 1


class OutDTO(BaseModel):
    """camelCase on the wire, as cognee's OutDTO."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


def refuse_nul(data: Any) -> Any:
    """`data` as is, unless a string in it (key or value, at any depth) holds a NUL: no
    stored text may (PostgreSQL refuses it), so such input is invalid, not a 500."""
    stack = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                raise ValueError("text may not contain NUL (U+0000) characters")
        elif isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list | tuple):
            stack.extend(value)
    return data


class Incoming(BaseModel):
    """A request body or form: strings holding NUL are refused (400)."""

    @model_validator(mode="before")
    @classmethod
    def _refuse_nul(cls, data: Any) -> Any:
        return refuse_nul(data)


class InDTO(Incoming):
    """Accepts camelCase and snake_case, as cognee's InDTO."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class ErrorDTO(BaseModel):
    """Every error body: `detail` (a message, or the list of validation errors) and/or
    `error` (cognee's router-level shape); 500s add the `request_id` of the log lines."""

    model_config = ConfigDict(extra="allow")

    detail: Any = None
    error: Any = None
    request_id: str | None = None


class UserRead(BaseModel):
    id: uuid.UUID
    email: str
    is_active: bool = True
    is_superuser: bool = False
    is_verified: bool = False
    tenant_id: uuid.UUID | None = None
    parent_user_id: uuid.UUID | None = None

    @classmethod
    def of(cls, user: UserInfo) -> UserRead:
        return cls(
            id=user.id,
            email=user.email,
            is_active=user.is_active,
            is_superuser=user.is_superuser,
            is_verified=user.is_verified,
            tenant_id=user.tenant_id,
        )


class UserCreate(Incoming):
    email: EmailStr
    password: str = Field(min_length=1, max_length=1024)


class UserEmailRequest(InDTO):
    email: EmailStr


class ApiKeyCreationPayload(InDTO):
    name: str | None = Field(None, max_length=255)


class ApiKeyRead(BaseModel):
    id: uuid.UUID
    name: str | None
    label: str
    key: str

    @classmethod
    def of(cls, info: ApiKeyInfo) -> ApiKeyRead:
        """The raw key only when just created; stored keys are hashed, so never again."""
        return cls(id=info.id, name=info.name, label=info.label, key=info.key or "************")


class DatasetDTO(OutDTO):
    id: uuid.UUID
    name: str
    created_at: datetime
    updated_at: datetime
    owner_id: uuid.UUID
    tenant_id: uuid.UUID | None = None  # the tenant it belongs to (issue 12)

    @classmethod
    def of(cls, info: DatasetInfo) -> DatasetDTO:
        return cls(
            id=info.id,
            name=info.name,
            created_at=info.created_at,
            updated_at=info.updated_at,
            owner_id=info.owner_id,
            tenant_id=info.tenant_id,
        )


class DatasetCreationPayload(InDTO):
    name: str = Field(max_length=255)


class ItemStateDTO(OutDTO):
    state: str
    stage: str | None
    attempts: int
    error_class: str | None
    error_message: str | None
    run_id: uuid.UUID | None
    updated_at: datetime


class DatasetSchemaPayloadDTO(InDTO):
    graph_schema: dict[str, Any] | None = None
    custom_prompt: str | None = Field(None, max_length=20_000)


class DataDTO(OutDTO):
    id: uuid.UUID
    name: str
    created_at: datetime
    updated_at: datetime
    extension: str
    mime_type: str
    raw_data_location: str
    dataset_id: uuid.UUID
    label: str | None
    external_metadata: dict[str, Any]
    # graphmill extensions (additive)
    original_name: str
    data_size: int
    content_hash: str
    pipeline_status: dict[str, ItemStateDTO] = {}

    @classmethod
    def of(cls, info: DataInfo) -> DataDTO:
        return cls(
            id=info.id,
            name=info.name,
            created_at=info.created_at,
            updated_at=info.updated_at,
            extension=info.extension,
            mime_type=info.mime_type,
            raw_data_location=info.location,
            dataset_id=info.dataset_id,
            label=info.label,
            external_metadata=info.external_metadata,
            original_name=info.original_name,
            data_size=info.size,
            content_hash=info.content_hash,
            pipeline_status={
                name: ItemStateDTO(
                    state=st.state,
                    stage=st.stage,
                    attempts=st.attempts,
                    error_class=st.error_class,
                    error_message=st.error_message,
                    run_id=st.run_id,
                    updated_at=st.updated_at,
                )
                for name, st in info.pipeline_status.items()
            },
        )


RunStatus = Literal[
    "PipelineRunStarted",
    "PipelineRunCompleted",
    "PipelineRunAlreadyCompleted",
    "PipelineRunErrored",
]


class AddFormDTO(Incoming):
    """The fields of `POST /api/v1/add` besides its `data` files, with cognee's names."""

    model_config = ConfigDict(populate_by_name=True)

    dataset_name: str | None = Field(None, alias="datasetName", max_length=255)
    dataset_id: str | None = Field(None, alias="datasetId", max_length=64)
    node_set: list[str] | None = None
    labels: str | None = None
    external_metadata: str | None = None
    run_in_background: bool = False


class DataIngestionInfo(BaseModel):
    run_info: PipelineRunInfo
    data_id: uuid.UUID


class PipelineRunInfo(BaseModel):
    """snake_case, as cognee's PipelineRunInfo (a plain BaseModel)."""

    status: RunStatus
    pipeline_run_id: uuid.UUID
    dataset_id: uuid.UUID
    dataset_name: str
    payload: Any = None
    data_ingestion_info: list[DataIngestionInfo] | None = None


class GraphNodeDTO(OutDTO):
    id: uuid.UUID
    label: str
    type: str
    properties: dict[str, Any]


class GraphEdgeDTO(OutDTO):
    source: uuid.UUID
    target: uuid.UUID
    label: str
    description: str = ""


class GraphDTO(OutDTO):
    nodes: list[GraphNodeDTO]
    edges: list[GraphEdgeDTO]


class DatasetGraphSummaryDTO(OutDTO):
    dataset_id: uuid.UUID
    pipeline_run_id: uuid.UUID | None
    num_nodes: int
    num_edges: int
    computed_at: datetime | None


class CognifyPayloadDTO(InDTO):
    datasets: list[str] | None = Field(None, max_length=1000)
    dataset_ids: list[uuid.UUID] | None = Field(None, max_length=1000)
    run_in_background: bool = False
    graph_model: dict[str, Any] | None = None
    custom_prompt: str | None = None
    chunk_size: int | None = Field(None, gt=0)
    ontology_key: list[str] | None = None
    chunks_per_batch: int | None = Field(None, gt=0)
    # cognee's default is 20; graphmill's (None) is GRAPHMILL_ITEM_CONCURRENCY.
    data_per_batch: int | None = Field(None, gt=0, le=10_000)


class RunDTO(BaseModel):
    """A pipeline run (graphmill extension, snake_case like PipelineRunInfo)."""

    run_id: uuid.UUID
    dataset_id: uuid.UUID
    pipeline_name: str
    state: str
    status: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
    counts: dict[str, int]
    tokens: dict[str, int]
    llm_calls: int
    error: dict[str, str | None] | None
    lease: dict[str, Any] | None

    @classmethod
    def of(cls, run: RunInfo) -> RunDTO:
        from graphmill.pipelines.ledger import counts_of
        from graphmill.pipelines.status import compat_status

        return cls(
            run_id=run.id,
            dataset_id=run.dataset_id,
            pipeline_name=run.pipeline_name,
            state=run.state,
            status=compat_status(run.state),
            created_at=run.created_at,
            started_at=run.started_at,
            finished_at=run.finished_at,
            updated_at=run.updated_at,
            counts=counts_of(run),
            tokens={"in": run.tokens_in, "out": run.tokens_out},
            llm_calls=run.llm_calls,
            error={"class": run.error_class, "message": run.error_message}
            if run.error_class
            else None,
            lease={"owner": run.lease_owner, "expires_at": run.lease_expires_at}
            if run.lease_owner
            else None,
        )


class SearchPayloadDTO(InDTO):
    """cognee's SearchPayloadDTO; fields of types graphmill does not run (agentic, code,
    sessions) are accepted and ignored."""

    search_type: SearchType | None = DEFAULT_TYPE
    query: str = Field("What is in the document?", max_length=10_000)
    datasets: list[str] | None = Field(None, max_length=1000)
    dataset_ids: list[uuid.UUID] | None = Field(None, max_length=1000)
    system_prompt: str | None = Field(DEFAULT_SYSTEM_PROMPT, max_length=20_000)
    node_name: list[str] | None = Field(None, max_length=1000)
    top_k: int = Field(15, ge=1, le=1000)
    only_context: bool = False
    verbose: bool = False
    include_references: bool = False

    @field_validator("query")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("query must not be empty")
        return value


class SearchEnvelopeDTO(BaseModel):
    """One searched dataset's answer (snake_case, as cognee's search results). `references`
    only with includeReferences; `notes` (graphmill extension) only when there are any."""

    dataset_id: uuid.UUID
    dataset_name: str
    dataset_tenant_id: uuid.UUID | None = None
    search_result: Any = None
    references: list[dict[str, Any]] | None = None
    notes: list[str] | None = None


class SearchVerboseEnvelopeDTO(BaseModel):
    """With `verbose`: the answer, the context it came from and the retrieved objects."""

    dataset_id: uuid.UUID
    dataset_name: str
    dataset_tenant_id: uuid.UUID | None = None
    text_result: Any = None
    context_result: Any = None
    objects_result: Any = None
    search_type: str
    references: list[dict[str, Any]] | None = None
    notes: list[str] | None = None


class SearchHistoryItemDTO(OutDTO):
    id: uuid.UUID
    text: str
    user: str
    created_at: datetime
    dataset_id: uuid.UUID | None = None
    search_type: str

    @classmethod
    def of(cls, entry: HistoryEntry) -> SearchHistoryItemDTO:
        return cls(
            id=entry.id,
            text=entry.text,
            user=entry.user,
            created_at=entry.created_at,
            dataset_id=entry.dataset_id,
            search_type=entry.search_type,
        )


class RememberFormDTO(AddFormDTO):
    """The fields of `POST /api/v1/remember` besides its `data` files (cognee 1.6.5): add's,
    and these."""

    session_id: str | None = Field(None, max_length=255)
    self_improvement: bool = True
    custom_prompt: str | None = Field(None, max_length=20_000)
    chunk_size: int | None = Field(None, gt=0, le=100_000)
    chunks_per_batch: int | None = Field(None, gt=0, le=10_000)
    data_per_batch: int | None = Field(None, gt=0, le=10_000)
    ontology_key: list[str] | None = None
    graph_model: str | None = Field(None, max_length=200_000)
    content_type: str | None = None
    import_mode: str | None = None
    skills_text: str | None = None
    skill_name: str | None = None
    repositories: list[str] | None = None
    index_vectors: bool | None = None


class QAEntryDTO(BaseModel):
    type: Literal["qa"] = "qa"
    question: str = Field(max_length=100_000)
    answer: str = Field(max_length=100_000)
    context: str = Field("", max_length=100_000)
    feedback_text: str | None = Field(None, max_length=20_000)
    feedback_score: int | None = Field(None, ge=1, le=5)
    used_graph_element_ids: dict[str, list[str]] | None = None


class TraceEntryDTO(BaseModel):
    type: Literal["trace"] = "trace"
    origin_function: str = Field(min_length=1, max_length=1000)
    status: Literal["success", "error"] = "success"
    method_params: dict[str, Any] | None = None
    method_return_value: Any = None
    memory_query: str = Field("", max_length=100_000)
    memory_context: str = Field("", max_length=100_000)
    error_message: str = Field("", max_length=100_000)
    generate_feedback_with_llm: bool = False


class FeedbackEntryDTO(BaseModel):
    type: Literal["feedback"] = "feedback"
    qa_id: uuid.UUID
    feedback_text: str | None = Field(None, max_length=20_000)
    feedback_score: int | None = Field(None, ge=1, le=5)


class SkillRunEntryDTO(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: Literal["skill_run"] = "skill_run"


class RememberEntryDTO(BaseModel):
    """`POST /api/v1/remember/entry` (a plain BaseModel in cognee: snake_case only)."""

    entry: QAEntryDTO | TraceEntryDTO | FeedbackEntryDTO | SkillRunEntryDTO = Field(
        discriminator="type"
    )
    dataset_name: str = Field("main_dataset", max_length=255)
    dataset_id: uuid.UUID | None = None
    session_id: str | None = Field(None, max_length=255)
    skill_improvement: dict[str, Any] | None = None


class RecallPayloadDTO(SearchPayloadDTO):
    """cognee's RecallPayloadDTO: search's fields, where an explicit `search_type: null`
    means "choose for me", and the memory's."""

    session_id: str | None = Field(None, max_length=255)
    scope: str | list[str] | None = None
    tool_connections: list[str] | None = None
    tools_trigger: str = "always"
    code_query: dict[str, Any] | None = None
    context_profile: Literal["qa", "agent"] = "qa"
    response_schema: dict[str, Any] | None = None

    @field_validator("top_k", mode="before")
    @classmethod
    def _default_top_k(cls, value: Any) -> Any:
        return 15 if value is None else value  # cognee's Optional[int], null = the default


class ForgetPayloadDTO(InDTO):
    data_id: uuid.UUID | None = None
    dataset: str | None = Field(None, max_length=255)
    dataset_id: uuid.UUID | None = None
    everything: bool = False
    memory_only: bool = False


class ImprovePayloadDTO(InDTO):
    """cognee 1.6.5's ImprovePayloadDTO."""

    dataset_name: str | None = Field(None, max_length=255)
    dataset_id: uuid.UUID | None = None
    run_in_background: bool = False
    session_ids: list[str] | None = Field(None, max_length=1000)
    node_name: list[str] | None = None
    build_global_context_index: bool = False
    build_truth_subspace: bool = False
    review_conflicts: bool = False
    feedback_alpha: float | None = Field(None, gt=0, le=1)
    extraction_tasks: list[str] | None = None
    enrichment_tasks: list[str] | None = None
    data: str | None = None

    @field_validator("dataset_id", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if value == "" else value


class AuditEventDTO(OutDTO):
    """One audit event (graphmill's own; camelCase like the rest of the API)."""

    id: int
    at: datetime
    actor_id: uuid.UUID
    actor_email: str | None
    credential: str
    tenant_id: uuid.UUID | None
    action: str
    dataset_id: uuid.UUID | None
    data_id: uuid.UUID | None
    target_id: uuid.UUID | None
    detail: dict[str, Any]

    @classmethod
    def of(cls, event: AuditEventInfo) -> AuditEventDTO:
        return cls(**asdict(event))
