"""The LLM side of cognify: an OpenAI-compatible chat client, its rate limiter, the prompts.

How failures leave this module (the engine retries the first kind, fails the item on the rest):

- 429 (except an exhausted quota), 408, 5xx, timeouts, dropped connections: `TransientError`,
  after a `Retry-After` pause has been set on the shared limiter;
- 401/403: `StepFailed("llm_auth")`; 402 and 429 `insufficient_quota`:
  `StepFailed("llm_payment_required")`; any other 4xx: `StepFailed("llm_error")`;
- output still invalid after one repair request: `StepFailed("llm_invalid_output")`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from graphmill.cognify.ratelimit import RateLimiter, retry_after_seconds
from graphmill.cognify.types import ChatModel, Entity, Extraction, LLMUsage, Relation
from graphmill.config import Settings
from graphmill.pipelines.engine import StepFailed, TransientError

log = logging.getLogger("graphmill.cognify.llm")

PROMPT_VERSION = "graphmill-llm-1"  # bump when a prompt or schema below changes
DEFAULT_MODEL = "openai/gpt-5-mini"  # cognee's default LLM_MODEL
OPENAI_BASE_URL = "https://api.openai.com/v1"
OLLAMA_BASE_URL = "http://localhost:11434/v1"
OPENAI_COMPATIBLE_PROVIDERS = frozenset({"openai", "custom", "ollama", "openai_compatible"})
# cognee hands LLM_MODEL to litellm, which reads a leading "<route>/" as the route and sends the
# rest as the model name; these routes all end at an OpenAI-compatible /chat/completions.
ROUTE_PREFIXES = OPENAI_COMPATIBLE_PROVIDERS | {
    *("custom_openai", "ollama_chat", "hosted_vllm", "lm_studio", "openrouter", "together_ai"),
}
COMPLETION_ALLOWANCE = 256  # tokens assumed for an answer until the real usage is known


class _FormatRejected(Exception):
    """The endpoint refused the requested response_format."""


def api_model_name(model: str, provider: str) -> str:
    """The model name to send: cognee's litellm-style `openai/gpt-5-mini` loses its route."""
    route, sep, rest = model.partition("/")
    if sep and rest and route.lower() in ROUTE_PREFIXES | {provider.lower()}:
        return rest
    return model


def api_base_url(endpoint: str | None, provider: str) -> str:
    """The base URL that `/chat/completions` is appended to.

    Unset: OpenAI's API (Ollama's local one for `ollama`). A URL without a path, such as
    cognee users' `http://localhost:11434`, gets `/v1`, where OpenAI-compatible servers
    (Ollama, vLLM, LM Studio, llama.cpp) serve; a pasted `.../chat/completions` is trimmed.
    """
    provider = provider.lower()
    if not endpoint or not endpoint.strip():
        if provider == "ollama":
            return OLLAMA_BASE_URL
        if provider in OPENAI_COMPATIBLE_PROVIDERS:
            return OPENAI_BASE_URL
        raise ValueError(
            f"LLM_PROVIDER={provider} is not OpenAI-compatible: set LLM_ENDPOINT to an "
            "OpenAI-compatible URL, or use openai, custom, ollama or openai_compatible"
        )
    url = endpoint.strip().rstrip("/").removesuffix("/chat/completions")
    if urlsplit(url).path in ("", "/"):
        url += "/v1"
    return url


