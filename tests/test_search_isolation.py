"""Search never shows what the caller may not read, nor what is out of scope: a unique
token planted by one user (or in one dataset) is sought with every search type, by every
way of naming a scope, and never appears."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.support import Api, add_files, new_role, new_tenant

TOKEN = "Zorvexilant"
PLANTED = (
    f"{TOKEN} Quarry\n\n{TOKEN} Quarry is a granite quarry near Harrowgate founded by "
    f"Elsbeth {TOKEN} in 1902. The {TOKEN} family sold it to the Harrowgate Stone Company."
)
OTHER = (
    "Harrowgate\n\nHarrowgate is a market town with a granite quarry and a stone company. "
    "It was founded in 1902 by a family of masons."
)
QUERY = f"Who founded the {TOKEN} granite quarry near Harrowgate in 1902?"
TYPES = [
    "CHUNKS",
    "CHUNKS_LEXICAL",
    "SUMMARIES",
    "RAG_COMPLETION",
    "GRAPH_COMPLETION",
    "HYBRID_COMPLETION",
    "TRIPLET_COMPLETION",
    "GRAPH_SUMMARY_COMPLETION",
    "GRAPH_COMPLETION_COT",
    "GRAPH_COMPLETION_CONTEXT_EXTENSION",
    "TEMPORAL",
    "FEELING_LUCKY",
]


def cognified(api: Api, name: str, text: str) -> str:
    ds = add_files(api, name, [(f"{name}.txt", text.encode())]).json()["dataset_id"]
    result = api.post("/api/v1/cognify", json={"datasetIds": [ds]}).json()[ds]
    assert result["status"] == "PipelineRunCompleted", result
    return ds


def attempts(api: httpx.Client, scopes: list[dict[str, Any]]) -> list[httpx.Response]:
    """Every search type with every scope, verbose and not, with references."""
    return [
        api.post(
            "/api/v1/search",
            json={"query": QUERY, "searchType": t, "verbose": v, "includeReferences": True} | scope,
        )
        for t in TYPES
        for v in (False, True)
        for scope in scopes
    ]


def never_shows_the_token(responses: list[httpx.Response]) -> None:
    for r in responses:
        assert r.status_code in (200, 404), r.text
        assert TOKEN.casefold() not in r.text.casefold(), r.request.content
        assert "zorvexil" not in json.dumps(r.json()).casefold()


def test_another_users_token_never_appears_in_any_search(alice: Api, bob: Api) -> None:
    planted = cognified(bob, "planted", PLANTED)
    mine = cognified(alice, "harrowgate", OTHER)
    # Bob finds it himself, so the token is there to find.
    found = bob.post("/api/v1/search", json={"query": QUERY, "searchType": "CHUNKS_LEXICAL"})
    assert TOKEN in found.text
    responses = attempts(
        alice,
        [
            {},
            {"datasetIds": [planted]},
            {"datasets": ["planted"]},
            {"datasetIds": [mine, planted]},
            {"datasets": ["harrowgate", "planted"]},
        ],
    )
    never_shows_the_token(responses)
    unscoped = [r for r in responses if r.status_code == 200]
    assert unscoped and all([e["dataset_id"] for e in r.json()] == [mine] for r in unscoped)
    assert all(r.status_code == 404 for r in responses if b"planted" in r.request.content)
    # Her history holds her queries (with the token she typed) and answers without it.
    answers = alice.get("/api/v1/search", params={"limit": 1000}).json()
    assert len(answers) == 2 * len(unscoped)  # refused searches are not logged
    assert all(TOKEN not in h["text"] for h in answers if h["user"] == "system")


def test_a_dataset_out_of_scope_never_contributes(alice: Api) -> None:
    planted = cognified(alice, "planted", PLANTED)
    other = cognified(alice, "harrowgate", OTHER)
    responses = attempts(alice, [{"datasetIds": [other]}, {"datasets": ["harrowgate"]}])
    never_shows_the_token(responses)
    assert all([e["dataset_id"] for e in r.json()] == [other] for r in responses)
    # In scope it is found: the absence above is the scope's doing.
    r = alice.post(
        "/api/v1/search",
        json={"query": QUERY, "searchType": "CHUNKS_LEXICAL", "datasetIds": [planted]},
    )
    assert TOKEN in r.text


def test_teams_give_exactly_what_their_grants_give(alice: Api, bob: Api) -> None:
    """Alice plants the token in her tenant; Bob, a member of it without a grant, and the
    same Bob working in a tenant of his own, never see it with any search type; a grant to
    a role he is in shows it to him in Alice's tenant only."""
    perms = "/api/v1/permissions"
    acme = new_tenant(alice, "acme")
    planted = cognified(alice, "planted", PLANTED)
    alice.post(f"{perms}/users/{bob.user_id}/tenants", params={"tenant_id": acme})
    mine = cognified(bob, "harrowgate", OTHER)  # in his own space
    globex = new_tenant(bob, "globex")
    scopes: list[dict[str, Any]] = [{}, {"datasetIds": [planted]}, {"datasets": ["planted"]}]
    for tenant in (acme, globex, "null"):
        bob.headers["X-Tenant-Id"] = tenant
        never_shows_the_token(attempts(bob, scopes))
    role = new_role(alice, "readers")
    alice.post(f"{perms}/users/{bob.user_id}/roles", params={"role_id": role})
    alice.post(f"{perms}/datasets/{role}", params={"permission_name": "read"}, json=[planted])
    bob.headers["X-Tenant-Id"] = acme
    found = bob.post("/api/v1/search", json={"query": QUERY, "searchType": "CHUNKS_LEXICAL"})
    assert TOKEN in found.text
    assert [e["dataset_id"] for e in found.json()] == [planted]  # not his own: other tenant
    for tenant in (globex, "null"):
        bob.headers["X-Tenant-Id"] = tenant
        never_shows_the_token(attempts(bob, scopes))
    r = bob.post("/api/v1/search", json={"query": QUERY, "searchType": "CHUNKS_LEXICAL"})
    assert [e["dataset_id"] for e in r.json()] == [mine]
