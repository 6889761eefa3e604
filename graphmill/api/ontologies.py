"""`/api/v1/ontologies`: graphmill has no ontologies, so the list is empty, an upload is
refused (400, saying why) and no key can be deleted."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from graphmill.api.deps import UserDep
from graphmill.errors import UnknownOntology, UnsupportedOption

router = APIRouter()


@router.get("")
async def list_ontologies(user: UserDep) -> dict[str, Any]:
    """cognee's map of ontology key to metadata: always empty."""
    return {}


@router.post("")
async def upload_ontology(user: UserDep) -> None:
    """Refused without reading the upload."""
    raise UnsupportedOption(
        "graphmill does not support ontologies: cognify and remember cannot use one "
        "(describe the graph to extract with graph_model instead)"
    )


@router.delete("/{ontology_key}")
async def delete_ontology(ontology_key: str, user: UserDep) -> None:
    raise UnknownOntology()