class OpenAIChat:
    """A `ChatModel` over POST {base_url}/chat/completions of any OpenAI-compatible server.

    Asks for `json_schema` structured output; where the endpoint refuses it or answers with
    invalid JSON, asks again in `json_object` mode with the schema in the prompt, and sends
    one repair request when that answer does not validate.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        *,
        limiter: RateLimiter | None = None,
        timeout_seconds: float = 120.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.limiter = limiter or RateLimiter()
        self.timeout_seconds = timeout_seconds
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client: httpx.AsyncClient | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None
        self._schema_refused: set[str] = set()  # schema names the endpoint refused as json_schema
        self._json_mode_refused = False

    async def complete_json(
        self, system: str, user: str, schema: dict[str, Any], usage: LLMUsage
    ) -> dict[str, Any]:
        """A JSON object valid against `schema`; usage gains every HTTP call made."""
        name = schema_name(schema)
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        if name not in self._schema_refused:
            response_format = {
                "type": "json_schema",
                "json_schema": {"name": name, "schema": schema, "strict": is_strict(schema)},
            }
            try:
                answer = await self._chat(messages, response_format, usage)
            except _FormatRejected as exc:
                self._schema_refused.add(name)
                self._note_fallback(name, f"json_schema refused: {exc}")
            else:
                value, problem = parse_json_answer(answer, schema)
                if value is not None:
                    return value
                self._note_fallback(name, f"json_schema answer invalid: {problem}")

        messages[0] = {"role": "system", "content": system + json_instructions(schema)}
        answer = await self._chat_json_mode(messages, usage)
        value, problem = parse_json_answer(answer, schema)
        if value is not None:
            return value
        messages += [
            {"role": "assistant", "content": answer},
            {"role": "user", "content": REPAIR_PROMPT.format(problem=problem)},
        ]
        answer = await self._chat_json_mode(messages, usage)
        value, problem = parse_json_answer(answer, schema)
        if value is not None:
            return value
        raise StepFailed(
            "llm_invalid_output",
            f"{self.model} gave no valid {name} JSON after one repair request: {problem}",
        )

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _chat_json_mode(self, messages: list[dict[str, str]], usage: LLMUsage) -> str:
        if not self._json_mode_refused:
            try:
                return await self._chat(messages, {"type": "json_object"}, usage)
            except _FormatRejected as exc:
                self._json_mode_refused = True
                self._note_fallback("json_object", f"json_object refused: {exc}")
        return await self._chat(messages, None, usage)

    def _http(self) -> httpx.AsyncClient:
        # A client's connection pool belongs to one event loop; a new loop gets a new client.
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            self._client = httpx.AsyncClient(timeout=self.timeout_seconds, headers=self._headers)
            self._client_loop = loop
        return self._client

    async def _chat(
        self,
        messages: list[dict[str, str]],
        response_format: dict[str, Any] | None,
        usage: LLMUsage,
    ) -> str:
        body: dict[str, Any] = {"model": self.model, "messages": messages}
        if response_format is not None:
            body["response_format"] = response_format
        estimate = len(json.dumps(body)) // 4 + COMPLETION_ALLOWANCE
        async with self.limiter.reserve(estimate) as reservation:
            try:
                async with asyncio.timeout(self.timeout_seconds):
                    response = await self._http().post(
                        f"{self.base_url}/chat/completions", json=body
                    )
            except (TimeoutError, httpx.TimeoutException) as exc:
                reservation.settle(0)
                raise TransientError(
                    f"LLM call to {self.base_url} timed out after {self.timeout_seconds:g} s"
                ) from exc
            except httpx.TransportError as exc:
                reservation.settle(0)
                raise TransientError(
                    f"LLM endpoint {self.base_url} unreachable: {type(exc).__name__}: {exc}"
                ) from exc
            usage.calls += 1
            try:
                payload = response.json()
            except ValueError:
                payload = None
            tokens_in, tokens_out = _usage_of(payload)
            usage.tokens_in += tokens_in
            usage.tokens_out += tokens_out
            if tokens_in or tokens_out or response.status_code != 200:
                reservation.settle(tokens_in + tokens_out)
            if response.status_code != 200:
                self._raise_for_status(response, payload, response_format)
            return _content_of(payload, self.base_url)

    def _raise_for_status(
        self, response: httpx.Response, payload: Any, response_format: dict[str, Any] | None
    ) -> None:
        status = response.status_code
        message = _error_message(payload, response.text)
        detail = f"LLM endpoint answered {status}: {message}"
        if status == 429 and _error_code(payload) == "insufficient_quota":
            raise StepFailed("llm_payment_required", detail)
        if status in (429, 503):
            pause = retry_after_seconds(response.headers)
            if pause is not None:
                self.limiter.pause(pause)
                log.warning(
                    "LLM endpoint asked for a %.1f s pause",
                    pause,
                    extra={"action": "llm.pause", "status": status, "seconds": pause},
                )
        if status in (408, 409, 429) or status >= 500:
            raise TransientError(detail)
        if status in (401, 403):
            raise StepFailed("llm_auth", f"{detail} (check LLM_API_KEY)")
        if status == 402:
            raise StepFailed("llm_payment_required", detail)
        if (
            status in (400, 422)
            and response_format is not None
            and re.search(r"response_format|json_schema|json_object", response.text)
        ):
            raise _FormatRejected(message)
        if status == 404:
            detail += f" (check LLM_ENDPOINT {self.base_url} and LLM_MODEL {self.model})"
        raise StepFailed("llm_error", detail)

    def _note_fallback(self, schema: str, reason: str) -> None:
        log.info(
            "LLM fallback for %s: %s",
            schema,
            reason,
            extra={"action": "llm.fallback", "model": self.model, "schema": schema},
        )


def _usage_of(payload: Any) -> tuple[int, int]:
    usage = payload.get("usage") if isinstance(payload, dict) else None
    if not isinstance(usage, dict):
        return 0, 0
    tokens_in, tokens_out = usage.get("prompt_tokens"), usage.get("completion_tokens")
    return (
        tokens_in if isinstance(tokens_in, int) else 0,
        tokens_out if isinstance(tokens_out, int) else 0,
    )


def _content_of(payload: Any, base_url: str) -> str:
    try:
        message = payload["choices"][0]["message"]
    except (KeyError, IndexError, TypeError):
        raise StepFailed(
            "llm_error",
            f"{base_url}/chat/completions answered without choices[0].message; "
            "is LLM_ENDPOINT an OpenAI-compatible API?",
        ) from None
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, list):  # some servers answer with content parts
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    if not isinstance(content, str):
        refusal = message.get("refusal") if isinstance(message, dict) else None
        return f"(no content{f'; refusal: {refusal}' if refusal else ''})"
    return content


def _error_message(payload: Any, text: str) -> str:
    if isinstance(payload, dict):
        error = payload.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return error["message"][:1000]
        if isinstance(error, str):
            return error[:1000]
        if isinstance(payload.get("detail"), str):
            return str(payload["detail"])[:1000]
    return text.strip()[:1000] or "(empty body)"


def _error_code(payload: Any) -> str | None:
    error = payload.get("error") if isinstance(payload, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else None


# --- JSON answers and the schema subset we validate ----------------------------------------

REPAIR_PROMPT = (
    "Your answer is not valid: {problem}\n"
    "Answer again with only the corrected JSON object, matching the schema exactly."
)


def schema_name(schema: dict[str, Any]) -> str:
    """The schema's title as an OpenAI schema name (letters, digits, _ and -; 64 at most)."""
    title = schema.get("title")
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", title if isinstance(title, str) else "")[:64]
    return name.strip("_") or "response"


