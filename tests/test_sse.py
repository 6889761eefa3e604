"""The event stream over HTTP: an open stream closes once its caller's access is gone."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx
import pytest

from graphmill.config import Settings
from tests.support import Api, add_files, grant, join_tenant, new_role, new_tenant, revoke

FAULTS = "tests.fault_steps:pipeline"
RECHECK_SECONDS = 0.2


@pytest.fixture
def settings(settings_factory: Any) -> Settings:
    return settings_factory(cognify_steps=FAULTS, events_recheck_seconds=RECHECK_SECONDS)


class Reader:
    """Reads one event stream in a thread: the events it delivers, and how it ended."""

    def __init__(self, client: httpx.Client, dataset_id: str, headers: dict[str, str]) -> None:
        self.events: list[dict[str, Any]] = []
        self.ended = threading.Event()
        self.error: BaseException | None = None
        self._args = (client, f"/api/v1/datasets/{dataset_id}/events", headers)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        client, url, headers = self._args
        try:
            # A read timeout below the keep-alive: a stream left open fails the test.
            with client.stream("GET", url, headers=headers, timeout=httpx.Timeout(8)) as r:
                assert r.status_code == 200
                for line in r.iter_lines():
                    if line.startswith("data: "):
                        self.events.append(json.loads(line[6:]))
        except BaseException as exc:
            self.error = exc
        finally:
            self.ended.set()

    def run_ids(self) -> set[str]:
        return {e["run_id"] for e in self.events}

    def wait_for_run(self, run_id: str, state: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(e["run_id"] == run_id and e["state"] == state for e in self.events):
                return
            time.sleep(0.02)
        raise AssertionError(f"no {state} event of run {run_id}: {self.events}")


def cognify(api: Api, dataset_id: str) -> str:
    r = api.post("/api/v1/cognify", json={"datasetIds": [dataset_id]})
    assert r.status_code == 200, r.text
    return str(r.json()[dataset_id]["pipeline_run_id"])


def test_stream_closes_when_read_is_revoked(alice: Api, bob: Api) -> None:
    ds = add_files(alice, "shared", [("one.txt", b"first")]).json()["dataset_id"]
    assert grant(alice, bob.user_id, "read", [ds]).status_code == 200
    reader = Reader(bob, ds, {})
    first = cognify(alice, ds)
    reader.wait_for_run(first, "completed")

    assert revoke(alice, bob.user_id, "read", [ds]).status_code == 200
    time.sleep(RECHECK_SECONDS + 1)
    add_files(alice, "shared", [("two.txt", b"second")])
    second = cognify(alice, ds)

    assert reader.ended.wait(10), "the stream stayed open after read was revoked"
    assert reader.error is None, repr(reader.error)
    assert second not in reader.run_ids()
    assert bob.get(f"/api/v1/datasets/{ds}/events").status_code == 404


def test_stream_closes_when_its_reader_leaves_the_role_that_gave_access(
    alice: Api, bob: Api
) -> None:
    perms = "/api/v1/permissions"
    tenant = new_tenant(alice, "acme")
    role = new_role(alice, "legal")
    join_tenant(alice, bob, tenant)
    alice.post(f"{perms}/users/{bob.user_id}/roles", params={"role_id": role})
    ds = add_files(alice, "shared", [("one.txt", b"first")]).json()["dataset_id"]
    assert grant(alice, role, "read", [ds]).status_code == 200
    reader = Reader(bob, ds, {"X-Tenant-Id": tenant})
    first = cognify(alice, ds)
    reader.wait_for_run(first, "completed")

    left = alice.delete(f"{perms}/users/{bob.user_id}/roles", params={"role_id": role})
    assert left.status_code == 200
    time.sleep(RECHECK_SECONDS + 1)
    add_files(alice, "shared", [("two.txt", b"second")])
    second = cognify(alice, ds)

    assert reader.ended.wait(10), "the stream stayed open after its reader left the role"
    assert reader.error is None, repr(reader.error)
    assert second not in reader.run_ids()


def test_stream_closes_when_its_api_key_is_deleted(alice: Api) -> None:
    ds = add_files(alice, "own", [("one.txt", b"first")]).json()["dataset_id"]
    key = alice.post("/api/v1/auth/api-keys", json={"name": "stream"}).json()
    with httpx.Client(base_url=str(alice.base_url), timeout=60) as by_key:
        reader = Reader(by_key, ds, {"X-Api-Key": key["key"]})
        first = cognify(alice, ds)
        reader.wait_for_run(first, "completed")

        assert alice.delete(f"/api/v1/auth/api-keys/{key['id']}").status_code == 200
        time.sleep(RECHECK_SECONDS + 1)
        add_files(alice, "own", [("two.txt", b"second")])
        second = cognify(alice, ds)

        assert reader.ended.wait(10), "the stream stayed open after its key was deleted"
        assert reader.error is None, repr(reader.error)
        assert second not in reader.run_ids()
