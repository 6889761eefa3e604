"""The README documents every setting, route and CLI command; the public API is deliberate."""

from __future__ import annotations

import re
from pathlib import Path

import graphmill
from graphmill.api.app import create_app
from graphmill.cli import build_parser
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
    for route in app.routes:
        path = getattr(route, "path", None)
        if path is None or path.startswith(("/docs", "/redoc", "/openapi")):
            continue
        pattern = re.sub(
            r"\{[^}]+\}", "{[^}]+}", re.escape(path).replace(r"\{", "{").replace(r"\}", "}")
        )
        assert re.search(f"`{pattern}(`| )", documented), f"route {path} is not in the README"


def test_every_cli_command_is_in_the_readme() -> None:
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command")
    for name in commands.choices:  # type: ignore[union-attr]
        assert f"graphmill {name}" in README


def test_public_api_is_exactly_what_we_mean() -> None:
    assert graphmill.__all__ == ["__version__"]