def json_instructions(schema: dict[str, Any]) -> str:
    """What json_object mode adds to the system prompt: the schema, spelled out."""
    return (
        "\n\nAnswer with a single JSON object and nothing else. It must be valid against this "
        "JSON schema:\n```json\n" + json.dumps(schema, indent=1) + "\n```"
    )


def is_strict(schema: dict[str, Any]) -> bool:
    """Whether OpenAI's strict mode accepts the schema: closed objects, every field required."""

    def check(node: Any) -> bool:
        if isinstance(node, list):
            return all(check(n) for n in node)
        if not isinstance(node, dict):
            return True
        if "properties" in node or node.get("type") == "object":
            properties = node.get("properties", {})
            if node.get("additionalProperties") is not False:
                return False
            if set(node.get("required", [])) != set(properties):
                return False
        return all(check(v) for k, v in node.items() if k not in ("enum", "const", "default"))

    return check(schema)


def parse_json_answer(
    answer: str, schema: dict[str, Any]
) -> tuple[dict[str, Any] | None, str | None]:
    """(object, None) when `answer` is a JSON object valid against `schema`, else (None, why)."""
    text = answer.strip()
    fenced = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", text, flags=re.DOTALL)
    if fenced:
        text = fenced.group(1)
    try:
        value = json.loads(text)
    except ValueError as exc:
        return None, f"not JSON ({exc}); the answer began {answer[:200]!r}"
    if not isinstance(value, dict):
        return None, f"expected a JSON object, got {type(value).__name__}"
    errors = schema_errors(value, schema)
    if errors:
        return None, "; ".join(errors[:5])
    return value, None


