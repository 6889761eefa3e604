"""graphmill: a memory engine for AI applications, with a cognee-compatible REST API."""

__version__ = "0.1.0"

__all__ = ["__version__"]
