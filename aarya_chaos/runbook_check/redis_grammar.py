"""Redis command specs (COMMAND INFO + COMMAND DOCS) and a matcher of words against their argument grammar."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any


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
        return " ".join([self.name] + [arg_usage(a) for a in self.args])


def arg_usage(arg: RArg) -> str:
    if arg.type == "pure-token":
        text = arg.token or arg.name
    elif arg.type == "oneof":
        text = "|".join(arg_usage(RArg(**{**a.__dict__, "optional": False})) for a in arg.args)
        text = text if arg.optional else f"<{text}>"
    elif arg.type == "block":
        inner = " ".join(arg_usage(a) for a in arg.args)
        text = f"{arg.token} {inner}" if arg.token else inner
    else:
        text = f"{arg.token} {arg.name}" if arg.token else arg.name
    if arg.multiple:
        text = f"{text} [{text} ...]" if arg.multiple_token or not arg.token else f"{text} [{arg.name} ...]"
    return f"[{text}]" if arg.optional else text


class Matcher:
    """Backtracking match of words against a COMMAND DOCS argument grammar, remembering how far it got."""

    LIMIT = 20000

    def __init__(self, words: Sequence[str]) -> None:
        self.words = list(words)
        self.far = -1
        self.expected: list[str] = []
        self.bound: dict[str, list[int]] = {}
        self.steps = 0

    def note_miss(self, i: int, what: str) -> None:
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
                self.note_miss(i, a.token)
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
                self.note_miss(i, a.token)
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
                    self.note_miss(len(self.words) if n >= 2 else i,
                               f"as many {a.args[1].name}s as {a.args[0].name}s")
                return
            yield from self.seq(a.args, i)
            return
        if i >= len(self.words):
            self.note_miss(i, a.name)
            return
        word = self.words[i]
        if a.type == "integer" and not re.fullmatch(r"[-+]?\d+", word):
            self.note_miss(i, f"{a.name} (an integer)")
            return
        if a.type == "double" and not re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|[-+]?inf", word):
            self.note_miss(i, f"{a.name} (a number)")
            return
        self.bound.setdefault(a.name, []).append(i)
        yield i + 1

    def full(self, args: Sequence[RArg]) -> bool:
        n = len(self.words)
        for end in self.seq(args, 0):
            if end == n:
                return True
            self.note_miss(end, "nothing more")
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
    hint = missing_group_hint(spec, args)
    problems.append(f"invalid syntax: {detail}; usage: {spec.usage()}" + (f" ({hint})" if hint else ""))
    return problems


def missing_group_hint(spec: RSpec, args: Sequence[str]) -> str:
    names = [a.name for a in spec.args or ()]
    if "group" in names:
        position = names.index("group")
        if position < len(args) and args[position] in ("-", "+", "$", ">", "0", "0-0"):
            return f"{args[position]!r} stands where the consumer group's name goes: the group is missing"
    if spec.name == "XREADGROUP" and args and args[0].upper() == "STREAM":
        return "it reads through a consumer group: XREADGROUP GROUP <group> <consumer> COUNT n STREAMS <key> >"
    return ""


def decode_reply(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list):
        return [decode_reply(v) for v in value]
    if isinstance(value, dict):
        return {decode_reply(k): decode_reply(v) for k, v in value.items()}
    return value


def reply_as_map(value: Any) -> dict[str, Any]:
    """A RESP3 map, or a RESP2 flat [k, v, k, v] list, as a dict."""
    value = decode_reply(value)
    if isinstance(value, dict):
        return value
    if isinstance(value, list):
        return {str(value[k]): value[k + 1] for k in range(0, len(value) - 1, 2)}
    return {}


def args_from_docs(items: Any) -> tuple[RArg, ...]:
    out: list[RArg] = []
    for item in items or []:
        doc = reply_as_map(item)
        flags = set(doc.get("flags") or [])
        out.append(RArg(str(doc.get("name", "?")), str(doc.get("type", "string")),
                        doc.get("token"), "optional" in flags, "multiple" in flags, "multiple_token" in flags,
                        args_from_docs(doc.get("arguments"))))
    return tuple(out)
