"""Checking `redis-cli ...`: grammar, reads run live, writes described and tried on a scratch server."""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aarya_chaos.errors import ChaosError
from aarya_chaos.runbook_check.context import Context
from aarya_chaos.runbook_check.live import LiveStack
from aarya_chaos.runbook_check.redis_grammar import RSpec, check_redis_grammar, reply_as_map
from aarya_chaos.runbook_check.redis_table import config_parameters, recorded_spec
from aarya_chaos.runbook_check.report import CommandCheck, Result
from aarya_chaos.runbook_check.shell import shorten


# Commands without the `readonly` flag that only look (admin or connection commands): safe to run live.
LIVE_ALLOW = {"PING", "INFO", "CONFIG GET", "XINFO STREAM", "XINFO GROUPS", "XINFO CONSUMERS", "XPENDING",
              "CLIENT LIST", "CLIENT INFO", "SLOWLOG GET", "SLOWLOG LEN", "LATENCY LATEST", "LATENCY DOCTOR",
              "MEMORY STATS", "MEMORY DOCTOR", "MEMORY USAGE", "DBSIZE", "XLEN", "TIME", "LASTSAVE", "ECHO",
              "COMMAND INFO", "COMMAND DOCS", "COMMAND COUNT", "ROLE"}
# Read-only but blocking the server on a big keyspace, or blocking the client: not run live.
LIVE_DENY = {"KEYS", "XREAD", "MONITOR", "SUBSCRIBE", "PSUBSCRIBE", "DEBUG", "WAIT"}


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


def reply_as_cli_prints(value: Any) -> str:
    """A reply as redis-cli prints it when piped (no type annotations)."""
    if value is None:
        return ""
    if isinstance(value, list):
        return "\n".join(reply_as_cli_prints(v) for v in value)
    if isinstance(value, dict):
        return "\n".join(f"{k}\n{reply_as_cli_prints(v)}" for k, v in value.items())
    return str(value)


def reply_summary(value: Any) -> str:
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
        return shorten(", ".join(f"{k} = {reply_summary(v)}" for k, v in value.items()), 80)
    if isinstance(value, list):
        if value and all(isinstance(v, dict) for v in value):
            return f"{len(value)} item{'s' if len(value) != 1 else ''}: " + shorten(
                "; ".join(reply_summary(v) for v in value[:2]), 80)
        items = [reply_summary(v) if not isinstance(v, str) else v for v in value[:4]]
        return shorten(f"{len(value)} item{'s' if len(value) != 1 else ''}: " + ", ".join(items), 80)
    return shorten(str(value), 70)


LUA_CALL = re.compile(r"redis\.p?call\s*\(\s*(['\"])([A-Za-z_|]+)\1")
SYNTAX_REPLY = re.compile(r"syntax error|wrong number of arguments|unknown command|unknown subcommand|"
                           r"Error compiling script|not an integer|out of range|Unbalanced|invalid|"
                           r"unrecognized|Unknown", re.I)

# An answer about a key the empty copy lacks (not NOGROUP: the live groups are mirrored, so that one is real).
MISSING_KEY_REPLY = re.compile(r"^(?!NOGROUP).*(no such key|requires the key to exist)", re.I | re.S)


def changes_state(spec: RSpec) -> bool:
    """Changes data or server state (admin commands count, except the ones that only look)."""
    if spec.name in LIVE_ALLOW:
        return False
    return bool({"write", "admin"} & spec.flags) or ("@dangerous" in spec.categories and "readonly" not in spec.flags)


def check_redis(check: CommandCheck, argv: list[str], ctx: Context, comment: str) -> str | None:
    """Check one redis-cli invocation; returns its output text when it ran live (for a following grep)."""
    call = parse_redis_cli(argv)
    live = ctx.live if ctx.live is not None and ctx.live.running.get("redis") else None
    if call.mode is not None:
        return check_redis_cli_mode(check, call, live, ctx, comment)
    if not call.words:
        check.add("not runnable", "redis-cli without a command is interactive")
        return None
    words = call.words
    found = _command_spec(check, words, live)
    if found is None:
        return None
    spec, used = found
    args = words[used:]
    problems = check_redis_grammar(spec, args)
    source = "COMMAND INFO/DOCS of the live server" if live else "the built-in table"
    for problem in problems:
        check.add("fails", f"{problem} (from {source})")
    script_writes: list[str] = []
    if spec.name in ("EVAL", "EVAL_RO", "EVALSHA") and len(args) >= 2:
        script_writes = check_lua_script(check, args, live, ctx)
    writes = changes_state(spec) or bool(script_writes)
    allowed = spec.name in LIVE_ALLOW or ("readonly" in spec.flags and spec.name not in LIVE_DENY
                                          and "@dangerous" not in spec.categories)
    if spec.name in ("EVAL", "EVAL_RO"):
        allowed = not script_writes
    _warn_hazards(check, spec)
    if live is None:
        problems += config_problems(check, spec, args, config_parameters())
    if not writes and allowed:
        return run_read(check, spec, words, live, ctx, problems)
    if not writes:
        check.add("dry-run", f"{spec.name} only reads but is not run live (it blocks the server or the client)")
        return None
    what = describe_redis_write(spec, args, live, script_writes)
    if live is None:
        ctx.missed("Redis writes not tried on a scratch server")
        check.add("dry-run", f"{what}; not run ({ctx.static_reason()})")
        return None
    verdict = try_on_scratch(live, words)
    result: Result = "fails" if verdict.startswith("!") else "dry-run"
    if result == "fails" and problems:
        result = "dry-run"  # already reported; the server agrees
    check.add(result, f"{what}; never run live: {verdict.lstrip('!')}")
    return None


