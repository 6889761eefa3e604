"""`GET /` and `GET /health` (no authentication)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import JSONResponse

from graphmill import __version__
from graphmill.api.deps import ServicesDep
from graphmill.errors import BackendUnavailable

router = APIRouter()


@router.get("/")
async def root() -> dict[str, str]:
    return {"message": "Hello, World, I am alive!"}


@router.get("/health")
async def health(services: ServicesDep) -> JSONResponse:
    """cognee's health shape plus the backends in effect; 503 when a backend fails."""
    healthy = True
    problems: dict[str, str] = {}
    for name, check in (("database", services.db.ping), ("blobs", services.blobs.check)):
        try:
            await check()
        except BackendUnavailable as exc:
            healthy = False
            problems[name] = exc.message
    body = {
        "status": "ready" if healthy else "not ready",
        "health": "healthy" if healthy else "unhealthy",
        "version": __version__,
        "backends": services.backends,
        # Not a failure of the server: add, status and downloads work without it.
        "embedder": services.tools.embedder_status,
    }
    child = services.runtime.child
    if child is not None:
        # Neither: runs wait in the queue while it starts again (logged with its exit code).
        body["pipeline_process"] = child.status
    if problems:
        body["problems"] = problems
    return JSONResponse(body, status_code=200 if healthy else 503)
