"""Two `graphmill serve` processes on one store: what one writes, the other finds at once,
and what one deletes, the other stops finding (its in-memory vectors never go stale)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import Api, ServerProcess, add_files, settings_env, sign_up


@pytest.fixture
def two_servers(settings_factory: Any) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    settings = settings_factory(log_level="WARNING")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    env = settings_env(settings)
    first = ServerProcess(env).start()
    second = ServerProcess(env).start()
    try:
        yield first, second
    finally:
        first.stop()
        second.stop()


def hits(api: Api, base_url: str, query: str, search_type: str) -> list[str]:
    r = api.post(
        f"{base_url}/api/v1/search",
        json={"query": query, "searchType": search_type, "topK": 5, "verbose": True},
    )
    assert r.status_code == 200, r.text
    return [
        o["text"] for e in r.json() for o in e["objects_result"] if o.get("type") == "DocumentChunk"
    ]


def test_a_chunk_written_by_one_process_is_found_by_the_other_at_once(
    two_servers: tuple[ServerProcess, ServerProcess],
) -> None:
    writer, reader = two_servers
    api = sign_up(writer.base_url)
    ds = add_files(api, "shared", [("a.txt", b"Tulips bloom in spring along the canals.")])
    ds_id = ds.json()["dataset_id"]
    assert api.post("/api/v1/cognify", json={"datasetIds": [ds_id]}).status_code == 200
    # The reader loads its copy of the dataset's vectors now...
    for search_type in ("CHUNKS", "HYBRID_COMPLETION"):
        assert hits(api, reader.base_url, "flowers in spring", search_type)

    # ...then the writer adds a passage; the reader finds it on its very next query.
    r = add_files(api, "shared", [("b.txt", b"Glaciers carve deep fjords into the mountains.")])
    b_id = r.json()["data_ingestion_info"][0]["data_id"]
    api.post("/api/v1/cognify", json={"datasetIds": [ds_id]})
    for search_type in ("CHUNKS", "CHUNKS_LEXICAL", "HYBRID_COMPLETION", "GRAPH_COMPLETION"):
        found = hits(api, reader.base_url, "glaciers and fjords", search_type)
        assert found and "Glaciers" in found[0], (search_type, found)

    # The writer deletes it; the reader stops finding it at once.
    assert api.delete(f"/api/v1/datasets/{ds_id}/data/{b_id}").status_code == 200
    for search_type in ("CHUNKS", "CHUNKS_LEXICAL", "HYBRID_COMPLETION", "GRAPH_COMPLETION"):
        found = hits(api, reader.base_url, "glaciers and fjords", search_type)
        assert all("Glaciers" not in text for text in found), (search_type, found)
    api.close()
