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


def _arg(name: str, type_: str = "string", **kw: Any) -> RArg:
    return RArg(name, type_, **kw)


def _token(token: str, **kw: Any) -> RArg:
    return RArg(token.lower(), "pure-token", token=token, **kw)


def _one_of(name: str, *args: RArg, **kw: Any) -> RArg:
    return RArg(name, "oneof", args=args, **kw)


def _block(name: str, *args: RArg, **kw: Any) -> RArg:
    return RArg(name, "block", args=args, **kw)


_KEY = _arg("key", "key")
_W, _R, _A, _F = frozenset({"write"}), frozenset({"readonly"}), frozenset({"admin"}), frozenset({"fast"})
_ASYNC = _one_of("flush-type", _token("ASYNC"), _token("SYNC"), optional=True)
_STREAM_RANGE = (_KEY, _arg("start"), _arg("end"), _arg("count", "integer", token="COUNT", optional=True))
# The built-in table, for --dry-run (no server to ask): the commands runbooks use, from Redis 7's docs.
STATIC_SPECS: dict[str, RSpec] = {s.name: s for s in [
    RSpec("PING", -1, _F, (_arg("message", optional=True),)),
    RSpec("INFO", -1, frozenset({"loading", "stale"}), (_arg("section", optional=True, multiple=True),)),
    RSpec("DBSIZE", 1, _R | _F, ()),
    RSpec("TYPE", 2, _R | _F, (_KEY,)),
    RSpec("TTL", 2, _R | _F, (_KEY,)),
    RSpec("PTTL", 2, _R | _F, (_KEY,)),
    RSpec("EXISTS", -2, _R | _F, (_arg("key", "key", multiple=True),)),
    RSpec("GET", 2, _R | _F, (_KEY,)),
    RSpec("HGETALL", 2, _R, (_KEY,)),
    RSpec("KEYS", 2, _R, (_arg("pattern", "pattern"),), frozenset({"@dangerous"})),
    RSpec("SCAN", -2, _R, (_arg("cursor", "integer"), _arg("pattern", "pattern", token="MATCH", optional=True),
                           _arg("count", "integer", token="COUNT", optional=True),
                           _arg("type", token="TYPE", optional=True))),
    RSpec("XLEN", 2, _R | _F, (_KEY,)),
    RSpec("XRANGE", -4, _R, _STREAM_RANGE),
    RSpec("XREVRANGE", -4, _R, _STREAM_RANGE),
    RSpec("XPENDING", -3, _R, (_KEY, _arg("group"), _block("filters", _arg("min-idle-time", "integer", token="IDLE",
                                                                      optional=True),
                                                       _arg("start"), _arg("end"), _arg("count", "integer"),
                                                       _arg("consumer", optional=True), optional=True))),
    RSpec("XREADGROUP", -7, _W | frozenset({"blocking"}), (
        _block("group_consumer", _arg("group"), _arg("consumer"), token="GROUP"),
        _arg("count", "integer", token="COUNT", optional=True),
        _arg("milliseconds", "integer", token="BLOCK", optional=True), _token("NOACK", optional=True),
        _block("streams", _arg("key", "key", multiple=True), _arg("id", multiple=True), token="STREAMS"))),
    RSpec("XREAD", -4, _R | frozenset({"blocking"}), (
        _arg("count", "integer", token="COUNT", optional=True),
        _arg("milliseconds", "integer", token="BLOCK", optional=True),
        _block("streams", _arg("key", "key", multiple=True), _arg("id", multiple=True), token="STREAMS"))),
    RSpec("XTRIM", -4, _W, (_KEY, _block("trim", _one_of("strategy", _token("MAXLEN"), _token("MINID")),
                                       _one_of("operator", _token("="), _token("~"), optional=True), _arg("threshold"),
                                       _arg("count", "integer", token="LIMIT", optional=True)))),
    RSpec("XACK", -4, _W | _F, (_KEY, _arg("group"), _arg("id", multiple=True))),
    RSpec("XDEL", -3, _W | _F, (_KEY, _arg("id", multiple=True))),
    RSpec("XADD", -5, _W | _F, None),
    RSpec("XINFO", -2, frozenset(), None, container=True),
    RSpec("XINFO STREAM", -3, _R, (_KEY, _block("full-block", _token("FULL"), _arg("count", "integer", token="COUNT",
                                                                            optional=True), optional=True))),
    RSpec("XINFO GROUPS", 3, _R, (_KEY,)),
    RSpec("XINFO CONSUMERS", 4, _R, (_KEY, _arg("group"))),
    RSpec("XGROUP", -2, frozenset(), None, container=True),
    RSpec("XGROUP CREATE", -5, _W, (_KEY, _arg("group"), _arg("id"), _token("MKSTREAM", optional=True),
                                    _arg("entries-read", "integer", token="ENTRIESREAD", optional=True))),
    RSpec("CONFIG", -2, frozenset(), None, container=True),
    RSpec("CONFIG GET", -3, _A, (_arg("parameter", multiple=True),)),
    RSpec("CONFIG SET", -4, _A, (_block("data", _arg("parameter"), _arg("value"), multiple=True),)),
    RSpec("CONFIG REWRITE", 2, _A, ()),
    RSpec("CONFIG RESETSTAT", 2, _A, ()),
    RSpec("CLIENT", -2, frozenset(), None, container=True),
    RSpec("CLIENT LIST", -2, _A, None),
    RSpec("CLIENT INFO", 2, frozenset(), ()),
    RSpec("CLIENT KILL", -3, _A, None),
    RSpec("SLOWLOG", -2, frozenset(), None, container=True),
    RSpec("SLOWLOG GET", -2, _A, (_arg("count", "integer", optional=True),)),
    RSpec("SLOWLOG LEN", 2, _A, ()),
    RSpec("SLOWLOG RESET", 2, _A, ()),
    RSpec("MEMORY", -2, frozenset(), None, container=True),
    RSpec("MEMORY USAGE", -3, _R, (_KEY, _arg("count", "integer", token="SAMPLES", optional=True))),
    RSpec("MEMORY STATS", 2, frozenset(), ()),
    RSpec("MEMORY DOCTOR", 2, frozenset(), ()),
    RSpec("LATENCY", -2, frozenset(), None, container=True),
    RSpec("LATENCY LATEST", 2, _A, ()),
    RSpec("LATENCY DOCTOR", 2, _A, ()),
    RSpec("FLUSHDB", -1, _W, (_ASYNC,), frozenset({"@dangerous"})),
    RSpec("FLUSHALL", -1, _W, (_ASYNC,), frozenset({"@dangerous"})),
    RSpec("DEL", -2, _W, (_arg("key", "key", multiple=True),)),
    RSpec("UNLINK", -2, _W | _F, (_arg("key", "key", multiple=True),)),
    RSpec("EXPIRE", -3, _W | _F, (_KEY, _arg("seconds", "integer"), _one_of("condition", _token("NX"), _token("XX"), _token("GT"),
                                                                      _token("LT"), optional=True))),
    RSpec("SET", -3, _W, None),
    RSpec("BGREWRITEAOF", 1, _A, ()),
    RSpec("BGSAVE", -1, _A, (_token("SCHEDULE", optional=True),)),
    RSpec("SAVE", 1, _A, ()),
    RSpec("SHUTDOWN", -1, _A, None),
    RSpec("EVAL", -3, frozenset({"noscript", "stale"}), (_arg("script"), _arg("numkeys", "integer"),
                                                         _arg("key", "key", optional=True, multiple=True),
                                                         _arg("arg", optional=True, multiple=True))),
    RSpec("EVAL_RO", -3, _R, (_arg("script"), _arg("numkeys", "integer"),
                              _arg("key", "key", optional=True, multiple=True),
                              _arg("arg", optional=True, multiple=True))),
]}


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
