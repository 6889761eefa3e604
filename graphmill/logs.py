"""Log lines a person can use: one line per event, carrying the ids of what it is about.

`configure_logging(settings)` gives the process one handler, on the root logger, that
every logger (uvicorn's, procrastinate's, httpx's) writes through. A line holds `ts`,
`level`, `logger`, `event` (the message), then `action`, the ids bound with
`log_context()` in the current task (`request_id`, `run_id`, `dataset_id`, `data_id`,
`stage`), the record's `extra` fields (which win over the context), and `exc` (the whole
traceback) last. `None` values are left out.

`kv` (default): `key=value` pairs; a value is written as a JSON string literal (quotes,
backslash escapes) when it is empty or holds a space, a quote, `=`, a backslash or a
character that is not printable, so newlines never split an event. `json`: one JSON object
per line with the same keys.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from types import MappingProxyType
from typing import TextIO

from graphmill.config import Settings

# Ids bound by the API and the pipeline engine, in the order lines show them.
CONTEXT_KEYS = ("request_id", "run_id", "dataset_id", "data_id", "stage")
HEAD_KEYS = ("ts", "level", "logger", "event")

_RECORD_ATTRIBUTES = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn's ANSI-coloured copy of the message
}
_RESERVED = _RECORD_ATTRIBUTES | set(HEAD_KEYS) | {"exc", "stack"}
_UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")

_context: ContextVar[Mapping[str, object]] = ContextVar(
    "graphmill_log_context", default=MappingProxyType({})
)


def bind_log_context(**ids: object) -> Token[Mapping[str, object]]:
    """Add ids to every line logged by this task from now on (tasks it starts inherit them);
    a `None` value removes an id. Undo with `reset_log_context(token)` in the same task."""
    reserved = _RESERVED.intersection(ids)
    if reserved:
        raise ValueError(f"reserved log field names: {sorted(reserved)}")
    merged = {**_context.get(), **ids}
    return _context.set(MappingProxyType({k: v for k, v in merged.items() if v is not None}))


def reset_log_context(token: Token[Mapping[str, object]]) -> None:
    _context.reset(token)


@contextmanager
def log_context(**ids: object) -> Iterator[None]:
    """`bind_log_context(**ids)` for the duration of the block."""
    token = bind_log_context(**ids)
    try:
        yield
    finally:
        _context.reset(token)


def current_log_context() -> dict[str, object]:
    return dict(_context.get())


class ContextFilter(logging.Filter):
    """Stamp the current task's log context on each record; `extra` fields win."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _context.get().items():
            if key not in record.__dict__:
                setattr(record, key, value)
        return True


class _EventFormatter(logging.Formatter):
    def fields(self, record: logging.LogRecord) -> dict[str, object]:
        extra = {
            k: v
            for k, v in record.__dict__.items()
            if k not in _RECORD_ATTRIBUTES and not k.startswith("_")
        }
        event = _access_fields(record, extra) or record.getMessage().rstrip()
        out: dict[str, object] = {
            "ts": _timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": event,
        }
        for key in ("action", *CONTEXT_KEYS):
            if key in extra:
                out[key] = extra.pop(key)
        for key, value in extra.items():
            out[f"{key}_" if key in out or key in ("exc", "stack") else key] = value
        out = {k: v for k, v in out.items() if v is not None}
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exc"] = record.exc_text
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return out


def _timestamp(created: float) -> str:
    """UTC, milliseconds: 2025-06-01T12:00:00.123Z."""
    return datetime.fromtimestamp(created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _access_fields(record: logging.LogRecord, extra: dict[str, object]) -> str | None:
    """uvicorn's access line as fields rather than a sentence to parse."""
    if record.name != "uvicorn.access" or not isinstance(record.args, tuple):
        return None
    if len(record.args) != 5:
        return None
    client, method, path, _http_version, status = record.args
    extra.update(action="http.request", method=method, path=path, status=status, client=client)
    return "request"


# Characters that end a line for some readers (str.splitlines) although JSON allows them.
_LINE_BREAKS = {0x85: "\\u0085", 0x2028: "\\u2028", 0x2029: "\\u2029"}
_KEY = re.compile(r"[^\w.\-]")


def _json_text(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, default=str).translate(_LINE_BREAKS)


def _kv_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list | tuple):
        text = json.dumps(value, ensure_ascii=False, default=str)
    else:
        text = str(value)
    if text and all(c.isprintable() and c not in ' "=\\' for c in text):
        return text
    return _json_text(text)


class KeyValueFormatter(_EventFormatter):
    """`ts=... level=info logger=... event="run started" action=run.start run_id=...`"""

    def format(self, record: logging.LogRecord) -> str:
        return " ".join(
            f"{_KEY.sub('_', key)}={_kv_value(value)}" for key, value in self.fields(record).items()
        )


class JsonFormatter(_EventFormatter):
    """One JSON object per line, with the keys of the key=value format."""

    def format(self, record: logging.LogRecord) -> str:
        return _json_text(self.fields(record))


def configure_logging(settings: Settings, stream: TextIO | None = None) -> logging.Handler:
    """Route every logger of the process through one handler (stderr by default) in the
    configured format and level, replacing handlers installed before."""
    handler = logging.StreamHandler(stream or sys.stderr)
    formatter: logging.Formatter = (
        JsonFormatter() if settings.log_format == "json" else KeyValueFormatter()
    )
    handler.setFormatter(formatter)
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    # uvicorn, given log_config=None, leaves its loggers alone: make them write through
    # the root handler so its lines are neither doubled nor dropped.
    for name in _UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
        logger.setLevel(logging.NOTSET)
    # Python warnings become lines too (logger py.warnings) instead of free text on stderr.
    logging.captureWarnings(True)
    return handler
