"""The LLM client against a real (fake) OpenAI-compatible server: formats, faults, limits."""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import numpy as np
import pytest
from pydantic import BaseModel

from graphmill.cognify.client import (
    OLLAMA_BASE_URL,
    OPENAI_BASE_URL,
    api_base_url,
    api_model_name,
)
from graphmill.cognify.embedders import OpenAIEmbedder
from graphmill.cognify.llm import (
    CHUNK_SCHEMA,
    EXTRACTION_PROMPT,
    GRAPH_SCHEMA,
    SUMMARY_SCHEMA,
    OpenAIChat,
    extract_and_summarize,
    extract_graph,
    extraction_version,
    open_chat,
    parse_json_answer,
    schema_errors,
    summarize,
)
from graphmill.cognify.ratelimit import RateLimiter, retry_after_seconds
from graphmill.cognify.tools import open_tools
from graphmill.cognify.types import LLMUsage
from graphmill.config import Settings
from graphmill.errors import StepFailed, TransientError
from graphmill.graph.model import Entity, Relation
from tests.support import free_port

if TYPE_CHECKING:
    from tests.fake_openai import FakeOpenAI

# Imported as a plugin (not with `import`) so that pytest rewrites its asserts and finds its
# fixtures; once tests/conftest.py names it in its own pytest_plugins this line can go.

TEXT = "Alice works at Acme in Paris. She met Bob there last spring."
T = TypeVar("T")


