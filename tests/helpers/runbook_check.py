"""Helpers of the runbook-check tests."""

from __future__ import annotations

from pathlib import Path

from aarya_chaos.runbook_check.context import Context
from aarya_chaos.runbook_check.engine import check_command, check_runbook
from aarya_chaos.runbook_check.report import CommandCheck, Report
from aarya_chaos.runbook_check.shell import ShellCommand
from stack.config import StackConfig, load_config

RUNBOOKS = Path(__file__).resolve().parents[1] / "data" / "runbooks"


def by_line(report: Report) -> dict[int, CommandCheck]:
    return {c.line: c for c in report.checks}


def static(name: str, config: StackConfig) -> Report:
    return check_runbook(RUNBOOKS / name, "static", config)


def dry_run_check(text: str, later: tuple[str, ...] = (), comment: str = "") -> CommandCheck:
    """One shell command checked as in a dry run."""
    ctx = Context(load_config(), None, "--dry-run")
    return check_command(ShellCommand("x", 1, text, comment), [ShellCommand("x", 2, t) for t in later], ctx)
