"""What the knowledge graph is made of, as extraction produces it."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Entity:
    name: str
    type: str
    description: str = ""


@dataclass(frozen=True)
class Relation:
    source: str  # an Entity name
    target: str  # an Entity name
    name: str  # relation label, e.g. "works_at"
    description: str = ""


@dataclass
class Extraction:
    entities: list[Entity] = field(default_factory=list)
    relations: list[Relation] = field(default_factory=list)


def normalize_name(name: str) -> str:
    """The key two names of one entity share: case, accents, punctuation, a leading "the" and a
    possessive "'s" ignored ("The Lancet" = "lancet", "Christie's" = "Christie")."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode() or name
    text = re.sub(r"['’]s\b", "", text.casefold())
    text = " ".join(re.sub(r"[^\w\s]", " ", text).split())
    if text.startswith("the "):
        text = text[4:]
    return text or name.casefold().strip()
