"""grep's options and its BRE/ERE patterns as GNU grep reads them, translated to Python's re."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal


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
                apply_grep_flag(call, _GREP_LONG[name])
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
                apply_grep_flag(call, flag)
                j += 1
            continue
        positional.append(arg)
    if not call.patterns and positional:
        call.patterns.append(positional.pop(0))
    call.files = positional
    return call


def apply_grep_flag(call: GrepCall, flag: str) -> None:
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


def escape_in_set(c: str) -> str:
    return "\\" + c if c in "\\]^-[&~|" else c


def translate_bracket(pattern: str, i: int) -> tuple[str, int]:
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
            items.append("".join(escape_in_set(x) for x in pattern[j + 2:end]))
            j = end + 2
            continue
        if j + 2 < len(pattern) and pattern[j + 1] == "-" and pattern[j + 2] != "]":
            items.append(escape_in_set(c) + "-" + escape_in_set(pattern[j + 2]))
            j += 3
            continue
        items.append(escape_in_set(c))
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
            text, i = translate_bracket(pattern, i)
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
                _, i = translate_bracket(pattern, i)
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
