"""The package's layers: each package imports only the ones below it (imports inside
functions count), and importing one package alone pulls in nothing above it."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "graphmill"

# Packages and top-level modules, lowest layer first: each may import only layers below it.
# `services` opens everything; `api`, then `client` (in-process or HTTP) and `cli` sit on top.
LAYERS = [
    ["errors", "config"],
    ["logs"],
    ["db"],
    ["blobs", "auth"],
    ["graph"],
    ["catalog"],
    ["pipelines"],
    ["ingest"],
    ["cognify"],
    ["search"],
    ["memory"],
    ["services"],
    ["api"],
    ["client"],
    ["cli"],
]
ALLOWED: dict[str, set[str]] = {
    node: {lower for below in LAYERS[:level] for lower in below}
    for level, layer in enumerate(LAYERS)
    for node in layer
}
# The package's own __init__: the Python API, imported from `client` on first use only
# (test_a_package_imported_alone_loads_only_lower_layers checks that it stays lazy).
ALLOWED["graphmill"] = {"client"}


def node_of(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    if len(relative.parts) == 1:
        return "graphmill" if relative.stem == "__init__" else relative.stem
    return relative.parts[0]


def imported_nodes(path: Path) -> set[str]:
    """graphmill packages and top-level modules that a file imports, anywhere in it."""
    module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                if path.name != "__init__.py":
                    base = base[:-1]
                base = base[: len(base) - node.level + 1]
                names = [".".join([*base, node.module or ""]).rstrip(".")]
            elif node.module:
                names = [node.module]
            if names and names[0] == "graphmill":
                # `from graphmill import __version__` is the package itself, not a layer
                names = [f"graphmill.{a.name}" for a in node.names if not a.name.startswith("_")]
        for name in names:
            parts = name.split(".")
            if parts[0] == "graphmill" and len(parts) > 1:
                found.add(parts[1])
    return found


def test_every_node_has_a_layer() -> None:
    nodes = {node_of(p) for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts}
    assert nodes <= set(ALLOWED), f"add {sorted(nodes - set(ALLOWED))} to ALLOWED"


def test_imports_follow_the_layers() -> None:
    broken = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        source = node_of(path)
        for target in imported_nodes(path) - {source}:
            if target not in ALLOWED.get(source, set()):
                broken.append(f"{path.relative_to(ROOT)}: {source} imports {target}")
    assert not broken, "\n".join(broken)


@pytest.mark.parametrize(
    "package", ["db", "blobs", "auth", "graph", "catalog", "pipelines", "ingest", "cognify"]
)
def test_a_package_imported_alone_loads_only_lower_layers(package: str) -> None:
    code = (
        f"import json, sys, graphmill.{package}; "
        "print(json.dumps(sorted({m.split('.')[1] for m in sys.modules "
        "if m.startswith('graphmill.') and len(m.split('.')) > 1})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    loaded = set(json.loads(out)) - {package}
    assert loaded <= ALLOWED[package], sorted(loaded - ALLOWED[package])