_JSON_TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def schema_errors(value: Any, schema: Any, root: dict[str, Any] | None = None) -> list[str]:
    """Where `value` breaks `schema`, for the subset that structured output uses: type,
    properties, required, additionalProperties, items, enum, const, anyOf/oneOf/allOf and
    local `$ref`s (resolved in `root`, default `schema`). Other keywords are not checked."""
    errors: list[str] = []
    _check(value, schema, root if root is not None else schema, "$", errors)
    return errors


def _resolve_ref(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    seen = 0
    while isinstance(schema.get("$ref"), str) and seen < 32:
        node: Any = root
        for part in schema["$ref"].removeprefix("#").strip("/").split("/"):
            node = node.get(part.replace("~1", "/").replace("~0", "~"), {}) if part else node
            if not isinstance(node, dict):
                return {}
        schema, seen = node, seen + 1
    return schema


def _check(value: Any, schema: Any, root: dict[str, Any], path: str, errors: list[str]) -> None:
    if not isinstance(schema, dict):
        return
    schema = _resolve_ref(schema, root)
    for branch in schema.get("allOf", []):
        _check(value, branch, root, path, errors)
    for keyword in ("anyOf", "oneOf"):
        branches = schema.get(keyword)
        if branches and all(schema_errors(value, b, root) for b in branches):
            errors.append(f"{path}: matches none of the {keyword} alternatives")
            return
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} is not one of {schema['enum']!r}")
    if "const" in schema and value != schema["const"]:
        errors.append(f"{path}: must be {schema['const']!r}")
    expected = schema.get("type")
    if expected is not None:
        types = expected if isinstance(expected, list) else [expected]
        if not any(_JSON_TYPES.get(t, lambda v: True)(value) for t in types):
            errors.append(f"{path}: expected {' or '.join(types)}, got {_json_type(value)}")
            return
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                errors.append(f"{path}: missing required field {name!r}")
        extra = schema.get("additionalProperties", True)
        for name, item in value.items():
            if name in properties:
                _check(item, properties[name], root, f"{path}.{name}", errors)
            elif extra is False:
                errors.append(f"{path}: unexpected field {name!r}")
            elif isinstance(extra, dict):
                _check(item, extra, root, f"{path}.{name}", errors)
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            _check(item, schema["items"], root, f"{path}[{i}]", errors)


def _json_type(value: Any) -> str:
    return next((t for t, test in _JSON_TYPES.items() if t != "number" and test(value)), "number")


# --- extraction and summaries ------------------------------------------------------------

EXTRACTION_PROMPT = """\
You extract a knowledge graph from text.
Entities are the people, organisations, places, products, events, concepts and other \
specific things the text talks about. Give each one:
- name: as written in the text, its most complete form, the same spelling each time;
- type: a short general category in singular form, e.g. Person, Organization, Location;
- description: one sentence about it, from the text only.
Relations connect two extracted entities: source and target are entity names exactly as in \
the entity list, relation is a short snake_case verb phrase (works_at, located_in, part_of), \
description says what the text states about the link.
Use only facts stated in the text. Do not invent entities or relations."""

GRAPH_MODEL_NOTE = """

Fill in the given graph model from the text. Objects with a name are entities; an object \
nested in another is related to it through the field that holds it; edge objects (with a \
source and a target) link entities by their id or name."""

SUMMARY_PROMPT = """\
Summarise the text in at most three sentences, in the language of the text. Keep the names, \
numbers and dates that matter. Answer with the summary only, no preamble."""


def _string(description: str) -> dict[str, Any]:
    return {"type": "string", "description": description}


