"""Errors become HTTP here, and only here: one table from exception class to status and body."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from graphmill import errors as e
from graphmill.api.dto import ErrorDTO

log = logging.getLogger("graphmill.api")

# How a class appears on the wire:
#   "named"  -> {"detail": "<message> [<WireName>]"}   (cognee's CogneeApiError handler)
#   "plain"  -> {"detail": "<message>"}                 (fastapi-users and HTTPException)
#   "router" -> {"error": "<message>", "detail": null}  (cognee's router-level ErrorResponse)
WIRE: dict[type[e.GraphmillError], tuple[int, str, str]] = {
    e.DatasetNotFound: (404, "named", "DatasetNotFoundError"),
    e.DataNotFound: (404, "named", "DataNotFoundError"),
    e.RunNotFound: (404, "named", "RunNotFoundError"),
    e.ApiKeyNotFound: (404, "named", "ApiKeyNotFoundError"),
    e.UserNotFound: (404, "plain", ""),
    e.SessionEntryNotFound: (404, "plain", ""),
    e.TenantNotFound: (404, "named", "TenantNotFoundError"),
    e.RoleNotFound: (404, "named", "RoleNotFoundError"),
    e.NotFound: (404, "named", "EntityNotFoundError"),
    e.PermissionDenied: (403, "named", "PermissionDeniedError"),
    e.Unauthorized: (401, "plain", ""),
    e.BadCredentials: (400, "plain", ""),
    e.TooManyLoginAttempts: (429, "plain", ""),
    e.UserAlreadyExists: (400, "plain", ""),
    e.InvalidLabels: (400, "named", "InvalidLabelsError"),
    e.InvalidExternalMetadata: (400, "named", "InvalidExternalMetadataError"),
    e.InvalidPermission: (400, "named", "PermissionNotFoundError"),
    e.MalformedForm: (400, "plain", ""),
    e.UnknownRecallScope: (422, "router", ""),
    e.NoForgetTarget: (422, "router", ""),
    e.InvalidInput: (400, "router", ""),
    e.InvalidRange: (416, "plain", ""),
    e.UploadTooLarge: (413, "plain", ""),
    e.UnsupportedFileType: (415, "router", ""),
    e.TooManyApiKeys: (400, "nested", ""),
    e.AlreadyMember: (409, "named", "EntityAlreadyExistsError"),
    e.RoleAlreadyExists: (409, "named", "EntityAlreadyExistsError"),
    e.Conflict: (409, "router", ""),
    e.StoreFull: (507, "router", ""),
    e.BlobStoreUnwritable: (503, "router", ""),
    e.StorageError: (500, "router", ""),
    e.EmbeddingModelMissing: (503, "router", ""),
    e.AnswerUnavailable: (502, "router", ""),
}


# What each error status means, for the OpenAPI document. Every route declares the statuses
# any route can answer (COMMON); a router adds its own (`responses(...)`).
_MEANING = {
    400: "Invalid input: the field named in `detail`",
    401: "Missing, invalid or expired credential",
    403: "The caller lacks the permission",
    404: "No such resource, or one the caller may not see",
    409: "Conflicts with the current state",
    413: "Request body or file over the configured limit",
    415: "A file type no loader reads",
    416: "Range not satisfiable",
    422: "Refused as cognee refuses it (memory API: an unknown scope, nothing named to forget)",
    429: "Too many attempts; retry after `Retry-After` seconds",
    500: "Unexpected error; `request_id` names the log lines",
    502: "The LLM endpoint could not answer",
    503: "A needed component is not installed, or the blob store cannot be written",
    507: "The store of record is full; nothing was changed",
}
COMMON = (400, 401, 403, 404, 413, 500, 503, 507)


def responses(*extra: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for a router: the common error statuses plus `extra`."""
    return {
        status: {"model": ErrorDTO, "description": _MEANING[status]}
        for status in sorted({*COMMON, *extra})
    }


def _lookup(exc: e.GraphmillError) -> tuple[int, str, str]:
    for cls in type(exc).__mro__:
        if cls in WIRE:
            return WIRE[cls]
    return 500, "router", ""


def request_id(request: Request) -> str:
    return str(getattr(request.state, "request_id", ""))


def error_response(request: Request, exc: e.GraphmillError) -> Response:
    status, style, name = _lookup(exc)
    body: dict[str, Any]
    if style == "named":
        body = {"detail": f"{exc.message} [{name}]"}
    elif style == "plain":
        body = {"detail": exc.message}
    elif style == "nested":
        body = {"error": {"message": exc.message}}
    else:
        body = {"error": exc.message, "detail": None}
    headers = {}
    if isinstance(exc, e.InvalidRange):
        headers["Content-Range"] = f"bytes */{exc.size}"
    if isinstance(exc, e.TooManyLoginAttempts):
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, e.Unauthorized):
        headers["WWW-Authenticate"] = "Bearer"
    if status == 500:
        # The message may name storage internals: it goes to the log, not to the client.
        body = {"error": (type(exc).__doc__ or "").strip(), "detail": None}
        body["request_id"] = request_id(request)
        log.error(
            "request failed: %s",
            exc.message,
            extra={"action": "http.error", "request_id": request_id(request)},
        )
    return JSONResponse(body, status_code=status, headers=headers)


async def _graphmill_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, e.GraphmillError)
    return error_response(request, exc)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    if request.url.path.endswith("/auth/login"):
        return JSONResponse({"detail": "LOGIN_BAD_CREDENTIALS"}, status_code=400)
    body = exc.body if isinstance(exc.body, dict | list | str | int | float | None) else None
    errors = [{k: v for k, v in err.items() if k != "ctx"} for err in exc.errors()]
    return JSONResponse(
        {"detail": jsonable_encoder(errors), "body": jsonable_encoder(body)}, status_code=400
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    return JSONResponse(
        {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers or None
    )


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception(
        "unexpected error", extra={"action": "http.error", "request_id": request_id(request)}
    )
    return JSONResponse(
        {"error": "Internal server error", "detail": None, "request_id": request_id(request)},
        status_code=500,
    )


def _openapi_without_422(app: FastAPI) -> None:
    """graphmill answers validation errors with 400 (as cognee does), never FastAPI's 422:
    the document says so."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = build()
            for operations in document.get("paths", {}).values():
                for operation in operations.values():
                    responses = operation.get("responses", {})
                    if responses.get("422", {}).get("description") == "Validation Error":
                        del responses["422"]  # FastAPI's own; graphmill's 422s are kept
            schemas = document.get("components", {}).get("schemas", {})
            for unused in ("HTTPValidationError", "ValidationError"):
                schemas.pop(unused, None)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def install(app: FastAPI) -> None:
    _openapi_without_422(app)
    app.add_exception_handler(e.GraphmillError, _graphmill_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
