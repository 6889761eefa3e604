"""POST /api/v1/search and GET /api/v1/search over HTTP: scope, the retrieval types, the
wire shape, bad input, history, and every hit traced back to the original file."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import httpx
import pytest

from tests.support import Api, add_files

DATASET_NOT_FOUND = {"detail": "Dataset not found. [DatasetNotFoundError]"}

HARBOUR = (
    "Greymouth Harbour\n\n"
    "Greymouth Harbour is a tidal port on the Vessland coast. Its lock gates were built by "
    "the Marwick Tidal Works in 1874.\n\n"
    "The harbour master in 1890 was Anders Holt, a shipowner who also financed the works."
)
BEES = (
    "Honey bees\n\nHoney bees tell their sisters where flowers are with a waggle dance. "
    "The angle of the dance gives the direction of the nectar source."
)
TRAINS = (
    "Shinkansen\n\nThe Shinkansen high-speed railway connects Tokyo and Osaka. Trains run "
    "every few minutes at up to 320 kilometres per hour."
)
CORPUS = [("harbour.txt", HARBOUR), ("bees.txt", BEES), ("trains.txt", TRAINS)]


def search(api: httpx.Client, **body: Any) -> httpx.Response:
    return api.post("/api/v1/search", json=body)


def cognified(api: Api, name: str, files: list[tuple[str, str]]) -> tuple[str, dict[str, str]]:
    """A dataset holding the files, cognified; its id and each file's data id."""
    r = add_files(api, name, [(n, text.encode()) for n, text in files])
    assert r.status_code == 200, r.text
    body = r.json()
    infos = body["data_ingestion_info"]
    ids = {n: info["data_id"] for (n, _), info in zip(files, infos, strict=True)}
    run = api.post("/api/v1/cognify", json={"datasetIds": [body["dataset_id"]]})
    assert run.json()[body["dataset_id"]]["status"] == "PipelineRunCompleted", run.text
    return body["dataset_id"], ids


def normalised(text: str) -> str:
    return " ".join(text.split())


def test_chunk_searches_find_passages_and_trace_them_to_the_original_bytes(alice: Api) -> None:
    ds, ids = cognified(alice, "traced", CORPUS)
    cases = [
        ("CHUNKS", "trains between Japanese cities", "trains.txt"),
        ("CHUNKS_LEXICAL", "who financed the Marwick works", "harbour.txt"),
        ("CHUNKS_LEXICAL", "waggle dance", "bees.txt"),
    ]
    for search_type, query, expected in cases:
        r = search(alice, query=query, searchType=search_type, datasetIds=[ds], topK=2)
        assert r.status_code == 200, r.text
        [envelope] = r.json()
        assert set(envelope) == {"dataset_id", "dataset_name", "dataset_tenant_id", "search_result"}
        assert envelope["dataset_id"] == ds and envelope["dataset_name"] == "traced"
        assert envelope["dataset_tenant_id"] is None
        hits = envelope["search_result"]
        assert 1 <= len(hits) <= 2
        top = hits[0]
        assert top["data_id"] == top["document_id"] == ids[expected], (search_type, hits)
        assert top["dataset_id"] == ds
        assert top["score"] > 0
        assert all(a["score"] >= b["score"] for a, b in itertools.pairwise(hits))
        assert top["raw_url"] == f"/api/v1/datasets/{ds}/data/{ids[expected]}/raw"
        raw = alice.get(top["raw_url"]).content.decode()
        assert normalised(raw[top["start"] : top["end"]]) == normalised(top["text"])
        assert {"id", "text", "chunk_index", "chunk_size", "document_name"} <= set(top)


def test_a_long_document_is_cut_and_each_chunk_has_its_own_span(alice: Api) -> None:
    paragraphs = [
        f"Section {i}. The lighthouse keeper number {i} logged storms, ships and tides "
        f"along the northern cape in the year {1800 + i}, writing {i * 7} pages." * 3
        for i in range(40)
    ]
    document = "\n\n".join(paragraphs)
    cognified(alice, "long", [("log.txt", document)])
    r = search(alice, query="lighthouse keeper tides", searchType="CHUNKS_LEXICAL", topK=50)
    hits = r.json()[0]["search_result"]
    assert len(hits) > 3
    for hit in hits:
        assert normalised(document[hit["start"] : hit["end"]]) == normalised(hit["text"])
    assert len({h["chunk_index"] for h in hits}) == len(hits)