def _command_spec(check: CommandCheck, words: list[str], live: LiveStack | None) -> tuple[RSpec, int] | None:
    """The command's spec and how many words name it; None (with the finding) when there is none to check."""
    try:
        spec, used = live.redis_spec(words) if live else recorded_spec(words)
    except Exception as exc:
        check.add("not runnable", f"could not ask Redis for COMMAND INFO: {exc}")
        return None
    if spec is None:
        name = " ".join(words[:used]).upper()
        where = "COMMAND INFO has no such command" if live else "not in the built-in table of redis-server's commands"
        check.add("fails", f"unknown command or subcommand {name!r} ({where})")
        return None
    if spec.container and used == 1:
        check.add("fails", f"{spec.name} needs a subcommand")
        return None
    return spec, used


def _warn_hazards(check: CommandCheck, spec: RSpec) -> None:
    if spec.name == "KEYS":
        check.add("warning", "KEYS walks every key while Redis serves nobody else; use SCAN (redis-cli --scan)")
    if spec.name in ("FLUSHDB", "FLUSHALL"):
        check.add("warning", f"{spec.name} is not selective: it deletes every key, sessions (users logged out), "
                             "carts and streams included, not only non-critical data; delete cache keys by pattern "
                             "instead (redis-cli --scan --pattern 'cache:*' | xargs redis-cli unlink)")


def run_read(check: CommandCheck, spec: RSpec, words: list[str], live: LiveStack | None, ctx: Context,
             problems: list[str]) -> str | None:
    """A read-only command, run on the live server; its output as redis-cli prints it."""
    if live is None:
        ctx.missed("read-only Redis commands not run")
        if not problems:
            check.add("dry-run", f"read-only {spec.name}; not run ({ctx.static_reason()})")
        return None
    run = ["EVAL_RO", *words[1:]] if spec.name == "EVAL" else words
    try:
        reply = live.redis().call(*run)
    except Exception as exc:
        check.add("fails", f"the live server answered: {exc}")
        return None
    if spec.name == "CONFIG GET" and config_problems(check, spec, words[2:], frozenset(reply_as_map(reply)),
                                                     f"; ran live: {reply_summary(reply)}"):
        return reply_as_cli_prints(reply)
    check.add("ok", f"ran live: {reply_summary(reply)}")
    return reply_as_cli_prints(reply)


def config_problems(check: CommandCheck, spec: RSpec, args: Sequence[str], known: frozenset[str],
                    detail: str = "") -> list[str]:
    """CONFIG GET/SET of parameters that do not exist (a GET of them returns nothing): each a finding."""
    if spec.name == "CONFIG GET":
        asked = list(args)
    elif spec.name == "CONFIG SET":
        asked = list(args[::2])
    else:
        return []
    found = []
    for pattern in asked:
        if not any(fnmatch.fnmatchcase(name, pattern.lower()) for name in known):
            close = difflib.get_close_matches(pattern.lower(), sorted(config_parameters()), n=1, cutoff=0.8)
            hint = f" (did you mean {close[0]}?)" if close else ""
            found.append(f"{spec.name} {pattern}: no such config parameter{hint}, so "
                         + ("it returns nothing" if spec.name == "CONFIG GET" else "Redis refuses it"))
    for problem in found:
        check.add("fails", problem + detail)
    return found


def check_lua_script(check: CommandCheck, args: list[str], live: LiveStack | None, ctx: Context) -> list[str]:
    """Lua given to EVAL: numkeys, the commands it calls, and which of them write."""
    script, numkeys = args[0], args[1]
    if numkeys.lstrip("-").isdigit() and int(numkeys) > len(args) - 2:
        check.add("fails", f"numkeys is {numkeys} but only {len(args) - 2} key/arg word(s) follow the script")
    called = [m.group(2).upper() for m in LUA_CALL.finditer(script)]
    if re.search(r"redis\.p?call\s*\(\s*[^'\"\s]", script):
        called.append("<computed>")
    writes: list[str] = []
    for name in dict.fromkeys(called):
        spec: RSpec | None
        if name == "<computed>":
            spec = None
        else:
            try:
                spec = live.redis_spec([name])[0] if live else recorded_spec([name])[0]
            except Exception:
                spec = None
        if spec is None or changes_state(spec) or "readonly" not in spec.flags and spec.name not in LIVE_ALLOW:
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
            groups = [reply_as_map(g) for g in live.redis().call("XINFO", "GROUPS", key)]
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


def try_on_scratch(live: LiveStack, words: list[str]) -> str:
    """Run on the scratch Redis; '!' + reply when it answers an error the live server would answer too."""
    try:
        scratch = live.scratch_redis()
    except ChaosError as exc:
        return f"no scratch Redis to try it on ({exc})"
    try:
        reply = scratch.link.call(*words)
    except Exception as exc:
        text = str(exc)
        if SYNTAX_REPLY.search(text):
            return f"!the scratch Redis rejects it: {text}"
        if MISSING_KEY_REPLY.search(text):  # the copy lacks the live keys: no verdict on the command
            return f"on the scratch Redis (empty copy, streams and groups mirrored) it answers: {text}"
        return f"!on the scratch Redis (empty copy, streams and groups mirrored) it answers an error: {text}"
    return f"on the scratch Redis (empty copy, streams and groups mirrored) it answers {reply_summary(reply)}"


def check_redis_cli_mode(check: CommandCheck, call: RedisCliCall, live: LiveStack | None, ctx: Context,
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
