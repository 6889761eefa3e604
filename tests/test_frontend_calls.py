"""The calls of cognee's web frontend that read graphmill's own data, replayed as the
frontend sends them (paths, casing, the fields it reads): the schema inventory and the
provenance page, stored configurations, ontologies, the activity feed, session stats and
costs. Each is scoped to what the caller may read."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support import Api
from tests.test_memory import BEES, HARBOUR, remember

NOT_FOUND = {"detail": "Dataset not found. [DatasetNotFoundError]"}
# cognee's SchemaInventoryItem, and the frontend's SessionStats interface.
INVENTORY_KEYS = {"type", "count", "samples", "sample_size", "relationships"}
STATS_KEYS = {
    "range",
    "sessions",
    "total_spend_usd",
    "avg_spend_per_session_usd",
    "tokens_in",
    "tokens_out",
    "tokens_total",
    "agent_time_s",
    "avg_session_s",
    "success_rate",
    "completed",
    "failed",
    "abandoned",
    "running",
}
# cognee's `GET /activity/pipeline-runs` row: what the frontend reads (getSessions.ts's
# ActivityRun; `error` is graphmill's, the run's message), then cognee's other columns.
FRONTEND_READS = {
    "id",
    "pipeline_name",
    "status",
    "dataset_id",
    "dataset_name",
    "created_at",
    "pipeline_run_id",
    "error",
}
OPERATION_COLUMNS = {
    "background",
    "embedding_tokens",
    "ended_at",
    "error_class",
    "kind",
    "operation_name",
    "origin",
    "outcome",
    "owner_email",
    "owner_id",
    "parent_operation_id",
    "session_id",
    "started_at",
    "tokens_in",
    "tokens_out",
    "user_id",
}
FEED_KEYS = FRONTEND_READS | OPERATION_COLUMNS


def _notes(api: Api) -> str:
    r = remember(api, [HARBOUR, BEES], datasetName="notes")
    assert r.status_code == 200, r.text
    return str(r.json()["dataset_id"])


def test_schema_inventory_and_provenance(alice: Api, bob: Api) -> None:
    ds = _notes(alice)
    graph = alice.get(f"/api/v1/datasets/{ds}/graph").json()
    # getSchemaInventory.ts
    r = alice.get(f"/api/v1/schema/inventory?dataset_id={ds}&samples_per_type=5")
    assert r.status_code == 200, r.text
    inventory = r.json()
    assert inventory and all(set(t) == INVENTORY_KEYS for t in inventory)
    assert sum(t["count"] for t in inventory) == len(graph["nodes"])
    assert [t["count"] for t in inventory] == sorted((t["count"] for t in inventory), reverse=True)
    by_type: dict[str, set[str]] = {}
    for node in graph["nodes"]:
        by_type.setdefault(node["type"], set()).add(node["label"])
    for entry in inventory:
        assert entry["count"] == len(by_type[entry["type"]])
        assert entry["sample_size"] == len(entry["samples"]) == min(5, entry["count"])
        assert set(entry["samples"]) <= by_type[entry["type"]]
    outgoing = [
        rel
        for t in inventory
        for rel in t["relationships"]
        if not rel["relation"].startswith("\u2190")
    ]
    assert sum(rel["count"] for rel in outgoing) == len(graph["edges"])
    assert {rel["relation"] for rel in outgoing} == {e["label"] for e in graph["edges"]}
    # the frontend's proxy route sends sort; no samples; a sort cognee does not have
    r = alice.get(
        "/api/v1/schema/inventory",
        params={"dataset_id": ds, "samples_per_type": 0, "sort": "none"},
    )
    assert [t["type"] for t in r.json()] == sorted(t["type"] for t in inventory)
    assert all(t["samples"] == [] and t["sample_size"] == 0 for t in r.json())
    r = alice.get("/api/v1/schema/inventory", params={"dataset_id": ds, "sort": "size"})
    assert r.status_code == 400, r.text
    # someone else's dataset and a missing one look alike
    r = bob.get("/api/v1/schema/inventory", params={"dataset_id": ds})
    assert (r.status_code, r.json()) == (404, NOT_FOUND)
    r = bob.get("/api/v1/schema/inventory", params={"dataset_id": bob_dataset(bob)})
    assert r.status_code == 200 and r.json() == []

    # the provenance page (the frontend's schema-provenance proxy)
    page = alice.get("/api/v1/schema/provenance")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "notes" in page.text and "text_" in page.text  # the dataset and its items
    assert "Anders Holt" not in page.text
    with_memory = alice.get("/api/v1/schema/provenance", params={"include_memory": "true"})
    assert "Anders Holt" in with_memory.text and '"supports"' in with_memory.text
    theirs = bob.get("/api/v1/schema/provenance", params={"include_memory": "true"}).text
    assert "notes" not in theirs and "Anders Holt" not in theirs


def bob_dataset(bob: Api) -> str:
    return str(bob.post("/api/v1/datasets", json={"name": "empty"}).json()["id"])


def test_configurations_and_ontologies(alice: Api, bob: Api) -> None:
    # userConfiguration.ts / pipelineSettings.ts (the frontend omits /v1; localFetch adds it)
    assert alice.get("/api/v1/configuration/get_user_configuration/").json() == []
    models: dict[str, Any] = {"models": [{"name": "People"}], "customPrompts": {}}
    r = alice.post(
        "/api/v1/configuration/store_user_configuration",
        json={"name": "graph-models", "config": models},
    )
    assert r.status_code == 200 and r.json() is None
    models["customPrompts"] = {"p": "Only people."}
    alice.post(
        "/api/v1/configuration/store_user_configuration",
        json={"name": "graph-models", "config": models},
    )
    alice.post(
        "/api/v1/configuration/store_user_configuration",
        json={"name": "pipeline-settings", "config": {"chunkSize": 512}},
    )
    me = alice.get("/api/v1/users/me").json()["id"]
    stored = alice.get("/api/v1/configuration/get_user_configuration/").json()
    assert [(c["name"], c["configuration"]) for c in stored] == [
        ("graph-models", models),
        ("pipeline-settings", {"chunkSize": 512}),
    ]
    first = stored[0]
    assert set(first) == {"id", "ownerId", "name", "configuration", "createdAt", "updatedAt"}
    assert first["ownerId"] == me and first["updatedAt"] and stored[1]["updatedAt"] is None
    one = alice.get(f"/api/v1/configuration/get_user_configuration/{first['id']}")
    assert one.json() == models
    # another user's configuration is not theirs: the same answer as for no such id
    assert bob.get("/api/v1/configuration/get_user_configuration/").json() == []
    assert bob.get(f"/api/v1/configuration/get_user_configuration/{first['id']}").json() == {}
    for bad in ({"name": "x", "config": [1]}, {"config": {}}, {"name": "", "config": {}}):
        r = alice.post("/api/v1/configuration/store_user_configuration", json=bad)
        assert r.status_code == 400, (bad, r.text)
    assert len(alice.get("/api/v1/configuration/get_user_configuration/").json()) == 2

    # ontologyApi.ts: graphmill has none
    assert alice.get("/api/v1/ontologies").json() == {}
    r = alice.post(
        "/api/v1/ontologies",
        data={"ontology_key": "geo", "description": "places"},
        files={"ontology_file": ("geo.owl", b"<rdf:RDF/>", "application/rdf+xml")},
    )
    assert r.status_code == 400 and "ontologies" in r.json()["error"]
    assert alice.get("/api/v1/ontologies").json() == {}
    r = alice.delete("/api/v1/ontologies/geo")
    assert (r.status_code, r.json()["error"]) == (400, "Ontology key not found or invalid.")


def test_activity_feed_and_session_stats(alice: Api, bob: Api, anon: httpx.Client) -> None:
    ds = _notes(alice)
    alice.post("/api/v1/recall", json={"query": "Anders Holt", "datasets": ["notes"]})
    improved = alice.post("/api/v1/improve", json={"dataset_id": ds}).json()
    memify = improved["stages"][1]["run"]["pipeline_run_id"]

    # useDashboardTelemetry.ts / getSessions.ts getGraphEnrichmentRuns
    feed = alice.get("/api/v1/activity/pipeline-runs").json()
    assert all(set(row) == FEED_KEYS for row in feed)
    runs = [row for row in feed if row["kind"] == "pipeline"]
    assert {r["pipeline_name"] for r in runs} == {
        "add_pipeline",
        "cognify_pipeline",
        "memify_pipeline",
    }
    enrichment = [
        r for r in runs if r["dataset_id"] == ds and r["pipeline_name"] == "memify_pipeline"
    ]
    assert [r["pipeline_run_id"] for r in enrichment] == [memify]
    assert enrichment[0]["status"] == "DATASET_PROCESSING_COMPLETED"
    assert enrichment[0]["dataset_name"] == "notes" and enrichment[0]["outcome"] == "succeeded"
    assert enrichment[0]["owner_email"] == "alice@example.com"
    [search] = [row for row in feed if row["kind"] == "operation"]
    assert search["operation_name"] == "search" and search["pipeline_name"] is None
    assert [row["created_at"] for row in feed] == sorted(
        (row["created_at"] for row in feed), reverse=True
    )
    # paging, and the filters cognee has (they keep runs only)
    page = alice.get("/api/v1/activity/pipeline-runs", params={"limit": 2, "offset": 1}).json()
    assert [r["id"] for r in page] == [r["id"] for r in feed[1:3]]
    only = alice.get(
        "/api/v1/activity/pipeline-runs", params={"pipeline_name": "memify_pipeline"}
    ).json()
    assert [r["pipeline_run_id"] for r in only] == [memify]
    scoped = alice.get("/api/v1/activity/pipeline-runs", params={"dataset_id": ds}).json()
    assert {r["kind"] for r in scoped} == {"pipeline"} and len(scoped) == len(runs)
    # nothing of alice's reaches bob; her dataset is the uniform 404 to him
    assert bob.get("/api/v1/activity/pipeline-runs").json() == []
    r = bob.get("/api/v1/activity/pipeline-runs", params={"dataset_id": ds})
    assert (r.status_code, r.json()) == (404, NOT_FOUND)
    assert anon.get("/api/v1/activity/pipeline-runs").status_code == 401

    # connections/page.tsx: the caller as the only agent they see
    [agent] = alice.get("/api/v1/activity/agents").json()
    assert agent["email"] == "alice@example.com" and agent["status"] == "LIVE"
    assert agent["is_agent"] is False and isinstance(agent["api_key_count"], int)
    [never] = bob.get("/api/v1/activity/agents").json()
    assert never["email"] == "bob@example.com" and never["status"] == "NEVER_CONNECTED"

    # getSessions.ts getSessionStats, and the cost breakdowns
    for text in ("first", "second"):
        alice.post(
            "/api/v1/remember/entry",
            json={
                "entry": {"type": "qa", "question": text, "answer": text},
                "dataset_name": "notes",
                "session_id": "search-ui-1",
            },
        )
    stats = alice.get("/api/v1/sessions/stats?range=24h").json()
    assert set(stats) == STATS_KEYS
    assert stats["range"] == "24h" and stats["sessions"] == stats["completed"] == 1
    assert stats["tokens_total"] == 0 and stats["total_spend_usd"] == 0.0
    assert stats["agent_time_s"] >= 0 and stats["success_rate"] == 1.0
    assert bob.get("/api/v1/sessions/stats").json()["sessions"] == 0
    assert alice.get("/api/v1/sessions/stats?range=1y").status_code == 400
    assert alice.get("/api/v1/sessions/cost-by-model").json() == []
    [spend] = alice.get("/api/v1/sessions/cost-by-user-agent?range=all").json()
    assert spend["user_email"] == "alice@example.com" and spend["session_count"] == 1
    assert spend["cost_usd"] == 0.0 and spend["tokens_total"] == 0
    assert bob.get("/api/v1/sessions/cost-by-user-agent").json() == []
    # the session routes around them are unchanged
    assert len(alice.get("/api/v1/sessions/search-ui-1").json()["qas"]) == 2
