"""`graphmill selftest`: prove, against a running deployment, that one user's data stays theirs.

Two accounts take part. The first (the owner) adds a document holding a unique token to a
new dataset and cognifies it, then checks it can find the token itself (so the probes below
would see it if it leaked). The second (the prober) then asks for that dataset, its data,
its raw bytes, its graph, runs and events through every route, searches with every search
type, with and without naming it, and tries to write to it, share it and delete it. Every
answer must be the uniform 404 (the same body as for a dataset that does not exist) or an
answer without the dataset, and no answer may contain the token. The owner then checks its
data is intact and deletes the dataset. Only HTTP is used: it runs against any graphmill.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any

import httpx

from graphmill.search.types import SearchType

API = "/api/v1"
# Every search type cognee defines: the ones a server does not implement must refuse (4xx),
# never answer with another user's data.
SEARCH_TYPES = tuple(t.value for t in SearchType)


class SelftestError(Exception):
    """The self-test could not run (sign-in refused, server unreachable)."""


@dataclass(frozen=True)
class Credentials:
    """An e-mail and password (logged in with the form login) or an API key."""

    email: str | None = None
    password: str | None = None
    api_key: str | None = None

    @classmethod
    def parse(cls, text: str | None, api_key: str | None) -> Credentials:
        if api_key:
            return cls(api_key=api_key)
        if not text or ":" not in text:
            raise SelftestError("credentials must be EMAIL:PASSWORD, or an API key")
        email, _, password = text.partition(":")
        return cls(email=email, password=password)


@dataclass
class Check:
    name: str
    passed: bool
    detail: str = ""


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    def add(self, name: str, passed: bool, detail: str = "") -> None:
        self.checks.append(Check(name, passed, detail))

    def render(self) -> str:
        lines = [f"{'PASS' if c.passed else 'FAIL'}  {c.name}" for c in self.checks]
        for c in self.checks:
            if not c.passed and c.detail:
                lines.append(f"  {c.name}: {c.detail}")
        failed = sum(not c.passed for c in self.checks)
        verdict = "passed" if self.passed else f"FAILED ({failed} of {len(self.checks)} checks)"
        lines.append(f"selftest {verdict}: {len(self.checks)} checks")
        return "\n".join(lines)

    def as_json(self) -> str:
        return json.dumps(
            {
                "passed": self.passed,
                "checks": [c.__dict__ for c in self.checks],
            },
            indent=2,
        )


def register_pair(url: str, timeout: float) -> tuple[Credentials, Credentials]:
    """Two fresh accounts, registered on the server (`--register`)."""
    accounts = []
    for _ in range(2):
        email = f"selftest-{uuid.uuid4().hex[:12]}@example.com"
        password = uuid.uuid4().hex
        created = httpx.post(
            f"{url.rstrip('/')}/api/v1/auth/register",
            json={"email": email, "password": password},
            timeout=timeout,
        )
        if created.status_code not in (200, 201):
            raise SelftestError(f"registration refused: {created.status_code} {created.text}")
        accounts.append(Credentials(email=email, password=password))
    return accounts[0], accounts[1]


def signed_in(url: str, credentials: Credentials, timeout: float) -> httpx.Client:
    client = httpx.Client(base_url=url.rstrip("/"), timeout=timeout)
    if credentials.api_key:
        client.headers["X-Api-Key"] = credentials.api_key
    else:
        login = client.post(
            f"{API}/auth/login",
            data={"username": credentials.email or "", "password": credentials.password or ""},
        )
        if login.status_code != 200:
            client.close()
            raise SelftestError(
                f"login of {credentials.email} refused: {login.status_code} {login.text[:200]}"
            )
        client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        client.cookies.clear()
    me = client.get(f"{API}/auth/me")
    if me.status_code != 200:
        client.close()
        raise SelftestError(f"{API}/auth/me answered {me.status_code}: {me.text[:200]}")
    return client


@dataclass
class Planted:
    """What the owner planted: the dataset, its one item, the run, and the secret token."""

    token: str
    dataset_id: str
    dataset_name: str
    data_id: str
    run_id: str
    content: bytes
    session_id: str


def plant(owner: httpx.Client, report: Report) -> Planted:
    token = f"gmselftest{uuid.uuid4().hex}"
    name = f"selftest_{uuid.uuid4().hex[:12]}"
    content = (
        f"Selftest document. The secret token is {token}. Ada Lovelace worked with "
        f"Charles Babbage in London on the Analytical Engine; {token} marks this text.\n"
    ).encode()
    added = owner.post(
        f"{API}/add",
        data={"datasetName": name},
        files={"data": (f"{token}.txt", content, "text/plain")},
    )
    if added.status_code != 200:
        raise SelftestError(f"the owner's add failed: {added.status_code} {added.text[:300]}")
    body = added.json()
    dataset_id = str(body["dataset_id"])
    data_id = str(body["data_ingestion_info"][0]["data_id"])
    cognified = owner.post(f"{API}/cognify", json={"datasetIds": [dataset_id]})
    ok = (
        cognified.status_code == 200
        and cognified.json()[dataset_id]["status"] == "PipelineRunCompleted"
    )
    report.add("owner: add and cognify a dataset", ok, cognified.text[:300])
    run_id = str(cognified.json()[dataset_id]["pipeline_run_id"]) if ok else str(uuid.uuid4())
    session_id = f"selftest-{uuid.uuid4().hex}"
    entry = owner.post(
        f"{API}/remember/entry",
        json={
            "session_id": session_id,
            "dataset_id": dataset_id,
            "entry": {"type": "qa", "question": f"What is {token}?", "answer": token},
        },
    )
    report.add(
        "owner: keeps a session entry holding the token",
        entry.status_code == 200,
        f"{entry.status_code} {entry.text[:200]}",
    )
    planted = Planted(token, dataset_id, name, data_id, run_id, content, session_id)
    found = owner.post(
        f"{API}/search",
        json={"query": token, "searchType": "CHUNKS_LEXICAL", "datasetIds": [dataset_id]},
    )
    report.add(
        "owner: finds its own token by search (the probes would see a leak)",
        found.status_code == 200 and token in found.text,
        f"{found.status_code} {found.text[:200]}",
    )
    raw = owner.get(f"{API}/datasets/{dataset_id}/data/{data_id}/raw")
    report.add(
        "owner: downloads its exact bytes",
        raw.status_code == 200 and raw.content == content,
        f"{raw.status_code}",
    )
    return planted


def probe(prober: httpx.Client, owner: httpx.Client, planted: Planted, report: Report) -> None:
    ds, data, run, token = planted.dataset_id, planted.data_id, planted.run_id, planted.token
    # What "does not exist" looks like: the prober's answers must not differ from these.
    no_dataset = prober.get(f"{API}/datasets/{uuid.uuid4()}/data").text
    no_run = prober.get(f"{API}/runs/{uuid.uuid4()}").text

    def refused(
        name: str,
        response: httpx.Response,
        allowed: tuple[int, ...] = (404,),
        like: str = no_dataset,
    ) -> None:
        leaked = token in response.text
        uniform = response.status_code != 404 or response.text == like
        report.add(
            f"prober: {name} -> {response.status_code}",
            response.status_code in allowed and not leaked and uniform,
            f"{response.status_code} {response.text[:200]}"
            + (" (contains the token)" if leaked else "")
            + ("" if uniform else " (differs from the 404 of something that does not exist)"),
        )

    def without(name: str, response: httpx.Response, absent: Callable[[Any], bool]) -> None:
        try:
            ok = response.status_code == 200 and absent(response.json())
        except ValueError:
            ok = False
        report.add(
            f"prober: {name} does not show it",
            ok and token not in response.text,
            f"{response.status_code} {response.text[:200]}",
        )

    def no_envelope(body: Any) -> bool:
        return not any(isinstance(e, dict) and str(e.get("dataset_id")) == ds for e in body)

    # The owner searched for the token: that entry of its history is not the prober's.
    # (Asked before the prober's own searches, which ask for the token too.)
    without(
        "GET /search (history)", prober.get(f"{API}/search"), lambda b: token not in json.dumps(b)
    )
    without(
        "GET /recall (history)", prober.get(f"{API}/recall"), lambda b: token not in json.dumps(b)
    )
    without(
        "GET /sessions",
        prober.get(f"{API}/sessions"),
        lambda b: planted.session_id not in json.dumps(b),
    )
    refused(
        "GET /sessions/{id} of the owner's session",
        prober.get(f"{API}/sessions/{planted.session_id}"),
        like=prober.get(f"{API}/sessions/selftest-{uuid.uuid4().hex}").text,
    )
    # Reads of the dataset, its data and its runs.
    without("GET /datasets", prober.get(f"{API}/datasets"), lambda b: ds not in json.dumps(b))
    without(
        "GET /datasets/status?dataset=",
        prober.get(f"{API}/datasets/status", params={"dataset": ds}),
        lambda b: ds not in b,
    )
    without(
        "GET /datasets/status/progress?dataset=",
        prober.get(f"{API}/datasets/status/progress", params={"dataset": ds}),
        lambda b: ds not in b,
    )
    without(
        "GET /datasets/graph-summary",
        prober.get(f"{API}/datasets/graph-summary"),
        lambda b: ds not in json.dumps(b),
    )
    refused("GET /datasets/{id}/data", prober.get(f"{API}/datasets/{ds}/data"))
    refused("GET .../data/{data_id}/raw", prober.get(f"{API}/datasets/{ds}/data/{data}/raw"))
    refused(
        "GET .../raw with a Range",
        prober.get(f"{API}/datasets/{ds}/data/{data}/raw", headers={"Range": "bytes=0-99"}),
    )
    refused("GET /datasets/{id}/graph", prober.get(f"{API}/datasets/{ds}/graph"))
    refused("GET /datasets/{id}/schema", prober.get(f"{API}/datasets/{ds}/schema"))
    refused("GET /datasets/{id}/runs", prober.get(f"{API}/datasets/{ds}/runs"))
    refused("GET /runs/{run_id}", prober.get(f"{API}/runs/{run}"), like=no_run)
    refused("GET /datasets/{id}/events (event stream)", _first_bytes(prober, ds))
    # Searches: every type, unscoped (nothing of the dataset may come back) and scoped.
    for search_type in SEARCH_TYPES:
        unscoped = prober.post(
            f"{API}/search", json={"query": token, "searchType": search_type, "topK": 50}
        )
        report.add(
            f"prober: search {search_type} without a scope does not find it",
            unscoped.status_code in (200, 400, 404, 422, 501)
            and token not in unscoped.text
            and (unscoped.status_code != 200 or no_envelope(unscoped.json())),
            f"{unscoped.status_code} {unscoped.text[:200]}",
        )
    for scope in ("graph", "all"):
        recalled = prober.post(
            f"{API}/recall",
            json={
                "query": token,
                "search_type": "CHUNKS_LEXICAL",
                "scope": scope,
                "session_id": planted.session_id,
            },
        )
        report.add(
            f"prober: recall (scope {scope}, the owner's session id) does not find it",
            recalled.status_code in (200, 404)
            and token not in recalled.text
            and ds not in recalled.text,
            f"{recalled.status_code} {recalled.text[:200]}",
        )
    refused(
        "recall naming the dataset id",
        prober.post(f"{API}/recall", json={"query": token, "dataset_ids": [ds]}),
    )
    refused(
        "recall naming the dataset by name",
        prober.post(f"{API}/recall", json={"query": token, "datasets": [planted.dataset_name]}),
    )
    refused(
        "GET /visualize of the dataset", prober.get(f"{API}/visualize", params={"dataset_id": ds})
    )
    refused(
        "search naming the dataset id",
        prober.post(
            f"{API}/search", json={"query": token, "searchType": "CHUNKS", "datasetIds": [ds]}
        ),
    )
    refused(
        "search naming the dataset by name",
        prober.post(
            f"{API}/search",
            json={"query": token, "searchType": "CHUNKS", "datasets": [planted.dataset_name]},
        ),
    )
    # Writes: none may touch the dataset.
    refused(
        "POST /add into the dataset",
        prober.post(
            f"{API}/add",
            data={"datasetId": ds},
            files={"data": ("intruder.txt", b"written by the prober", "text/plain")},
        ),
    )
    refused(
        "POST /cognify of the dataset", prober.post(f"{API}/cognify", json={"datasetIds": [ds]})
    )
    refused("POST /runs/{run_id}/cancel", prober.post(f"{API}/runs/{run}/cancel"), like=no_run)
    refused(
        "PUT /datasets/{id}/schema",
        prober.put(f"{API}/datasets/{ds}/schema", json={"entity_types": ["Intruder"]}),
        allowed=(404, 422),
    )
    me = prober.get(f"{API}/users/me").json()
    refused(
        "grant itself read on the dataset",
        prober.post(
            f"{API}/permissions/datasets/{me['id']}",
            params={"permission_name": "read"},
            json=[ds],
        ),
    )
    refused(
        "POST /remember into the dataset",
        prober.post(
            f"{API}/remember",
            data={"datasetId": ds},
            files={"data": ("intruder.txt", b"remembered by the prober", "text/plain")},
        ),
    )
    refused(
        "PATCH /update of the dataset's item",
        prober.patch(
            f"{API}/update",
            params={"data_id": data, "dataset_id": ds},
            files={"data": ("intruder.txt", b"replaced by the prober", "text/plain")},
        ),
    )
    refused("POST /improve of the dataset", prober.post(f"{API}/improve", json={"dataset_id": ds}))
    refused(
        "POST /forget of the dataset's item",
        prober.post(f"{API}/forget", json={"data_id": data, "dataset_id": ds}),
    )
    refused("POST /forget of the dataset", prober.post(f"{API}/forget", json={"dataset_id": ds}))
    refused(
        "POST /forget memory_only of the dataset",
        prober.post(f"{API}/forget", json={"dataset_id": ds, "memory_only": True}),
    )
    refused("DELETE the dataset's data item", prober.delete(f"{API}/datasets/{ds}/data/{data}"))
    refused("DELETE the dataset", prober.delete(f"{API}/datasets/{ds}"))
    # The owner's data is untouched by all of it.
    listed = owner.get(f"{API}/datasets/{ds}/data")
    raw = owner.get(f"{API}/datasets/{ds}/data/{data}/raw")
    report.add(
        "owner: its dataset is intact after the probes (one item, same bytes)",
        listed.status_code == 200
        and [str(i["id"]) for i in listed.json()] == [data]
        and raw.content == planted.content,
        f"{listed.status_code} {listed.text[:200]}",
    )


def _first_bytes(client: httpx.Client, dataset_id: str) -> httpx.Response:
    """The event stream's answer with only its first bytes read: an open stream never ends."""
    request = client.build_request("GET", f"{API}/datasets/{dataset_id}/events")
    response = client.send(request, stream=True)
    try:
        first = next(response.iter_bytes(), b"") if response.status_code == 200 else response.read()
    finally:
        response.close()
    return httpx.Response(response.status_code, headers=response.headers, content=first)


