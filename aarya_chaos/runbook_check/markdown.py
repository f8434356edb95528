"""Reading the runbook: its text, the fenced code blocks and the section each one is in."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from markdown_it import MarkdownIt
from markdown_it.token import Token

from aarya_chaos.runbook_check.report import InputError

TEXT_SUFFIXES = {"", ".md", ".markdown", ".mdown", ".mkd", ".txt", ".text"}


@dataclass(frozen=True)
class CodeBlock:
    section: str
    lang: str
    first_line: int  # 1-based line number of the block's first content line
    lines: tuple[str, ...]


_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_SECTION_NUMBER = re.compile(r"^(\d+(?:\.\d+)*)\.?\s")


def read_runbook(path: Path) -> str:
    """The runbook's text; InputError for a missing, binary or empty file."""
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if not path.is_file():
        raise InputError(f"{path}: not a file")
    if path.suffix.lower() not in TEXT_SUFFIXES:
        raise InputError(f"{path}: not a markdown or text file (suffix {path.suffix!r}); "
                         "a runbook is a .md (or .txt) file")
    data = path.read_bytes()
    if b"\x00" in data[:65536]:
        raise InputError(f"{path}: binary content, not a markdown or text file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if not text.strip():
        raise InputError(f"{path}: the file is empty")
    return text


def section_label(heading: str) -> str:
    match = _SECTION_NUMBER.match(heading + " ")
    if match:
        return match.group(1)
    return heading if len(heading) <= 24 else heading[:23] + "…"


def parse_markdown(text: str) -> tuple[list[CodeBlock], list[str]]:
    """The fenced code blocks with the section each is in, and notes about broken headings.

    markdown-it (CommonMark) says which lines are ATX headings and fenced blocks; the blocks keep their lines
    as written (not de-indented), so line numbers and commands read as in the file."""
    lines = re.sub(r"\r\n?", "\n", text).split("\n")  # as markdown-it numbers them
    sections = _Sections()
    blocks: list[CodeBlock] = []
    quoted = 0  # blockquote depth: there the lines as written carry `>` markers
    for token in MarkdownIt("commonmark").parse(text):
        quoted += {"blockquote_open": 1, "blockquote_close": -1}.get(token.type, 0)
        if token.map is None:
            continue
        if token.type == "heading_open" and token.markup.startswith("#"):
            sections.heading(token.map[0] + 1, lines[token.map[0]])
        elif token.type == "fence":
            blocks.append(_fenced_block(token, lines, sections, quoted > 0))
    return blocks, sections.structure


def _fenced_block(token: Token, lines: list[str], sections: _Sections, quoted: bool) -> CodeBlock:
    assert token.map is not None
    start, end = token.map  # the opening fence's line, and one past the block's last line (0-based)
    content = token.content.removesuffix("\n").split("\n") if token.content else []
    closed = end - start == len(content) + 2
    if not closed:
        sections.structure.append(f"line {start + 1}: code block never closed")
    if not quoted:
        content = lines[start + 1:start + 1 + len(content)]  # as written, indentation kept
    lang = token.info.split()[0].lower() if token.info.split() else ""
    return CodeBlock(sections.current, lang, start + 2, tuple(content))


class _Sections:
    """The section label headings give the blocks after them, and notes on headings that look broken."""

    def __init__(self) -> None:
        self.current = "-"
        self.structure: list[str] = []
        self.last_major: int | None = None

    def heading(self, number: int, line: str) -> None:
        heading = _HEADING.match(line.lstrip())
        if heading is None:  # `###` alone: CommonMark's empty heading, not one the runbook meant
            return
        line = line.strip()
        title = heading.group(2).strip()
        if not re.search(r"[A-Za-z0-9]", title):
            self.structure.append(f"line {number}: heading {line!r} has no title")
            return
        numbered = _SECTION_NUMBER.match(title + " ")
        if numbered:
            major = int(numbered.group(1).split(".")[0])
            if self.last_major is not None and major not in (self.last_major, self.last_major + 1):
                self.structure.append(f"line {number}: section {numbered.group(1)} ({title!r}) does not follow "
                                      f"section {self.last_major} (a heading lost its number or its markup?)")
            self.last_major = major
        self.current = section_label(title)
