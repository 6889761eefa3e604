"""Completion types with an LLM (tests/fake_openai.py, a real OpenAI-compatible server):
the question, the retrieved context and the system prompt reach it; answers are cached;
an LLM that fails answers 502; no context, no LLM call."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import LiveServer
from tests.support import Api, add_files, sign_up

if TYPE_CHECKING:
    from tests.fake_openai import FakeOpenAI


PASSAGE = (
    "Greymouth Harbour\n\nThe harbour master of Greymouth in 1890 was Anders Holt, a "
    "shipowner who also financed the Marwick Tidal Works."
)
QUESTION = "Who was the harbour master of Greymouth in 1890?"


@pytest.fixture
def llm_api(settings_factory: Any, fake_llm: FakeOpenAI) -> Iterator[Api]:
    settings = settings_factory(
        llm_provider="openai",
        llm_model="openai/fake-model",
        llm_endpoint=fake_llm.base_url,
        llm_api_key=fake_llm.api_key,
    )
    with LiveServer(settings) as live:
        api = sign_up(live.base_url)
        ds = add_files(api, "harbour", [("harbour.txt", PASSAGE.encode())]).json()["dataset_id"]
        result = api.post("/api/v1/cognify", json={"datasetIds": [ds]}).json()[ds]
        assert result["status"] == "PipelineRunCompleted", result
        yield api
        api.close()


def asked(fake: FakeOpenAI) -> list[dict[str, str]]:
    """The system and user messages of the search answers the LLM was asked for."""
    found = []
    for body in fake.chat_bodies:
        messages = {m["role"]: m["content"] for m in body["messages"]}
        if "Question:" in messages.get("user", ""):
            found.append(messages)
    return found


def test_completion_asks_the_llm_with_the_context_and_system_prompt(
    llm_api: Api, fake_llm: FakeOpenAI
) -> None:
    for search_type in ("HYBRID_COMPLETION", "GRAPH_COMPLETION", "RAG_COMPLETION"):
        r = llm_api.post(
            "/api/v1/search",
            json={
                "query": QUESTION,
                "searchType": search_type,
                "systemPrompt": "You are a careful archivist.",
                "verbose": True,
            },
        )
        assert r.status_code == 200, r.text
        [envelope] = r.json()
        assert isinstance(envelope["text_result"], list) and len(envelope["text_result"]) == 1
        assert "notes" not in envelope  # an answer from the LLM, not passages
        assert "Anders Holt" in envelope["context_result"]
    messages = asked(fake_llm)
    assert messages, fake_llm.chat_bodies
    for m in messages:
        assert m["system"].startswith("You are a careful archivist.")
        assert QUESTION in m["user"] and "Anders Holt" in m["user"]

    # The same question over the same context is answered from the cache.
    calls = fake_llm.calls["chat"]
    r = llm_api.post(
        "/api/v1/search",
        json={
            "query": QUESTION,
            "searchType": "RAG_COMPLETION",
            "systemPrompt": "You are a careful archivist.",
        },
    )
    assert r.status_code == 200
    assert fake_llm.calls["chat"] == calls


def test_no_context_means_no_llm_call_and_a_failing_llm_is_a_502(
    llm_api: Api, fake_llm: FakeOpenAI
) -> None:
    empty = llm_api.post("/api/v1/datasets", json={"name": "empty"}).json()["id"]
    calls = fake_llm.calls["chat"]
    r = llm_api.post("/api/v1/search", json={"query": QUESTION, "datasetIds": [empty]})
    assert r.json()[0]["search_result"] == []
    assert fake_llm.calls["chat"] == calls

    fake_llm.configure(fail_always=500)
    r = llm_api.post("/api/v1/search", json={"query": "Who financed the Marwick works?"})
    assert r.status_code == 502
    assert "could not answer" in r.json()["error"]
