"""The Redis commands and config parameters known without a server, recorded from the redis-server the stack runs.

redis_commands.json holds COMMAND INFO (arity, flags, ACL categories, subcommands), COMMAND DOCS (the
argument grammar) and the names CONFIG GET * answers. Regenerate it (a scratch redis-server on a free
loopback port, stopped at the end) with:

    .venv/bin/python -m aarya_chaos.runbook_check.redis_table --regenerate
"""

from __future__ import annotations

import argparse
import functools
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aarya_chaos.runbook_check.redis_grammar import RSpec, args_from_docs, reply_as_map

TABLE_PATH = Path(__file__).with_name("redis_commands.json")
DOC_KEYS = ("name", "type", "token", "flags", "arguments")  # what the grammar reads of an argument's docs


@functools.cache
def recorded_table() -> dict[str, Any]:
    table: dict[str, Any] = json.loads(TABLE_PATH.read_text())
    return table


def recorded_spec(words: Sequence[str]) -> tuple[RSpec | None, int]:
    """The spec of the command at the start of `words` and how many words name it, as the live lookup does."""
    commands: dict[str, Any] = recorded_table()["commands"]
    name = words[0].lower()
    entry = commands.get(name)
    if entry is None:
        return None, 1
    if not entry["subcommands"]:
        return spec_of(name, entry), 1
    if len(words) < 2:
        return RSpec(name.upper(), entry["arity"], frozenset(entry["flags"]), None, container=True), 1
    full = f"{name}|{words[1].lower()}"
    sub = commands.get(full)
    return (spec_of(full, sub) if sub is not None else None), 2


def spec_of(full_name: str, entry: dict[str, Any]) -> RSpec:
    return RSpec(full_name.replace("|", " ").upper(), entry["arity"], frozenset(entry["flags"]),
                 args_from_docs(entry["arguments"]), frozenset(entry["categories"]))


def config_parameters() -> frozenset[str]:
    return frozenset(recorded_table()["config_parameters"])


# -- recording -------------------------------------------------------------------------------------


def _argument_docs(items: Any) -> list[dict[str, Any]]:
    kept = []
    for item in items or []:
        doc = reply_as_map(item)
        entry = {k: doc[k] for k in DOC_KEYS if k in doc and k != "arguments"}
        if doc.get("arguments"):
            entry["arguments"] = _argument_docs(doc["arguments"])
        kept.append(entry)
    return kept


def _record_command(info: list[Any], docs: dict[str, Any], into: dict[str, Any]) -> None:
    """One COMMAND INFO entry (and its subcommands, nested in it) with its COMMAND DOCS arguments."""
    name = str(info[0]).lower()
    doc = reply_as_map(docs.get(name)) if docs.get(name) is not None else {}
    subcommands = info[9] if len(info) > 9 else []
    into[name] = {"arity": int(info[1]), "flags": sorted(info[2]), "categories": sorted(info[6]),
                  "subcommands": sorted(str(s[0]).lower() for s in subcommands),
                  "arguments": _argument_docs(doc.get("arguments"))}
    sub_docs = reply_as_map(doc.get("subcommands"))
    for sub in subcommands:
        _record_command(sub, sub_docs, into)


def record(redis_server: str) -> dict[str, Any]:
    """The table, from a scratch redis-server."""
    from aarya_chaos.runbook_check.scratch import ScratchRedis

    version = subprocess.run([redis_server, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    scratch = ScratchRedis(redis_server)
    try:
        docs = reply_as_map(scratch.link.call("COMMAND", "DOCS"))
        commands: dict[str, Any] = {}
        for info in scratch.link.call("COMMAND", "INFO"):
            _record_command(info, docs, commands)
        parameters = reply_as_map(scratch.link.call("CONFIG", "GET", "*"))
    finally:
        scratch.stop()
    return {"redis_server": version, "commands": dict(sorted(commands.items())),
            "config_parameters": sorted(parameters)}


def write_table(table: dict[str, Any], path: Path = TABLE_PATH) -> None:
    """One command a line, so a regeneration diffs readably."""
    lines = [f"  {json.dumps(name)}: {json.dumps(entry, separators=(',', ':'))}"
             for name, entry in table["commands"].items()]
    path.write_text("{\n"
                    f'"redis_server": {json.dumps(table["redis_server"])},\n'
                    f'"config_parameters": {json.dumps(table["config_parameters"])},\n'
                    '"commands": {\n' + ",\n".join(lines) + "\n}}\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Record the Redis command table runbook-check uses without a stack.")
    parser.add_argument("--regenerate", action="store_true", required=True)
    parser.add_argument("--redis-server", help="the binary (default: the stack's, from stack.binaries)")
    args = parser.parse_args(argv)
    binary = args.redis_server
    if binary is None:
        from stack.binaries import find_binaries
        from stack.config import load_config

        binary = str(find_binaries(load_config().tools_dir, install=False).redis_server)
    table = record(binary)
    write_table(table)
    print(f"{TABLE_PATH}: {len(table['commands'])} commands, {len(table['config_parameters'])} config "
          f"parameters ({table['redis_server']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
