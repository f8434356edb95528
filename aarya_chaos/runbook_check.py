"""`aarya-chaos runbook-check PATH.md`: check the commands of a markdown runbook, against the live stack.

    aarya-chaos runbook-check RUNBOOK.md [--live | --dry-run] [--config TOML] [--all] [--json]

It reads the fenced code blocks of the runbook, splits them into shell commands (continuations, quoted
multi-line strings and here-documents understood) and checks each command it knows how to judge:

    sql     `psql ... -c "..."` (also inside `docker exec`), and ```sql blocks. Read-only statements
            (SELECT/SHOW/... calling no function with side effects) run against the live PostgreSQL as
            the superuser over its socket, inside a READ ONLY transaction with a statement_timeout,
            then roll back. Anything else is only *validated*: PREPAREd (parsed, names and functions
            resolved, never executed) in a read-only transaction that is rolled back. Placeholders
            like `<blocking_pid>` become parameters ($1) and are reported as needing a value.
    redis   `redis-cli ...` (also inside `docker exec`): the command name, arity and argument grammar
            come from the live server's COMMAND INFO / COMMAND DOCS (a built-in table without a
            stack). Read-only commands (COMMAND INFO flag `readonly`, or an allow-list: PING, INFO,
            CONFIG GET, XINFO, XPENDING, SLOWLOG GET, ...) run live; EVAL scripts that only read run
            live as EVAL_RO. Writes never run live (FLUSHDB, XTRIM, DEL, EVAL that writes, ...): they
            are shown as a dry run, saying what they would do with figures from the live server
            (keys, stream length, consumer lag), and are executed on a *scratch* redis-server this
            command starts on a free loopback port (no persistence, stopped at the end), with the
            live streams' names and consumer groups mirrored, so the server itself judges the
            syntax (a Lua script is compiled and run there).
    grep    patterns are translated from grep's basic (BRE) or extended (ERE) syntax as GNU grep reads
            them, compiled, and tried on sample lines: the stack's own logs when live (`docker logs
            aarya_commerce --tail=100` reads the last 100 lines of commerce's log; the gateway's is its
            access log), else built-in sample lines recorded from the reference stack. It flags `|`
            in a BRE (a literal bar: `grep "a|b"` only matches the text "a|b"), `-o` patterns that
            match more than once per line (an IP grep also counting upstream addresses), and
            "failure" greps that also match successes.
    curl    GET/HEAD on localhost run against the live stack with a timeout (the runbook's ports,
            e.g. localhost:8010 = commerce, are mapped through the config); other hosts and URLs from
            variables (`$SLACK_WEBHOOK_URL`) are never contacted.
    python  `python -c "..."`: compiled, and its imports looked up in the services' environment.
    shell   a few easy shell mistakes: a path prefixed twice (`/dir/x_$(ls -t /dir/x*.gz | head -1)`),
            `--scale` of a service with a fixed container name, `docker system prune --volumes`,
            `docker network rm` of a network still in use.

Modes: `--live` needs the stack started by `aarya-chaos up` (adopted with LocalDriver.attach());
`--dry-run` runs static checks only and says what it could not check; the default is live when a stack
is running, else static. Exit status: 0 when nothing fails, 1 when a command fails, 2 for bad input (a
missing or binary file, a runbook without commands) or a missing stack under `--live`.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from aarya_chaos.errors import ChaosError
from stack.ports import free_port

Result = Literal["ok", "fails", "warning", "dry-run", "not runnable"]
SEVERITY: dict[str, int] = {"fails": 4, "warning": 3, "dry-run": 2, "not runnable": 1, "ok": 0}
STYLE = {"ok": "green", "fails": "bold red", "warning": "yellow", "dry-run": "cyan", "not runnable": "dim"}
TEXT_SUFFIXES = {"", ".md", ".markdown", ".mdown", ".mkd", ".txt", ".text"}
SHELL_LANGS = {"", "bash", "sh", "shell", "console", "zsh", "shell-session", "sh-session"}
SQL_TIMEOUT_MS = 5000
HTTP_TIMEOUT_S = 5.0
MAX_SAMPLE_LINES = 2000
EXIT_OK, EXIT_FAILS, EXIT_USAGE = 0, 1, 2


class InputError(ChaosError):
    """The runbook cannot be checked: missing, not text, or without commands."""


# ---------------------------------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    result: Result
    why: str


@dataclass
class CommandCheck:
    section: str
    line: int
    command: str
    kind: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def result(self) -> Result:
        if not self.findings:
            return "ok"
        return max(self.findings, key=lambda f: SEVERITY[f.result]).result

    @property
    def why(self) -> str:
        ordered = sorted(self.findings, key=lambda f: -SEVERITY[f.result])
        return "; ".join(f.why for f in ordered if f.why)

    def add(self, result: Result, why: str) -> None:
        self.findings.append(Finding(result, why))

    def to_dict(self) -> dict[str, Any]:
        return {"section": self.section, "line": self.line, "command": self.command, "kind": self.kind,
                "result": self.result, "why": self.why,
                "findings": [{"result": f.result, "why": f.why} for f in self.findings]}


@dataclass
class Report:
    path: Path
    mode: str  # "live" or "static"
    checks: list[CommandCheck] = field(default_factory=list)
    quiet_shell: list[CommandCheck] = field(default_factory=list)  # shell commands with nothing to say
    notes: list[str] = field(default_factory=list)  # what could not be checked, and why
    structure: list[str] = field(default_factory=list)  # headings that look broken
    skipped_blocks: dict[str, int] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return any(c.result == "fails" for c in self.checks)

    def counts(self) -> dict[str, int]:
        counts = {r: 0 for r in SEVERITY}
        for check in self.checks:
            counts[check.result] += 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "mode": self.mode, "counts": self.counts(),
                "checks": [c.to_dict() for c in self.checks],
                "other_shell_commands": len(self.quiet_shell), "notes": self.notes,
                "structure": self.structure, "skipped_blocks": self.skipped_blocks}


# ---------------------------------------------------------------------------------------------------
# reading the runbook: headings and fenced code blocks
# ---------------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------------
# shell lexing: logical commands, pipelines, words
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShellCommand:
    section: str
    line: int
    text: str
    comment: str = ""
    heredoc: str | None = None


def _scan(text: str, stack: list[str], cut_comment: bool = False) -> str:
    """Advance the quoting state (a stack of ' " $( ` and nested parentheses) over `text`.

    With `cut_comment`, returns the text without a trailing `# comment` (outside quotes, at the start
    of a word); else returns it unchanged."""
    i = 0
    while i < len(text):
        c = text[i]
        top = stack[-1] if stack else ""
        if top == "'":
            if c == "'":
                stack.pop()
        elif top == '"':
            if c == "\\":
                i += 1
            elif c == '"':
                stack.pop()
            elif text.startswith("$(", i):
                stack.append("$(")
                i += 1
            elif c == "`":
                stack.append("`")
        else:
            if c == "\\":
                i += 1
            elif c == "#" and cut_comment and not stack and (i == 0 or text[i - 1] in " \t;|&("):
                return text[:i].rstrip()
            elif c == "'":
                stack.append("'")
            elif c == '"':
                stack.append('"')
            elif text.startswith("$(", i):
                stack.append("$(")
                i += 1
            elif c == "`":
                if top == "`":
                    stack.pop()
                else:
                    stack.append("`")
            elif c == "(" and top in ("$(", "("):
                stack.append("(")
            elif c == ")" and top in ("$(", "("):
                stack.pop()
        i += 1
    return text


_HEREDOC = re.compile(r"<<-?\s*(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\1")


def split_commands(block: CodeBlock) -> list[ShellCommand]:
    """Logical commands of a shell block: continuations joined, quoted newlines kept, here-documents
    attached to their command, `# comments` remembered as the intent of the command that follows."""
    commands: list[ShellCommand] = []
    lines = block.lines
    comment: list[str] = []
    current: list[str] = []
    start = 0
    stack: list[str] = []
    i = 0
    while i < len(lines):
        raw = lines[i]
        number = block.first_line + i
        i += 1
        if not current and not stack:
            stripped = raw.strip()
            if not stripped:
                comment = []
                continue
            if stripped.startswith("#"):
                comment.append(stripped.lstrip("#").strip())
                continue
            start = number
        line = _scan(raw, stack, cut_comment=not stack)
        current.append(line)
        if stack:
            continue
        joined = "\n".join(current)
        if joined.endswith("\\"):
            current[-1] = current[-1][:-1]
            continue
        if re.search(r"(\|\||&&|\|)\s*$", joined):
            continue
        text = _join_continuations(current)
        heredoc = None
        for match in _HEREDOC.finditer(text):
            body: list[str] = []
            while i < len(lines) and lines[i].strip() != match.group(2):
                body.append(lines[i])
                i += 1
            i += 1  # the delimiter line
            heredoc = "\n".join(body)
        commands.append(ShellCommand(block.section, start, text, " ".join(comment), heredoc))
        current = []
        comment = []
    if current:
        commands.append(ShellCommand(block.section, start, _join_continuations(current), " ".join(comment)))
    return commands


def _join_continuations(parts: list[str]) -> str:
    text = "\n".join(parts)
    # lines continued after a pipe or && read as one line; quoted newlines stay
    out: list[str] = []
    stack: list[str] = []
    for part in parts:
        if out and not stack:
            out.append(" ")
        elif out:
            out.append("\n")
        out.append(part.strip() if not stack else part)
        _scan(part, stack)
    return "".join(out).strip() if not stack else text.strip()


@dataclass(frozen=True)
class Word:
    value: str  # quotes removed; $VAR and $(...) kept as written
    raw: str
    quoted: bool = False  # some part was quoted
    single: bool = False  # entirely in single quotes (no expansion)


@dataclass
class Stage:
    words: list[Word]
    redirects: list[str] = field(default_factory=list)

    @property
    def argv(self) -> list[str]:
        return [w.value for w in self.words]


def _read_substitution(text: str, i: int) -> int:
    """Index just past the `)` closing the `$(` that starts at text[i]."""
    stack = ["$("]
    j = i + 2
    while j < len(text) and stack:
        c = text[j]
        top = stack[-1]
        if top == "'":
            if c == "'":
                stack.pop()
        elif c == "\\":
            j += 1
        elif top == '"':
            if c == '"':
                stack.pop()
            elif text.startswith("$(", j):
                stack.append("$(")
                j += 1
        elif c == "'":
            stack.append("'")
        elif c == '"':
            stack.append('"')
        elif text.startswith("$(", j):
            stack.append("$(")
            j += 1
        elif c == "(":
            stack.append("(")
        elif c == ")":
            stack.pop()
        j += 1
    return j


def lex(text: str) -> list[list[Stage]]:
    """Pipelines (split at && || ; &) of stages (split at |) of words."""
    pipelines: list[list[Stage]] = [[Stage([])]]
    value: list[str] = []
    raw_start: int | None = None
    quoted = False
    single_only = True
    pending_redirect = False
    i = 0

    def flush(end: int) -> None:
        nonlocal value, raw_start, quoted, single_only, pending_redirect
        if raw_start is not None:
            word = Word("".join(value), text[raw_start:end], quoted, quoted and single_only)
            stage = pipelines[-1][-1]
            if pending_redirect:
                stage.redirects[-1] += " " + word.value
                pending_redirect = False
            else:
                stage.words.append(word)
        value, raw_start, quoted, single_only = [], None, False, True

    while i < len(text):
        c = text[i]
        if c in " \t\n":
            flush(i)
            i += 1
            continue
        if c in "|&;" or (c in "<>" and text[i:i + 2] != "<("):
            if c in "<>" and raw_start is not None and "".join(value).isdigit():
                value, raw_start = [], None  # 2>&1: the fd number belongs to the redirect
            flush(i)
            if text.startswith("||", i) or text.startswith("&&", i):
                pipelines.append([Stage([])])
                i += 2
            elif c == "|":
                pipelines[-1].append(Stage([]))
                i += 1
            elif c in ";&" and not text.startswith(">&", i - 1):
                pipelines.append([Stage([])])
                i += 1
            else:
                match = re.match(r"(<<-?|>>|>&|<&|>|<)(\d*|-)?", text[i:])
                assert match is not None
                op = match.group(0)
                pipelines[-1][-1].redirects.append(op)
                pending_redirect = not (op.startswith((">&", "<&")) and match.group(2))
                i += len(op)
            continue
        if raw_start is None:
            raw_start = i
        if c == "'":
            end = text.find("'", i + 1)
            end = len(text) if end < 0 else end
            value.append(text[i + 1:end])
            quoted = True
            i = end + 1
        elif c == '"':
            single_only = False
            quoted = True
            j = i + 1
            while j < len(text) and text[j] != '"':
                if text[j] == "\\" and j + 1 < len(text) and text[j + 1] in '"\\$`\n':
                    value.append(text[j + 1])
                    j += 2
                elif text.startswith("$(", j):
                    end = _read_substitution(text, j)
                    value.append(text[j:end])
                    j = end
                else:
                    value.append(text[j])
                    j += 1
            i = j + 1
        elif c == "\\":
            single_only = False
            value.append(text[i + 1:i + 2])
            i += 2
        elif text.startswith("$(", i):
            single_only = False
            end = _read_substitution(text, i)
            value.append(text[i:end])
            i = end
        else:
            single_only = False
            value.append(c)
            i += 1
    flush(len(text))
    return [[s for s in p if s.words or s.redirects] for p in pipelines if any(s.words for s in p)]


def _q(text: str) -> str:
    """Quote a pattern for a message as the runbook wrote it (no repr escaping)."""
    return f'"{text}"' if "'" in text else f"'{text}'"


def shorten(text: str, width: int = 90) -> str:
    one = " ".join(text.split())
    return one if len(one) <= width else one[:width - 1] + "…"


# ---------------------------------------------------------------------------------------------------
# grep: options, BRE/ERE as GNU grep reads them, translated to Python's re
# ---------------------------------------------------------------------------------------------------

Syntax = Literal["bre", "ere", "fixed", "perl"]
_CLASSES = {
    "alpha": "a-zA-Z", "digit": "0-9", "alnum": "a-zA-Z0-9", "upper": "A-Z", "lower": "a-z",
    "space": r" \t\n\r\f\v", "blank": r" \t", "xdigit": "0-9A-Fa-f", "cntrl": r"\x00-\x1f\x7f",
    "print": r"\x20-\x7e", "graph": r"\x21-\x7e", "punct": r"!-/:-@\[-`{-~",
}


@dataclass
class GrepCall:
    patterns: list[str]
    syntax: Syntax
    ignore_case: bool = False
    only_matching: bool = False
    invert: bool = False
    count: bool = False
    word: bool = False
    line: bool = False
    files: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


_GREP_ARG_OPTS = set("efmABCdD")
_GREP_LONG = {"--ignore-case": "i", "--extended-regexp": "E", "--basic-regexp": "G", "--fixed-strings": "F",
              "--perl-regexp": "P", "--only-matching": "o", "--invert-match": "v", "--count": "c",
              "--word-regexp": "w", "--line-regexp": "x"}


def parse_grep(argv: Sequence[str]) -> GrepCall:
    """grep/egrep/fgrep argv (argv[0] is the program) as GNU grep parses it."""
    program = os.path.basename(argv[0])
    call = GrepCall([], {"egrep": "ere", "fgrep": "fixed"}.get(program, "bre"))  # type: ignore[arg-type]
    positional: list[str] = []
    i = 1
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            positional += argv[i:]
            break
        if arg.startswith("--"):
            name, _, value = arg.partition("=")
            if name == "--regexp":
                if not value and i < len(argv):
                    value, i = argv[i], i + 1
                call.patterns.append(value)
            elif name in _GREP_LONG:
                _grep_flag(call, _GREP_LONG[name])
            continue
        if arg.startswith("-") and len(arg) > 1:
            j = 1
            while j < len(arg):
                flag = arg[j]
                if flag in _GREP_ARG_OPTS:
                    value = arg[j + 1:]
                    if not value and i < len(argv):
                        value, i = argv[i], i + 1
                    if flag == "e":
                        call.patterns.append(value)
                    elif flag == "f":
                        call.problems.append(f"patterns come from file {value}; not checked")
                    break
                _grep_flag(call, flag)
                j += 1
            continue
        positional.append(arg)
    if not call.patterns and positional:
        call.patterns.append(positional.pop(0))
    call.files = positional
    return call


def _grep_flag(call: GrepCall, flag: str) -> None:
    if flag in "Ey":
        if flag == "E":
            call.syntax = "ere"
        else:
            call.ignore_case = True
    elif flag == "G":
        call.syntax = "bre"
    elif flag == "F":
        call.syntax = "fixed"
    elif flag == "P":
        call.syntax = "perl"
    elif flag == "i":
        call.ignore_case = True
    elif flag == "o":
        call.only_matching = True
    elif flag == "v":
        call.invert = True
    elif flag == "c":
        call.count = True
    elif flag == "w":
        call.word = True
    elif flag == "x":
        call.line = True


def _escape_set_char(c: str) -> str:
    return "\\" + c if c in "\\]^-[&~|" else c


def _bracket(pattern: str, i: int) -> tuple[str, int]:
    """Translate the POSIX bracket expression starting at pattern[i] == '['; returns (python, next i)."""
    j = i + 1
    negate = j < len(pattern) and pattern[j] == "^"
    if negate:
        j += 1
    items: list[str] = []
    first = True
    while j < len(pattern):
        c = pattern[j]
        if c == "]" and not first:
            return "[" + ("^" if negate else "") + "".join(items) + "]", j + 1
        first = False
        if pattern.startswith("[:", j):
            end = pattern.find(":]", j + 2)
            if end < 0:
                raise re.error("unterminated character class")
            name = pattern[j + 2:end]
            if name not in _CLASSES:
                raise re.error(f"invalid character class [:{name}:]")
            items.append(_CLASSES[name])
            j = end + 2
            continue
        if pattern.startswith(("[=", "[."), j):
            end = pattern.find(pattern[j + 1] + "]", j + 2)
            if end < 0:
                raise re.error("unterminated [= or [.")
            items.append("".join(_escape_set_char(x) for x in pattern[j + 2:end]))
            j = end + 2
            continue
        if j + 2 < len(pattern) and pattern[j + 1] == "-" and pattern[j + 2] != "]":
            items.append(_escape_set_char(c) + "-" + _escape_set_char(pattern[j + 2]))
            j += 3
            continue
        items.append(_escape_set_char(c))
        j += 1
    raise re.error("unmatched [, [^, [:, [., or [=")


_INTERVAL = re.compile(r"\{(\d*)(,?)(\d*)\}")


def translate(pattern: str, syntax: Syntax) -> tuple[str, list[str]]:
    """(Python regex, notes) for one grep pattern. Notes name characters grep reads literally that
    look like they were meant as operators (a `|` in a BRE, a `\\|` in an ERE, a BRE `+`...)."""
    if syntax == "fixed":
        return re.escape(pattern), []
    if syntax == "perl":
        return pattern, []
    bre = syntax == "bre"
    out: list[str] = []
    notes: list[str] = []
    i = 0
    at_start = True  # where * is literal and ^ is an anchor
    depth = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            n = pattern[i + 1]
            i += 2
            if bre and n in "(){}|+?":
                if n == "(":
                    out.append("(")
                    depth += 1
                    at_start = True
                    continue
                if n == ")":
                    out.append(")")
                    depth -= 1
                elif n == "|":
                    out.append("|")
                    at_start = True
                    continue
                elif n == "{":
                    end = pattern.find("\\}", i)
                    if end < 0:
                        raise re.error("unmatched \\{")
                    out.append("{" + pattern[i:end] + "}")
                    i = end + 2
                else:
                    out.append(n)
            elif not bre and n == "|":
                notes.append("`\\|` is a literal `|` in an extended regex (grep -E): use a bare `|` to alternate")
                out.append(r"\|")
            elif n in "<>":
                out.append(r"\b")
            elif n in "bBwWsS":
                out.append("\\" + n)
            elif n == "`":
                out.append(r"\A")
            elif n == "'":
                out.append(r"\Z")
            elif n.isdigit():
                out.append("\\" + n)
            else:
                out.append(re.escape(n))
            at_start = False
            continue
        if c == "[":
            text, i = _bracket(pattern, i)
            out.append(text)
            at_start = False
            continue
        if c == "^":
            out.append("^" if (at_start or not bre) else r"\^")
            i += 1
            continue
        if c == "$":
            rest = pattern[i + 1:]
            anchor = not bre or rest == "" or rest.startswith(("\\)", "\\|"))
            out.append("$" if anchor else r"\$")
            i += 1
            at_start = False
            continue
        if c == "*":
            out.append(r"\*" if at_start else "*")
            i += 1
            at_start = False
            continue
        if c == ".":
            out.append(".")
        elif bre and c in "|+?(){}":
            out.append(re.escape(c))
            if c == "|":
                notes.append("`|` is a literal character in a basic regex (grep without -E)")
            elif c in "+?" and i > 0 and not at_start:
                notes.append(f"`{c}` is a literal character in a basic regex (grep without -E): use -E or `\\{c}`")
            elif c == "{" and _INTERVAL.match(pattern, i):
                notes.append("`{n}` is literal in a basic regex (grep without -E): use -E or `\\{n\\}`")
        elif not bre and c in "|()":
            out.append(c)
            if c == "(":
                depth += 1
                at_start = True
                i += 1
                continue
            if c == ")":
                depth -= 1
            if c == "|":
                at_start = True
                i += 1
                continue
        elif not bre and c in "+?":
            out.append(re.escape(c) if at_start else c)
        elif not bre and c == "{":
            interval = _INTERVAL.match(pattern, i)
            if interval and not at_start and (interval.group(1) or interval.group(3)):
                out.append(interval.group(0))
                i = interval.end()
                at_start = False
                continue
            out.append(r"\{")
        elif not bre and c == "}":
            out.append(r"\}")
        else:
            out.append(re.escape(c))
        i += 1
        at_start = False
    if depth != 0:
        raise re.error("unmatched ( or \\(" if depth > 0 else "unmatched ) or \\)")
    return "".join(out), notes


def compile_grep(call: GrepCall) -> tuple[re.Pattern[str], list[str]]:
    """The grep call as one Python regex; re.error for a pattern grep rejects too."""
    parts: list[str] = []
    notes: list[str] = []
    for pattern in call.patterns:
        for piece in pattern.split("\n"):
            text, found = translate(piece, call.syntax)
            parts.append(text)
            notes += found
    regex = "|".join(f"(?:{p})" for p in parts)
    if call.word:
        regex = rf"(?<!\w)(?:{regex})(?!\w)"
    if call.line:
        regex = rf"^(?:{regex})$"
    return re.compile(regex, re.IGNORECASE if call.ignore_case else 0), notes


def alternatives(pattern: str, syntax: Syntax) -> list[str]:
    """The top-level alternatives of a pattern as grep reads it (`a\\|b` in a BRE, `a|b` in an ERE)."""
    if syntax not in ("bre", "ere"):
        return [pattern]
    sep = "\\|" if syntax == "bre" else "|"
    parts: list[str] = []
    depth = 0
    start = 0
    i = 0
    while i < len(pattern):
        if pattern[i] == "[":
            try:
                _, i = _bracket(pattern, i)
            except re.error:
                return [pattern]
            continue
        if syntax == "bre" and pattern.startswith("\\(", i):
            depth += 1
        elif syntax == "bre" and pattern.startswith("\\)", i):
            depth -= 1
        elif syntax == "ere" and pattern[i] == "\\":
            i += 2
            continue
        elif syntax == "ere" and pattern[i] == "(":
            depth += 1
        elif syntax == "ere" and pattern[i] == ")":
            depth -= 1
        if depth == 0 and pattern.startswith(sep, i):
            parts.append(pattern[start:i])
            i += len(sep)
            start = i
            continue
        i += 2 if syntax == "bre" and pattern[i] == "\\" else 1
    parts.append(pattern[start:])
    return parts


# ---------------------------------------------------------------------------------------------------
# redis: command specs (COMMAND INFO + COMMAND DOCS, or a built-in table) and an argument matcher
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RArg:
    name: str
    type: str  # key string integer double pattern unix-time pure-token oneof block
    token: str | None = None
    optional: bool = False
    multiple: bool = False
    multiple_token: bool = False
    args: tuple[RArg, ...] = ()


@dataclass(frozen=True)
class RSpec:
    name: str  # "XPENDING", "CONFIG GET"
    arity: int  # COMMAND INFO arity, counting the command name (and the subcommand): -N = at least N
    flags: frozenset[str]
    args: tuple[RArg, ...] | None  # None: grammar unknown
    categories: frozenset[str] = frozenset()
    container: bool = False  # has subcommands (CONFIG, XINFO, ...)

    @property
    def words(self) -> int:
        return len(self.name.split())

    def usage(self) -> str:
        if self.args is None:
            return self.name
        return " ".join([self.name] + [_usage(a) for a in self.args])


def _usage(arg: RArg) -> str:
    if arg.type == "pure-token":
        text = arg.token or arg.name
    elif arg.type == "oneof":
        text = "|".join(_usage(RArg(**{**a.__dict__, "optional": False})) for a in arg.args)
        text = text if arg.optional else f"<{text}>"
    elif arg.type == "block":
        inner = " ".join(_usage(a) for a in arg.args)
        text = f"{arg.token} {inner}" if arg.token else inner
    else:
        text = f"{arg.token} {arg.name}" if arg.token else arg.name
    if arg.multiple:
        text = f"{text} [{text} ...]" if arg.multiple_token or not arg.token else f"{text} [{arg.name} ...]"
    return f"[{text}]" if arg.optional else text


def _a(name: str, type_: str = "string", **kw: Any) -> RArg:
    return RArg(name, type_, **kw)


def _t(token: str, **kw: Any) -> RArg:
    return RArg(token.lower(), "pure-token", token=token, **kw)


def _one(name: str, *args: RArg, **kw: Any) -> RArg:
    return RArg(name, "oneof", args=args, **kw)


def _blk(name: str, *args: RArg, **kw: Any) -> RArg:
    return RArg(name, "block", args=args, **kw)


_KEY = _a("key", "key")
_W, _R, _A, _F = frozenset({"write"}), frozenset({"readonly"}), frozenset({"admin"}), frozenset({"fast"})
_ASYNC = _one("flush-type", _t("ASYNC"), _t("SYNC"), optional=True)
_STREAM_RANGE = (_KEY, _a("start"), _a("end"), _a("count", "integer", token="COUNT", optional=True))
# The built-in table, for --dry-run (no server to ask): the commands runbooks use, from Redis 7's docs.
STATIC_SPECS: dict[str, RSpec] = {s.name: s for s in [
    RSpec("PING", -1, _F, (_a("message", optional=True),)),
    RSpec("INFO", -1, frozenset({"loading", "stale"}), (_a("section", optional=True, multiple=True),)),
    RSpec("DBSIZE", 1, _R | _F, ()),
    RSpec("TYPE", 2, _R | _F, (_KEY,)),
    RSpec("TTL", 2, _R | _F, (_KEY,)),
    RSpec("PTTL", 2, _R | _F, (_KEY,)),
    RSpec("EXISTS", -2, _R | _F, (_a("key", "key", multiple=True),)),
    RSpec("GET", 2, _R | _F, (_KEY,)),
    RSpec("HGETALL", 2, _R, (_KEY,)),
    RSpec("KEYS", 2, _R, (_a("pattern", "pattern"),), frozenset({"@dangerous"})),
    RSpec("SCAN", -2, _R, (_a("cursor", "integer"), _a("pattern", "pattern", token="MATCH", optional=True),
                           _a("count", "integer", token="COUNT", optional=True),
                           _a("type", token="TYPE", optional=True))),
    RSpec("XLEN", 2, _R | _F, (_KEY,)),
    RSpec("XRANGE", -4, _R, _STREAM_RANGE),
    RSpec("XREVRANGE", -4, _R, _STREAM_RANGE),
    RSpec("XPENDING", -3, _R, (_KEY, _a("group"), _blk("filters", _a("min-idle-time", "integer", token="IDLE",
                                                                      optional=True),
                                                       _a("start"), _a("end"), _a("count", "integer"),
                                                       _a("consumer", optional=True), optional=True))),
    RSpec("XREADGROUP", -7, _W | frozenset({"blocking"}), (
        _blk("group_consumer", _a("group"), _a("consumer"), token="GROUP"),
        _a("count", "integer", token="COUNT", optional=True),
        _a("milliseconds", "integer", token="BLOCK", optional=True), _t("NOACK", optional=True),
        _blk("streams", _a("key", "key", multiple=True), _a("id", multiple=True), token="STREAMS"))),
    RSpec("XREAD", -4, _R | frozenset({"blocking"}), (
        _a("count", "integer", token="COUNT", optional=True),
        _a("milliseconds", "integer", token="BLOCK", optional=True),
        _blk("streams", _a("key", "key", multiple=True), _a("id", multiple=True), token="STREAMS"))),
    RSpec("XTRIM", -4, _W, (_KEY, _blk("trim", _one("strategy", _t("MAXLEN"), _t("MINID")),
                                       _one("operator", _t("="), _t("~"), optional=True), _a("threshold"),
                                       _a("count", "integer", token="LIMIT", optional=True)))),
    RSpec("XACK", -4, _W | _F, (_KEY, _a("group"), _a("id", multiple=True))),
    RSpec("XDEL", -3, _W | _F, (_KEY, _a("id", multiple=True))),
    RSpec("XADD", -5, _W | _F, None),
    RSpec("XINFO", -2, frozenset(), None, container=True),
    RSpec("XINFO STREAM", -3, _R, (_KEY, _blk("full-block", _t("FULL"), _a("count", "integer", token="COUNT",
                                                                            optional=True), optional=True))),
    RSpec("XINFO GROUPS", 3, _R, (_KEY,)),
    RSpec("XINFO CONSUMERS", 4, _R, (_KEY, _a("group"))),
    RSpec("XGROUP", -2, frozenset(), None, container=True),
    RSpec("XGROUP CREATE", -5, _W, (_KEY, _a("group"), _a("id"), _t("MKSTREAM", optional=True),
                                    _a("entries-read", "integer", token="ENTRIESREAD", optional=True))),
    RSpec("CONFIG", -2, frozenset(), None, container=True),
    RSpec("CONFIG GET", -3, _A, (_a("parameter", multiple=True),)),
    RSpec("CONFIG SET", -4, _A, (_blk("data", _a("parameter"), _a("value"), multiple=True),)),
    RSpec("CONFIG REWRITE", 2, _A, ()),
    RSpec("CONFIG RESETSTAT", 2, _A, ()),
    RSpec("CLIENT", -2, frozenset(), None, container=True),
    RSpec("CLIENT LIST", -2, _A, None),
    RSpec("CLIENT INFO", 2, frozenset(), ()),
    RSpec("CLIENT KILL", -3, _A, None),
    RSpec("SLOWLOG", -2, frozenset(), None, container=True),
    RSpec("SLOWLOG GET", -2, _A, (_a("count", "integer", optional=True),)),
    RSpec("SLOWLOG LEN", 2, _A, ()),
    RSpec("SLOWLOG RESET", 2, _A, ()),
    RSpec("MEMORY", -2, frozenset(), None, container=True),
    RSpec("MEMORY USAGE", -3, _R, (_KEY, _a("count", "integer", token="SAMPLES", optional=True))),
    RSpec("MEMORY STATS", 2, frozenset(), ()),
    RSpec("MEMORY DOCTOR", 2, frozenset(), ()),
    RSpec("LATENCY", -2, frozenset(), None, container=True),
    RSpec("LATENCY LATEST", 2, _A, ()),
    RSpec("LATENCY DOCTOR", 2, _A, ()),
    RSpec("FLUSHDB", -1, _W, (_ASYNC,), frozenset({"@dangerous"})),
    RSpec("FLUSHALL", -1, _W, (_ASYNC,), frozenset({"@dangerous"})),
    RSpec("DEL", -2, _W, (_a("key", "key", multiple=True),)),
    RSpec("UNLINK", -2, _W | _F, (_a("key", "key", multiple=True),)),
    RSpec("EXPIRE", -3, _W | _F, (_KEY, _a("seconds", "integer"), _one("condition", _t("NX"), _t("XX"), _t("GT"),
                                                                      _t("LT"), optional=True))),
    RSpec("SET", -3, _W, None),
    RSpec("BGREWRITEAOF", 1, _A, ()),
    RSpec("BGSAVE", -1, _A, (_t("SCHEDULE", optional=True),)),
    RSpec("SAVE", 1, _A, ()),
    RSpec("SHUTDOWN", -1, _A, None),
    RSpec("EVAL", -3, frozenset({"noscript", "stale"}), (_a("script"), _a("numkeys", "integer"),
                                                         _a("key", "key", optional=True, multiple=True),
                                                         _a("arg", optional=True, multiple=True))),
    RSpec("EVAL_RO", -3, _R, (_a("script"), _a("numkeys", "integer"),
                              _a("key", "key", optional=True, multiple=True),
                              _a("arg", optional=True, multiple=True))),
]}
# Commands without the `readonly` flag that only look (admin or connection commands): safe to run live.
LIVE_ALLOW = {"PING", "INFO", "CONFIG GET", "XINFO STREAM", "XINFO GROUPS", "XINFO CONSUMERS", "XPENDING",
              "CLIENT LIST", "CLIENT INFO", "SLOWLOG GET", "SLOWLOG LEN", "LATENCY LATEST", "LATENCY DOCTOR",
              "MEMORY STATS", "MEMORY DOCTOR", "MEMORY USAGE", "DBSIZE", "XLEN", "TIME", "LASTSAVE", "ECHO",
              "COMMAND INFO", "COMMAND DOCS", "COMMAND COUNT", "ROLE"}
# Read-only but blocking the server on a big keyspace, or blocking the client: not run live.
LIVE_DENY = {"KEYS", "XREAD", "MONITOR", "SUBSCRIBE", "PSUBSCRIBE", "DEBUG", "WAIT"}


class _Fail(Exception):
    pass


class Matcher:
    """Backtracking match of words against a COMMAND DOCS argument grammar, remembering how far it got."""

    LIMIT = 20000

    def __init__(self, words: Sequence[str]) -> None:
        self.words = list(words)
        self.far = -1
        self.expected: list[str] = []
        self.bound: dict[str, list[int]] = {}
        self.steps = 0

    def _miss(self, i: int, what: str) -> None:
        if i > self.far:
            self.far, self.expected = i, [what]
        elif i == self.far and what not in self.expected:
            self.expected.append(what)

    def seq(self, args: Sequence[RArg], i: int) -> Iterator[int]:
        self.steps += 1
        if self.steps > self.LIMIT:
            return
        if not args:
            yield i
            return
        first, rest = args[0], args[1:]
        for j in self.arg(first, i):
            yield from self.seq(rest, j)

    def arg(self, a: RArg, i: int) -> Iterator[int]:
        if a.multiple:
            yield from self.repeated(a, i)
        else:
            yield from self.single(a, i)
        if a.optional:
            yield i

    def repeated(self, a: RArg, i: int) -> Iterator[int]:
        body = a
        if a.token and not a.multiple_token and a.type != "pure-token":
            if i >= len(self.words) or self.words[i].upper() != a.token.upper():
                self._miss(i, a.token)
                return
            i += 1
            body = RArg(a.name, a.type, None, args=a.args)
        ends: list[int] = []
        frontier = [i]
        while frontier:
            nxt: list[int] = []
            for start in frontier:
                for j in self.single(body, start):
                    if j > start and j not in ends:
                        ends.append(j)
                        nxt.append(j)
            frontier = nxt
        yield from sorted(ends, reverse=True)

    def single(self, a: RArg, i: int) -> Iterator[int]:
        if a.token:
            if i >= len(self.words) or self.words[i].upper() != a.token.upper():
                self._miss(i, a.token)
                return
            i += 1
            if a.type == "pure-token":
                yield i
                return
        if a.type == "oneof":
            for choice in a.args:
                yield from self.arg(choice, i)
            return
        if a.type == "block":
            if len(a.args) == 2 and all(x.multiple for x in a.args):  # STREAMS key [key ...] id [id ...]
                n = len(self.words) - i
                if n >= 2 and n % 2 == 0:
                    self.bound.setdefault(a.args[0].name, []).append(i)
                    yield len(self.words)
                else:
                    self._miss(len(self.words) if n >= 2 else i,
                               f"as many {a.args[1].name}s as {a.args[0].name}s")
                return
            yield from self.seq(a.args, i)
            return
        if i >= len(self.words):
            self._miss(i, a.name)
            return
        word = self.words[i]
        if a.type == "integer" and not re.fullmatch(r"[-+]?\d+", word):
            self._miss(i, f"{a.name} (an integer)")
            return
        if a.type == "double" and not re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|[-+]?inf", word):
            self._miss(i, f"{a.name} (a number)")
            return
        self.bound.setdefault(a.name, []).append(i)
        yield i + 1

    def full(self, args: Sequence[RArg]) -> bool:
        n = len(self.words)
        for end in self.seq(args, 0):
            if end == n:
                return True
            self._miss(end, "nothing more")
        return False


def check_redis_grammar(spec: RSpec, args: Sequence[str]) -> list[str]:
    """Problems of `args` (the words after the command name) against the spec: arity, then grammar."""
    problems: list[str] = []
    total = spec.words + len(args)
    if spec.arity >= 0 and total != spec.arity:
        problems.append(f"{spec.name} takes exactly {spec.arity - spec.words} argument(s), got {len(args)}")
    elif spec.arity < 0 and total < -spec.arity:
        problems.append(f"{spec.name} needs at least {-spec.arity - spec.words} argument(s), got {len(args)}")
    if spec.args is None:
        return problems
    matcher = Matcher(args)
    if matcher.full(spec.args):
        return problems
    where = matcher.far
    expected = " or ".join(e for e in matcher.expected if e != "nothing more") or "nothing more"
    if where >= len(args):
        got = "the end of the command"
    else:
        got = repr(args[where])
    if expected == "nothing more":
        detail = f"unexpected {got} (argument {where + 1})"
    else:
        detail = f"expected {expected} at argument {where + 1}, got {got}"
    hint = _redis_hint(spec, args)
    problems.append(f"invalid syntax: {detail}; usage: {spec.usage()}" + (f" ({hint})" if hint else ""))
    return problems


def _redis_hint(spec: RSpec, args: Sequence[str]) -> str:
    names = [a.name for a in spec.args or ()]
    if "group" in names:
        position = names.index("group")
        if position < len(args) and args[position] in ("-", "+", "$", ">", "0", "0-0"):
            return f"{args[position]!r} stands where the consumer group's name goes: the group is missing"
    if spec.name == "XREADGROUP" and args and args[0].upper() == "STREAM":
        return "it reads through a consumer group: XREADGROUP GROUP <group> <consumer> COUNT n STREAMS <key> >"
    return ""


def _decode(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, dict):
        return {_decode(k): _decode(v) for k, v in value.items()}
    return value


def _as_map(value: Any) -> dict[str, Any]:
    """A RESP3 map, or a RESP2 flat [k, v, k, v] list, as a dict."""
    value = _decode(value)
    if isinstance(value, dict):
        return value
    if isinstance(value, list):
        return {str(value[k]): value[k + 1] for k in range(0, len(value) - 1, 2)}
    return {}


def args_from_docs(items: Any) -> tuple[RArg, ...]:
    out: list[RArg] = []
    for item in items or []:
        doc = _as_map(item)
        flags = set(doc.get("flags") or [])
        out.append(RArg(str(doc.get("name", "?")), str(doc.get("type", "string")),
                        doc.get("token"), "optional" in flags, "multiple" in flags, "multiple_token" in flags,
                        args_from_docs(doc.get("arguments"))))
    return tuple(out)


# ---------------------------------------------------------------------------------------------------
# SQL: statements, what they do, placeholders
# ---------------------------------------------------------------------------------------------------

# Functions with effects beyond the query (a READ ONLY transaction does not stop these).
SIDE_EFFECT_FUNCTIONS = {
    "pg_terminate_backend": "terminates server processes", "pg_cancel_backend": "cancels running queries",
    "pg_reload_conf": "reloads the server configuration", "pg_rotate_logfile": "rotates the server log",
    "pg_switch_wal": "switches to a new WAL file", "pg_create_restore_point": "writes a WAL restore point",
    "pg_backup_start": "starts a backup", "pg_backup_stop": "stops a backup", "pg_start_backup": "starts a backup",
    "pg_stop_backup": "stops a backup", "pg_promote": "promotes a standby", "pg_wal_replay_pause": "pauses replay",
    "pg_wal_replay_resume": "resumes replay", "pg_stat_reset": "resets statistics",
    "pg_stat_reset_shared": "resets statistics", "pg_stat_reset_single_table_counters": "resets statistics",
    "pg_stat_statements_reset": "resets statistics", "pg_drop_replication_slot": "drops a replication slot",
    "pg_create_physical_replication_slot": "creates a replication slot",
    "pg_create_logical_replication_slot": "creates a replication slot", "set_config": "changes a setting",
    "nextval": "advances a sequence", "setval": "sets a sequence", "pg_advisory_lock": "takes a lock",
    "pg_try_advisory_lock": "takes a lock", "pg_advisory_xact_lock": "takes a lock",
    "pg_advisory_unlock": "releases a lock", "pg_advisory_unlock_all": "releases locks",
    "lo_import": "writes a large object", "lo_export": "writes a server file", "lo_unlink": "deletes a large object",
    "pg_notify": "sends a notification", "pg_log_backend_memory_contexts": "writes to the server log",
    "pg_file_write": "writes a server file", "dblink": "runs SQL elsewhere", "dblink_exec": "runs SQL elsewhere",
    "txid_current": "assigns a transaction id", "pg_current_xact_id": "assigns a transaction id",
}
# Volatile but harmless: allowed in statements that run live.
SAFE_VOLATILE = {"random", "clock_timestamp", "timeofday", "gen_random_uuid", "pg_sleep", "setseed",
                 "pg_stat_get_activity", "pg_stat_get_backend_pid", "pg_ls_dir", "pg_stat_file",
                 "pg_current_wal_lsn", "pg_last_wal_replay_lsn", "pg_last_wal_receive_lsn",
                 "pg_control_checkpoint", "pg_control_system", "pg_blocking_pids", "pg_safe_snapshot_blocking_pids",
                 "pg_stat_get_numscans", "pg_stat_clear_snapshot", "pg_jit_available",
                 "pg_is_wal_replay_paused", "pg_get_wal_replay_pause_state", "pg_ls_waldir", "pg_ls_logdir",
                 "pg_ls_archive_statusdir", "pg_ls_tmpdir", "pg_read_file", "pg_read_binary_file",
                 "pg_database_size", "pg_relation_size", "pg_total_relation_size", "pg_table_size",
                 "pg_indexes_size", "pg_tablespace_size", "pg_walfile_name", "pg_wal_lsn_diff"}
# PostgreSQL functions a runbook may call, to suggest `pg_x` for a misspelt `x` without a server.
KNOWN_PG_FUNCTIONS = set(SIDE_EFFECT_FUNCTIONS) | SAFE_VOLATILE | {
    "pg_size_pretty", "pg_backend_pid", "pg_is_in_recovery", "pg_postmaster_start_time", "pg_conf_load_time",
    "pg_stat_get_db_numbackends", "pg_last_xact_replay_timestamp", "pg_get_userbyid", "pg_typeof",
    "pg_get_indexdef", "pg_get_viewdef", "pg_column_size", "pg_xact_commit_timestamp", "pg_current_logfile",
    "pg_settings_get_flags", "pg_ls_logicalsnapdir", "pg_replication_slot_advance", "pg_wal_replay_wait",
}
# Words followed by "(" that are not function calls.
_NOT_FUNCTIONS = {
    "in", "exists", "any", "all", "some", "values", "as", "over", "filter", "within", "cast", "row", "array",
    "coalesce", "nullif", "greatest", "least", "extract", "position", "substring", "trim", "overlay", "interval",
    "and", "or", "not", "on", "using", "from", "where", "select", "join", "by", "decimal", "numeric", "varchar",
    "char", "character", "timestamp", "timestamptz", "time", "bit", "varbit", "float", "into", "table", "with",
    "returning", "set", "is", "then", "else", "when", "case", "distinct", "partition", "group", "order", "limit",
    "offset", "having", "window", "lateral", "tablesample", "grouping", "cube", "rollup", "sets", "if", "only",
    "primary", "key", "unique", "check", "references", "foreign", "index", "default", "conflict", "do", "update",
    "delete", "insert", "union", "intersect", "except", "like", "ilike", "similar", "between", "escape", "to",
}
_PLACEHOLDER = re.compile(r"<([A-Za-z][A-Za-z0-9_ -]*)>")


def split_sql(text: str) -> list[str]:
    """Statements of a SQL text, split at `;` outside strings, quoted names, dollar quotes and comments."""
    statements: list[str] = []
    start = 0
    i = 0
    while i < len(text):
        if text.startswith("--", i):
            end = text.find("\n", i)
            i = len(text) if end < 0 else end
            continue
        if text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = len(text) if end < 0 else end + 2
            continue
        c = text[i]
        if c in "'\"":
            end = i + 1
            while end < len(text):
                if text[end] == c and text[end + 1:end + 2] == c:
                    end += 2
                    continue
                if text[end] == c:
                    break
                end += 1
            i = end + 1
            continue
        dollar = re.match(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$", text[i:])
        if dollar:
            tag = dollar.group(0)
            end = text.find(tag, i + len(tag))
            i = len(text) if end < 0 else end + len(tag)
            continue
        if c == ";":
            statements.append(text[start:i])
            start = i + 1
        i += 1
    statements.append(text[start:])
    return [s.strip() for s in statements if _code_of(s).strip()]


def _code_of(sql: str) -> str:
    """The statement with string literals, quoted names and comments blanked (for keyword searches)."""
    sql = re.sub(r"--[^\n]*", " ", sql)
    sql = re.sub(r"/\*.*?\*/", " ", sql, flags=re.S)
    sql = re.sub(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$.*?\$\1\$", "''", sql, flags=re.S)
    sql = re.sub(r"'(?:[^']|'')*'", "''", sql)
    return sql


def sql_functions(sql: str) -> list[str]:
    """Names of the functions a statement calls (lower case, schema dropped), in order, once each."""
    code = _code_of(sql)
    code = re.sub(r'"(?:[^"]|"")*"', "x", code)
    code = _PLACEHOLDER.sub("0", code)
    found: list[str] = []
    for match in re.finditer(r"(?<![\w.$])((?:[A-Za-z_]\w*\.)?[A-Za-z_]\w*)\s*\(", code):
        name = match.group(1).split(".")[-1].lower()
        before = code[:match.start()].rstrip().split()
        if name in _NOT_FUNCTIONS or (before and before[-1].lower() in ("into", "table", "join", "from", "update",
                                                                         "references", "on", "exists", "function",
                                                                         "procedure", "view", "as")):
            continue
        if name not in found:
            found.append(name)
    return found


@dataclass(frozen=True)
class SqlStatement:
    text: str
    verb: str  # first keyword, upper case
    category: Literal["read", "write", "utility", "meta"]
    side_effects: tuple[str, ...]  # "pg_terminate_backend: terminates server processes"
    functions: tuple[str, ...]
    placeholders: tuple[str, ...]

    def parameterised(self) -> tuple[str, int]:
        """The text with each distinct <placeholder> replaced by $1, $2... and how many there are."""
        names: list[str] = []

        def sub(match: re.Match[str]) -> str:
            if match.group(0) not in names:
                names.append(match.group(0))
            return f"${names.index(match.group(0)) + 1}"

        return _PLACEHOLDER.sub(sub, self.text), len(names)


def classify_sql(text: str) -> SqlStatement:
    code = _code_of(text)
    words = re.findall(r"[A-Za-z_]+", code)
    verb = words[0].upper() if words else ""
    upper = [w.upper() for w in words]
    category: Literal["read", "write", "utility", "meta"]
    if text.lstrip().startswith("\\"):
        category = "meta"
    elif verb in ("SELECT", "WITH", "TABLE", "VALUES", "SHOW"):
        category = "read"
        if verb == "WITH" and {"INSERT", "UPDATE", "DELETE", "MERGE"} & set(upper):
            category = "write"
        if verb == "SELECT" and re.search(r"\bINTO\b", code, re.I) and not re.search(r"\bINSERT\b", code, re.I):
            category = "write"
        if re.search(r"\bFOR\s+(NO\s+KEY\s+)?(UPDATE|SHARE|KEY\s+SHARE)\b", code, re.I):
            category = "write"
    elif verb == "EXPLAIN":
        inner = re.sub(r"^\s*EXPLAIN\s*(\([^)]*\)|ANALYZE|VERBOSE|\s)*", "", text, flags=re.I)
        analyze = re.match(r"^\s*EXPLAIN\s*(\([^)]*ANALYZE[^)]*\)|ANALYZE)", text, re.I) is not None
        category = classify_sql(inner).category if analyze else "read"
    elif verb in ("INSERT", "UPDATE", "DELETE", "MERGE", "TRUNCATE", "COPY", "CALL", "DO"):
        category = "write"
    else:
        category = "utility"
    functions = tuple(sql_functions(text))
    effects = tuple(f"{f}(): {SIDE_EFFECT_FUNCTIONS[f]}" for f in functions if f in SIDE_EFFECT_FUNCTIONS)
    placeholders = tuple(dict.fromkeys(m.group(0) for m in _PLACEHOLDER.finditer(text)))
    return SqlStatement(text, verb, category, effects, functions, placeholders)


def pg_prefix_hint(name: str, known: set[str]) -> str:
    """`did you mean ...` for a function name that does not exist."""
    if f"pg_{name}" in known:
        return f"did you mean pg_{name}()?"
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.8)
    return f"did you mean {close[0]}()?" if close else ""


def static_sql_problems(statement: SqlStatement) -> list[str]:
    code = _code_of(statement.text)
    problems: list[str] = []
    if code.count("(") != code.count(")"):
        problems.append("unbalanced parentheses")
    if code.count("'") % 2:
        problems.append("unterminated string literal")
    for name in statement.functions:
        if name not in KNOWN_PG_FUNCTIONS and f"pg_{name}" in KNOWN_PG_FUNCTIONS:
            problems.append(f"function {name}() does not exist in PostgreSQL; did you mean pg_{name}()?")
    return problems


@dataclass
class PsqlCall:
    commands: list[str]
    database: str | None
    user: str | None
    files: list[str]


def parse_psql(argv: Sequence[str]) -> PsqlCall:
    commands: list[str] = []
    files: list[str] = []
    database: str | None = None
    user: str | None = None
    positional: list[str] = []
    takes_value = {"-c": "c", "--command": "c", "-d": "d", "--dbname": "d", "-U": "U", "--username": "U",
                   "-f": "f", "--file": "f", "-h": "h", "--host": "h", "-p": "p", "--port": "p", "-v": "v",
                   "--set": "v", "--variable": "v", "-o": "o", "--output": "o", "-P": "P", "--pset": "P",
                   "-F": "F", "-R": "R", "-T": "T", "-L": "L"}
    i = 1
    while i < len(argv):
        arg = argv[i]
        i += 1
        key: str | None = None
        value = ""
        if arg.startswith("--") and "=" in arg:
            name, _, value = arg.partition("=")
            key = takes_value.get(name)
        elif arg in takes_value:
            key = takes_value[arg]
            if i < len(argv):
                value, i = argv[i], i + 1
        elif arg[:2] in takes_value and len(arg) > 2:
            key, value = takes_value[arg[:2]], arg[2:]
        elif arg.startswith("-"):
            continue
        else:
            positional.append(arg)
            continue
        if key == "c":
            commands.append(value)
        elif key == "d":
            database = value
        elif key == "U":
            user = value
        elif key == "f":
            files.append(value)
    if positional and database is None:
        database = positional[0]
    if len(positional) > 1 and user is None:
        user = positional[1]
    return PsqlCall(commands, database, user, files)


# ---------------------------------------------------------------------------------------------------
# the live stack (adopted from `aarya-chaos up`), a scratch Redis for writes, and sample log lines
# ---------------------------------------------------------------------------------------------------

# Lines recorded from the reference stack's logs, for trying grep patterns without a stack.
SAMPLE_LOGS: dict[str, list[str]] = {
    "api_gateway": [
        '127.0.0.1 - - [2026-11-28T16:00:12+00:00] "GET /api/v1/products?limit=20&offset=40 HTTP/1.1" 200 2311 '
        'rt=0.004 urt=0.004 upstream=127.0.0.1:21010 "-" "python-httpx/0.28.1" rid=f52393a548013952f5e18698fdcdba03',
        '127.0.0.1 - - [2026-11-28T16:00:12+00:00] "POST /api/v1/auth/login HTTP/1.1" 401 64 rt=0.121 urt=0.121 '
        'upstream=127.0.0.1:21004 "-" "python-httpx/0.28.1" rid=5c32dfc0ba56a193666e710c1b747cb0',
        '127.0.0.1 - - [2026-11-28T16:00:13+00:00] "GET /api/v1/cart HTTP/1.1" 502 77 rt=0.001 urt=0.001 '
        'upstream=127.0.0.1:21010 "-" "python-httpx/0.28.1" rid=d55cb727ed0cf9cec9f288a7b6364dfa',
    ],
    "commerce": [
        '{"time": "2026-11-28 15:59:58,992", "level": "INFO", "logger": "aarya.commerce", "message": "order placed", '
        '"service": "commerce", "order_id": "c18a4ba3-616b-4d84-83c8-60123076b2e5", "user_id": 114}',
        '{"time": "2026-11-28 15:59:37,726", "level": "ERROR", "logger": "aarya.db", "message": "postgres pool '
        'timeout: couldn\'t get a connection after 2.00 sec", "service": "commerce"}',
        '{"time": "2026-11-28 15:59:38,101", "level": "ERROR", "logger": "aarya.db", "message": "postgres statement '
        'timeout: canceling statement due to statement timeout", "service": "commerce"}',
    ],
    "core_platform": [
        '{"time": "2026-11-28 15:59:57,673", "level": "INFO", "logger": "aarya.core_platform", "message": '
        '"login succeeded", "service": "core_platform", "user_id": 113, "ip": "127.0.0.1"}',
        '{"time": "2026-11-28 15:59:57,901", "level": "WARNING", "logger": "aarya.core_platform", "message": '
        '"authentication failed: login failed for email=x@example.test ip=127.0.0.1 reason=bad_password", '
        '"service": "core_platform"}',
        '{"time": "2026-11-28 15:59:58,012", "level": "INFO", "logger": "aarya.core_platform", "message": '
        '"user registered", "service": "core_platform", "user_id": 117}',
    ],
    "content_services": [
        '{"time": "2026-11-28 15:59:38,482", "level": "ERROR", "logger": "aarya.content_services", "message": '
        '"consumer error: DependencyUnavailable: postgres unavailable", "service": "content_services"}',
        '{"time": "2026-11-28 15:57:01,100", "level": "INFO", "logger": "aarya.content_services", "message": '
        '"consumer vm-24489 starting on user_events, order_events, analytics_events", "service": "content_services"}',
    ],
    "redis": ["27007:M 28 Nov 2026 15:58:51.841 * Ready to accept connections",
              "27007:M 28 Nov 2026 15:58:51.841 * DB loaded from append only file: 0.001 seconds"],
    "postgres": ["2026-11-28 15:59:33.279 UTC [28801] LOG:  database system is ready to accept connections",
                 "2026-11-28 15:59:40.002 UTC [28855] FATAL:  terminating connection due to administrator command"],
}
SUCCESS_WORDS = re.compile(r"\b(succeeded|success(ful)?|registered|placed|paid)\b|\" 20\d ", re.I)
FAILURE_INTENT = re.compile(r"fail|error|denied|unauthori[sz]ed|invalid|reject", re.I)


class RedisLink:
    """A raw Redis connection: replies exactly as the server sends them, no client-side parsing."""

    def __init__(self, host: str, port: int, timeout_s: float = 3.0) -> None:
        import redis

        connection: Any = redis.Connection  # untyped in redis-py
        self._conn: Any = connection(host=host, port=port, socket_timeout=timeout_s,
                                     socket_connect_timeout=timeout_s)
        self._conn.connect()

    def call(self, *words: str) -> Any:
        self._conn.send_command(*words)
        return _decode(self._conn.read_response())

    def close(self) -> None:
        self._conn.disconnect()


class ScratchRedis:
    """A throwaway redis-server on a free loopback port (no persistence), for running writes safely."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.dir = Path(tempfile.mkdtemp(prefix="aarya-runbook-scratch-"))
        self.port = free_port()
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.dir), "--daemonize", "no", "--logfile", str(self.dir / "redis.log")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.link = RedisLink("127.0.0.1", self.port)
                if self.link.call("PING") == "PONG":
                    break
            except Exception:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise ChaosError(f"the scratch redis-server on port {self.port} did not start") from None
                time.sleep(0.05)

    def stop(self) -> None:
        link = getattr(self, "link", None)
        if link is not None:
            link.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class LiveStack:
    """The stack started by `aarya-chaos up`, adopted through LocalDriver.attach()."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver
        self.config = driver.config
        self._redis: RedisLink | None = None
        self._specs: dict[str, tuple[RSpec | None, int]] = {}
        self.scratch: ScratchRedis | None = None
        self._mirrored = False
        self.running = {s.name: s.running for s in driver.status()}

    def close(self) -> None:
        if self._redis is not None:
            self._redis.close()
        if self.scratch is not None:
            self.scratch.stop()

    # -- PostgreSQL ----------------------------------------------------------------------------

    def pg_conninfo(self, database: str | None) -> str:
        conninfo: str = self.driver.components["postgres"].admin_conninfo(database)
        return conninfo

    # -- Redis ---------------------------------------------------------------------------------

    def redis(self) -> RedisLink:
        if self._redis is None:
            self._redis = RedisLink(self.config.host, self.config.redis.port)
        return self._redis

    def redis_spec(self, words: Sequence[str]) -> tuple[RSpec | None, int]:
        """The spec of the command at the start of `words` (and how many words name it), from the server."""
        name = words[0].lower()
        key = name + ("|" + words[1].lower() if len(words) > 1 else "")
        if key in self._specs:
            return self._specs[key]
        info = self.redis().call("COMMAND", "INFO", name)
        entry = info[0] if isinstance(info, list) and info else None
        if entry is None:
            self._specs[key] = (None, 1)
            return None, 1
        subcommands = entry[9] if len(entry) > 9 else []
        full, used = name, 1
        if subcommands:
            if len(words) < 2:
                spec = RSpec(name.upper(), int(entry[1]), frozenset(entry[2]), None, container=True)
                self._specs[key] = (spec, 1)
                return spec, 1
            full, used = f"{name}|{words[1].lower()}", 2
            sub = self.redis().call("COMMAND", "INFO", full)
            entry = sub[0] if isinstance(sub, list) and sub else None
            if entry is None:
                self._specs[key] = (None, 2)
                return None, 2
        docs = _as_map(self.redis().call("COMMAND", "DOCS", full)).get(full)
        doc = _as_map(docs) if docs is not None else {}
        args = args_from_docs(doc.get("arguments")) if doc else None
        spec = RSpec(full.replace("|", " ").upper(), int(entry[1]), frozenset(entry[2]), args,
                     frozenset(entry[6]) if len(entry) > 6 else frozenset())
        self._specs[key] = (spec, used)
        return spec, used

    def scratch_redis(self) -> ScratchRedis:
        """Started on first use; the live streams and their consumer groups are mirrored (empty)."""
        if self.scratch is None:
            self.scratch = ScratchRedis(str(self.driver.binaries.redis_server))
        if not self._mirrored:
            self._mirrored = True
            try:
                for stream in self.streams()[:100]:
                    for group in self.redis().call("XINFO", "GROUPS", stream):
                        name = _as_map(group).get("name")
                        if name:
                            self.scratch.link.call("XGROUP", "CREATE", stream, str(name), "0", "MKSTREAM")
            except Exception:
                pass  # a mirror is a convenience: without it the scratch run reports NOGROUP
        return self.scratch

    def streams(self) -> list[str]:
        cursor, found = "0", []
        for _ in range(100):
            cursor, keys = self.redis().call("SCAN", cursor, "TYPE", "stream", "COUNT", "1000")
            found += keys
            if cursor == "0":
                break
        return sorted(set(found))

    # -- logs ----------------------------------------------------------------------------------

    def log_path(self, component: str) -> Path:
        comp = self.driver.components[component]
        path: Path = comp.access_log if component == "api_gateway" else comp.process.log_path
        return path

    def log_sample(self, component: str, lines: int) -> list[str]:
        from stack.logtail import tail

        path = self.log_path(component)
        if not path.exists():
            return []
        text = tail(path, lines, max_bytes=4_000_000)
        return [line for line in text.splitlines() if not line.startswith("=== ")]


def attach_live(config: Any) -> tuple[LiveStack | None, str]:
    """The running stack of `config`, or (None, why not)."""
    try:
        from stack.drivers.local import LocalDriver

        driver = LocalDriver(config, install=False)
    except ChaosError as exc:
        return None, f"cannot drive the local stack: {exc}"
    if driver.attach() is None:
        return None, f"no stack recorded in {config.run_dir} (start one with `aarya-chaos up`)"
    live = LiveStack(driver)
    if not any(live.running.values()):
        return None, f"the stack recorded in {config.run_dir} is not running (crashed run? `aarya-chaos down`)"
    return live, ""


def container_map(config: Any) -> dict[str, str]:
    """Container name (as the runbook writes it) -> component of the local stack."""
    mapping = {config.postgres.container: "postgres", config.redis.container: "redis",
               config.gateway.container: "api_gateway", config.toxiproxy.container: "toxiproxy"}
    for name, service in config.services.items():
        mapping[service.container or f"aarya_{name}"] = name
    return mapping


# ---------------------------------------------------------------------------------------------------
# the checkers, one per kind of command
# ---------------------------------------------------------------------------------------------------


@dataclass
class Context:
    config: Any  # StackConfig
    live: LiveStack | None
    why_static: str = ""  # why there is no live stack ("--dry-run", "no stack recorded ...")
    not_checked: dict[str, int] = field(default_factory=dict)

    def missed(self, what: str) -> None:
        self.not_checked[what] = self.not_checked.get(what, 0) + 1

    def static_reason(self) -> str:
        return "dry run" if self.why_static == "--dry-run" else "no live stack"


def unwrap(argv: list[str]) -> tuple[list[str], str | None]:
    """The command run inside `sudo`, `docker exec [opts] CONTAINER`, `docker-compose exec SERVICE`,
    `kubectl exec POD --`; and the container (or service) name."""
    argv = list(argv)
    while argv and (argv[0] == "sudo" or re.fullmatch(r"[A-Za-z_]\w*=.*", argv[0])):
        argv = argv[1:]
    if len(argv) >= 3 and argv[0] == "docker" and argv[1] == "exec":
        i = 2
        while i < len(argv) and argv[i].startswith("-"):
            i += 2 if argv[i] in ("-e", "--env", "-u", "--user", "-w", "--workdir", "--env-file",
                                  "--detach-keys") else 1
        if i < len(argv):
            return argv[i + 1:], argv[i]
    compose = 2 if argv[:1] == ["docker-compose"] else 3 if argv[:2] == ["docker", "compose"] else 0
    if compose and len(argv) > compose and argv[compose - 1] == "exec":
        i = compose
        while i < len(argv) and argv[i].startswith("-"):
            i += 2 if argv[i] in ("-e", "--env", "-u", "--user", "-w", "--workdir", "--index") else 1
        if i < len(argv):
            return argv[i + 1:], argv[i]
    if argv[:2] == ["kubectl", "exec"] and "--" in argv:
        return argv[argv.index("--") + 1:], None
    return argv, None


def _rows_text(names: list[str], rows: list[tuple[Any, ...]], total: int) -> str:
    if total == 0:
        return "0 rows"
    first = ", ".join(f"{n}={shorten(str(v), 40)}" for n, v in zip(names, rows[0]))
    return f"{total} row{'s' if total != 1 else ''}: {first}" if total == 1 else f"{total} rows; first: {first}"


def check_sql(check: CommandCheck, sql_text: str, database: str | None, ctx: Context) -> None:
    statements = split_sql(sql_text)
    if not statements:
        check.add("fails", "psql -c with no SQL in it")
        return
    for text in statements:
        st = classify_sql(text)
        label = f"`{shorten(text, 40)}`: " if len(statements) > 1 else ""
        suspicious = [f for f in st.functions if f"pg_{f}" in SIDE_EFFECT_FUNCTIONS]
        if st.category == "meta":
            check.add("not runnable", f"{label}psql meta-command, not SQL")
            continue
        problems = static_sql_problems(st)
        needs = f"needs a value for {', '.join(st.placeholders)}" if st.placeholders else ""
        if ctx.live is None or not ctx.live.running.get("postgres"):
            for problem in problems:
                check.add("fails", label + problem)
            if problems:
                continue
            why = ctx.static_reason() if ctx.live is None else "PostgreSQL is not running"
            ctx.missed("SQL statements not run or validated against PostgreSQL")
            if st.category == "read" and not st.side_effects and not suspicious:
                check.add("dry-run", f"{label}read-only {st.verb}; not run ({why})" + (f"; {needs}" if needs else ""))
            else:
                what = "; ".join(st.side_effects) or f"{st.verb} ({st.category})"
                check.add("dry-run", f"{label}side effects: {what}; not validated ({why})" + (f"; {needs}" if needs else ""))
            continue
        _check_sql_live(check, st, label, database, ctx, problems, suspicious, needs)


def _check_sql_live(check: CommandCheck, st: SqlStatement, label: str, database: str | None, ctx: Context,
                    problems: list[str], suspicious: list[str], needs: str) -> None:
    import psycopg

    assert ctx.live is not None
    db = database or ctx.config.postgres.database
    where = f" (database {db})" if database else ""
    try:
        conn = psycopg.connect(ctx.live.pg_conninfo(db), autocommit=True)
    except psycopg.Error as exc:
        check.add("fails", f"{label}cannot connect to database {db!r}: {str(exc).strip().splitlines()[0]}")
        return
    try:
        volatile: list[str] = []
        if st.functions:
            rows = conn.execute(b"SELECT DISTINCT proname FROM pg_proc WHERE provolatile = 'v' "
                                b"AND proname = ANY(%s)", (list(st.functions),)).fetchall()
            volatile = [r[0] for r in rows if r[0] not in SAFE_VOLATILE and r[0] not in SIDE_EFFECT_FUNCTIONS]
        effects = list(st.side_effects) + [f"{f}(): volatile, may change state" for f in volatile]
        runnable = st.category == "read" and not effects and not suspicious and not st.placeholders
        conn.execute(b"BEGIN READ ONLY")
        conn.execute(f"SET LOCAL statement_timeout = {SQL_TIMEOUT_MS}".encode())
        conn.execute(b"SET LOCAL lock_timeout = 1000")
        try:
            if runnable:
                cursor = conn.execute(st.text.encode())
                names = [c.name for c in cursor.description or []]
                rows_all = cursor.fetchmany(1000) if cursor.description else []
                check.add("ok", f"{label}ran read-only{where}, statement_timeout {SQL_TIMEOUT_MS // 1000}s: "
                                f"{_rows_text(names, rows_all[:1], len(rows_all))}")
            elif st.verb in ("SELECT", "WITH", "VALUES", "TABLE", "INSERT", "UPDATE", "DELETE", "MERGE"):
                text, _ = st.parameterised()
                conn.execute(f"PREPARE aarya_runbook_check AS {text}".encode())
                conn.execute(b"DEALLOCATE aarya_runbook_check")
                what = "; ".join(effects) or f"{st.verb} writes ({st.category})"
                if st.category == "read" and not effects:
                    what = f"read-only {st.verb}"
                check.add("dry-run", f"{label}validated with PREPARE{where}, not executed: {what}"
                                     + (f"; {needs}" if needs else ""))
            else:
                check.add("dry-run", f"{label}{st.verb} is a utility statement: not validated, not run")
        except psycopg.Error as exc:
            check.add("fails", label + _pg_error(exc, st, conn))
        finally:
            conn.execute(b"ROLLBACK")
    finally:
        conn.close()


def _pg_error(exc: Exception, st: SqlStatement, conn: Any) -> str:
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) or str(exc).strip().splitlines()[0]
    text = f"PostgreSQL: {primary}"
    match = re.search(r"function (\w+)\(", primary)
    if match:
        conn.execute(b"ROLLBACK")
        conn.execute(b"BEGIN READ ONLY")
        names = {r[0] for r in conn.execute(b"SELECT DISTINCT proname FROM pg_proc").fetchall()}
        hint = pg_prefix_hint(match.group(1), names)
        if hint:
            text += f" ({hint})"
    elif getattr(diag, "message_hint", None):
        text += f" (hint: {diag.message_hint})"  # type: ignore[union-attr]
    return text


@dataclass
class RedisCliCall:
    words: list[str]
    mode: str | None = None
    options: list[str] = field(default_factory=list)


_CLI_VALUE_OPTS = {"-h", "-p", "-s", "-a", "-u", "-r", "-i", "-n", "-d", "-D", "--user", "--pass", "--pattern",
                   "--count", "--eval", "--cacert", "--cacertdir", "--cert", "--key", "--sni", "--tls-ciphers",
                   "--tls-ciphersuites", "--memkeys-samples", "--pipe-timeout", "--quoted-pattern",
                   "--intrinsic-latency", "--lru-test", "--rdb", "--functions-rdb", "--cluster"}
_CLI_MODES = {"--stat", "--bigkeys", "--memkeys", "--hotkeys", "--scan", "--latency", "--latency-history",
              "--latency-dist", "--intrinsic-latency", "--lru-test", "--replica", "--slave", "--rdb",
              "--functions-rdb", "--pipe", "--eval", "--cluster"}


def parse_redis_cli(argv: Sequence[str]) -> RedisCliCall:
    call = RedisCliCall([])
    i = 1
    while i < len(argv):
        arg = argv[i]
        if not arg.startswith("-") or arg == "-":
            call.words = list(argv[i:])
            break
        call.options.append(arg)
        if arg in _CLI_MODES and call.mode is None:
            call.mode = arg
        i += 2 if arg in _CLI_VALUE_OPTS else 1
    return call


def _redis_output(value: Any) -> str:
    """A reply as redis-cli prints it when piped (no type annotations)."""
    if value is None:
        return ""
    if isinstance(value, list):
        return "\n".join(_redis_output(v) for v in value)
    if isinstance(value, dict):
        return "\n".join(f"{k}\n{_redis_output(v)}" for k, v in value.items())
    return str(value)


def _redis_summary(value: Any) -> str:
    """A short rendering of a reply for the table."""
    if isinstance(value, bool) or value is None:
        return "(nil)" if value is None else str(value)
    if isinstance(value, int):
        return f"(integer) {value}"
    if isinstance(value, str):
        lines = [line for line in value.splitlines() if line and not line.startswith("#")]
        if len(lines) > 1:
            return f"{len(lines)} lines: " + shorten(", ".join(lines[:3]), 70)
        return shorten(value, 70)
    if isinstance(value, dict):
        return shorten(", ".join(f"{k} = {_redis_summary(v)}" for k, v in value.items()), 80)
    if isinstance(value, list):
        if value and all(isinstance(v, dict) for v in value):
            return f"{len(value)} item{'s' if len(value) != 1 else ''}: " + shorten(
                "; ".join(_redis_summary(v) for v in value[:2]), 80)
        items = [_redis_summary(v) if not isinstance(v, str) else v for v in value[:4]]
        return shorten(f"{len(value)} item{'s' if len(value) != 1 else ''}: " + ", ".join(items), 80)
    return shorten(str(value), 70)


_LUA_CALL = re.compile(r"redis\.p?call\s*\(\s*(['\"])([A-Za-z_|]+)\1")
_SYNTAX_REPLY = re.compile(r"syntax error|wrong number of arguments|unknown command|unknown subcommand|"
                           r"Error compiling script|not an integer|out of range|Unbalanced|invalid|"
                           r"unrecognized|Unknown", re.I)


def _is_write(spec: RSpec) -> bool:
    """Changes data or server state (admin commands count, except the ones that only look)."""
    if spec.name in LIVE_ALLOW:
        return False
    return bool({"write", "admin"} & spec.flags) or ("@dangerous" in spec.categories and "readonly" not in spec.flags)


def check_redis(check: CommandCheck, argv: list[str], ctx: Context, comment: str) -> str | None:
    """Check one redis-cli invocation; returns its output text when it ran live (for a following grep)."""
    call = parse_redis_cli(argv)
    live = ctx.live if ctx.live is not None and ctx.live.running.get("redis") else None
    if call.mode is not None:
        return _check_redis_mode(check, call, live, ctx, comment)
    if not call.words:
        check.add("not runnable", "redis-cli without a command is interactive")
        return None
    words = call.words
    try:
        spec, used = live.redis_spec(words) if live else _static_spec(words)
    except Exception as exc:
        check.add("not runnable", f"could not ask Redis for COMMAND INFO: {exc}")
        return None
    name = " ".join(words[:used]).upper()
    if spec is None:
        if live:
            check.add("fails", f"unknown command or subcommand {name!r} (COMMAND INFO has no such command)")
        else:
            ctx.missed("Redis commands outside the built-in table")
            check.add("dry-run", f"{name} is not in the built-in table: syntax not checked ({ctx.static_reason()})")
        return None
    if spec.container and used == 1:
        check.add("fails", f"{spec.name} needs a subcommand")
        return None
    args = words[used:]
    problems = check_redis_grammar(spec, args)
    source = "COMMAND INFO/DOCS of the live server" if live else "the built-in table"
    for problem in problems:
        check.add("fails", f"{problem} (from {source})")
    script_writes: list[str] = []
    if spec.name in ("EVAL", "EVAL_RO", "EVALSHA") and len(args) >= 2:
        script_writes = _check_script(check, args, live, ctx)
    writes = _is_write(spec) or bool(script_writes)
    allowed = spec.name in LIVE_ALLOW or ("readonly" in spec.flags and spec.name not in LIVE_DENY
                                          and "@dangerous" not in spec.categories)
    if spec.name in ("EVAL", "EVAL_RO"):
        allowed = not script_writes
    if spec.name == "KEYS":
        check.add("warning", "KEYS walks every key while Redis serves nobody else; use SCAN (redis-cli --scan)")
    if spec.name in ("FLUSHDB", "FLUSHALL"):
        check.add("warning", f"{spec.name} is not selective: it deletes every key, sessions (users logged out), "
                             "carts and streams included, not only non-critical data; delete cache keys by pattern "
                             "instead (redis-cli --scan --pattern 'cache:*' | xargs redis-cli unlink)")
    if not writes and allowed:
        if live is None:
            ctx.missed("read-only Redis commands not run")
            if not problems:
                check.add("dry-run", f"read-only {spec.name}; not run ({ctx.static_reason()})")
            return None
        run = ["EVAL_RO", *args] if spec.name == "EVAL" else words
        try:
            reply = live.redis().call(*run)
        except Exception as exc:
            check.add("fails", f"the live server answered: {exc}")
            return None
        check.add("ok", f"ran live: {_redis_summary(reply)}")
        return _redis_output(reply)
    if not writes:
        check.add("dry-run", f"{spec.name} only reads but is not run live (it blocks the server or the client)")
        return None
    what = describe_redis_write(spec, args, live, script_writes)
    if live is None:
        ctx.missed("Redis writes not tried on a scratch server")
        check.add("dry-run", f"{what}; not run ({ctx.static_reason()})")
        return None
    verdict = _scratch_run(live, words)
    result: Result = "fails" if verdict.startswith("!") else "dry-run"
    if result == "fails" and problems:
        result = "dry-run"  # already reported; the server agrees
    check.add(result, f"{what}; never run live: {verdict.lstrip('!')}")
    return None


def _static_spec(words: Sequence[str]) -> tuple[RSpec | None, int]:
    name = words[0].upper()
    spec = STATIC_SPECS.get(name)
    if spec is not None and spec.container and len(words) > 1:
        return STATIC_SPECS.get(f"{name} {words[1].upper()}"), 2
    return spec, 1


def _check_script(check: CommandCheck, args: list[str], live: LiveStack | None, ctx: Context) -> list[str]:
    """Lua given to EVAL: numkeys, the commands it calls, and which of them write."""
    script, numkeys = args[0], args[1]
    if numkeys.lstrip("-").isdigit() and int(numkeys) > len(args) - 2:
        check.add("fails", f"numkeys is {numkeys} but only {len(args) - 2} key/arg word(s) follow the script")
    called = [m.group(2).upper() for m in _LUA_CALL.finditer(script)]
    if re.search(r"redis\.p?call\s*\(\s*[^'\"\s]", script):
        called.append("<computed>")
    writes: list[str] = []
    for name in dict.fromkeys(called):
        spec: RSpec | None
        if name == "<computed>":
            spec = None
        else:
            try:
                spec = live.redis_spec([name])[0] if live else _static_spec([name])[0]
            except Exception:
                spec = None
        if spec is None or _is_write(spec) or "readonly" not in spec.flags and spec.name not in LIVE_ALLOW:
            writes.append(name)
        if name == "KEYS":
            check.add("warning", "the script calls KEYS: it walks the whole keyspace and a script cannot be "
                                 "interrupted, so Redis serves nobody until it ends; iterate with SCAN outside a script")
    return writes


def describe_redis_write(spec: RSpec, args: list[str], live: LiveStack | None, script_writes: list[str]) -> str:
    """What a write would do, with the live server's figures when there is one (read-only look-ups)."""
    name = spec.name
    try:
        if name in ("FLUSHDB", "FLUSHALL"):
            if live is None:
                return f"would delete every key of the database ({name} {' '.join(args)})".replace(" )", ")")
            families: dict[str, int] = {}
            cursor, total = "0", 0
            for _ in range(200):
                cursor, keys = live.redis().call("SCAN", cursor, "COUNT", "1000")
                for key in keys:
                    family = key.split(":")[0] if ":" in key else key
                    families[family] = families.get(family, 0) + 1
                    total += 1
                if cursor == "0":
                    break
            top = ", ".join(f"{k}: {v}" for k, v in sorted(families.items(), key=lambda kv: -kv[1])[:6])
            return f"would delete all {total} keys ({top})"
        if name == "XTRIM" and len(args) >= 3:
            key = args[0]
            threshold = args[-1] if not args[-2].upper() == "LIMIT" else args[-3]
            if live is None:
                return (f"would trim {key} to about {threshold} entries; entries go whether or not the consumer "
                        "groups have processed them")
            length = int(live.redis().call("XLEN", key))
            removed = max(0, length - int(threshold)) if threshold.isdigit() else "?"
            groups = [_as_map(g) for g in live.redis().call("XINFO", "GROUPS", key)]
            behind = ", ".join(f"group {g.get('name')}: lag {g.get('lag')}, pending {g.get('pending')}"
                               for g in groups)
            return f"would remove {removed} of {length} entries of {key}" + (f" ({behind})" if behind else "")
        if name in ("DEL", "UNLINK"):
            if live is None:
                return f"would delete {len(args)} key(s)"
            present = int(live.redis().call("EXISTS", *args)) if args else 0
            return f"would delete {present} existing of {len(args)} key(s)"
        if name == "XREADGROUP":
            return "would hand entries to a consumer and add them to its pending list (moves the group's cursor)"
        if name in ("EVAL", "EVALSHA"):
            return f"the script writes ({', '.join(script_writes)})"
        if name == "BGREWRITEAOF":
            return "would start an AOF rewrite in the background"
        if name == "CONFIG SET":
            return "would change the running configuration"
    except Exception as exc:
        return f"{name}: could not measure its effect ({exc})"
    flags = ", ".join(sorted(spec.flags)) or "no flags"
    return f"{name} changes data or server state ({flags})"


