"""graphmill: a memory engine for AI applications, with a cognee-compatible REST API.

The Python API mirrors cognee's SDK::

    import graphmill
    await graphmill.add("docs/", dataset_name="docs")
    await graphmill.cognify(["docs"])
    answers = await graphmill.search("Who founded Velden Optics?", datasets=["docs"])
    await graphmill.remember("Marta likes lenses.", session_id="chat")  # add + cognify
    items = await graphmill.recall("What does Marta like?", session_id="chat")
    await graphmill.remember_entry(graphmill.QAEntry(question="?", answer="!"), session_id="chat")
    await graphmill.improve("docs", session_ids=["chat"])  # fold useful answers into the graph
    page = await graphmill.sessions.list_sessions()
    await graphmill.forget(dataset="docs")
    server = graphmill.connect("http://localhost:8000", api_key="...")  # the same methods

It is loaded on first use, so `import graphmill.<package>` stays as light as that package.
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "FeedbackEntry",
    "Graphmill",
    "QAEntry",
    "SearchType",
    "TraceEntry",
    "__version__",
    "add",
    "cognify",
    "connect",
    "datasets",
    "forget",
    "improve",
    "local",
    "recall",
    "remember",
    "remember_entry",
    "search",
    "sessions",
]

if TYPE_CHECKING:
    from graphmill.client.sdk import (
        FeedbackEntry,
        Graphmill,
        QAEntry,
        SearchType,
        TraceEntry,
        add,
        cognify,
        connect,
        datasets,
        forget,
        improve,
        local,
        recall,
        remember,
        remember_entry,
        search,
        sessions,
    )


def __getattr__(name: str) -> Any:
    if name in __all__:
        from graphmill.client import sdk

        return getattr(sdk, name)
    raise AttributeError(f"module 'graphmill' has no attribute {name!r}")


class _Package(types.ModuleType):
    """`graphmill.search` and `graphmill.cognify` are cognee's functions, as in cognee: the
    subpackages of those names stay importable by their full names (`graphmill.search.service`),
    but importing them does not replace the functions on the package."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in ("search", "cognify") and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