def run(make: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        return await make()

    return asyncio.run(main())


def chat_for(fake: FakeOpenAI, **kwargs: Any) -> OpenAIChat:
    return OpenAIChat(fake.base_url, "gpt-test", fake.api_key, **kwargs)


async def extract(chat: OpenAIChat, usage: LLMUsage | None = None, **kwargs: Any) -> Any:
    try:
        return await extract_graph(
            chat,
            kwargs.pop("text", TEXT),
            kwargs.pop("custom_prompt", None),
            kwargs.pop("graph_schema", None),
            usage if usage is not None else LLMUsage(),
        )
    finally:
        await chat.aclose()


def llm_settings(**values: Any) -> Settings:
    base: dict[str, Any] = {"llm_api_key": None, "llm_endpoint": None, "llm_model": None}
    return Settings(_env_file=None, **(base | values))


# --- structured output, fallback, repair ---------------------------------------------------


def test_structured_output_path(fake_llm: FakeOpenAI) -> None:
    extraction = run(lambda: extract(chat_for(fake_llm)))

    assert [e.name for e in extraction.entities] == ["Alice", "Acme", "Paris", "She", "Bob"]
    assert extraction.entities[0] == Entity("Alice", "Concept", "Alice is mentioned in the text.")
    assert Relation("Alice", "Acme", "related_to") in extraction.relations
    (body,) = fake_llm.chat_bodies
    assert body["model"] == "gpt-test"
    response_format = body["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["name"] == "knowledge_graph"
    assert response_format["json_schema"]["strict"] is True
    assert response_format["json_schema"]["schema"] == GRAPH_SCHEMA
    assert body["messages"][1] == {"role": "user", "content": TEXT}


def test_rejected_json_schema_falls_back_to_json_mode_once(fake_llm: FakeOpenAI) -> None:
    fake_llm.configure(reject_json_schema=True)
    chat = chat_for(fake_llm)

    async def twice() -> list[Any]:
        return [await extract(chat), await extract(chat)]

    first, second = run(twice)

    assert [e.name for e in first.entities] == [e.name for e in second.entities] != []
    kinds = [b["response_format"]["type"] for b in fake_llm.chat_bodies]
    assert kinds == ["json_schema", "json_object", "json_object"]  # the refusal is remembered
    system = fake_llm.chat_bodies[1]["messages"][0]["content"]
    assert "JSON schema" in system and '"relations"' in system


def test_invalid_answer_under_json_schema_falls_back(fake_llm: FakeOpenAI) -> None:
    fake_llm.configure(invalid_answers=1)
    extraction = run(lambda: extract(chat_for(fake_llm)))
    assert extraction.entities
    assert [b["response_format"]["type"] for b in fake_llm.chat_bodies] == [
        "json_schema",
        "json_object",
    ]


@pytest.mark.parametrize("kind", ["syntax", "schema"])
def test_one_repair_then_success(fake_llm: FakeOpenAI, kind: str) -> None:
    fake_llm.configure(reject_json_schema=True, invalid_answers=1, invalid_kind=kind)
    usage = LLMUsage()
    extraction = run(lambda: extract(chat_for(fake_llm), usage))

    assert extraction.entities
    assert usage.calls == fake_llm.calls["chat"] == 3
    repair = fake_llm.chat_bodies[-1]["messages"]
    assert [m["role"] for m in repair] == ["system", "user", "assistant", "user"]
    assert repair[2]["content"] in ('Sure! {"entities": [', '{"unexpected": true}')
    assert repair[3]["content"].startswith("Your answer is not valid: ")


def test_invalid_after_repair_fails_the_item(fake_llm: FakeOpenAI) -> None:
    fake_llm.configure(invalid_answers=-1)
    with pytest.raises(StepFailed) as failed:
        run(lambda: extract(chat_for(fake_llm)))
    assert failed.value.error_class == "llm_invalid_output"
    assert fake_llm.calls["chat"] == 3  # json_schema, json_object, one repair


def test_endpoint_without_response_format_support(fake_llm: FakeOpenAI) -> None:
    # An endpoint that refuses both formats still gets answers, by the prompt alone.
    fake_llm.configure(reject_json_schema=True, reject_json_object=True)
    chat = chat_for(fake_llm)

    async def twice() -> list[Any]:
        return [await extract(chat), await extract(chat)]

    first, second = run(twice)
    assert first.entities and second.entities
    kinds = [b.get("response_format", {}).get("type") for b in fake_llm.chat_bodies]
    assert kinds == ["json_schema", "json_object", None, None]


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_class"),
    [(401, "llm_auth"), (403, "llm_auth"), (402, "llm_payment_required"), (404, "llm_error")],
)
def test_client_errors_fail_the_item(fake_llm: FakeOpenAI, status: int, error_class: str) -> None:
    fake_llm.configure(fail_always=status)
    with pytest.raises(StepFailed) as failed:
        run(lambda: extract(chat_for(fake_llm)))
    assert failed.value.error_class == error_class
    assert fake_llm.calls["chat"] == 1


def test_wrong_api_key_is_llm_auth(fake_llm: FakeOpenAI) -> None:
    chat = OpenAIChat(fake_llm.base_url, "gpt-test", "sk-wrong")
    with pytest.raises(StepFailed) as failed:
        run(lambda: extract(chat))
    assert failed.value.error_class == "llm_auth"
    assert "sk-wrong" not in str(failed.value)


def test_server_error_is_transient_and_the_retry_succeeds(fake_llm: FakeOpenAI) -> None:
    fake_llm.configure(fail_next=[500])
    with pytest.raises(TransientError, match="500"):
        run(lambda: extract(chat_for(fake_llm)))
    assert run(lambda: extract(chat_for(fake_llm))).entities


def test_exhausted_quota_is_not_retried(fake_llm: FakeOpenAI) -> None:
    fake_llm.configure(fail_always=429, fail_code="insufficient_quota")
    with pytest.raises(StepFailed) as failed:
        run(lambda: extract(chat_for(fake_llm)))
    assert failed.value.error_class == "llm_payment_required"


def test_timeout_is_transient(fake_llm: FakeOpenAI) -> None:
    fake_llm.configure(latency=2.0)
    started = time.monotonic()
    with pytest.raises(TransientError, match="timed out"):
        run(lambda: extract(chat_for(fake_llm, timeout_seconds=0.3)))
    assert time.monotonic() - started < 1.5


def test_unreachable_endpoint_is_transient() -> None:
    chat = OpenAIChat(f"http://127.0.0.1:{free_port()}/v1", "gpt-test", "sk-x")
    with pytest.raises(TransientError, match="unreachable"):
        run(lambda: extract(chat))


# --- Retry-After and the rate limiter ------------------------------------------------------


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_pauses_every_caller(fake_llm: FakeOpenAI, status: int) -> None:
    fake_llm.configure(fail_next=[status], retry_after="1")
    limiter = RateLimiter()

    async def scenario() -> float:
        chat = chat_for(fake_llm, limiter=limiter)
        with pytest.raises(TransientError):
            await summarize(chat, TEXT, LLMUsage())
        assert 0.3 < limiter.paused_for <= 1.0
        other = chat_for(fake_llm, limiter=limiter)  # another caller sharing the limiter
        started = time.monotonic()
        await summarize(other, TEXT, LLMUsage())
        await chat.aclose()
        await other.aclose()
        return time.monotonic() - started

    assert run(scenario) >= 0.8
    first, second = fake_llm.requests
    assert second.at - first.at >= 0.9


def test_retry_after_forms() -> None:
    assert retry_after_seconds(httpx.Headers({"retry-after": "7"})) == 7
    assert retry_after_seconds(httpx.Headers({"retry-after": "0.5"})) == 0.5
    assert retry_after_seconds(httpx.Headers({"retry-after-ms": "250", "retry-after": "9"})) == 0.25
    when = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 28 <= (retry_after_seconds(httpx.Headers({"retry-after": when})) or 0) <= 30
    assert retry_after_seconds(httpx.Headers({"retry-after": "soon"})) is None
    assert retry_after_seconds(httpx.Headers()) is None


def summaries(fake: FakeOpenAI, limiter: RateLimiter, n: int) -> list[Any]:
    async def many() -> list[Any]:
        chat = chat_for(fake, limiter=limiter)
        try:
            calls = [summarize(chat, f"Text number {i}. More.", LLMUsage()) for i in range(n)]
            return await asyncio.gather(*calls, return_exceptions=True)
        finally:
            await chat.aclose()

    return run(many)


def test_rate_limiter_never_exceeds_n_requests_per_window(fake_llm: FakeOpenAI) -> None:
    fake_llm.configure(rate_limit=3, window=1.0)
    limiter = RateLimiter(requests=3, concurrency=8, window_seconds=1.0)

    started = time.monotonic()
    results = summaries(fake_llm, limiter, 10)

    assert results == [f"Text number {i}." for i in range(10)]
    assert not fake_llm.limit_exceeded
    assert time.monotonic() - started >= 3.0  # 10 requests, 3 per window: 3 full windows
    arrivals = sorted(r.at for r in fake_llm.requests)
    assert all(
        later - earlier >= 1.0 for earlier, later in zip(arrivals, arrivals[3:], strict=False)
    )


def test_without_a_limit_the_server_limit_is_hit(fake_llm: FakeOpenAI) -> None:
    # The control for the test above: the fake does notice a burst.
    fake_llm.configure(rate_limit=3, window=1.0)
    results = summaries(fake_llm, RateLimiter(), 6)
    assert fake_llm.limit_exceeded
    assert any(isinstance(r, TransientError) for r in results)


def test_rate_limiter_caps_concurrency() -> None:
    limiter = RateLimiter(concurrency=2)
    active, peak = 0, 0

    async def one() -> None:
        nonlocal active, peak
        async with limiter.reserve(1):
            active += 1
            peak = max(peak, active)
            await asyncio.sleep(0.02)
            active -= 1

    async def many() -> None:
        await asyncio.gather(*(one() for _ in range(8)))

    run(many)
    assert peak == 2


def test_rate_limiter_tokens_per_window_with_correction() -> None:
    limiter = RateLimiter(tokens=100, window_seconds=0.5)

    async def scenario() -> list[float]:
        waits = []
        for estimate, actual in [(90, 10), (80, 80), (50, 50)]:
            started = time.monotonic()
            async with limiter.reserve(estimate) as reservation:
                reservation.settle(actual)
            waits.append(time.monotonic() - started)
        return waits

    corrected, _, over = run(scenario)
    assert corrected < 0.1  # 90 estimated but 10 used: 80 more fit at once
    assert over >= 0.4  # 10 + 80 used, 50 more must wait for the window to pass


def test_oversized_request_goes_alone_and_cancelled_waiters_leave_the_queue() -> None:
    limiter = RateLimiter(requests=1, tokens=10, window_seconds=0.3)

    async def scenario() -> None:
        async with limiter.reserve(50):  # larger than the limit: admitted on an empty window
            pass
        waiter = asyncio.create_task(limiter.reserve(1).__aenter__())
        await asyncio.sleep(0.05)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        async with asyncio.timeout(2), limiter.reserve(1):  # a stale head would block forever
            pass

    run(scenario)


# --- usage, prompts, schemas ---------------------------------------------------------------


def test_tokens_and_calls_are_counted(fake_llm: FakeOpenAI) -> None:
    fake_llm.configure(reject_json_schema=True, invalid_answers=1)
    usage = LLMUsage()
    run(lambda: extract(chat_for(fake_llm), usage))

    prompt, completion = fake_llm.usage
    assert (usage.tokens_in, usage.tokens_out) == (prompt, completion)
    assert usage.tokens_in > 0 and usage.tokens_out > 0
    assert usage.calls == fake_llm.calls["chat"] == 3  # refused, invalid, repaired


def test_custom_prompt_replaces_the_default_instructions(fake_llm: FakeOpenAI) -> None:
    run(lambda: extract(chat_for(fake_llm), custom_prompt="Extract only people."))
    system = fake_llm.chat_bodies[0]["messages"][0]
    assert system == {"role": "system", "content": "Extract only people."}


class Node(BaseModel):
    id: str
    name: str
    type: str
    description: str


class Edge(BaseModel):
    source_node_id: str
    target_node_id: str
    relationship_name: str


class KnowledgeGraph(BaseModel):
    nodes: list[Node] = []
    edges: list[Edge] = []


def test_graph_schema_is_the_response_schema(fake_llm: FakeOpenAI) -> None:
    schema = KnowledgeGraph.model_json_schema()
    extraction = run(
        lambda: extract(chat_for(fake_llm), graph_schema=schema, custom_prompt="Find things.")
    )

    (body,) = fake_llm.chat_bodies
    sent = body["response_format"]["json_schema"]
    assert sent["schema"] == schema and sent["name"] == "KnowledgeGraph"
    assert sent["strict"] is False  # pydantic's schema has optional fields
    assert body["messages"][0]["content"].startswith("Find things.")
    assert [e.name for e in extraction.entities][:3] == ["Alice", "Acme", "Paris"]
    assert Relation("Alice", "Acme", "related_to") in extraction.relations


class StubChat:
    """A ChatModel answering with a fixed object (for mapping tests that need no server)."""

    model = "stub"

    def __init__(self, answer: dict[str, Any]) -> None:
        self.answer = answer

    async def complete_json(
        self, system: str, user: str, schema: dict[str, Any], usage: LLMUsage
    ) -> dict[str, Any]:
        usage.calls += 1
        return self.answer


def test_nested_graph_model_maps_to_entities_and_relations() -> None:
    class Company(BaseModel):
        name: str

    class Person(BaseModel):
        name: str
        works_at: Company | None = None

    class People(BaseModel):
        people: list[Person]

    answer = {"people": [{"name": "Alice", "works_at": {"name": "Acme"}}, {"name": "Bob"}]}
    extraction = run(
        lambda: extract_graph(StubChat(answer), TEXT, None, People.model_json_schema(), LLMUsage())
    )
    assert extraction.entities == [
        Entity("Alice", "Person"),
        Entity("Acme", "Company"),
        Entity("Bob", "Person"),
    ]
    assert extraction.relations == [Relation("Alice", "Acme", "works_at")]


def test_node_ids_resolve_to_names_and_dangling_relations_are_dropped() -> None:
    answer = {
        "nodes": [
            {"id": "n1", "name": "Alice", "type": "Person", "description": "A person."},
            {"id": "n2", "name": "Acme", "type": "Organization", "description": ""},
        ],
        "edges": [
            {"source_node_id": "n1", "target_node_id": "n2", "relationship_name": "works_at"},
            {"source_node_id": "n1", "target_node_id": "n9", "relationship_name": "knows"},
        ],
    }
    schema = KnowledgeGraph.model_json_schema()
    extraction = run(lambda: extract_graph(StubChat(answer), TEXT, None, schema, LLMUsage()))
    assert [e.name for e in extraction.entities] == ["Alice", "Acme"]
    assert extraction.relations == [Relation("Alice", "Acme", "works_at")]


def test_default_schema_output_is_made_consistent() -> None:
    answer = {
        "entities": [
            {"name": " Alice ", "type": "Person", "description": "x"},
            {"name": "alice", "type": "Person", "description": "duplicate"},
            {"name": "Acme", "type": "", "description": ""},
            {"name": "", "type": "Thing", "description": ""},
        ],
        "relations": [
            {"source": "ALICE", "target": "Acme", "relation": "works_at", "description": ""},
            {"source": "Alice", "target": "Acme", "relation": "works_at", "description": "dup"},
            {"source": "Alice", "target": "Nobody", "relation": "knows", "description": ""},
        ],
    }
    extraction = run(lambda: extract_graph(StubChat(answer), TEXT, None, None, LLMUsage()))
    assert extraction.entities == [Entity("Alice", "Person", "x"), Entity("Acme", "Entity", "")]
    assert extraction.relations == [Relation("Alice", "Acme", "works_at")]


def test_graph_schema_must_describe_an_object() -> None:
    with pytest.raises(StepFailed) as failed:
        run(lambda: extract_graph(StubChat({}), TEXT, None, {"type": "string"}, LLMUsage()))
    assert failed.value.error_class == "invalid_graph_schema"


def test_summary(fake_llm: FakeOpenAI) -> None:
    assert run_summary(fake_llm) == "Alice works at Acme in Paris."
    assert fake_llm.chat_bodies[0]["response_format"]["json_schema"]["name"] == "summary"


def test_graph_and_summary_in_one_call(fake_llm: FakeOpenAI) -> None:
    async def one(custom_prompt: str | None) -> tuple[Any, str]:
        chat = chat_for(fake_llm)
        try:
            return await extract_and_summarize(chat, TEXT, custom_prompt, LLMUsage())
        finally:
            await chat.aclose()

    extraction, summary = run(lambda: one(None))
    assert (extraction, summary) == (
        run(lambda: extract(chat_for(fake_llm))),
        run_summary(fake_llm),
    )
    assert fake_llm.calls["chat"] == 3  # the one call, then extract_graph and summarize apart
    body = fake_llm.chat_bodies[0]
    assert body["response_format"]["json_schema"]["schema"] == CHUNK_SCHEMA
    assert body["response_format"]["json_schema"]["strict"] is True
    system = body["messages"][0]["content"]
    assert system.startswith(EXTRACTION_PROMPT) and "three sentences" in system
    run(lambda: one("Extract only PEOPLE."))
    system = fake_llm.chat_bodies[-1]["messages"][0]["content"]
    assert system.startswith("Extract only PEOPLE.") and EXTRACTION_PROMPT not in system


def run_summary(fake: FakeOpenAI) -> str:
    async def one() -> str:
        chat = chat_for(fake)
        try:
            return await summarize(chat, TEXT, LLMUsage())
        finally:
            await chat.aclose()

    return run(one)


def test_schema_subset_validator() -> None:
    schema = KnowledgeGraph.model_json_schema()
    assert schema_errors({"nodes": [], "edges": []}, schema) == []
    errors = schema_errors({"nodes": [{"id": 1, "name": "A", "type": "T"}]}, schema)
    assert errors == [
        "$.nodes[0]: missing required field 'description'",
        "$.nodes[0].id: expected string, got integer",
    ]
    assert schema_errors({"entities": [], "relations": [], "x": 1}, GRAPH_SCHEMA) == [
        "$: unexpected field 'x'"
    ]


def _variants(value: Any) -> list[Any]:
    """`value` and single changes of it at every depth: a field dropped, added, or replaced
    by each JSON type."""
    others: list[Any] = [None, 1, 1.5, True, "s", [], {}, [1], {"k": "v"}]
    out: list[Any] = [value, *others]
    if isinstance(value, dict):
        out.append({**value, "extra": "x"})
        for key, inner in value.items():
            out.append({k: v for k, v in value.items() if k != key})
            out += [{**value, key: changed} for changed in _variants(inner)[1:]]
    if isinstance(value, list) and value:
        out += [[changed, *value[1:]] for changed in _variants(value[0])[1:]]
        out.append([*value, value[0]])
    return out


@pytest.mark.parametrize("schema", [GRAPH_SCHEMA, CHUNK_SCHEMA, SUMMARY_SCHEMA])
def test_built_in_schemas_are_checked_in_one_pass_as_the_generic_walk_does(
    schema: dict[str, Any],
) -> None:
    """The one-pass check of the built-in schemas accepts exactly what `schema_errors` accepts,
    and gives the same object; what it refuses still says what is wrong."""
    import json

    entity = {"name": "Alice", "type": "Person", "description": "Works at Acme."}
    relation = {"source": "Alice", "target": "Acme", "relation": "works_at", "description": "d"}
    valid = {
        key: {"entities": [entity], "relations": [relation], "summary": "Alice works."}[key]
        for key in schema["properties"]
    }
    variants = _variants(valid)
    assert len(variants) > 20
    accepted = 0
    for variant in variants:
        generic = schema_errors(variant, schema)
        value, problem = parse_json_answer(json.dumps(variant), schema)
        assert (value is not None) == (generic == []), (variant, generic, problem)
        if value is not None:
            accepted += 1
            assert value == variant
        else:
            assert problem == "; ".join(generic[:5]) or "expected a JSON object" in str(problem)
    assert accepted >= 1 + 2 * (schema is not SUMMARY_SCHEMA)  # + an empty list, a list of two


def test_extraction_version_changes_with_its_inputs() -> None:
    base = extraction_version("gpt-test", None, None)
    assert base == extraction_version("gpt-test", "", {})
    assert base != extraction_version("gpt-other", None, None)
    assert base != extraction_version("gpt-test", "Only people.", None)
    assert base != extraction_version("gpt-test", None, {"type": "object"})


# --- configuration: cognee's LLM_* variables ----------------------------------------------


@pytest.mark.parametrize(
    ("model", "provider", "sent"),
    [
        ("openai/gpt-5-mini", "openai", "gpt-5-mini"),
        ("gpt-4o-mini", "openai", "gpt-4o-mini"),
        ("ollama/llama3.1:8b", "ollama", "llama3.1:8b"),
        ("llama3.1:8b", "ollama", "llama3.1:8b"),
        ("hosted_vllm/meta-llama/Llama-3.1-8B", "custom", "meta-llama/Llama-3.1-8B"),
        ("openai/meta-llama/Llama-3.1-8B", "custom", "meta-llama/Llama-3.1-8B"),
        ("meta-llama/Llama-3.1-8B", "custom", "meta-llama/Llama-3.1-8B"),
        ("openrouter/anthropic/claude-3.5-haiku", "custom", "anthropic/claude-3.5-haiku"),
    ],
)
def test_model_names_lose_their_litellm_route(model: str, provider: str, sent: str) -> None:
    assert api_model_name(model, provider) == sent


@pytest.mark.parametrize(
    ("endpoint", "provider", "base"),
    [
        (None, "openai", OPENAI_BASE_URL),
        (None, "custom", OPENAI_BASE_URL),
        (None, "ollama", OLLAMA_BASE_URL),
        ("http://localhost:11434", "ollama", "http://localhost:11434/v1"),
        ("http://localhost:11434/", "ollama", "http://localhost:11434/v1"),
        ("http://localhost:11434/v1", "ollama", "http://localhost:11434/v1"),
        ("https://openrouter.ai/api/v1/", "custom", "https://openrouter.ai/api/v1"),
        ("http://vllm:8000/v1/chat/completions", "openai_compatible", "http://vllm:8000/v1"),
        ("https://llm.example/anthropic", "anthropic", "https://llm.example/anthropic"),
    ],
)
def test_base_urls(endpoint: str | None, provider: str, base: str) -> None:
    assert api_base_url(endpoint, provider) == base


def test_a_provider_that_is_not_openai_compatible_needs_an_endpoint() -> None:
    with pytest.raises(ValueError, match="LLM_ENDPOINT"):
        open_chat(llm_settings(llm_provider="anthropic", llm_api_key="sk-x"))


def test_no_llm_configured_means_no_chat() -> None:
    assert open_chat(llm_settings()) is None


@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/"])
def test_cognee_env_with_prefixed_model_and_any_base_url_form(
    fake_llm: FakeOpenAI, suffix: str
) -> None:
    settings = llm_settings(
        llm_provider="custom",
        llm_model="openai/gpt-5-mini",
        llm_endpoint=fake_llm.root_url + suffix,
        llm_api_key=fake_llm.api_key,
    )
    chat = open_chat(settings)
    assert chat is not None
    assert chat.base_url == fake_llm.base_url
    assert run(lambda: extract(chat)).entities
    assert fake_llm.chat_bodies[0]["model"] == "gpt-5-mini"


def test_ollama_env_without_a_key(fake_llm: FakeOpenAI) -> None:
    fake_llm.configure(require_key=None)
    settings = llm_settings(
        llm_provider="ollama", llm_model="llama3.1:8b", llm_endpoint=fake_llm.root_url
    )
    chat = open_chat(settings)
    assert chat is not None
    assert run(lambda: extract(chat)).entities
    assert fake_llm.chat_bodies[0]["model"] == "llama3.1:8b"


def test_tools_share_one_limiter_per_endpoint_with_the_limits(fake_llm: FakeOpenAI) -> None:
    settings = llm_settings(
        llm_endpoint=fake_llm.base_url,
        llm_rate_limit_requests=50,
        llm_rate_limit_tokens=10_000,
        llm_max_concurrency=3,
        embedding_provider="openai_compatible",
        embedding_endpoint=fake_llm.base_url,
    )
    tools = open_tools(settings)
    chat, embedder = tools.chat, tools.embedder
    assert isinstance(chat, OpenAIChat) and isinstance(embedder, OpenAIEmbedder)
    assert chat.limiter is embedder.endpoint.limiter
    assert (chat.limiter.requests, chat.limiter.tokens, chat.limiter.concurrency) == (
        50,
        10_000,
        3,
    )
    assert chat.endpoint.timeout_seconds == settings.llm_timeout_seconds
    # Two processes' worth of tools never share state: nothing is cached at module level.
    assert open_tools(settings).chat is not chat


# --- the fake's embeddings -----------------------------------------------------------------


def test_fake_embeddings_are_deterministic_unit_vectors(fake_llm: FakeOpenAI) -> None:
    from tests.fake_openai import fake_embedding

    body = {"model": "text-embedding-3-small", "input": ["a", "b", "a"], "dimensions": 8}
    headers = {"Authorization": f"Bearer {fake_llm.api_key}"}
    answer = httpx.post(f"{fake_llm.base_url}/embeddings", json=body, headers=headers).json()

    vectors = [d["embedding"] for d in answer["data"]]
    assert len(vectors) == 3 and all(len(v) == 8 for v in vectors)
    assert vectors[0] == vectors[2] != vectors[1]
    assert abs(sum(x * x for x in vectors[0]) - 1) < 1e-5
    assert vectors[1] == pytest.approx(fake_embedding("b", 8).tolist())
    assert answer["usage"]["prompt_tokens"] == 3
    assert fake_llm.calls["embeddings"] == 1


def test_embeddings_come_as_base64_and_as_floats_where_base64_is_refused(
    fake_llm: FakeOpenAI,
) -> None:
    """Vectors are asked as base64 float32 and read exactly; an endpoint that refuses base64
    is asked for floats from then on (one refused call, the same vectors); an endpoint that
    answers floats anyway is read as well."""
    from tests.fake_openai import fake_embedding

    texts = ["Alice works at Acme.", "Bob lives in Paris."]
    expected = np.stack([fake_embedding(t, 8) for t in texts])

    def embed(embedder: OpenAIEmbedder) -> Any:
        async def one() -> Any:
            try:
                return await embedder.embed(texts)
            finally:
                await embedder.aclose()

        return run(one)

    def new() -> OpenAIEmbedder:
        return OpenAIEmbedder(fake_llm.base_url, "fake", fake_llm.api_key, dimensions=8)

    embedder = new()
    assert np.allclose(embed(embedder), expected, atol=1e-6)
    assert [r.body["encoding_format"] for r in fake_llm.requests] == ["base64"]

    fake_llm.reset()
    fake_llm.configure(reject_base64=True)
    embedder = new()
    assert np.allclose(embed(embedder), expected, atol=1e-6)
    assert np.allclose(embed(embedder), expected, atol=1e-6)
    assert [(r.body["encoding_format"], r.status) for r in fake_llm.requests] == [
        ("base64", 400),
        ("float", 200),
        ("float", 200),
    ]