def _scratch_run(live: LiveStack, words: list[str]) -> str:
    """Run on the scratch Redis; '!' + reply when the server rejects the command itself."""
    try:
        scratch = live.scratch_redis()
    except ChaosError as exc:
        return f"no scratch Redis to try it on ({exc})"
    try:
        reply = scratch.link.call(*words)
    except Exception as exc:
        text = str(exc)
        if _SYNTAX_REPLY.search(text):
            return f"!the scratch Redis rejects it: {text}"
        return f"on the scratch Redis (empty copy, streams and groups mirrored) it answers: {text}"
    return f"on the scratch Redis (empty copy, streams and groups mirrored) it answers {_redis_summary(reply)}"


def _check_redis_mode(check: CommandCheck, call: RedisCliCall, live: LiveStack | None, ctx: Context,
                      comment: str) -> str | None:
    mode = call.mode or ""
    if mode == "--stat":
        intent = " (the comment asks which keys are evicted: --stat cannot tell)" if "which" in comment.lower() else ""
        check.add("warning", "redis-cli --stat never ends (a line per second until Ctrl-C) and shows totals "
                             f"(keys, memory, clients, requests), not keys{intent}; not run")
        return None
    if mode in ("--bigkeys", "--memkeys", "--scan"):
        if live is None:
            ctx.missed("read-only Redis commands not run")
            check.add("dry-run", f"redis-cli {mode} scans with SCAN (read-only); not run ({ctx.static_reason()})")
            return None
        code, output = live.driver.redis_cli(*call.options, *call.words)
        output = str(output)
        if code != 0:
            check.add("fails", f"redis-cli {mode} exited {code}: {shorten(output, 120)}")
            return None
        found = [line.strip() for line in output.splitlines() if "Biggest" in line or "found" in line.lower()]
        check.add("ok", "ran live (read-only SCAN): " + shorten("; ".join(found[-3:]) or output.strip(), 120))
        return output
    check.add("dry-run", f"redis-cli {mode} runs until interrupted or needs a special setup; not run")
    return None


