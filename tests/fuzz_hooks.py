"""Schemathesis checks of graphmill's own, loaded by `schemathesis run` (SCHEMATHESIS_HOOKS)."""

from __future__ import annotations

import json
from typing import Any

import schemathesis


@schemathesis.check
def errors_are_json_objects(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every 4xx and 5xx answers a JSON object, never HTML, text or a traceback."""
    if response.status_code < 400:
        return None
    content_type = ",".join(response.headers.get("content-type", []))
    if not content_type.startswith("application/json"):
        raise AssertionError(
            f"{response.status_code} answered {content_type or 'no content type'}, not JSON"
        )
    try:
        body = json.loads(response.content)
    except ValueError as exc:
        raise AssertionError(f"{response.status_code} body is not JSON: {exc}") from exc
    if not isinstance(body, dict) or not ({"detail", "error"} & set(body)):
        raise AssertionError(f"{response.status_code} body is not an error object: {body!r}")
    return None