def test_completion_without_an_llm_answers_with_passages_and_says_so(alice: Api) -> None:
    _, ids = cognified(alice, "answers", CORPUS)
    r = search(alice, query="How do bees find flowers?", datasets=["answers"])
    [envelope] = r.json()
    [answer] = envelope["search_result"]
    assert "waggle dance" in answer
    assert any("No LLM is configured" in n for n in envelope["notes"])
    r = search(alice, query="How do bees find flowers?", verbose=True, includeReferences=True)
    [envelope] = r.json()
    assert envelope["search_type"] == "HYBRID_COMPLETION"
    assert "waggle dance" in envelope["text_result"][0]
    assert "waggle dance" in envelope["context_result"]
    assert envelope["objects_result"][0]["data_id"] == ids["bees.txt"]
    assert envelope["references"][0]["raw_url"].endswith(f"/data/{ids['bees.txt']}/raw")
    r = search(alice, query="How do bees find flowers?", onlyContext=True)
    assert "waggle dance" in r.json()[0]["search_result"]


def test_every_supported_type_answers_in_its_shape(alice: Api) -> None:
    cognified(alice, "shapes", CORPUS)
    completions = {
        "RAG_COMPLETION",
        "HYBRID_COMPLETION",
        "TRIPLET_COMPLETION",
        "GRAPH_COMPLETION",
        "GRAPH_SUMMARY_COMPLETION",
        "GRAPH_COMPLETION_COT",
        "GRAPH_COMPLETION_CONTEXT_EXTENSION",
        "TEMPORAL",
    }
    query = "Who was the harbour master of Greymouth in 1890?"
    for search_type in [*completions, "CHUNKS", "CHUNKS_LEXICAL", "SUMMARIES", "FEELING_LUCKY"]:
        r = search(alice, query=query, searchType=search_type, topK=3)
        assert r.status_code == 200, (search_type, r.text)
        [envelope] = r.json()
        result = envelope["search_result"]
        assert isinstance(result, list) and result, search_type
        if search_type in completions:
            assert len(result) == 1 and "Anders Holt" in result[0], (search_type, result)
        elif search_type != "FEELING_LUCKY":
            assert result[0]["data_id"], search_type
    summaries = search(alice, query="railway", searchType="SUMMARIES").json()[0]["search_result"]
    assert summaries[0]["type"] == "TextSummary" and "Shinkansen" in summaries[0]["text"]
    assert len({s["data_id"] for s in summaries}) == len(summaries)  # one per document
    r = search(alice, query="what happened in 1874", searchType="TEMPORAL", verbose=True)
    objects = r.json()[0]["objects_result"]
    passages = [o for o in objects if o["type"] == "DocumentChunk"]
    assert passages and all("1874" in o["text"] for o in passages)