TEXT_FILTERS = {"grep", "egrep", "fgrep", "sort", "uniq", "head", "tail", "wc", "cut", "awk", "tr", "sed"}


@dataclass
class Sample:
    lines: list[str]
    label: str  # "the last 100 lines of commerce's log"
    live: bool


def log_source(argv: list[str], ctx: Context) -> tuple[Sample | None, str]:
    """Sample lines for what feeds a grep: `docker logs CONTAINER [--tail N]`. (None, why) otherwise."""
    if argv[:2] != ["docker", "logs"]:
        return None, f"`{shorten(' '.join(argv), 40)}` is not available here (the local stack runs processes, not containers)"
    tail_n: int | None = None
    container = None
    i = 2
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("--tail=") or arg.startswith("-n="):
            tail_n = int(arg.split("=", 1)[1]) if arg.split("=", 1)[1].isdigit() else None
        elif arg in ("--tail", "-n") and i + 1 < len(argv):
            tail_n = int(argv[i + 1]) if argv[i + 1].isdigit() else None
            i += 1
        elif arg in ("--since", "--until") and i + 1 < len(argv):
            i += 1
        elif not arg.startswith("-"):
            container = arg
        i += 1
    component = container_map(ctx.config).get(container or "")
    if component is None:
        return None, f"container {container!r} has no counterpart in the local stack"
    lines = tail_n or MAX_SAMPLE_LINES
    if ctx.live is not None:
        sample = ctx.live.log_sample(component, lines)
        which = "access log" if component == "api_gateway" else "log"
        return Sample(sample, f"the last {len(sample)} lines of {component}'s {which}", True), ""
    builtin = SAMPLE_LOGS.get(component)
    if not builtin:
        return None, f"no sample lines for {component}"
    return Sample(builtin, f"{len(builtin)} built-in sample lines of {component}'s log", False), ""