def clean_up(owner: httpx.Client, planted: Planted, report: Report) -> None:
    deleted = owner.delete(f"{API}/datasets/{planted.dataset_id}")
    gone = owner.get(f"{API}/datasets/{planted.dataset_id}/data")
    report.add(
        "owner: deletes the dataset; it is gone",
        deleted.status_code == 200 and gone.status_code == 404,
        f"delete {deleted.status_code}, then {gone.status_code}",
    )


def run_selftest(
    url: str, first: Credentials, second: Credentials, timeout: float = 300.0
) -> Report:
    """The whole self-test; raises SelftestError when it cannot start."""
    report = Report()
    started = time.monotonic()
    try:
        owner = signed_in(url, first, timeout)
    except httpx.HTTPError as exc:
        raise SelftestError(f"cannot reach {url}: {exc}") from exc
    with closing(owner), closing(signed_in(url, second, timeout)) as prober:
        ids = {
            owner.get(f"{API}/users/me").json()["id"],
            prober.get(f"{API}/users/me").json()["id"],
        }
        if len(ids) != 2:
            raise SelftestError("the two credentials sign in as the same user")
        planted = plant(owner, report)
        try:
            probe(prober, owner, planted, report)
        finally:
            clean_up(owner, planted, report)
    report.add(f"finished in {time.monotonic() - started:.1f} s", True)
    return report
