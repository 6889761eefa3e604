"""One protocol for the CLI and the Python API, in-process (`LocalClient`) or over HTTP
(`RemoteClient`); both answer with the REST API's wire schemas."""

from __future__ import annotations

from graphmill.client.base import Client, Source, find_data, find_dataset, sources_of
from graphmill.client.local import LocalClient
from graphmill.client.remote import RemoteClient

__all__ = [
    "Client",
    "LocalClient",
    "RemoteClient",
    "Source",
    "find_data",
    "find_dataset",
    "sources_of",
]
