"""Where a table or key is written in a TOML file. tomllib gives values without positions, so an error about
a key finds its line by scanning the raw text for the table header and the key under it (or an inline table
or dotted key that holds it). Good enough for hand-written files; None when it cannot tell."""

from __future__ import annotations

import re

KeyPath = tuple[str, ...]

_HEADER = re.compile(r"^\s*\[\[?\s*([^\[\]#]+?)\s*\]\]?\s*(?:#.*)?$")
_KEY = re.compile(r"""^\s*((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*=""")
_PART = re.compile(r"""[A-Za-z0-9_-]+|"[^"]*"|'[^']*'""")


def split_key(dotted: str) -> KeyPath:
    """`a."b.c".d` -> ("a", "b.c", "d")."""
    return tuple(part.strip("\"'") for part in _PART.findall(dotted))


class Positions:
    """The header and key lines of one TOML text (1-based line numbers)."""

    def __init__(self, text: str) -> None:
        self.headers: list[tuple[int, KeyPath]] = []
        # (line, the table the key is under, the key as written, dotted parts and all)
        self.keys: list[tuple[int, KeyPath, KeyPath]] = []
        table: KeyPath = ()
        in_multiline_string = False
        for number, line in enumerate(text.splitlines(), start=1):
            opens_or_closes = bool(line.count('"""') % 2 or line.count("'''") % 2)
            if in_multiline_string:
                in_multiline_string = not opens_or_closes
                continue
            in_multiline_string = opens_or_closes
            header = _HEADER.match(line)
            if header:
                table = split_key(header.group(1))
                self.headers.append((number, table))
                continue
            key = _KEY.match(line)
            if key:
                self.keys.append((number, table, split_key(key.group(1))))

    def line_of(self, path: KeyPath) -> int | None:
        """The line where `path` is written; failing that, the line of the nearest table that holds it (or
        should: a missing key), or of the first sub-table of it."""
        exact = self._header_line(path)
        if exact is not None:
            return exact
        for depth in range(len(path) - 1, -1, -1):
            key = self._key_line(path[:depth], path[depth:])
            if key is not None:
                return key
        for depth in range(len(path) - 1, 0, -1):
            enclosing = self._header_line(path[:depth])
            if enclosing is not None:
                return enclosing
        return next((line for line, header in self.headers if header[:len(path)] == path), None)

    def _header_line(self, table: KeyPath) -> int | None:
        return next((line for line, header in self.headers if header == table), None)

    def _key_line(self, table: KeyPath, rest: KeyPath) -> int | None:
        """A key under `table` that is `rest`, holds it (an inline table) or is a dotted key within it."""
        for line, under, key in self.keys:
            if under == table and (key[:len(rest)] == rest or rest[:len(key)] == key):
                return line
        return None
