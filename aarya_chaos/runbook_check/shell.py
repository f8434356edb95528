"""Shell lexing: a code block's logical commands, their pipelines and words, and what `docker exec` wraps."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from aarya_chaos.runbook_check.markdown import CodeBlock


@dataclass(frozen=True)
class ShellCommand:
    section: str
    line: int
    text: str
    comment: str = ""
    heredoc: str | None = None


def advance_quoting(text: str, stack: list[str], cut_comment: bool = False) -> str:
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


HEREDOC = re.compile(r"<<-?\s*(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\1")


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
        line = advance_quoting(raw, stack, cut_comment=not stack)
        current.append(line)
        if stack:
            continue
        joined = "\n".join(current)
        if joined.endswith("\\"):
            current[-1] = current[-1][:-1]
            continue
        if re.search(r"(\|\||&&|\|)\s*$", joined):
            continue
        text = join_lines(current)
        heredoc = None
        for match in HEREDOC.finditer(text):
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
        commands.append(ShellCommand(block.section, start, join_lines(current), " ".join(comment)))
    return commands


def join_lines(parts: list[str]) -> str:
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
        advance_quoting(part, stack)
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


def end_of_substitution(text: str, i: int) -> int:
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
                    end = end_of_substitution(text, j)
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
            end = end_of_substitution(text, i)
            value.append(text[i:end])
            i = end
        else:
            single_only = False
            value.append(c)
            i += 1
    flush(len(text))
    return [[s for s in p if s.words or s.redirects] for p in pipelines if any(s.words for s in p)]


def quote_as_written(text: str) -> str:
    """Quote a pattern for a message as the runbook wrote it (no repr escaping)."""
    return f'"{text}"' if "'" in text else f"'{text}'"


def shorten(text: str, width: int = 90) -> str:
    one = " ".join(text.split())
    return one if len(one) <= width else one[:width - 1] + "…"


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