def check_grep_pipeline(check: CommandCheck, stages: list[Stage], start: int, sample: Sample | None,
                        source_why: str, ctx: Context, comment: str) -> None:
    """Every grep stage from `start` on: its pattern as grep reads it, tried on the sample lines."""
    lines = list(sample.lines) if sample is not None else None
    live_source = sample is not None and sample.live
    for stage in stages[start:]:
        argv = stage.argv
        program = os.path.basename(argv[0]) if argv else ""
        if program not in ("grep", "egrep", "fgrep"):
            if lines is not None and program not in TEXT_FILTERS:
                lines = None
            continue
        call = parse_grep(argv)
        if not call.patterns:
            check.add("fails", "grep without a pattern")
            return
        syntax = {"bre": "basic regex", "ere": "extended regex (-E)", "fixed": "fixed string (-F)",
                  "perl": "Perl regex (-P)"}[call.syntax]
        try:
            regex, notes = compile_grep(call)
        except re.error as exc:
            check.add("fails", f"grep rejects the pattern {call.patterns[0]!r}: {exc}")
            return
        for problem in call.problems:
            check.add("not runnable", problem)
        shown = " / ".join(_q(p) for p in call.patterns)
        literal_bar = any("literal character in a basic regex" in n and "`|`" in n for n in notes)
        if literal_bar:
            intended = GrepCall(call.patterns, "ere", call.ignore_case, word=call.word, line=call.line)
            would = ""
            if lines is not None:
                hits = sum(1 for line in lines if regex.search(line))
                ere, _ = compile_grep(intended)
                meant = sum(1 for line in lines if ere.search(line))
                would = f": on {sample.label if sample else 'the sample'} it matches {hits} line(s), " \
                        f"as `grep -E` it would match {meant}"
            check.add("fails", f"grep {shown} is a basic regex, where `|` is a literal character: it only matches "
                               f"the text {_q(call.patterns[0])} itself, never the alternatives{would}; "
                               f"use grep -E (or `\\|`)")
        for note in notes:
            if not ("`|`" in note and literal_bar):
                check.add("warning", f"grep {shown}: {note}")
        if lines is None:
            check.add("not runnable", f"pattern {shown} compiles as a {syntax}; not tried on data: {source_why}")
            continue
        matched = [line for line in lines if bool(regex.search(line)) != call.invert]
        label = sample.label if sample else "the sample"
        if not literal_bar:
            check.add("ok", f"pattern {shown} ({syntax}) matches {len(matched)} of {len(lines)} lines ({label})")
        if call.only_matching and not call.invert:
            multi = [line for line in matched if len(regex.findall(line)) > 1]
            if multi:
                example = regex.findall(multi[0])
                ip_hint = " (the access log also carries upstream=ADDRESS:PORT: count clients with awk '{print $1}')" \
                    if re.search(r"\d.*\\\.", "".join(call.patterns)) else ""
                check.add("warning", f"grep -o prints every match: {len(multi)} of {len(matched)} matching lines hold "
                                     f"several ({', '.join(map(str, example[:3]))}), so the count includes more "
                                     f"than one address or token per line{ip_hint}")
        if FAILURE_INTENT.search(comment) and not call.invert and not call.only_matching:
            successes = [line for line in matched if SUCCESS_WORDS.search(line)]
            if successes:
                branches = []
                for alternative in alternatives(call.patterns[0], call.syntax):
                    try:
                        part, _ = compile_grep(GrepCall([alternative], call.syntax, call.ignore_case))
                    except re.error:
                        continue
                    n = sum(1 for line in successes if part.search(line))
                    if n:
                        branches.append(f"{_q(alternative)} ({n})")
                check.add("warning", f"the comment says {shorten(comment, 40)!r} but {len(successes)} of the "
                                     f"{len(matched)} matching lines are successes (e.g. "
                                     f"{shorten(SUCCESS_WORDS.search(successes[0]).group(0), 20)!r} in "  # type: ignore[union-attr]
                                     f"{shorten(successes[0], 60)!r})"
                                     + (f", matched by {', '.join(branches)}" if branches else ""))
        if call.only_matching:
            lines = [m.group(0) for line in matched for m in regex.finditer(line)]
        elif call.count:
            lines = None
        else:
            lines = matched
    if sample is None:
        return
    if not live_source:
        ctx.missed("greps tried on built-in sample lines instead of the live logs")
        check.add("dry-run", f"tried on built-in sample lines, not the live log ({ctx.static_reason()})")
        return
    _run_pipeline_on_sample(check, stages, start, sample)


