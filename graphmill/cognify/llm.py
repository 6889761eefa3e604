"""The LLM side of cognify: a chat model over an OpenAI-compatible endpoint, and the prompts.

Failures leave through `client.Endpoint` (its table maps statuses to step errors); this module
adds one: output still invalid after one repair request is `StepFailed("llm_invalid_output")`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ConfigDict, TypeAdapter, ValidationError, with_config
from typing_extensions import TypedDict

from graphmill.cognify.client import Endpoint, Refused, api_base_url, api_model_name
from graphmill.cognify.ratelimit import RateLimiter
from graphmill.cognify.types import ChatModel, LLMUsage
from graphmill.errors import StepFailed
from graphmill.graph.model import Entity, Extraction, Relation

if TYPE_CHECKING:
    from graphmill.config import Settings

log = logging.getLogger("graphmill.cognify.llm")

PROMPT_VERSION = "graphmill-llm-1"  # bump when a prompt or schema below changes
DEFAULT_MODEL = "openai/gpt-5-mini"  # cognee's default LLM_MODEL
COMPLETION_ALLOWANCE = 256  # tokens assumed for an answer until the real usage is known


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
        self.model = model
        self.endpoint = Endpoint(
            "llm", base_url, api_key, limiter or RateLimiter(), timeout_seconds
        )
        self._schema_refused: set[str] = set()  # schema names the endpoint refused as json_schema
        self._json_mode_refused = False

    @property
    def base_url(self) -> str:
        return self.endpoint.base_url

    @property
    def limiter(self) -> RateLimiter:
        return self.endpoint.limiter

    async def complete_json(
        self, system: str, user: str, schema: dict[str, Any], usage: LLMUsage
    ) -> dict[str, Any]:
        """A JSON object valid against `schema`; usage gains every HTTP call made."""
        prepared = _PREPARED.get(id(schema))
        name, strict = (
            (prepared.name, prepared.strict)
            if prepared is not None
            else (schema_name(schema), is_strict(schema))
        )
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        if name not in self._schema_refused:
            response_format = {
                "type": "json_schema",
                "json_schema": {"name": name, "schema": schema, "strict": strict},
            }
            try:
                answer = await self._chat(messages, response_format, usage)
            except Refused as exc:
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
        await self.endpoint.aclose()

    async def _chat_json_mode(self, messages: list[dict[str, str]], usage: LLMUsage) -> str:
        if not self._json_mode_refused:
            try:
                return await self._chat(messages, {"type": "json_object"}, usage)
            except Refused as exc:
                self._json_mode_refused = True
                self._note_fallback("json_object", f"json_object refused: {exc}")
        return await self._chat(messages, None, usage)

    async def _chat(
        self,
        messages: list[dict[str, str]],
        response_format: dict[str, Any] | None,
        usage: LLMUsage,
    ) -> str:
        body: dict[str, Any] = {"model": self.model, "messages": messages}
        if response_format is not None:
            body["response_format"] = response_format
        estimate = sum(len(m["content"]) for m in messages) // 4 + COMPLETION_ALLOWANCE
        try:
            payload = await self.endpoint.post(
                "/chat/completions", body, estimate, usage, refusable=response_format is not None
            )
        except Refused as exc:
            if re.search(r"response_format|json_schema|json_object", exc.text):
                raise
            raise StepFailed("llm_error", f"LLM endpoint answered {exc.status}: {exc}") from exc
        return _content_of(payload, self.base_url)

    def _note_fallback(self, schema: str, reason: str) -> None:
        log.info(
            "LLM fallback for %s: %s",
            schema,
            reason,
            extra={"action": "llm.fallback", "model": self.model, "schema": schema},
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
    prepared = _PREPARED.get(id(schema))
    if prepared is not None:
        # A built-in schema: parsed and checked in one pass by pydantic-core (about a tenth of
        # the generic walk below, which then only runs to say what is wrong).
        try:
            return prepared.answer.validate_json(text), None
        except ValidationError:
            pass
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

# The default extraction (no graph model) asks for the graph and the chunk's summary in one
# call: half the calls of asking apart, each with the same instructions as when alone.
CHUNK_PROMPT_NOTE = """

