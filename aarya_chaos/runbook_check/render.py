"""The report as a table on the terminal."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from aarya_chaos.runbook_check.report import Report

STYLE = {"ok": "green", "fails": "bold red", "warning": "yellow", "dry-run": "cyan", "not runnable": "dim"}


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