def _run_pipeline_on_sample(check: CommandCheck, stages: list[Stage], start: int, sample: Sample) -> None:
    """The rest of the pipeline, with the real tools, on the sample lines: what the operator would see."""
    rest = stages[start:]
    for stage in rest:
        argv = stage.argv
        if not argv or os.path.basename(argv[0]) not in TEXT_FILTERS or stage.redirects or \
                any("$(" in w.raw or "`" in w.raw for w in stage.words) or \
                (argv[0] == "sed" and any(a.startswith("-i") for a in argv)):
            return
    command = " | ".join(" ".join(w.raw for w in stage.words) for stage in rest)
    try:
        result = subprocess.run(["bash", "-c", command], input="\n".join(sample.lines) + "\n", capture_output=True,
                                text=True, timeout=10)
    except subprocess.TimeoutExpired:
        return
    output = [line for line in result.stdout.splitlines() if line.strip()]
    shown = shorten(" ⏎ ".join(line.strip() for line in output[:3]), 100) if output else "(nothing)"
    check.add("ok", f"on those lines the pipeline prints: {shown}")


# -- curl -------------------------------------------------------------------------------------------


@dataclass
class CurlCall:
    url: str | None
    method: str
    fail: bool
    data: list[str]


def parse_curl(argv: Sequence[str]) -> CurlCall:
    value_opts = {"-X", "--request", "-H", "--header", "-d", "--data", "--data-raw", "--data-binary",
                  "--data-urlencode", "-o", "--output", "-u", "--user", "-w", "--write-out", "-m", "--max-time",
                  "--connect-timeout", "-A", "--user-agent", "-e", "--referer", "-b", "--cookie", "-c",
                  "--cookie-jar", "-F", "--form", "-T", "--upload-file", "--url", "-x", "--proxy", "--retry",
                  "--resolve", "--cacert", "--cert", "--key", "-K", "--config"}
    url: str | None = None
    method: str | None = None
    fail = False
    data: list[str] = []
    head = False
    i = 1
    while i < len(argv):
        arg = argv[i]
        i += 1
        value = ""
        if arg.startswith("--") and "=" in arg:
            arg, _, value = arg.partition("=")
        elif arg in value_opts and i < len(argv):
            value, i = argv[i], i + 1
        elif re.fullmatch(r"-[A-Za-z]+", arg) and arg[-1] in "XHdowmuAebcFTxK" and len(arg) > 2:
            flags, last = arg[1:-1], arg[-1]
            fail = fail or "f" in flags
            head = head or "I" in flags
            arg = "-" + last
            if i < len(argv):
                value, i = argv[i], i + 1
        if arg in ("-X", "--request"):
            method = value.upper()
        elif arg in ("-d", "--data", "--data-raw", "--data-binary", "--data-urlencode", "-F", "--form"):
            data.append(value)
        elif arg in ("-T", "--upload-file"):
            method = method or "PUT"
        elif arg == "--url":
            url = value
        elif arg in ("-f", "--fail", "--fail-with-body") or (re.fullmatch(r"-[A-Za-z]+", arg) and "f" in arg
                                                             and arg not in value_opts):
            fail = True
            head = head or "I" in arg
        elif arg in ("-I", "--head"):
            head = True
        elif not arg.startswith("-") and url is None:
            url = arg
    return CurlCall(url, method or ("POST" if data else "HEAD" if head else "GET"), fail, data)


