"""Reading the runbook: its text, the fenced code blocks and the section each one is in."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from aarya_chaos.runbook_check.report import InputError

TEXT_SUFFIXES = {"", ".md", ".markdown", ".mdown", ".mkd", ".txt", ".text"}


@dataclass(frozen=True)
class CodeBlock:
    section: str
    lang: str
    first_line: int  # 1-based line number of the block's first content line
    lines: tuple[str, ...]


_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^(\s{0,3})(`{3,}|~{3,})\s*([^\s`]*)")
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
    """The fenced code blocks with the section each is in, and notes about broken headings."""
    blocks: list[CodeBlock] = []
    structure: list[str] = []
    section = "-"
    last_major: int | None = None
    fence: str | None = None
    lang = ""
    start = 0
    content: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if fence is not None:
            stripped = line.strip()
            if stripped.startswith(fence[0] * len(fence)) and set(stripped) <= {fence[0]}:
                blocks.append(CodeBlock(section, lang, start, tuple(content)))
                fence = None
            else:
                content.append(line)
            continue
        opening = _FENCE.match(line)
        if opening:
            fence, lang, start, content = opening.group(2), opening.group(3).lower(), number + 1, []
            continue
        heading = _HEADING.match(line)
        if heading:
            title = heading.group(2).strip()
            if not re.search(r"[A-Za-z0-9]", title):
                structure.append(f"line {number}: heading {line.strip()!r} has no title")
                continue
            numbered = _SECTION_NUMBER.match(title + " ")
            if numbered:
                major = int(numbered.group(1).split(".")[0])
                if last_major is not None and major not in (last_major, last_major + 1):
                    structure.append(f"line {number}: section {numbered.group(1)} ({title!r}) does not follow "
                                     f"section {last_major} (a heading lost its number or its markup?)")
                last_major = major
            section = section_label(title)
    if fence is not None:
        structure.append(f"line {start - 1}: code block never closed")
        blocks.append(CodeBlock(section, lang, start, tuple(content)))
    return blocks, structure
