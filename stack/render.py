"""Render the stack's server configuration templates.

A template is plain text with ``{{name}}`` placeholders (spaces inside the braces are allowed,
``{{ name }}``). Every placeholder must have a value; a missing one is an error that names the
file, so a half-rendered config never reaches a server.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

__all__ = ["PLACEHOLDER", "MissingTemplateValue", "placeholders", "render_template", "render_text"]

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


class MissingTemplateValue(KeyError):
    """A placeholder in a template has no value."""

    def __init__(self, source: str, names: list[str]) -> None:
        self.source = source
        self.names = names
        super().__init__(f"{source}: no value for placeholder(s) {', '.join(names)}")

    def __str__(self) -> str:
        # KeyError.__str__ would repr() the message and wrap it in quotes.
        return str(self.args[0])


def placeholders(text: str) -> set[str]:
    """The names of all placeholders in ``text``."""
    return {match.group(1) for match in PLACEHOLDER.finditer(text)}


def render_text(text: str, values: Mapping[str, object], source: str = "<template>") -> str:
    """Replace every ``{{name}}`` in ``text`` with ``str(values[name])``."""
    missing = sorted(placeholders(text) - set(values))
    if missing:
        raise MissingTemplateValue(source, missing)
    return PLACEHOLDER.sub(lambda match: str(values[match.group(1)]), text)


def render_template(path: Path, values: Mapping[str, object]) -> str:
    """Read the template at ``path`` and return it with all placeholders filled in.

    Values that are not placeholders in the template are ignored, so one mapping can serve
    several templates.
    """
    return render_text(path.read_text(encoding="utf-8"), values, source=str(path))
