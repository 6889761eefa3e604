"""The README documents every setting, route and CLI command; the public API is deliberate."""

from __future__ import annotations

import re
from pathlib import Path

import click

import graphmill
from graphmill.api.app import create_app
from graphmill.cli import cli
from graphmill.config import Settings

README = (Path(__file__).parent.parent / "README.md").read_text()


def test_every_setting_is_in_the_readme_with_help_text() -> None:
    for name, field in Settings.model_fields.items():
        env = field.validation_alias.choices[0]  # type: ignore[union-attr]
        assert f"| `{env}` |" in README, f"setting {name} ({env}) is not documented"
        assert field.description, f"setting {name} has no help text"


def test_every_route_is_in_the_readme() -> None:
    app = create_app(Settings(_env_file=None))
    documented = README
    # Routers included in the app are not all in `app.routes` (FastAPI keeps them as included
    # routers): the OpenAPI document lists every one.
    paths = {getattr(route, "path", None) for route in app.routes} | set(app.openapi()["paths"])
    assert "/api/v1/datasets/{dataset_id}/graph" in paths
    for path in sorted(p for p in paths if p):
        if path.startswith(("/docs", "/redoc", "/openapi")):
            continue
        pattern = re.sub(
            r"\{[^}]+\}", "{[^}]+}", re.escape(path).replace(r"\{", "{").replace(r"\}", "}")
        )
        assert re.search(f"`{pattern}(`| )", documented), f"route {path} is not in the README"


def _command_lines(group: click.Group, prefix: str) -> list[str]:
    lines = []
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            lines += _command_lines(command, f"{prefix} {name}")
        else:
            lines.append(f"{prefix} {name}")
    return lines


def test_every_cli_command_is_in_the_readme() -> None:
    commands = _command_lines(cli, "graphmill")
    assert "graphmill api-keys revoke" in commands
    for command in commands:
        assert command in README, f"{command} is not in the README"


def test_public_api_is_exactly_what_we_mean() -> None:
    assert graphmill.__all__ == [
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
    for name in graphmill.__all__:
        assert getattr(graphmill, name) is not None
