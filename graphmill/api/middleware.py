"""ASGI middleware: request ids, and the body size limit enforced before bodies are read."""

from __future__ import annotations

import uuid

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from graphmill.logs import bind_log_context, reset_log_context


class RequestId:
    """Tag every request with an id, echoed in `X-Request-ID`, in 500 bodies and in every
    log line written while the request is handled."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid

        async def tagged_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((b"x-request-id", rid.encode()))
            await send(message)

        token = bind_log_context(request_id=rid)
        await self.app(scope, receive, tagged_send)
        # Not in a `finally`: when the app raises, the 500 handler and uvicorn's error and
        # access lines run outside this middleware and should still carry the id. Each
        # request runs in its own task, so the id goes no further than this request.
        reset_log_context(token)


def _message(limit: int) -> str:
    return f"Request body exceeds the limit of {limit} bytes (GRAPHMILL_MAX_REQUEST_BYTES)."


ADD_PATH = "/api/v1/add"


def _is_multipart_add(scope: Scope) -> bool:
    content_type = dict(scope["headers"]).get(b"content-type", b"")
    return (
        scope["method"] == "POST"
        and scope["path"] == ADD_PATH
        and content_type.lower().startswith(b"multipart/form-data")
    )


class BodyLimit:
    """Answer 413 for request bodies over `max_bytes`: at once when Content-Length says so,
    otherwise as soon as the streamed body passes it, before it is buffered.

    JSON and form routes read their whole body into memory, so the limit is small. A
    multipart add is exempt: its limit is per file, checked as each file is staged to disk.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _is_multipart_add(scope):
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            response = JSONResponse(
                {"detail": _message(self.max_bytes)},
                status_code=413,
                headers={"Connection": "close"},
            )
            await response(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # Body parsers re-raise HTTPException as is, so this reaches the client.
                    raise HTTPException(413, detail=_message(self.max_bytes))
            return message

        await self.app(scope, counting_receive, send)
