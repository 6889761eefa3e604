"""Settings, read from the environment once by the entry point and passed down."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator
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
        description="Largest accepted file in one upload; larger requests get 413.",
    )
    max_status_datasets: int = Field(
        10_000,
        gt=0,
        validation_alias=_env("GRAPHMILL_MAX_STATUS_DATASETS"),
        description="Most dataset ids accepted by one status query.",
    )
    require_authentication: bool = Field(
        True,
        validation_alias=_env("REQUIRE_AUTHENTICATION"),
        description="When false, requests without credentials act as the password-less local user.",
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
    max_api_keys: int = Field(
        10,
        gt=0,
        validation_alias=_env("MAX_USER_API_KEYS"),
        description="Most API keys one user may hold.",
    )
    cors_allowed_origins: str = Field(
        "http://localhost:3000",
        validation_alias=_env("CORS_ALLOWED_ORIGINS"),
        description="Comma-separated origins allowed by CORS.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", validation_alias=_env("LOG_LEVEL"), description="Log level."
    )

    @field_validator("jwt_secret")
    @classmethod
    def _refuse_weak_secret(cls, value: str | None) -> str | None:
        if value is not None and (len(value) < 16 or value == "super_secret"):
            raise ValueError(
                "FASTAPI_USERS_JWT_SECRET must be at least 16 characters, not a default"
            )
        return value

    @field_validator("blob_url")
    @classmethod
    def _check_blob_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("s3://"):
            raise ValueError("GRAPHMILL_BLOB_URL must look like s3://bucket/prefix")
        return value

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
    def blob_backend(self) -> str:
        return "s3" if self.blob_url else "local"
