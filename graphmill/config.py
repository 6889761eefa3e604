"""Settings, read from the environment once by the entry point and passed down."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _env(name: str) -> AliasChoices:
    return AliasChoices(name, name.lower())


class Settings(BaseSettings):
    """Every setting graphmill reads. cognee's variable names where cognee has one."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    data_dir: Path = Field(
        Path(".graphmill"),
        validation_alias=_env("GRAPHMILL_DATA_DIR"),
        description="Folder for the SQLite file, local blobs and the generated JWT secret.",
    )
    database_url: str | None = Field(
        None,
        validation_alias=_env("GRAPHMILL_DATABASE_URL"),
        description="SQLAlchemy URL of PostgreSQL (postgresql://...); unset = SQLite in data_dir.",
    )
    blob_url: str | None = Field(
        None,
        validation_alias=_env("GRAPHMILL_BLOB_URL"),
        description="Where uploads are stored: s3://bucket/prefix; unset = data_dir/blobs.",
    )
    s3_endpoint_url: str | None = Field(
        None,
        validation_alias=_env("GRAPHMILL_S3_ENDPOINT_URL"),
        description="Endpoint of an S3-compatible server (MinIO, Ceph, moto, ...).",
    )
    s3_path_style: bool = Field(
        False,
        validation_alias=_env("GRAPHMILL_S3_PATH_STYLE"),
        description="Use path-style bucket addressing (needed by most self-hosted S3 servers).",
    )
    s3_verify_tls: bool = Field(
        True,
        validation_alias=_env("GRAPHMILL_S3_VERIFY_TLS"),
        description="Verify the S3 endpoint's TLS certificate.",
    )
    s3_region: str | None = Field(
        None,
        validation_alias=_env("AWS_REGION"),
        description="S3 region (AWS_REGION); credentials come from the standard AWS variables.",
    )
    max_upload_bytes: int = Field(
        10 * 1024**3,
        gt=0,
        validation_alias=_env("GRAPHMILL_MAX_UPLOAD_BYTES"),
        description="Largest accepted file of an add, each file counted alone; larger get 413.",
    )
    sqlite_max_bytes: int | None = Field(
        None,
        gt=0,
        validation_alias=_env("GRAPHMILL_SQLITE_MAX_BYTES"),
        description=(
            "Most bytes the SQLite file may grow to (PRAGMA max_page_count); writes beyond it"
            " are refused with 507 and change nothing. Unset = no limit but the disk's."
        ),
    )
    store_reserve_bytes: int = Field(
        256 * 1024,
        ge=0,
        validation_alias=_env("GRAPHMILL_STORE_RESERVE_BYTES"),
        description=(
            "Room the store of record holds back for ending runs: given up when the store is"
            " so full that a run's end is refused, taken again once there is room. 0 = none."
        ),
    )
    max_request_bytes: int = Field(
        1024 * 1024,
        gt=0,
        validation_alias=_env("GRAPHMILL_MAX_REQUEST_BYTES"),
        description=(
            "Largest request body other than a multipart add (JSON, forms);"
            " larger get 413 while they stream."
        ),
    )
    max_header_bytes: int = Field(
        64 * 1024,
        ge=1024,
        validation_alias=_env("GRAPHMILL_MAX_HEADER_BYTES"),
        description="Largest request line plus headers `graphmill serve` reads; larger get 431 "
        "and the connection is closed.",
    )
    max_status_datasets: int = Field(
        10_000,
        gt=0,
        validation_alias=_env("GRAPHMILL_MAX_STATUS_DATASETS"),
        description="Most dataset ids accepted by one status query.",
    )
    events_recheck_seconds: float = Field(
        3.0,
        gt=0,
        validation_alias=_env("GRAPHMILL_EVENTS_RECHECK_SECONDS"),
        description=(
            "How often an open event stream re-checks its caller's credential and read"
            " permission; the stream closes once either is gone."
        ),
    )
    require_authentication: bool = Field(
        True,
        validation_alias=_env("REQUIRE_AUTHENTICATION"),
        description=(
            "When false, requests without credentials act as the password-less local user;"
            " an invalid or expired credential is still refused."
        ),
    )
    jwt_secret: str | None = Field(
        None,
        validation_alias=_env("FASTAPI_USERS_JWT_SECRET"),
        description="HS256 secret for login tokens; generated and kept in data_dir when unset.",
    )
    jwt_lifetime_seconds: int = Field(
        3600,
        gt=0,
        validation_alias=_env("JWT_LIFETIME_SECONDS"),
        description="Lifetime of a login token.",
    )
    auth_cookie_name: str = Field(
        "auth_token",
        validation_alias=_env("AUTH_TOKEN_COOKIE_NAME"),
        description="Name of the login cookie.",
    )
    login_attempts_per_account: int = Field(
        10,
        gt=0,
        validation_alias=_env("GRAPHMILL_LOGIN_ATTEMPTS_PER_ACCOUNT"),
        description="Failed logins one account may take per window; more get 429 with "
        "Retry-After until the window ends (a successful login clears the account).",
    )
    login_attempts_per_address: int = Field(
        100,
        gt=0,
        validation_alias=_env("GRAPHMILL_LOGIN_ATTEMPTS_PER_ADDRESS"),
        description="Failed logins one client address may make per window, whatever the "
        "accounts; more get 429 with Retry-After until the window ends.",
    )
    login_window_seconds: float = Field(
        900.0,
        gt=0,
        validation_alias=_env("GRAPHMILL_LOGIN_WINDOW_SECONDS"),
        description="Window of the two login limits above.",
    )
    max_api_keys: int = Field(
        10,
        gt=0,
        validation_alias=_env("MAX_USER_API_KEYS"),
        description="Most API keys one user may hold.",
    )
    cors_allowed_origins: str = Field(
        "",
        validation_alias=_env("CORS_ALLOWED_ORIGINS"),
        description="Comma-separated origins whose browser pages may call the API (CORS); "
        "unset = none: only same-origin pages and non-browser clients.",
    )
    executor: Literal["local", "procrastinate"] = Field(
        "local",
        validation_alias=_env("GRAPHMILL_EXECUTOR"),
        description="Who runs pipelines: this process (local) or `graphmill worker` processes "
        "through procrastinate (needs PostgreSQL).",
    )
    pipeline_process: bool = Field(
        sys.platform == "linux",
        validation_alias=_env("GRAPHMILL_PIPELINE_PROCESS"),
        description="True (the default on Linux): with the local executor, `graphmill serve` "
        "runs pipelines in a child process of its own (a `graphmill worker` on the same data "
        "folder) at a lower CPU priority, so that requests never wait behind a step's Python "
        "work; false (elsewhere): in the server's own process.",
    )
    pipeline_nice: int = Field(
        10,
        ge=0,
        le=19,
        validation_alias=_env("GRAPHMILL_PIPELINE_NICE"),
        description="How much lower the pipeline process's CPU priority is than the server's "
        "(Unix nice increment; 0 = the same).",
    )
    pipeline_idle: bool = Field(
        True,
        validation_alias=_env("GRAPHMILL_PIPELINE_IDLE"),
        description="True (Linux): the pipeline process runs under SCHED_IDLE, getting the CPU "
        "only when nothing else wants it, and any other process that wakes up takes it at "
        "once (instead of GRAPHMILL_PIPELINE_NICE). A pipeline process that gets less than a "
        "twentieth of the CPU it waits for over GRAPHMILL_PIPELINE_IDLE_STARVED_SECONDS (every "
        "CPU busy with other work) is moved to GRAPHMILL_PIPELINE_NICE, and back under "
        "SCHED_IDLE once its CPUs have had 0.15 of a CPU to spare for six such periods "
        "(twelve after a second starvation, and so on).",
    )
    pipeline_idle_starved_seconds: float = Field(
        10.0,
        gt=0,
        validation_alias=_env("GRAPHMILL_PIPELINE_IDLE_STARVED_SECONDS"),
        description="How long a SCHED_IDLE pipeline process may starve before it is moved to "
        "GRAPHMILL_PIPELINE_NICE (at most a third of GRAPHMILL_LEASE_SECONDS: its leases must "
        "not run out meanwhile); six times as long calm moves it back.",
    )
    lease_seconds: float = Field(
        60.0,
        gt=0,
        validation_alias=_env("GRAPHMILL_LEASE_SECONDS"),
        description="A running run's lease; another process recovers the run when it expires.",
    )
    heartbeat_seconds: float = Field(
        15.0,
        gt=0,
        validation_alias=_env("GRAPHMILL_HEARTBEAT_SECONDS"),
        description="How often a process renews the leases of the runs it executes.",
    )
    recovery: Literal["requeue", "fail"] = Field(
        "requeue",
        validation_alias=_env("GRAPHMILL_RECOVERY"),
        description="What happens to a run whose lease expired: requeue it (resume) or fail it "
        "with error class `abandoned`.",
    )
    item_concurrency: int = Field(
        4,
        gt=0,
        le=256,
        validation_alias=_env("GRAPHMILL_ITEM_CONCURRENCY"),
        description="Data items one process works on at once.",
    )
    max_attempts: int = Field(
        3,
        gt=0,
        le=20,
        validation_alias=_env("GRAPHMILL_MAX_ATTEMPTS"),
        description="Attempts per item for transient failures (timeouts, connection errors).",
    )
    retry_base_seconds: float = Field(
        1.0,
        ge=0,
        validation_alias=_env("GRAPHMILL_RETRY_BASE_SECONDS"),
        description="First retry delay; doubles per attempt, with jitter, capped at 60 s.",
    )
    loader_timeout_seconds: float = Field(
        120.0,
        gt=0,
        validation_alias=_env("GRAPHMILL_LOADER_TIMEOUT_SECONDS"),
        description="Longest the parser of one PDF, DOCX, PPTX or XLSX file may take; past "
        "it the item fails with unreadable_document.",
    )
    loader_memory_mb: int = Field(
        1024,
        ge=128,
        validation_alias=_env("GRAPHMILL_LOADER_MEMORY_MB"),
        description="Address space (MiB) of the child process that parses one PDF, DOCX, PPTX "
        "or XLSX file; a file needing more fails with unreadable_document.",
    )
    step_timeout_seconds: float = Field(
        600.0,
        gt=0,
        validation_alias=_env("GRAPHMILL_STEP_TIMEOUT_SECONDS"),
        description="Longest one step may take for one item before it counts as timed out.",
    )
    worker_shutdown_seconds: float = Field(
        2.0,
        ge=0,
        validation_alias=_env("GRAPHMILL_WORKER_SHUTDOWN_SECONDS"),
        description="On SIGTERM, how long `graphmill worker` lets a running run continue "
        "before it stops it and hands it back to the queue.",
    )
    cognify_steps: str = Field(
        "graphmill.cognify.steps:pipeline",
        validation_alias=_env("GRAPHMILL_COGNIFY_STEPS"),
        description="Import path (module:function) of the cognify pipeline: a function given "
        "the process's models that returns a graphmill Pipeline.",
    )
    improve_steps: str = Field(
        "graphmill.memory.improve:pipeline",
        validation_alias=_env("GRAPHMILL_IMPROVE_STEPS"),
        description="Import path (module:function) of improve's memify_pipeline (its "
        "merge of duplicate entities), as GRAPHMILL_COGNIFY_STEPS.",
    )
    llm_provider: str = Field(
        "openai",
        validation_alias=_env("LLM_PROVIDER"),
        description="LLM provider (cognee's name); any OpenAI-compatible one: openai, custom, "
        "ollama, openai_compatible.",
    )
    llm_model: str | None = Field(
        None,
        validation_alias=_env("LLM_MODEL"),
        description="Chat model for extraction and summaries; unset (with no LLM_API_KEY and no "
        "LLM_ENDPOINT) = the offline extractor.",
    )
    llm_endpoint: str | None = Field(
        None,
        validation_alias=_env("LLM_ENDPOINT"),
        description="Base URL of the OpenAI-compatible API (default https://api.openai.com/v1).",
    )
    llm_api_key: str | None = Field(
        None, validation_alias=_env("LLM_API_KEY"), description="API key of the LLM endpoint."
    )
    llm_timeout_seconds: float = Field(
        120.0,
        gt=0,
        validation_alias=_env("LLM_TIMEOUT_SECONDS"),
        description="Timeout of one LLM call.",
    )
    llm_rate_limit_requests: int | None = Field(
        None,
        gt=0,
        validation_alias=_env("LLM_RATE_LIMIT_REQUESTS"),
        description="Most LLM requests per window (LLM_RATE_LIMIT_INTERVAL, default a minute), "
        "across the process (unset = no limit).",
    )
    llm_rate_limit_tokens: int | None = Field(
        None,
        gt=0,
        validation_alias=_env("LLM_RATE_LIMIT_TOKENS"),
        description="Most LLM tokens (prompt + completion) per minute (unset = no limit).",
    )
    llm_rate_limit_interval: float = Field(
        60.0,
        gt=0,
        validation_alias=_env("LLM_RATE_LIMIT_INTERVAL"),
        description="Window, in seconds, of the request and token limits (cognee's name).",
    )
    llm_max_concurrency: int = Field(
        8,
        gt=0,
        validation_alias=_env("LLM_MAX_CONCURRENCY"),
        description="Most LLM calls in flight at once, across the process.",
    )
    embedding_provider: str = Field(
        "local",
        validation_alias=_env("EMBEDDING_PROVIDER"),
        description="`local` (all-MiniLM-L6-v2, offline) or an OpenAI-compatible provider "
        "(openai, custom, ollama, openai_compatible).",
    )
    embedding_model: str | None = Field(
        None,
        validation_alias=_env("EMBEDDING_MODEL"),
        description="Embedding model of the endpoint (ignored for `local`).",
    )
    embedding_dimensions: int | None = Field(
        None,
        gt=0,
        validation_alias=_env("EMBEDDING_DIMENSIONS"),
        description="Vector size the endpoint returns (asked for when the model supports it).",
    )
    embedding_endpoint: str | None = Field(
        None,
        validation_alias=_env("EMBEDDING_ENDPOINT"),
        description="Base URL of the OpenAI-compatible embeddings API.",
    )
    embedding_api_key: str | None = Field(
        None,
        validation_alias=_env("EMBEDDING_API_KEY"),
        description="API key of the embeddings endpoint (falls back to LLM_API_KEY).",
    )
    embedding_batch_size: int = Field(
        32,
        gt=0,
        validation_alias=_env("EMBEDDING_BATCH_SIZE"),
        description="Texts per embedding call.",
    )
    chunk_size: int = Field(
        256,
        ge=16,
        validation_alias=_env("CHUNK_SIZE"),
        description="Most tokens per chunk (the default embedder reads 256).",
    )
    chunk_overlap: int = Field(
        32,
        ge=0,
        validation_alias=_env("CHUNK_OVERLAP"),
        description="Tokens repeated from the end of one chunk at the start of the next.",
    )
    search_history: bool = Field(
        True,
        validation_alias=_env("GRAPHMILL_SEARCH_HISTORY"),
        description="Keep each search's query and answers in the caller's history "
        "(GET /api/v1/search).",
    )
    audit_retention_days: int = Field(
        365,
        ge=0,
        validation_alias=_env("GRAPHMILL_AUDIT_RETENTION_DAYS"),
        description="Days an audit event is kept (`GET /api/v1/audit`); older ones are deleted "
        "by the periodic sweep. 0 keeps them for ever.",
    )
    search_cache_mb: int = Field(
        1024,
        ge=0,
        validation_alias=_env("GRAPHMILL_SEARCH_CACHE_MB"),
        description="Memory (MiB) one process may spend on in-memory copies of vectors for "
        "exact search on SQLite; least recently searched datasets are dropped beyond it.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO",
        validation_alias=_env("LOG_LEVEL"),
        description="Least severe log events written: DEBUG, INFO, WARNING or ERROR (any case).",
    )
    log_format: Literal["kv", "json"] = Field(
        "kv",
        validation_alias=_env("LOG_FORMAT"),
        description="Log lines as key=value pairs (kv) or one JSON object per line (json).",
    )

    @field_validator("jwt_secret")
    @classmethod
    def _refuse_weak_secret(cls, value: str | None) -> str | None:
        if value is not None and (len(value) < 16 or value == "super_secret"):
            raise ValueError(
                "FASTAPI_USERS_JWT_SECRET must be at least 16 characters, not a default"
            )
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("blob_url")
    @classmethod
    def _check_blob_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("s3://"):
            raise ValueError("GRAPHMILL_BLOB_URL must look like s3://bucket/prefix")
        return value

    @model_validator(mode="after")
    def _check_combinations(self) -> Settings:
        if self.heartbeat_seconds >= self.lease_seconds:
            raise ValueError("GRAPHMILL_HEARTBEAT_SECONDS must be shorter than the lease")
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError("CHUNK_OVERLAP must be smaller than CHUNK_SIZE")
        if self.executor == "procrastinate" and self.database_backend != "postgresql":
            raise ValueError("GRAPHMILL_EXECUTOR=procrastinate needs GRAPHMILL_DATABASE_URL")
        return self

    @property
    def sqlalchemy_url(self) -> str:
        """The async SQLAlchemy URL of the store of record."""
        if self.database_url is None:
            return f"sqlite+aiosqlite:///{(self.data_dir / 'graphmill.db').resolve()}"
        url = self.database_url
        for prefix in ("postgresql://", "postgres://", "postgresql+psycopg://"):
            if url.startswith(prefix):
                return "postgresql+asyncpg://" + url[len(prefix) :]
        return url

    @property
    def database_backend(self) -> str:
        return "sqlite" if self.sqlalchemy_url.startswith("sqlite") else "postgresql"

    @property
    def llm_configured(self) -> bool:
        return bool(self.llm_api_key or self.llm_endpoint or self.llm_model)

    @property
    def blob_backend(self) -> str:
        return "s3" if self.blob_url else "local"
