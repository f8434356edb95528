"""The gate's output: the records, the figures against their history, the trend, the outcome (rich)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from reports.gate_input import number
from reports.gate_rules import GateResult
from reports.trend import TrendLine, figures_text

STATUS_STYLE = {"ok": "[green]ok[/green]", "FAIL": "[bold red]FAIL[/bold red]", "skipped": "[yellow]skipped[/yellow]",
                "flaky": "[yellow]flaky[/yellow]", "quarantined": "[cyan]quarantined[/cyan]"}
VERDICT_STYLE = {"pass": "green", "fail": "red", "error": "magenta", "skipped": "yellow", "flaky": "yellow"}


def _seconds(measured: float | None, target: object) -> str:
    text = "—" if measured is None else f"{measured:.2f} s"
    goal = number(target)
    return text if goal is None else f"{text} / {goal:g} s"


def _title(result: GateResult) -> str:
    paths = result.summary_paths or ((result.summary_path,) if result.summary_path else ())
    where = ", ".join(str(p) for p in paths)
    gate = "chaos gate" if result.profile == "default" else f"chaos gate {result.profile}"
    return gate + (f": {where}" if where else "")


def render_rows(result: GateResult, console: Console) -> None:
    with_driver = any(row.driver for row in result.rows) and result.profile != "default" or \
        len({row.driver for row in result.rows}) > 1
    table = Table(title=_title(result), title_justify="left", show_lines=False)
    columns = ["id", "scenario", *(["driver"] if with_driver else []), "control", "verdict", "MTTD / target",
               "RTO / target", "gate", "note"]
    for column in columns:
        table.add_column(column, overflow="fold")
    regressed = {(r.id, r.metric) for r in result.regressions}
    regressed |= {(c.id, c.metric) for c in result.comparisons if c.regressed}
    for row in result.rows:
        verdict = f"[{VERDICT_STYLE.get(row.verdict, 'white')}]{row.verdict}[/]"
        cells = []
        for metric, value in (("mttd_s", row.mttd_s), ("rto_s", row.rto_s)):
            text = escape(_seconds(value, row.targets.get(metric)))
            cells.append(f"[red]{text} ▲[/red]" if row.control is None and (row.id, metric) in regressed else text)
        table.add_row(row.id, escape(row.name), *([row.driver] if with_driver else []), escape(row.control or "—"),
                      verdict, *cells, STATUS_STYLE.get(row.status, row.status), escape(row.note))
    console.print(table)


def render_comparisons(result: GateResult, console: Console) -> None:
    if result.history_runs is None:
        return
    console.print(f"history: {result.history_runs} recorded run(s); each figure against the median and spread "
                  "of its last passing runs", highlight=False)
    for c in result.comparisons:
        style = "red" if c.regressed else ("green" if c.ready else "yellow")
        console.print(f"  [{style}]{escape(c.status.split(' (')[0])}[/{style}] {escape(c.describe())}",
                      highlight=False, soft_wrap=True)


def render_trend(lines: Sequence[TrendLine], console: Console) -> None:
    table = Table(title="trend (oldest first; P pass, F fail, E error, S skipped, ~ flaky)", title_justify="left")
    for column in ("id", "control", "driver", "runs", "pass", "fail", "flaky", "error", "skipped", "MTTD s",
                   "RTO s"):
        table.add_column(column, overflow="fold")
    for line in lines:
        table.add_row(line.id, escape(line.control or "—"), line.driver, line.glyphs, str(line.count("pass")),
                      str(line.count("fail")), str(line.count("flaky")), str(line.count("error")),
                      str(line.count("skipped")), figures_text(line.mttd_s), figures_text(line.rto_s))
    console.print(table)


def render_outcome(result: GateResult, console: Console) -> None:
    if result.baseline_path is not None:
        console.print(f"baseline: {escape(str(result.baseline_path))}", highlight=False)
    for regression in result.regressions:
        console.print(f"[red]regression[/red] {escape(regression.describe())}", highlight=False, soft_wrap=True)
    for warning in result.warnings:
        console.print(f"[yellow]note[/yellow] {escape(warning)}", highlight=False, soft_wrap=True)
    controls = sum(1 for r in result.rows if r.control)
    flaky = f", {result.flaky} flaky" if result.flaky else ""
    if result.passed:
        console.print(f"[bold green]GATE PASSED[/bold green]: {len(result.rows) - controls} scenario record(s), "
                      f"{controls} control(s) that bit{flaky}", highlight=False)
    else:
        console.print(f"[bold red]GATE FAILED[/bold red]: {len(result.problems)} problem(s){flaky}", highlight=False)
        for problem in result.problems:
            console.print(f"  - {escape(problem)}", highlight=False, soft_wrap=True)


def render(result: GateResult, console: Console, trend: Sequence[TrendLine] = ()) -> None:
    """A table of every record, the history comparisons, the trend if given, then notes and the outcome."""
    render_rows(result, console)
    render_comparisons(result, console)
    if trend:
        render_trend(trend, console)
    render_outcome(result, console)
