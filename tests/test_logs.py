"""Log lines: the key=value and JSON formats, the per-task context, and a real server's output."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from graphmill.api.middleware import RequestId
from graphmill.config import Settings
from graphmill.logs import (
    ContextFilter,
    JsonFormatter,
    KeyValueFormatter,
    bind_log_context,
    configure_logging,
    current_log_context,
    log_context,
    reset_log_context,
)
from tests.support import ServerProcess, add_files, sign_up

# One kv pair: a bare value, or a JSON string literal.
KV_PAIR = r'([\w.\-]+)=("(?:[^"\\]|\\.)*"|[^\s"=\\]+)'
KV_LINE = re.compile(rf"{KV_PAIR}(?: {KV_PAIR})*")


def parse_kv(line: str) -> dict[str, str]:
    """A key=value line as a dict; fails unless the whole line is well-formed pairs."""
    assert KV_LINE.fullmatch(line), line
    return {
        key: json.loads(value) if value.startswith('"') else value
        for key, value in re.findall(KV_PAIR, line)
    }


class Captured:
    """A logger writing through ContextFilter and a formatter into a string."""

    def __init__(self, formatter: logging.Formatter, name: str = "graphmill.test") -> None:
        self.stream = io.StringIO()
        handler = logging.StreamHandler(self.stream)
        handler.setFormatter(formatter)
        handler.addFilter(ContextFilter())
        self.logger = logging.Logger(name, logging.DEBUG)
        self.logger.addHandler(handler)

    def lines(self) -> list[str]:
        return self.stream.getvalue().splitlines()


@pytest.fixture
def kv() -> Captured:
    return Captured(KeyValueFormatter())


@pytest.fixture
def js() -> Captured:
    return Captured(JsonFormatter())


def test_kv_line_has_head_action_ids_from_context_and_extra_in_order(kv: Captured) -> None:
    with log_context(run_id="r-context", dataset_id="d1", data_id="i1", stage="chunk"):
        kv.logger.info(
            "run started", extra={"action": "run.start", "run_id": "r-extra", "items": 3}
        )
    [line] = kv.lines()
    assert re.fullmatch(
        r"ts=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z level=info logger=graphmill.test "
        r'event="run started" action=run.start run_id=r-extra dataset_id=d1 data_id=i1 '
        r"stage=chunk items=3",
        line,
    ), line


def test_kv_quotes_only_values_that_need_it_and_escapes_line_breaks(kv: Captured) -> None:
    values = {
        "plain": "abc-1.2:x/y",
        "accent": "café",
        "space": "two words",
        "newline": "one\ntwo\r\nthree",
        "quote": 'say "hi"',
        "equals": "a=b",
        "backslash": "C:\\tmp",
        "empty": "",
        "separator": "a\u2028b\x85c",
        "flag": True,
        "nested": {"k": "v w"},
        "missing": None,
    }
    kv.logger.warning("odd\nvalues", extra=values)
    [line] = kv.lines()  # one event, one line
    assert " plain=abc-1.2:x/y " in line
    assert " accent=café " in line
    assert ' space="two words" ' in line
    assert r' newline="one\ntwo\r\nthree" ' in line
    assert r' quote="say \"hi\"" ' in line
    assert ' equals="a=b" ' in line
    assert r' backslash="C:\\tmp" ' in line
    assert ' empty="" ' in line
    assert " flag=true " in line
    assert "missing" not in line
    fields = parse_kv(line)
    assert fields["event"] == "odd\nvalues"
    assert fields["separator"] == "a\u2028b\x85c"
    assert json.loads(fields["nested"]) == {"k": "v w"}
    assert len(line.splitlines()) == 1


def test_exception_is_one_escaped_field_last(kv: Captured, js: Captured) -> None:
    for captured in (kv, js):
        try:
            raise ValueError("bad\nthing")
        except ValueError:
            captured.logger.exception("step failed", extra={"action": "item.fail"})
    [kv_line] = kv.lines()
    [js_line] = js.lines()
    fields = parse_kv(kv_line)
    assert list(fields)[-1] == "exc"
    assert fields["exc"].startswith("Traceback (most recent call last):\n")
    assert fields["exc"].endswith("ValueError: bad\nthing")
    assert json.loads(js_line)["exc"] == fields["exc"]


def test_json_line_has_the_same_keys_and_native_values(kv: Captured, js: Captured) -> None:
    data_id = uuid.uuid4()
    for captured in (kv, js):
        with log_context(run_id="r1", data_id=data_id):
            captured.logger.info(
                'said "x"\nthen\u2028y', extra={"action": "a", "n": 2, "job": {"id": 7}}
            )
    [kv_line] = kv.lines()
    [js_line] = js.lines()
    assert "\u2028" not in js_line
    record = json.loads(js_line)
    assert list(record) == list(parse_kv(kv_line))
    assert record["level"] == "info"
    assert record["event"] == 'said "x"\nthen\u2028y'
    assert record["data_id"] == str(data_id)
    assert record["n"] == 2
    assert record["job"] == {"id": 7}


def test_uvicorn_access_line_becomes_fields(js: Captured) -> None:
    access = Captured(JsonFormatter(), "uvicorn.access")
    with log_context(request_id="req1"):
        access.logger.info(
            '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", "/health?x=1", "1.1", 200
        )
    [line] = access.lines()
    record = json.loads(line)
    assert record["event"] == "request"
    assert record["action"] == "http.request"
    assert record["request_id"] == "req1"
    assert (record["method"], record["path"], record["status"]) == ("GET", "/health?x=1", 200)
    assert record["client"] == "127.0.0.1:5000"


def test_context_nests_restores_and_none_removes() -> None:
    assert current_log_context() == {}
    with log_context(run_id="r1", dataset_id="d1"):
        with log_context(data_id="i1", dataset_id=None):
            assert current_log_context() == {"run_id": "r1", "data_id": "i1"}
        token = bind_log_context(stage="load")
        assert current_log_context() == {"run_id": "r1", "dataset_id": "d1", "stage": "load"}
        reset_log_context(token)
        assert current_log_context() == {"run_id": "r1", "dataset_id": "d1"}
    assert current_log_context() == {}


def test_context_refuses_names_that_would_clobber_a_line_field() -> None:
    for name in ("event", "level", "msg", "exc"):
        with pytest.raises(ValueError, match="reserved"):
            bind_log_context(**{name: "x"})


def test_concurrent_tasks_keep_their_own_ids(js: Captured) -> None:
    async def item(run: str, data: str) -> None:
        with log_context(data_id=data, stage="load"):
            await asyncio.sleep(0)
            js.logger.info("step started")
            with log_context(stage="chunk"):
                await asyncio.sleep(0)
                # Library code called by a step logs through its own logger.
                logging.getLogger("httpx").info("not captured here")
                js.logger.info("step started")

    async def run(run_id: str) -> None:
        with log_context(run_id=run_id):
            async with asyncio.TaskGroup() as group:
                for n in range(3):
                    group.create_task(item(run_id, f"{run_id}-item{n}"))
            js.logger.info("run finished")

    async def main() -> None:
        await asyncio.gather(run("A"), run("B"))
        js.logger.info("after")

    asyncio.run(main())
    records = [json.loads(line) for line in js.lines()]
    assert len(records) == 2 * 3 * 2 + 2 + 1
    for record in records:
        if record["event"] == "step started":
            assert record["data_id"].startswith(record["run_id"] + "-item")
            assert record["stage"] in ("load", "chunk")
        elif record["event"] == "run finished":
            assert set(record) & {"data_id", "stage"} == set()
        else:
            assert set(record) == {"ts", "level", "logger", "event"}
    assert current_log_context() == {}


def test_request_id_is_bound_for_the_request_and_kept_when_it_raises(js: Captured) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        js.logger.info("inside")
        if scope["path"] == "/boom":
            raise RuntimeError("boom")
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def call(path: str) -> dict[str, object]:
        scope = {"type": "http", "method": "GET", "path": path, "headers": []}

        async def receive() -> dict[str, object]:
            return {"type": "http.request", "body": b""}

        async def send(message: Any) -> None:
            pass

        try:
            await RequestId(app)(scope, receive, send)
        except RuntimeError:
            # What runs outside the middleware after a crash (the 500 handler, uvicorn's
            # error line) still belongs to the request.
            js.logger.error("after the crash")
        return current_log_context()

    after_ok = asyncio.run(call("/ok"))
    after_boom = asyncio.run(call("/boom"))
    inside_ok, inside_boom, crash = [json.loads(line) for line in js.lines()]
    assert after_ok == {}
    assert re.fullmatch(r"[0-9a-f]{32}", str(inside_ok["request_id"]))
    assert inside_boom["request_id"] != inside_ok["request_id"]
    assert crash["request_id"] == inside_boom["request_id"] == after_boom["request_id"]


@pytest.fixture
def clean_logging() -> Iterator[None]:
    """Put the process's logging back as it was after configure_logging."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    uvicorn_saved = {
        name: (logging.getLogger(name).handlers[:], logging.getLogger(name).propagate)
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
    }
    yield
    logging.captureWarnings(False)
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    for name, (handlers, propagate) in uvicorn_saved.items():
        logging.getLogger(name).handlers[:] = handlers
        logging.getLogger(name).propagate = propagate


