"""One protocol for the CLI and the Python API, in-process (`LocalClient`) or over HTTP
(`RemoteClient`); both answer with the REST API's wire schemas.

Loaded on first use: a remote-mode command never imports the database layer."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "Client",
    "LocalClient",
    "RemoteClient",
    "Source",
    "find_data",
    "find_dataset",
    "sources_of",
]

if TYPE_CHECKING:
    from graphmill.client.base import Client, Source, find_data, find_dataset, sources_of
    from graphmill.client.local import LocalClient
    from graphmill.client.remote import RemoteClient

_HOMES = {"LocalClient": "local", "RemoteClient": "remote"}


def __getattr__(name: str) -> Any:
    if name in __all__:
        module = importlib.import_module(f"graphmill.client.{_HOMES.get(name, 'base')}")
        return getattr(module, name)
    raise AttributeError(f"module 'graphmill.client' has no attribute {name!r}")