def _closed(properties: dict[str, Any], title: str | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"title": title} if title else {}
    return schema | {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


GRAPH_SCHEMA = _closed(
    {
        "entities": {
            "type": "array",
            "items": _closed(
                {
                    "name": _string("The entity's name as written in the text"),
                    "type": _string("A short general category, e.g. Person"),
                    "description": _string("One sentence about the entity"),
                }
            ),
        },
        "relations": {
            "type": "array",
            "items": _closed(
                {
                    "source": _string("Name of the source entity"),
                    "target": _string("Name of the target entity"),
                    "relation": _string("Short snake_case relation name, e.g. works_at"),
                    "description": _string("What the text says about the relation"),
                }
            ),
        },
    },
    title="knowledge_graph",
)

SUMMARY_SCHEMA = _closed({"summary": _string("The summary")}, title="summary")


class _EntityOut(BaseModel):
    name: str
    type: str = ""
    description: str = ""


class _RelationOut(BaseModel):
    source: str
    target: str
    relation: str
    description: str = ""


class _GraphOut(BaseModel):
    entities: list[_EntityOut]
    relations: list[_RelationOut]


_GRAPH = TypeAdapter(_GraphOut)


def extraction_version(
    model: str, custom_prompt: str | None, graph_schema: dict[str, Any] | None
) -> str:
    """What an extraction depends on besides the text: a cache key part for derived work."""
    spec = json.dumps(
        [PROMPT_VERSION, model, custom_prompt or "", graph_schema or {}], sort_keys=True
    )
    return f"{PROMPT_VERSION}:{hashlib.sha256(spec.encode()).hexdigest()[:16]}"


async def extract_graph(
    chat: ChatModel,
    text: str,
    custom_prompt: str | None,
    graph_schema: dict[str, Any] | None,
    usage: LLMUsage,
) -> Extraction:
    """Entities and relations of `text`; relations between unextracted entities are dropped.

    A custom prompt replaces the default instructions; a graph schema (cognee's graph_model as
    a JSON schema) is the response schema, and its answer is mapped onto entities/relations.
    """
    system = custom_prompt.strip() if custom_prompt and custom_prompt.strip() else None
    if not graph_schema:
        data = await chat.complete_json(system or EXTRACTION_PROMPT, text, GRAPH_SCHEMA, usage)
        try:
            graph = _GRAPH.validate_python(data)
        except ValidationError as exc:
            raise StepFailed("llm_invalid_output", f"unexpected graph: {exc}") from exc
        entities = [Entity(e.name, e.type, e.description) for e in graph.entities]
        relations = [
            Relation(r.source, r.target, r.relation, r.description) for r in graph.relations
        ]
        return _consistent(entities, relations)
    if _resolve_ref(graph_schema, graph_schema).get("type", "object") != "object":
        raise StepFailed("invalid_graph_schema", "the dataset's graph schema must be an object")
    prompt = (system or EXTRACTION_PROMPT) + GRAPH_MODEL_NOTE
    data = await chat.complete_json(prompt, text, graph_schema, usage)
    return _from_graph_model(data, graph_schema)


async def summarize(chat: ChatModel, text: str, usage: LLMUsage) -> str:
    """A short summary of `text`."""
    data = await chat.complete_json(SUMMARY_PROMPT, text, SUMMARY_SCHEMA, usage)
    return str(data["summary"]).strip()


_SOURCE_KEYS = ("source_node_id", "source_id", "source", "from")
_TARGET_KEYS = ("target_node_id", "target_id", "target", "to")
_RELATION_KEYS = ("relationship_name", "relation", "relationship", "label", "name", "type")


def _first_string(value: dict[str, Any], keys: tuple[str, ...]) -> str:
    return next((v.strip() for k in keys if isinstance(v := value.get(k), str) and v.strip()), "")


def _from_graph_model(data: dict[str, Any], root: dict[str, Any]) -> Extraction:
    """Entities and relations from an answer shaped by a custom graph model.

    Objects with a `name` (or `id`) are entities, typed by their `type` field or their schema's
    title; objects with a source and a target are edges; an entity nested in another is
    related to it through the field's name.
    """
    entities: list[Entity] = []
    relations: list[Relation] = []
    names_by_id: dict[str, str] = {}

    def visit(value: Any, schema: Any, parent: str | None, field: str | None) -> None:
        schema = _branch_for(value, schema, root)
        if isinstance(value, list):
            items = schema.get("items", {})
            for item in value:
                visit(item, items, parent, field)
            return
        if not isinstance(value, dict):
            return
        properties = schema.get("properties", {})
        source, target = _first_string(value, _SOURCE_KEYS), _first_string(value, _TARGET_KEYS)
        if source and target:
            label = _first_string(value, _RELATION_KEYS) or field or "related_to"
            relations.append(
                Relation(source, target, label, _first_string(value, ("description",)))
            )
            return
        name = _first_string(value, ("name", "id"))
        if name:
            kind = _first_string(value, ("type",)) or str(schema.get("title") or field or "Entity")
            entities.append(Entity(name, kind, _first_string(value, ("description",))))
            if node_id := _first_string(value, ("id",)):
                names_by_id[node_id] = name
            if parent is not None and field is not None:
                relations.append(Relation(parent, name, field))
            parent = name
        for key, item in value.items():
            if isinstance(item, dict | list):
                visit(item, properties.get(key, {}), parent, key)

    visit(data, root, None, None)
    relations = [
        Relation(
            names_by_id.get(r.source, r.source),
            names_by_id.get(r.target, r.target),
            r.name,
            r.description,
        )
        for r in relations
    ]
    return _consistent(entities, relations)


def _branch_for(value: Any, schema: Any, root: dict[str, Any]) -> dict[str, Any]:
    """The (resolved) schema that describes `value`, choosing among anyOf/oneOf alternatives."""
    if not isinstance(schema, dict):
        return {}
    schema = _resolve_ref(schema, root)
    for keyword in ("anyOf", "oneOf"):
        for branch in schema.get(keyword, []):
            resolved = _resolve_ref(branch, root) if isinstance(branch, dict) else {}
            if not schema_errors(value, resolved, root):
                return resolved
    return schema


def _consistent(entities: list[Entity], relations: list[Relation]) -> Extraction:
    """Trimmed, deduplicated entities (first spelling wins, case-insensitively) and the
    relations whose two ends are among them."""
    by_key: dict[str, Entity] = {}
    for entity in entities:
        name = " ".join(entity.name.split())
        if name and name.casefold() not in by_key:
            by_key[name.casefold()] = Entity(
                name, entity.type.strip() or "Entity", entity.description.strip()
            )
    kept: dict[tuple[str, str, str], Relation] = {}
    for relation in relations:
        source = by_key.get(" ".join(relation.source.split()).casefold())
        target = by_key.get(" ".join(relation.target.split()).casefold())
        label = relation.name.strip()
        if source is None or target is None or not label:
            continue
        key = (source.name, target.name, label)
        kept.setdefault(
            key, Relation(source.name, target.name, label, relation.description.strip())
        )
    return Extraction(list(by_key.values()), list(kept.values()))


# --- configuration -------------------------------------------------------------------------

_limiters: dict[tuple[Any, ...], RateLimiter] = {}
_limiters_lock = threading.Lock()


def shared_limiter(settings: Settings, base_url: str) -> RateLimiter:
    """The process's limiter for one endpoint and set of limits (built on first use)."""
    key = (
        base_url,
        settings.llm_rate_limit_requests,
        settings.llm_rate_limit_tokens,
        settings.llm_max_concurrency,
        settings.llm_rate_limit_interval,
    )
    with _limiters_lock:
        if key not in _limiters:
            _limiters[key] = RateLimiter(
                requests=settings.llm_rate_limit_requests,
                tokens=settings.llm_rate_limit_tokens,
                concurrency=settings.llm_max_concurrency,
                window_seconds=settings.llm_rate_limit_interval,
            )
        return _limiters[key]


def open_chat(settings: Settings) -> OpenAIChat | None:
    """The configured LLM, or None when no LLM_* setting is given (the offline extractor runs).

    Raises ValueError for a provider that is not OpenAI-compatible and has no LLM_ENDPOINT.
    """
    if not settings.llm_configured:
        return None
    provider = settings.llm_provider.strip().lower() or "openai"
    base_url = api_base_url(settings.llm_endpoint, provider)
    return OpenAIChat(
        base_url,
        api_model_name(settings.llm_model or DEFAULT_MODEL, provider),
        settings.llm_api_key,
        limiter=shared_limiter(settings, base_url),
        timeout_seconds=settings.llm_timeout_seconds,
    )
