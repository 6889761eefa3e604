"""cognee's memory API over HTTP, as its clients call it: remember, remember/entry,
recall, sessions, forget; cognify options honoured or refused by name."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import Any

import httpx

from tests.support import Api

HARBOUR = (
    "Greymouth Harbour is a tidal port on the Vessland coast. Its lock gates were built by "
    "the Marwick Tidal Works in 1874. The harbour master in 1890 was Anders Holt."
)
BEES = "Honey bees tell their sisters where flowers are with a waggle dance."


def text_part(text: str) -> tuple[str, tuple[str, bytes, str]]:
    """The SDK's and MCP server's upload of a text: `text_<md5>.txt`."""
    name = f"text_{hashlib.md5(text.encode()).hexdigest()}.txt"
    return ("data", (name, text.encode(), "text/plain"))


def remember(api: httpx.Client, texts: list[str], **form: Any) -> httpx.Response:
    return api.post("/api/v1/remember", files=[text_part(t) for t in texts], data=form)


def test_remember_adds_and_cognifies_then_recall_finds_it_with_its_source(alice: Api) -> None:
    # the frontend's upload: every option as a form field, chunk_size and chunks_per_batch always
    r = remember(
        alice,
        [HARBOUR, BEES],
        datasetName="notes",
        chunk_size="64",
        chunks_per_batch="2",
        custom_prompt="Extract places and people.",
        run_in_background="false",
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "completed"
    assert body["dataset_name"] == "notes" and uuid.UUID(body["dataset_id"])
    assert uuid.UUID(body["pipeline_run_id"])
    assert body["items_processed"] == 2 and len(body["items"]) == 2
    assert body["content_hash"] == hashlib.sha256(HARBOUR.encode()).hexdigest()
    assert {i["kind"] for i in body["items"]} == {"data"}
    assert body["elapsed_seconds"] >= 0
    ds = body["dataset_id"]
    # the options became the dataset's settings
    schema = alice.get(f"/api/v1/datasets/{ds}/schema").json()
    assert schema["custom_prompt"] == "Extract places and people."

    # the MCP server's recall: search_type null (choose for me), every dataset by name
    r = alice.post(
        "/api/v1/recall",
        json={"query": "Anders Holt", "top_k": 3, "search_type": None, "datasets": ["notes"]},
    )
    assert r.status_code == 200, r.text
    items = r.json()
    assert items and all(i["source"] == "graph" for i in items)
    top = items[0]
    assert top["search_type"] == "CHUNKS_LEXICAL"  # graphmill's rule: a short name
    assert top["kind"] == "chunk" and "Anders Holt" in top["text"]
    assert top["dataset_id"] == ds and top["dataset_name"] == "notes"
    assert top["score"] > 0 and top["data_id"] == body["items"][0]["id"]
    assert alice.get(top["raw_url"]).content == HARBOUR.encode()

    # the frontend's recall: a completion type, camelCase is accepted too
    r = alice.post(
        "/api/v1/recall",
        json={
            "query": "Who was harbour master in 1890?",
            "searchType": "GRAPH_COMPLETION",
            "datasetIds": [ds],
            "topK": 2,
            "include_references": True,
        },
    )
    assert r.status_code == 200, r.text
    [answer] = r.json()
    assert answer["kind"] == "graph_completion" and answer["search_type"] == "GRAPH_COMPLETION"
    assert "Anders Holt" in answer["text"]
    assert answer["metadata"]["references"][0]["raw_url"].startswith(f"/api/v1/datasets/{ds}/")

    # GET /recall is the search history
    history = alice.get("/api/v1/recall").json()
    assert {"Anders Holt", "Who was harbour master in 1890?"} <= {h["text"] for h in history}


def test_remember_in_background_and_bad_input(alice: Api, bob: Api) -> None:
    r = remember(alice, [BEES], datasetName="bg", run_in_background="true")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "running" and r.json()["pipeline_run_id"] is None
    cases = [
        ({"datasetName": "x", "ontology_key": "geo"}, "ontology_key"),
        ({"datasetName": "x", "content_type": "code"}, "content_type"),
        ({"datasetName": "x", "graph_model": "{not json"}, "graph_model"),
        ({}, "datasetId or datasetName"),
    ]
    for form, named in cases:
        r = remember(alice, [BEES], **form)
        assert r.status_code == 400, r.text
        assert named in r.text
    r = remember(alice, [BEES], datasetName="x", chunk_size="0")
    assert r.status_code == 400 and "chunk_size" in r.text
    names = {d["name"] for d in alice.get("/api/v1/datasets").json()}
    assert "x" not in names  # refused requests change nothing
    # another user's dataset by id: the uniform 404
    ds = remember(alice, [HARBOUR], datasetName="mine").json()["dataset_id"]
    r = bob.post("/api/v1/remember", files=[text_part(BEES)], data={"datasetId": ds})
    assert r.status_code == 404, r.text


def test_sessions_entries_recall_and_isolation(alice: Api, bob: Api) -> None:
    # the MCP server's remember with a session
    r = alice.post(
        "/api/v1/remember/entry",
        json={
            "entry": {
                "type": "qa",
                "question": "",
                "answer": "The gate code is 4711.",
                "context": "",
            },
            "dataset_name": "main_dataset",
            "session_id": "s1",
        },
    )
    assert r.status_code == 200, r.text
    stored = r.json()
    assert stored["status"] == "session_stored" and stored["session_ids"] == ["s1"]
    assert stored["entry_type"] == "qa" and uuid.UUID(stored["entry_id"])
    qa = alice.post(
        "/api/v1/remember/entry",
        json={
            "entry": {
                "type": "qa",
                "question": "Where is the harbour?",
                "answer": "On the Vessland coast.",
            },
            "session_id": "s1",
        },
    ).json()["entry_id"]
    r = alice.post(
        "/api/v1/remember/entry",
        json={"entry": {"type": "feedback", "qa_id": qa, "feedback_score": 5}, "session_id": "s1"},
    )
    assert r.status_code == 200 and r.json()["entry_id"] == qa
    r = alice.post(
        "/api/v1/remember/entry",
        json={
            "entry": {"type": "trace", "origin_function": "open_gate", "memory_query": "gate code"},
            "session_id": "s1",
        },
    )
    assert r.status_code == 200, r.text

    # recall in the session: its entries answer first (no dataset named: they alone)
    r = alice.post(
        "/api/v1/recall",
        json={"query": "what is the gate code", "search_type": None, "session_id": "s1"},
    )
    assert r.status_code == 200, r.text
    [hit] = r.json()
    assert hit["source"] == "session" and hit["answer"] == "The gate code is 4711."
    assert {"time", "question", "context", "qa_id", "feedback_score"} <= set(hit)
    r = alice.post(
        "/api/v1/recall", json={"query": "gate code", "scope": "all", "session_id": "s1"}
    )
    assert {i["source"] for i in r.json()} == {"session", "trace"}
    r = alice.post("/api/v1/recall", json={"query": "x", "scope": "galaxy"})
    assert r.status_code == 422 and "galaxy" in r.json()["error"]
    r = alice.post("/api/v1/recall", json={"query": "x", "scope": "tools"})
    assert r.status_code == 400 and "tools" in r.json()["error"]

    listed = alice.get("/api/v1/sessions").json()
    assert listed["total"] == 1 and listed["has_more"] is False
    [record] = listed["sessions"]
    assert record["session_id"] == "s1" and record["msg_count"] == 2
    detail = alice.get("/api/v1/sessions/s1").json()
    assert [q["answer"] for q in detail["qas"]] == [
        "The gate code is 4711.",
        "On the Vessland coast.",
    ]
    assert detail["qas"][1]["feedback_score"] == 5
    assert detail["traces"][0]["origin_function"] == "open_gate"
    assert detail["label"] == "Where is the harbour?"

    # sessions are per user: bob sees none of alice's, and cannot give feedback on them
    assert bob.get("/api/v1/sessions").json()["sessions"] == []
    assert bob.get("/api/v1/sessions/s1").status_code == 404
    r = bob.post(
        "/api/v1/recall", json={"query": "gate code", "scope": "session", "session_id": "s1"}
    )
    assert r.json() == []
    r = bob.post(
        "/api/v1/remember/entry",
        json={"entry": {"type": "feedback", "qa_id": qa, "feedback_score": 1}, "session_id": "s1"},
    )
    assert r.status_code == 404
    assert alice.get("/api/v1/sessions/s1").json()["qas"][1]["feedback_score"] == 5
    r = alice.post(
        "/api/v1/remember/entry", json={"entry": {"type": "qa", "question": "q", "answer": "a"}}
    )
    assert r.status_code == 400 and "session_id" in r.text


def test_forget_item_dataset_memory_only_and_everything(alice: Api, bob: Api) -> None:
    r = alice.post("/api/v1/forget", json={})
    assert r.status_code == 422
    assert r.json()["error"].startswith("Invalid request parameters.")
    first = remember(alice, [HARBOUR, BEES], datasetName="a").json()
    ds, [harbour, bees] = first["dataset_id"], [i["id"] for i in first["items"]]

    # memory only: the uploads stay, the graph and passages go, cognify makes them again
    r = alice.post("/api/v1/forget", json={"dataset": "a", "memory_only": True})
    assert r.json() == {"dataset_id": ds, "data_records_reset": 2, "status": "success"}
    assert alice.get(f"/api/v1/datasets/{ds}/graph").json()["nodes"] == []
    assert len(alice.get(f"/api/v1/datasets/{ds}/data").json()) == 2
    status = alice.get("/api/v1/datasets/status", params={"dataset": ds}).json()
    assert status[ds] == "DATASET_PROCESSING_INITIATED"
    recalled = alice.post(
        "/api/v1/recall",
        json={"query": "Anders Holt", "datasets": ["a"], "search_type": "CHUNKS_LEXICAL"},
    )
    assert recalled.json() == []
    alice.post("/api/v1/cognify", json={"datasets": ["a"]})
    assert alice.get(f"/api/v1/datasets/{ds}/graph").json()["nodes"]

    # unknown or someone else's targets: the uniform 404, nothing changes
    assert bob.post("/api/v1/forget", json={"dataset_id": ds}).status_code == 404
    assert bob.post("/api/v1/forget", json={"dataset": "a"}).status_code == 404
    r = alice.post("/api/v1/forget", json={"data_id": str(uuid.uuid4()), "dataset_id": ds})
    assert r.status_code == 404

    # one item (the MCP server's call: snake_case strings)
    r = alice.post("/api/v1/forget", json={"data_id": bees, "dataset_id": ds, "everything": False})
    assert r.json() == {"data_id": bees, "dataset_id": ds, "status": "success"}
    assert [d["id"] for d in alice.get(f"/api/v1/datasets/{ds}/data").json()] == [harbour]

    # a dataset, then everything the caller owns (and only that)
    other = remember(alice, [BEES], datasetName="b").json()["dataset_id"]
    bobs = remember(bob, [BEES], datasetName="b").json()["dataset_id"]
    r = alice.post("/api/v1/forget", json={"dataset_id": other})
    assert r.json() == {"dataset_id": other, "status": "success"}
    alice.post(
        "/api/v1/remember/entry",
        json={"entry": {"type": "qa", "question": "q", "answer": "a"}, "session_id": "s"},
    )
    r = alice.post("/api/v1/forget", json={"everything": True})
    assert r.json() == {"datasets_removed": 1, "status": "success"}
    assert alice.get("/api/v1/datasets").json() == []
    assert alice.get("/api/v1/sessions").json()["total"] == 0
    assert [d["id"] for d in bob.get("/api/v1/datasets").json()] == [bobs]


def test_cognify_options_change_the_result_or_are_refused_by_name(alice: Api) -> None:
    long_text = " ".join(f"Sentence number {i} names the lighthouse keeper Ola." for i in range(40))
    counts = {}
    for name, options in [("fine", {"chunkSize": 16, "chunksPerBatch": 1}), ("plain", {})]:
        r = alice.post("/api/v1/add", files=[text_part(long_text)], data={"datasetName": name})
        assert r.status_code == 200, r.text
        r = alice.post("/api/v1/cognify", json={"datasets": [name], **options})
        assert r.status_code == 200, r.text
        found = alice.post(
            "/api/v1/recall",
            json={
                "query": "lighthouse keeper",
                "search_type": "CHUNKS_LEXICAL",
                "datasets": [name],
                "top_k": 1000,
            },
        ).json()
        assert all(len(i["text"].split()) <= (16 if name == "fine" else 256) for i in found)
        counts[name] = len(found)
    assert counts["fine"] > counts["plain"]
    r = alice.post("/api/v1/cognify", json={"datasets": ["plain"], "ontologyKey": ["geo"]})
    assert r.status_code == 400 and "ontology_key" in r.json()["error"]
    r = alice.post(
        "/api/v1/cognify",
        json={
            "datasets": ["plain"],
            "customPrompt": "Only people.",
            "graphModel": {"title": "People", "type": "object"},
        },
    )
    assert r.status_code == 200, r.text
    schema = alice.get(f"/api/v1/datasets/{r.json().popitem()[0]}/schema").json()
    assert schema == {
        "graph_schema": {"title": "People", "type": "object"},
        "custom_prompt": "Only people.",
    }


def test_improve_merges_duplicate_entities_and_folds_useful_session_answers(
    alice: Api, bob: Api
) -> None:
    docs = [
        "Velden Optics Inc. makes lenses in Corvin. Marta Lindqvist founded Velden Optics Inc.",
        "Velden Optics hired Jonas Berg in Corvin. Velden Optics sells telescopes.",
    ]
    ds = remember(alice, docs, datasetName="firm").json()["dataset_id"]

    def velden() -> list[dict[str, Any]]:
        nodes = alice.get(f"/api/v1/datasets/{ds}/graph").json()["nodes"]
        return [n for n in nodes if n["label"].startswith("Velden Optics")]

    assert len(velden()) >= 2, velden()
    edges_before = alice.get(f"/api/v1/datasets/{ds}/graph").json()["edges"]
    qa = alice.post(
        "/api/v1/remember/entry",
        json={
            "entry": {
                "type": "qa",
                "question": "Who repairs the Corvin lighthouse lens?",
                "answer": "Halvard Nygaard repairs the Corvin lighthouse lens.",
            },
            "dataset_name": "firm",
            "session_id": "s",
        },
    ).json()["entry_id"]
    alice.post(
        "/api/v1/remember/entry",
        json={
            "entry": {"type": "qa", "question": "q", "answer": "Not useful at all."},
            "dataset_name": "firm",
            "session_id": "s",
        },
    )
    alice.post(
        "/api/v1/remember/entry",
        json={"entry": {"type": "feedback", "qa_id": qa, "feedback_score": 5}, "session_id": "s"},
    )

    assert bob.post("/api/v1/improve", json={"dataset_id": ds}).status_code == 404
    r = alice.post("/api/v1/improve", json={"dataset_name": "firm", "session_ids": ["s"]})
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["status"] == "completed" and result["dataset_id"] == ds
    assert result["finished"] is True and result["error"] is None
    fold, merge = result["stages"]
    assert fold["stage"] == "fold_session_answers" and fold["counts"] == {"session_answers": 1}
    assert fold["run"]["status"] == "PipelineRunCompleted"
    run = alice.get(f"/api/v1/runs/{fold['run']['pipeline_run_id']}").json()
    assert run["pipeline_name"] == "cognify_pipeline" and run["state"] == "completed"
    # the merge is a run of its own in the ledger, over the three items (two documents and
    # the folded answers)
    assert merge["stage"] == "merge_duplicate_entities" and merge["status"] == "completed"
    assert merge["counts"]["merged_entities"] >= 1 and merge["counts"]["items"] == 3
    assert merge["run"]["status"] == "PipelineRunCompleted"
    assert merge["run"]["dataset_id"] == ds and merge["run"]["dataset_name"] == "firm"
    run = alice.get(f"/api/v1/runs/{merge['run']['pipeline_run_id']}").json()
    assert run["pipeline_name"] == "memify_pipeline" and run["state"] == "completed"
    assert run["counts"] == {"total": 3, "completed": 3, "failed": 0, "skipped": 0}
    assert alice.get(
        "/api/v1/datasets/status", params={"dataset": ds, "pipeline": "memify_pipeline"}
    ).json() == {ds: "DATASET_PROCESSING_COMPLETED"}
    [kept] = velden()
    graph = alice.get(f"/api/v1/datasets/{ds}/graph").json()
    ids = {n["id"] for n in graph["nodes"]}
    assert all(e["source"] in ids and e["target"] in ids for e in graph["edges"])
    assert any(kept["id"] in (e["source"], e["target"]) for e in graph["edges"])
    assert len(graph["edges"]) >= len(edges_before) - 2
    # the useful answer is memory now, traced to its own item; the other one is not
    found = alice.post(
        "/api/v1/recall",
        json={"query": "Halvard Nygaard", "datasets": ["firm"], "search_type": "CHUNKS_LEXICAL"},
    ).json()
    names = {i["id"]: i["name"] for i in alice.get(f"/api/v1/datasets/{ds}/data").json()}
    assert found and names[found[0]["data_id"]].startswith("session_answers_")
    assert "Halvard Nygaard" in found[0]["text"]
    assert (
        alice.post(
            "/api/v1/recall",
            json={"query": "useful", "datasets": ["firm"], "search_type": "CHUNKS_LEXICAL"},
        ).json()
        == []
    )
    # run again: nothing left to fold, and no item is merged twice
    again = alice.post("/api/v1/improve", json={"dataset_id": ds}).json()
    assert again["status"] == "completed"
    assert again["stages"][0]["status"] == "skipped"
    assert again["stages"][0]["reason"] == "no_useful_session_answers"
    merge = again["stages"][1]
    assert merge["status"] == "already_completed" and merge["reason"] == "no_new_items"
    assert merge["counts"] == {"items": 0, "items_already_merged": 3, "merged_entities": 0}
    assert merge["run"]["status"] == "PipelineRunAlreadyCompleted"
    # a deleted document takes its share of a merged entity with it (provenance kept)
    items = alice.get(f"/api/v1/datasets/{ds}/data").json()
    for item in items:
        alice.delete(f"/api/v1/datasets/{ds}/data/{item['id']}")
    assert alice.get(f"/api/v1/datasets/{ds}/graph").json() == {"nodes": [], "edges": []}
    r = alice.post("/api/v1/improve", json={"dataset_name": "firm", "enrichment_tasks": ["x"]})
    assert r.status_code == 400 and "enrichment_tasks" in r.json()["error"]


def test_a_blocking_remember_whose_item_fails_answers_409_with_the_result(alice: Api) -> None:
    scanned = (Path(__file__).parent / "fixtures" / "scanned.pdf").read_bytes()
    r = alice.post(
        "/api/v1/remember",
        files=[text_part(HARBOUR), ("data", ("scanned.pdf", scanned, "application/pdf"))],
        data={"datasetName": "mixed"},
    )
    assert r.status_code == 409, r.text
    body = r.json()
    assert body["status"] == "errored" and "scanned" in body["error"]
    assert body["items_processed"] == 1 and len(body["items"]) == 2
    assert uuid.UUID(body["pipeline_run_id"])
    # the text that could be made into memory is memory
    found = alice.post(
        "/api/v1/recall",
        json={"query": "Anders Holt", "datasets": ["mixed"], "search_type": "CHUNKS_LEXICAL"},
    ).json()
    assert found and "Anders Holt" in found[0]["text"]