def test_configure_logging_one_handler_for_every_logger(clean_logging: None) -> None:
    logging.getLogger("uvicorn.error").addHandler(logging.NullHandler())
    logging.getLogger("uvicorn.error").propagate = False
    settings = Settings(_env_file=None, log_format="json", log_level="info")
    configure_logging(settings, io.StringIO())
    stream = io.StringIO()
    configure_logging(settings, stream)  # again: replaces, never doubles
    assert len(logging.getLogger().handlers) == 1
    with log_context(run_id="r9"):
        logging.getLogger("uvicorn.error").info("Started server process [%d]", 1)
        logging.getLogger("httpx").warning("HTTP Request: POST %s", "http://x/ y")
        logging.getLogger("graphmill.db").debug("below the level")
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(r["logger"], r["run_id"]) for r in records] == [
        ("uvicorn.error", "r9"),
        ("httpx", "r9"),
    ]


@pytest.mark.parametrize("value", ["DEBUG", "warning", "Error"])
def test_log_level_is_read_in_any_case(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_LEVEL", value)
    monkeypatch.setenv("LOG_FORMAT", "json")
    settings = Settings(_env_file=None)
    assert (settings.log_level, settings.log_format) == (value.upper(), "json")


class LoggedServer(ServerProcess):
    """`graphmill serve` with its stdout and stderr kept in files."""

    def __init__(self, env: dict[str, str], folder: Path) -> None:
        super().__init__(env)
        self.stdout = folder / "stdout.log"
        self.stderr = folder / "stderr.log"

    def start(self, wait: bool = True) -> LoggedServer:
        with self.stdout.open("wb") as out, self.stderr.open("wb") as err:
            self.process = subprocess.Popen(self.args, env=self.env, stdout=out, stderr=err)
        deadline = time.monotonic() + 60
        while True:
            assert self.process.poll() is None, self.stderr.read_text()
            assert time.monotonic() < deadline, "graphmill did not become healthy"
            try:
                if httpx.get(f"{self.base_url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)

    def lines(self) -> list[str]:
        return self.stdout.read_text().splitlines() + self.stderr.read_text().splitlines()


def exercise(tmp_path: Path, log_format: str | None) -> tuple[list[str], dict[str, Any]]:
    """Start a server, sign up, add a file, ask for a missing dataset, stop the server."""
    env = {
        "GRAPHMILL_DATA_DIR": str(tmp_path / "data"),
        "LOG_LEVEL": "INFO",
        "GRAPHMILL_COGNIFY_STEPS": "tests.fault_steps:pipeline",
        "GRAPHMILL_MAX_ATTEMPTS": "1",
    }
    if log_format is not None:
        env["LOG_FORMAT"] = log_format
    server = LoggedServer(env, tmp_path).start()
    try:
        api = sign_up(server.base_url)
        added = add_files(api, "logged", [("good.txt", b"fine text")])
        missing = api.delete(f"/api/v1/datasets/{uuid.uuid4()}")
        failing = add_files(api, "failing", [("bad.txt", b"@fail here")]).json()
        cognified = api.post("/api/v1/cognify", json={"datasets": ["failing"]}).json()
        api.close()
    finally:
        server.stop()
    assert missing.status_code == 404
    seen = {
        "add_request_id": added.headers["x-request-id"],
        "missing_request_id": missing.headers["x-request-id"],
        "dataset_id": added.json()["dataset_id"],
        "run_id": added.json()["pipeline_run_id"],
        "failing_dataset_id": failing["dataset_id"],
        "failing_data_id": failing["data_ingestion_info"][0]["data_id"],
        "cognify_run_id": cognified[failing["dataset_id"]]["pipeline_run_id"],
    }
    return server.lines(), seen


def check_server_lines(records: list[dict[str, Any]], seen: dict[str, Any]) -> None:
    for record in records:
        assert {"ts", "level", "logger", "event"} <= set(record), record
    requests = [r for r in records if r.get("action") == "http.request"]
    for r in requests:
        assert r["logger"] == "uvicorn.access"
        assert re.fullmatch(r"[0-9a-f]{32}", r["request_id"]), r
    [missing] = [r for r in requests if r["request_id"] == seen["missing_request_id"]]
    assert (missing["method"], missing["status"]) == ("DELETE", 404)
    # A graphmill line inside a request: ids from `extra` and the request's id from the context.
    [added] = [
        r
        for r in records
        if r.get("action") == "add" and r.get("request_id") == seen["add_request_id"]
    ]
    assert added["request_id"] == seen["add_request_id"]
    assert (added["dataset_id"], added["run_id"]) == (seen["dataset_id"], seen["run_id"])
    # A pipeline line: the run, dataset, item and step it is about, and no request's id.
    [failed] = [r for r in records if r.get("action") == "item.fail"]
    assert failed["run_id"] == seen["cognify_run_id"]
    assert failed["dataset_id"] == seen["failing_dataset_id"]
    assert failed["data_id"] == seen["failing_data_id"]
    assert failed["stage"] == "misbehave"
    assert "request_id" not in failed
    # uvicorn's own lines go through the same handler, once each.
    assert [r["logger"] for r in records if r["event"] == "Application startup complete."] == [
        "uvicorn.error"
    ]
    assert any(r["event"].startswith("Finished server process") for r in records)


def test_server_writes_one_json_object_per_line(tmp_path: Path) -> None:
    lines, seen = exercise(tmp_path, "json")
    assert lines
    records = []
    for line in lines:
        record = json.loads(line)
        assert isinstance(record, dict), line
        records.append(record)
    check_server_lines(records, seen)


def test_server_writes_key_value_lines_by_default(tmp_path: Path) -> None:
    lines, seen = exercise(tmp_path, None)
    assert lines
    records: list[dict[str, Any]] = []
    for line in lines:
        assert line.startswith("ts="), line
        record: dict[str, Any] = parse_kv(line)
        if "status" in record:
            record["status"] = int(record["status"])
        records.append(record)
    check_server_lines(records, seen)


def test_a_connection_clean_up_cut_off_by_a_cancellation_is_not_logged_as_an_error(
    tmp_path: Path,
) -> None:
    """SQLAlchemy's pool logs "Exception during reset or similar" with a traceback when handing
    a connection back is cut off by a cancellation or Ctrl-C (an interrupted `graphmill
    cognify` printed it, seen in CI); the Database's pools drop those records, and only those."""
    from graphmill.db import Database

    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    seen: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    capture = Capture()
    pool_loggers = {
        getattr(engine.pool.logger, "logger", engine.pool.logger)
        for engine in (db.engine, db.write_engine)
    }
    for logger in pool_loggers:
        logger.addHandler(capture)
    try:
        for logger in pool_loggers:
            for kind in (asyncio.CancelledError, KeyboardInterrupt, OSError):
                try:
                    raise kind("cut off")
                except BaseException:
                    logger.error(
                        "Exception during reset or similar (%s)", kind.__name__, exc_info=True
                    )
            logger.error("no exception at all")
    finally:
        for logger in pool_loggers:
            logger.removeHandler(capture)
        asyncio.run(db.dispose())
    assert seen == ["Exception during reset or similar (OSError)", "no exception at all"] * len(
        pool_loggers
    )