def check_curl(check: CommandCheck, argv: list[str], ctx: Context) -> None:
    from urllib.parse import urlsplit, urlunsplit

    call = parse_curl(argv)
    if not call.url:
        check.add("fails", "curl without a URL")
        return
    variables = sorted(set(re.findall(r"\$\{?([A-Za-z_]\w*)", " ".join([call.url, *call.data]))))
    if call.url.startswith("$"):
        check.add("not runnable", f"the URL comes from ${variables[0] if variables else '?'}; never sent from here"
                  + (f"; the body needs {', '.join('$' + v for v in variables[1:])}" if len(variables) > 1 else ""))
        return
    url = call.url if "://" in call.url else "http://" + call.url
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if host not in ("localhost", "127.0.0.1", "::1", "0.0.0.0", ctx.config.host):
        why = f"{host} is not this machine: never contacted"
        if ctx.live is not None and call.method in ("GET", "HEAD") and parts.path.startswith(("/health", "/api/")):
            why += "; " + _probe(ctx.config.gateway_url + parts.path, call, ctx, "the same path on the local gateway")
        check.add("not runnable", why)
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    mapped, owner = _map_port(port, ctx.config)
    if mapped is None:
        check.add("fails", f"nothing of the stack listens on port {port} (the runbook's ports: gateway "
                           f"{_default_config().gateway.port}, commerce {_default_config().services['commerce'].port}, ...)")
        return
    target = urlunsplit((parts.scheme, f"{ctx.config.host}:{mapped}", parts.path, parts.query, ""))
    mapping = f"{owner} at :{mapped}" + (f" (the runbook's :{port})" if mapped != port else "")
    if call.method not in ("GET", "HEAD"):
        check.add("dry-run", f"{call.method} to {mapping}: never sent (only GET/HEAD run)")
        return
    if ctx.live is None:
        ctx.missed("curl requests to the local stack not sent")
        check.add("dry-run", f"GET {target} ({mapping}); not sent ({ctx.static_reason()})")
        return
    text = _probe(target, call, ctx, mapping)
    failed = text.startswith("!")
    check.add("fails" if failed else "ok", text.lstrip("!"))


