"""A scenario file read with the line of every key and list item, so that an error can name its line.

PyYAML's safe loader, with mappings built as `Located` dicts and sequences as `LocatedList`s that remember
where each entry starts. Only the safe subset of YAML is read: no tags, no Python objects.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from aarya_chaos.errors import ConfigError


class ScenarioFileError(ConfigError):
    """A scenario file that cannot be run: every message names the file and the line."""

    def __init__(self, path: Path | str, problems: list[tuple[int, str]]) -> None:
        self.path, self.problems = Path(path), sorted(problems)
        super().__init__("\n".join(f"{path}:{line}: {text}" for line, text in self.problems))


class Located(dict[str, Any]):
    """A mapping that knows its own line and the line of each of its keys (1-based)."""

    line: int = 0
    key_lines: dict[str, int]

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


class LocatedList(list[Any]):
    line: int = 0
    item_lines: list[int]

    def line_of(self, index: int) -> int:
        return self.item_lines[index] if index < len(self.item_lines) else self.line


class _Loader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML ships no type hints here
    pass


def _mapping(loader: _Loader, node: yaml.MappingNode) -> Located:
    result = Located()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            raise yaml.constructor.ConstructorError(None, None, f"a key must be text, not {key!r}",
                                                    key_node.start_mark)
        if key in result:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = key_node.start_mark.line + 1
    return result


def _sequence(loader: _Loader, node: yaml.SequenceNode) -> LocatedList:
    result = LocatedList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.item_lines = [child.start_mark.line + 1 for child in node.value]
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _sequence)


def read_scenario_file(path: Path) -> Located:
    """The file's top-level mapping; a YAML error or another top level is a ScenarioFileError with its line."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ScenarioFileError(path, [(0, f"cannot read: {exc.strerror or exc}")]) from exc
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        raise ScenarioFileError(path, [(line, f"not valid YAML: {exc.problem or exc.context}")]) from exc
    except yaml.YAMLError as exc:
        raise ScenarioFileError(path, [(0, f"not valid YAML: {exc}")]) from exc
    if not isinstance(data, Located):
        raise ScenarioFileError(path, [(1, "a scenario file is a mapping (id:, name:, inject:, ...)")])
    return data