Also give summary: a summary of the whole text in at most three sentences, in the language \
of the text, keeping the names, numbers and dates that matter."""

CHUNK_SCHEMA = _closed(
    {**GRAPH_SCHEMA["properties"], "summary": _string("The summary")},
    title="knowledge_graph_and_summary",
)


# The built-in schemas as typed dicts, for `parse_json_answer`'s one-pass check: closed objects
# (extra fields refused), every field required, strings only as JSON strings (strict: no
# coercion), exactly what `schema_errors` accepts for the schemas above (a test compares them).
_CLOSED = ConfigDict(extra="forbid", strict=True)


@with_config(_CLOSED)
class _EntityAnswer(TypedDict):
    name: str
    type: str
    description: str


@with_config(_CLOSED)
class _RelationAnswer(TypedDict):
    source: str
    target: str
    relation: str
    description: str


@with_config(_CLOSED)
class _GraphAnswer(TypedDict):
    entities: list[_EntityAnswer]
    relations: list[_RelationAnswer]


@with_config(_CLOSED)
class _ChunkAnswer(_GraphAnswer):
    summary: str


@with_config(_CLOSED)
class _SummaryAnswer(TypedDict):
    summary: str


@dataclass(frozen=True)
class _Prepared:
    """What a built-in schema needs per call, worked out once."""

    name: str
    strict: bool
    answer: TypeAdapter[Any]  # the one-pass check of `parse_json_answer`


# By the schemas' ids (module constants: their ids are never reused).
_PREPARED = {
    id(schema): _Prepared(schema_name(schema), is_strict(schema), TypeAdapter(answer))
    for schema, answer in (
        (GRAPH_SCHEMA, _GraphAnswer),
        (CHUNK_SCHEMA, _ChunkAnswer),
        (SUMMARY_SCHEMA, _SummaryAnswer),
    )
}


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
    system = _system(custom_prompt)
    if not graph_schema:
        data = await chat.complete_json(system or EXTRACTION_PROMPT, text, GRAPH_SCHEMA, usage)
        return _graph_of(data)
    if _resolve_ref(graph_schema, graph_schema).get("type", "object") != "object":
        raise StepFailed("invalid_graph_schema", "the dataset's graph schema must be an object")
    prompt = (system or EXTRACTION_PROMPT) + GRAPH_MODEL_NOTE
    data = await chat.complete_json(prompt, text, graph_schema, usage)
    return _from_graph_model(data, graph_schema)


async def extract_and_summarize(
    chat: ChatModel, text: str, custom_prompt: str | None, usage: LLMUsage
) -> tuple[Extraction, str]:
    """`extract_graph` without a graph model and `summarize`, in one call."""
    system = (_system(custom_prompt) or EXTRACTION_PROMPT) + CHUNK_PROMPT_NOTE
    data = await chat.complete_json(system, text, CHUNK_SCHEMA, usage)
    return _graph_of(data), str(data["summary"]).strip()


def _system(custom_prompt: str | None) -> str | None:
    """A custom prompt replaces the default extraction instructions."""
    return custom_prompt.strip() if custom_prompt and custom_prompt.strip() else None


def _graph_of(data: dict[str, Any]) -> Extraction:
    """The graph of an answer valid against GRAPH_SCHEMA or CHUNK_SCHEMA (a ChatModel's
    contract, checked by `OpenAIChat.complete_json`: not validated twice)."""
    entities = [Entity(e["name"], e["type"], e["description"]) for e in data["entities"]]
    relations = [
        Relation(r["source"], r["target"], r["relation"], r["description"])
        for r in data["relations"]
    ]
    return _consistent(entities, relations)


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


def open_chat(settings: Settings, limiter: RateLimiter | None = None) -> OpenAIChat | None:
    """The configured LLM, or None when no LLM_* setting is given (the offline extractor runs).

    Raises ValueError for a provider that is not OpenAI-compatible and has no LLM_ENDPOINT.
    """
    if not settings.llm_configured:
        return None
    provider = settings.llm_provider.strip().lower() or "openai"
    return OpenAIChat(
        api_base_url(settings.llm_endpoint, provider),
        api_model_name(settings.llm_model or DEFAULT_MODEL, provider),
        settings.llm_api_key,
        limiter=limiter,
        timeout_seconds=settings.llm_timeout_seconds,
    )