def _probe(url: str, call: CurlCall, ctx: Context, label: str) -> str:
    import httpx

    try:
        started = time.monotonic()
        response = httpx.request(call.method, url, timeout=HTTP_TIMEOUT_S)
        ms = (time.monotonic() - started) * 1000
    except httpx.HTTPError as exc:
        return f"!{label}: {type(exc).__name__}: {exc}"
    body = shorten(response.text.strip(), 60)
    text = f"{label}: HTTP {response.status_code} in {ms:.0f} ms {body}".rstrip()
    if response.status_code >= 400 and call.fail:
        return f"!{text} (curl -f exits 22)"
    return text


def _default_config() -> Any:
    from stack.config import StackConfig

    return StackConfig()


def _map_port(port: int, config: Any) -> tuple[int | None, str]:
    """A port as the runbook writes it (the platform's defaults) -> the configured port and its owner."""
    default = {p: owner for owner, p in _default_config().listen_ports().items()}
    current = config.listen_ports()
    owner = default.get(port)
    if owner is not None and owner in current:
        return int(current[owner]), owner
    for name, p in current.items():
        if p == port:
            return int(p), name
    return None, ""


# -- python -c ----------------------------------------------------------------------------------------


def check_python(check: CommandCheck, argv: list[str], container: str | None) -> None:
    code = argv[argv.index("-c") + 1] if "-c" in argv and argv.index("-c") + 1 < len(argv) else None
    if code is None:
        check.add("not runnable", "python script, not inline code: not checked")
        return
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        check.add("fails", f"python -c does not compile: {exc.msg} (line {exc.lineno})")
        return
    modules = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
               for alias in node.names}
    modules |= {node.module.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0}
    missing = sorted(m for m in modules if importlib.util.find_spec(m) is None)
    if missing:
        check.add("warning", f"imports {', '.join(missing)}, which the services' environment ({sys.prefix}) does not "
                             "have: in the reference stack it fails with ModuleNotFoundError")
    where = f" inside {container}" if container else ""
    check.add("not runnable", f"compiles; runs{where} with the service's environment, not run here")


