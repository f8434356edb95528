"""The whole runbook: each command to the checker of its kind, plus python -c and shell-level mistakes."""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from aarya_chaos.runbook_check.context import Context
from aarya_chaos.runbook_check.curl import check_curl
from aarya_chaos.runbook_check.grep_check import Sample, check_grep_pipeline, log_source
from aarya_chaos.runbook_check.live import attach_live
from aarya_chaos.runbook_check.markdown import CodeBlock, parse_markdown, read_runbook
from aarya_chaos.runbook_check.redis_check import check_redis
from aarya_chaos.runbook_check.report import CommandCheck, InputError, Report
from aarya_chaos.runbook_check.shell import ShellCommand, Stage, lex, shorten, split_commands, unwrap
from aarya_chaos.runbook_check.sql import parse_psql, split_sql
from aarya_chaos.runbook_check.sql_check import check_sql

if TYPE_CHECKING:
    from stack.config import StackConfig
    from stack.target.profile import TargetProfile

SHELL_LANGS = {"", "bash", "sh", "shell", "console", "zsh", "shell-session", "sh-session"}
SQL_LANGS = {"sql", "postgresql", "psql", "pgsql"}


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
    for stage in (s for p in lex_or_nothing(text) for s in p):
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


def lex_or_nothing(text: str) -> list[list[Stage]]:
    try:
        return lex(text)
    except Exception:
        return []


def program_name(argv: Sequence[str]) -> str:
    return os.path.basename(argv[0]) if argv else ""


def check_command(command: ShellCommand, later: Sequence[ShellCommand], ctx: Context) -> CommandCheck:
    check = CommandCheck(command.section, command.line, shorten(command.text), "shell")
    pipelines = lex_or_nothing(command.text)
    if not pipelines:
        check.add("warning", "could not parse this shell command")
    kinds: list[str] = []
    for stages in pipelines:
        inner, container = unwrap(stages[0].argv)
        program = program_name(inner)
        grep_at = next((i for i, s in enumerate(stages) if program_name(s.argv) in ("grep", "egrep", "fgrep")), None)
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


def check_runbook(path: Path, mode: Literal["auto", "live", "static"], config: StackConfig,
                  driver_name: str | None = None, profile: TargetProfile | None = None) -> Report:
    """Check every command of the runbook at `path`; InputError when there is nothing to check. With a
    target `profile`, live means the run attached with that profile."""
    blocks, structure = parse_markdown(read_runbook(path))
    if not blocks:
        raise InputError(f"{path}: no fenced code blocks (```), so no commands to check")
    ctx = _context(mode, config, driver_name, profile)
    report = Report(path, "live" if ctx.live is not None else "static", structure=structure)
    try:
        checks = [check for block in blocks for check in _check_block(block, ctx, report.skipped_blocks)]
    finally:
        if ctx.live is not None:
            ctx.live.close()
    if not checks:
        kinds = ", ".join(f"{n} {lang}" for lang, n in report.skipped_blocks.items())
        raise InputError(f"{path}: no commands to check (its code blocks are {kinds or 'empty'})")
    for check in checks:
        (report.checks if check.kind != "shell" or check.findings else report.quiet_shell).append(check)
    _add_notes(report, ctx)
    return report


def _context(mode: Literal["auto", "live", "static"], config: StackConfig, driver_name: str | None,
             profile: TargetProfile | None) -> Context:
    if mode == "static":
        return Context(config, None, "--dry-run")
    live, why = attach_live(config, driver_name, profile)
    if live is None and mode == "live":
        raise InputError(f"--live: {why}; or check statically with --dry-run")
    return Context(config, live, why)


def _check_block(block: CodeBlock, ctx: Context, skipped: dict[str, int]) -> list[CommandCheck]:
    if block.lang in SHELL_LANGS:
        commands = split_commands(block)
        return [check_command(command, commands[index + 1:], ctx) for index, command in enumerate(commands)]
    if block.lang in SQL_LANGS:
        return _check_sql_block(block, ctx)
    skipped[block.lang or "?"] = skipped.get(block.lang or "?", 0) + 1
    return []


def _check_sql_block(block: CodeBlock, ctx: Context) -> list[CommandCheck]:
    """Each statement of a ```sql block, at the line where it starts."""
    checks = []
    offset = 0
    for statement in split_sql("\n".join(block.lines)):
        first = statement.split("\n")[0].strip()
        line = next((block.first_line + k for k, text in enumerate(block.lines) if k >= offset and first in text),
                    block.first_line)
        offset = line - block.first_line
        check = CommandCheck(block.section, line, shorten(statement), "sql")
        check_sql(check, statement, None, ctx)
        checks.append(check)
    return checks


def _add_notes(report: Report, ctx: Context) -> None:
    """What could not be checked, and why."""
    if ctx.live is None:
        report.notes.append(f"static checks only ({ctx.why_static})")
    for what, n in ctx.not_checked.items():
        report.notes.append(f"not checked: {n} {what}")
    if report.skipped_blocks:
        report.notes.append("code blocks that are not commands, skipped: "
                            + ", ".join(f"{n} {lang}" for lang, n in report.skipped_blocks.items()))