def test_a_dataset_with_nothing_cognified_answers_empty(alice: Api) -> None:
    assert search(alice, query="anything").json() == []  # no dataset at all
    ds = alice.post("/api/v1/datasets", json={"name": "empty"}).json()["id"]
    add_files(alice, "pending", [("a.txt", b"Uncognified text about lighthouses.")])
    for search_type in ("CHUNKS", "CHUNKS_LEXICAL", "GRAPH_COMPLETION", "HYBRID_COMPLETION"):
        r = search(alice, query="lighthouses", searchType=search_type)
        assert r.status_code == 200, r.text
        assert [e["search_result"] for e in r.json()] == [[], []], search_type
        assert r.json()[0]["dataset_id"] == ds
    r = search(alice, query="lighthouses", verbose=True, datasetIds=[ds])
    [envelope] = r.json()
    assert envelope["text_result"] == [] and envelope["objects_result"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"query": ""}, "query"),
        ({"query": "   \n\t"}, "query"),
        ({"query": "x" * 10_001}, "query"),
        ({"query": "q", "topK": 0}, "topK"),
        ({"query": "q", "top_k": 1001}, "top_k"),
        ({"query": "q", "datasetIds": ["not-a-uuid"]}, "datasetIds"),
        ({"query": "q", "dataset_ids": [str(uuid.uuid4()), 7]}, "dataset_ids"),
        ({"query": "q", "searchType": "INSIGHTS"}, "searchType"),
        ({"query": "q", "searchType": "chunks"}, "searchType"),
        ({"query": "q", "datasets": "not-a-list"}, "datasets"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(alice: Api, body: dict[str, Any], field: str) -> None:
    r = search(alice, **body)
    assert r.status_code == 400, r.text
    detail = r.json()["detail"]
    assert any(field in error["loc"] for error in detail), detail
    if field == "searchType":
        message = " ".join(e["msg"] for e in detail)
        assert "CHUNKS_LEXICAL" in message and "HYBRID_COMPLETION" in message


@pytest.mark.parametrize(
    "search_type",
    ["CYPHER", "NATURAL_LANGUAGE", "CODE", "CODING_RULES", "AGENTIC_COMPLETION", "GRAPH_REPORT"],
)
def test_types_graphmill_does_not_implement_are_refused_by_name(
    alice: Api, search_type: str
) -> None:
    r = search(alice, query="anything", searchType=search_type)
    assert r.status_code == 400
    assert f"graphmill does not implement {search_type}" in r.json()["error"]


def test_scope_names_ids_and_what_the_caller_cannot_read(alice: Api, bob: Api) -> None:
    mine, _ = cognified(alice, "mine", CORPUS[:1])
    theirs = add_files(bob, "theirs", [("t.txt", b"Bob's text.")]).json()["dataset_id"]
    shared = add_files(bob, "shared", [("s.txt", b"Shared text.")]).json()["dataset_id"]
    bob.post(
        f"/api/v1/permissions/datasets/{alice.user_id}",
        params={"permission_name": "read"},
        json=[shared],
    )
    everything = search(alice, query="text", searchType="CHUNKS_LEXICAL").json()
    assert [e["dataset_id"] for e in everything] == [mine, shared]
    by_name = search(alice, query="text", datasets=["shared", "mine"]).json()
    assert [e["dataset_id"] for e in by_name] == [shared, mine]
    by_id = search(alice, query="text", datasetIds=[shared], datasets=["nope"]).json()
    assert [e["dataset_id"] for e in by_id] == [shared]  # ids win over names

    missing = search(alice, query="text", datasetIds=[str(uuid.uuid4())])
    for attempt in (
        search(alice, query="text", datasetIds=[theirs]),
        search(alice, query="text", datasetIds=[mine, theirs]),
        search(alice, query="text", datasets=["theirs"]),
        search(alice, query="text", datasets=["mine", "nope"]),
    ):
        assert attempt.status_code == missing.status_code == 404
        assert attempt.json() == missing.json() == DATASET_NOT_FOUND


def test_history_is_the_callers_newest_first_and_paginated(alice: Api, bob: Api) -> None:
    ds, _ = cognified(alice, "logged", CORPUS)
    for query in ("first query about bees", "second query about trains"):
        assert search(alice, query=query, searchType="CHUNKS_LEXICAL", topK=1).status_code == 200
    search(bob, query="bob's query")
    history = alice.get("/api/v1/search").json()
    assert [h["user"] for h in history] == ["system", "user", "system", "user"]
    assert history[1]["text"] == "second query about trains"
    assert history[3]["text"] == "first query about bees"
    assert history[0]["datasetId"] == ds and history[1]["datasetId"] is None
    assert "Shinkansen" in history[0]["text"]
    assert set(history[0]) == {"id", "text", "user", "createdAt", "datasetId", "searchType"}
    assert history[0]["createdAt"] > history[1]["createdAt"] > history[2]["createdAt"]
    page = alice.get("/api/v1/search", params={"limit": 2, "offset": 1}).json()
    assert [h["id"] for h in page] == [h["id"] for h in history[1:3]]
    assert [h["text"] for h in bob.get("/api/v1/search").json()] == ["bob's query"]
    assert alice.get("/api/v1/search", params={"limit": 0}).status_code == 400


def test_node_name_restricts_the_search_to_those_node_sets(alice: Api) -> None:
    add_files(alice, "sets", [("bees.txt", BEES.encode())], node_set='["insects"]')
    # A JSON list in one field, as cognee's MCP server sends it, or repeated fields.
    r = add_files(alice, "sets", [("trains.txt", TRAINS.encode())], node_set=["transport"])
    ds = r.json()["dataset_id"]
    alice.post("/api/v1/cognify", json={"datasetIds": [ds]})
    for search_type in ("CHUNKS", "CHUNKS_LEXICAL", "HYBRID_COMPLETION"):
        r = search(
            alice,
            query="dance railway",
            searchType=search_type,
            nodeName=["transport"],
            verbose=True,
        )
        objects = r.json()[0]["objects_result"]
        passages = [o for o in objects if o["type"] == "DocumentChunk"]
        assert passages and all("Shinkansen" in o["text"] for o in passages), search_type