# -- shell-level mistakes -------------------------------------------------------------------------------

_PREFIXED_LS = re.compile(r"(?P<prefix>[^\s\"'$]*/)(?P<name>[\w.-]*)\$\((?P<inner>\s*ls\b[^)]*)\)")


def check_shell(check: CommandCheck, command: ShellCommand, later: Sequence[ShellCommand], ctx: Context) -> None:
    text = command.text
    for match in _PREFIXED_LS.finditer(text):
        prefix, name, inner = match.group("prefix"), match.group("name"), match.group("inner")
        globs = [w for w in inner.split() if "/" in w and any(c in w for c in "*?[")]
        if not globs:
            continue
        glob_dir, glob_base = os.path.split(globs[0])
        literal = re.split(r"[*?\[]", glob_base)[0]
        stamp = ("_" if literal[-1:].isalnum() else "") + "20240101_0300"
        example_base = glob_base.replace("*", stamp, 1).replace("*", "")
        many = re.search(r"\b(tail|head)\s+-n?\s*(\d+)", inner)
        count = int(many.group(2)) if many else None
        plural = f"; and of the {count} names it prints only the first gets the prefix" if count and count > 1 else ""
        if "basename" not in inner:
            check.add("fails", f"path prefixed twice: ls prints full paths ({glob_dir}/...), so "
                               f"`{prefix}{name}$(ls ...)` becomes {prefix}{name}{glob_dir}/{example_base}{plural}")
        elif name and literal and (name.startswith(literal) or literal.startswith(name.rstrip("_-."))):
            check.add("fails", f"file name prefixed twice: the files ({glob_base}) already begin with {literal!r}, "
                               f"so the argument becomes {prefix}{name}{example_base}{plural}")
    for stage in (s for p in _safe_lex(text) for s in p):
        argv = stage.argv
        if argv[:1] == ["docker-compose"] or argv[:2] == ["docker", "compose"]:
            for i, arg in enumerate(argv):
                value = arg.split("=", 1)[1] if arg.startswith("--scale=") else \
                    argv[i + 1] if arg == "--scale" and i + 1 < len(argv) else None
                if value and "=" in value:
                    service, _, n = value.partition("=")
                    spec = ctx.config.services.get(service)
                    if spec is not None and spec.container and n.isdigit() and int(n) > 1:
                        check.add("warning", f"--scale {service}={n} cannot work: the service has a fixed container "
                                             f"name ({spec.container}) and two containers cannot share it")
        if argv[:3] == ["docker", "system", "prune"] and "--volumes" in argv:
            check.add("warning", "docker system prune --volumes deletes every volume no running container uses: "
                                 "a stopped database's data volume goes too")
        if argv[:3] == ["docker", "network", "rm"] and any(
                "docker-compose down" in c.text or "docker compose down" in c.text for c in later):
            check.add("warning", "docker network rm fails while containers are attached (\"has active endpoints\"); "
                                 "`docker-compose down` (run next) removes the network itself")


def _safe_lex(text: str) -> list[list[Stage]]:
    try:
        return lex(text)
    except Exception:
        return []


# ---------------------------------------------------------------------------------------------------
# the whole runbook
# ---------------------------------------------------------------------------------------------------


def _program(argv: Sequence[str]) -> str:
    return os.path.basename(argv[0]) if argv else ""


def check_command(command: ShellCommand, later: Sequence[ShellCommand], ctx: Context) -> CommandCheck:
    check = CommandCheck(command.section, command.line, shorten(command.text), "shell")
    pipelines = _safe_lex(command.text)
    if not pipelines:
        check.add("warning", "could not parse this shell command")
    kinds: list[str] = []
    for stages in pipelines:
        inner, container = unwrap(stages[0].argv)
        program = _program(inner)
        grep_at = next((i for i, s in enumerate(stages) if _program(s.argv) in ("grep", "egrep", "fgrep")), None)
        if program == "psql":
            kinds.append("sql")
            call = parse_psql(inner)
            if not call.commands:
                check.add("not runnable", "psql without -c: " + ("runs a file" if call.files else "interactive"))
            for sql_text in call.commands:
                check_sql(check, sql_text, call.database or call.user, ctx)
        elif program == "redis-cli":
            kinds.append("redis")
            output = check_redis(check, inner, ctx, command.comment)
            if grep_at is not None:
                sample = Sample(output.splitlines(), "the live reply", True) if output is not None else None
                check_grep_pipeline(check, stages, grep_at, sample, "the redis-cli reply is not available",
                                    ctx, command.comment)
        elif program == "curl":
            kinds.append("curl")
            check_curl(check, inner, ctx)
        elif program.startswith("python") and "-c" in inner:
            kinds.append("python")
            check_python(check, inner, container)
        elif grep_at is not None:
            kinds.append("grep")
            if grep_at == 0:
                sample, why = None, "it reads files that are not on this machine"
            else:
                sample, why = log_source(stages[0].argv, ctx)
            check_grep_pipeline(check, stages, grep_at, sample, why, ctx, command.comment)
    check_shell(check, command, later, ctx)
    if kinds:
        check.kind = kinds[0]
    return check


def check_runbook(path: Path, mode: Literal["auto", "live", "static"], config: Any) -> Report:
    """Check every command of the runbook at `path`; InputError when there is nothing to check."""
    text = read_runbook(path)
    blocks, structure = parse_markdown(text)
    if not blocks:
        raise InputError(f"{path}: no fenced code blocks (```), so no commands to check")
    live: LiveStack | None = None
    why = "--dry-run"
    if mode != "static":
        live, why = attach_live(config)
        if live is None and mode == "live":
            raise InputError(f"--live: {why}; or check statically with --dry-run")
    ctx = Context(config, live, why)
    report = Report(path, "live" if live is not None else "static", structure=structure)
    checks: list[CommandCheck] = []
    try:
        for block in blocks:
            if block.lang in SHELL_LANGS:
                commands = split_commands(block)
                for index, command in enumerate(commands):
                    checks.append(check_command(command, commands[index + 1:], ctx))
            elif block.lang in ("sql", "postgresql", "psql", "pgsql"):
                offset = 0
                for statement in split_sql("\n".join(block.lines)):
                    line = next((block.first_line + k for k, l in enumerate(block.lines)
                                 if k >= offset and statement.split("\n")[0].strip() in l), block.first_line)
                    offset = line - block.first_line
                    check = CommandCheck(block.section, line, shorten(statement), "sql")
                    check_sql(check, statement, None, ctx)
                    checks.append(check)
            else:
                report.skipped_blocks[block.lang or "?"] = report.skipped_blocks.get(block.lang or "?", 0) + 1
    finally:
        if live is not None:
            live.close()
    if not checks:
        kinds = ", ".join(f"{n} {lang}" for lang, n in report.skipped_blocks.items())
        raise InputError(f"{path}: no commands to check (its code blocks are {kinds or 'empty'})")
    for check in checks:
        (report.checks if check.kind != "shell" or check.findings else report.quiet_shell).append(check)
    if live is None:
        report.notes.append(f"static checks only ({why})")
    for what, n in ctx.not_checked.items():
        report.notes.append(f"not checked: {n} {what}")
    if report.skipped_blocks:
        report.notes.append("code blocks that are not commands, skipped: "
                            + ", ".join(f"{n} {lang}" for lang, n in report.skipped_blocks.items()))
    return report


def render(report: Report, console: Console, show_all: bool = False) -> None:
    table = Table(title=f"{report.path} - {report.mode} check", title_justify="left", expand=False, show_lines=True)
    table.add_column("section", no_wrap=True)
    table.add_column("line", justify="right", no_wrap=True)
    table.add_column("command", max_width=48, overflow="fold")
    table.add_column("kind", no_wrap=True)
    table.add_column("result", no_wrap=True)
    table.add_column("why", overflow="fold", ratio=1)
    rows = sorted(report.checks + (report.quiet_shell if show_all else []), key=lambda c: c.line)
    for check in rows:
        style = STYLE[check.result]
        table.add_row(escape(check.section), str(check.line), escape(check.command), check.kind,
                      f"[{style}]{check.result}[/{style}]", escape(check.why or "-"))
    console.print(table)
    counts = report.counts()
    summary = ", ".join(f"[{STYLE[r]}]{n} {r}[/{STYLE[r]}]" for r, n in counts.items() if n)
    console.print(f"{len(report.checks)} commands checked: {summary}")
    if report.quiet_shell and not show_all:
        programs = sorted({c.command.split()[0] for c in report.quiet_shell})
        console.print(f"{len(report.quiet_shell)} other shell commands have nothing to check "
                      f"({escape(', '.join(programs[:8]))}{', ...' if len(programs) > 8 else ''}); --all lists them")
    for line in report.structure:
        console.print(f"[yellow]structure:[/yellow] {escape(line)}")
    for note in report.notes:
        console.print(f"[dim]note:[/dim] {escape(note)}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aarya-chaos runbook-check",
                                     description="Check the commands of a markdown runbook against the live stack.")
    parser.add_argument("runbook", type=Path, help="the runbook, a markdown file")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--live", action="store_true", help="require the stack started by `aarya-chaos up`")
    mode.add_argument("--dry-run", action="store_true", help="static checks only; run nothing")
    parser.add_argument("--config", type=Path, help="TOML config of the stack (default: $AARYA_CONFIG or "
                                                     "./aarya-chaos.toml)")
    parser.add_argument("--all", action="store_true", help="also list shell commands with nothing to report")
    parser.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = Console() if sys.stdout.isatty() else Console(width=200)
    err = Console(stderr=True)
    from stack.config import load_config

    try:
        config = load_config(args.config)
        mode: Literal["auto", "live", "static"] = "live" if args.live else "static" if args.dry_run else "auto"
        report = check_runbook(args.runbook, mode, config)
    except ChaosError as exc:
        err.print(f"[red]runbook-check:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        return EXIT_USAGE
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        render(report, out, args.all)
    return EXIT_FAILS if report.failed else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
