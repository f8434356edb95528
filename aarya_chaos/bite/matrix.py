"""The bite matrix: per mutant, what the suite said (killed / error / skipped / survived / not-run).

    console_table(run)                      a rich table for the terminal, then `kill_rate_line(run)`
    write_reports(run, Path("reports/bite"))  bite.json (schema 1), bite.md (the table, for notes and docs)
                                            and bite.html (one self-contained page, the same table)

The kill rate is killed / every mutant of the run: an error, a skip or a survivor all count against it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table

from aarya_chaos.bite.catalogue import scenario_label
from aarya_chaos.bite.runner import KILLED, NOT_RUN, RESULTS, BiteRun, MutantResult, fmt_duration

__all__ = ["SCHEMA", "bite_json", "console_table", "counts", "kill_rate_line", "markdown", "render_html",
           "write_reports"]

SCHEMA = 1
STYLE = {"killed": "green", "error": "magenta", "skipped": "yellow", "survived": "bold red", "not-run": "dim"}
BADGE = {"killed": "v-pass", "error": "v-error", "skipped": "v-skipped", "survived": "v-fail", "not-run": "v-none"}
SHOWN_CHECKS = 3
SHORT_REGRESSION = 90


def counts(run: BiteRun) -> dict[str, int]:
    """Mutants per result, every class present (not-run only when something was not run)."""
    found = {name: sum(1 for r in run.results if r.result == name) for name in RESULTS}
    if not found[NOT_RUN]:
        del found[NOT_RUN]
    return found


def kill_rate(run: BiteRun) -> tuple[int, int]:
    return counts(run)[KILLED], len(run.results)


def kill_rate_line(run: BiteRun) -> str:
    killed, total = kill_rate(run)
    share = f" ({killed / total:.0%})" if total else ""
    return f"kill rate {killed}/{total}{share}: " + ", ".join(f"{name} {n}" for name, n in counts(run).items())


def _short(text: str, limit: int = SHORT_REGRESSION) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _caught_by(result: MutantResult) -> str:
    return ", ".join(scenario_label(n) for n in result.mutant.caught_by)


def _checks(result: MutantResult) -> str:
    shown = list(result.failed_checks[:SHOWN_CHECKS])
    more = len(result.failed_checks) - len(shown)
    return ", ".join(shown) + (f" (+{more})" if more > 0 else "")


def expected_missing(result: MutantResult) -> list[str]:
    """The checks the mutant was expected to fail that did not (for a killed mutant: caught another way)."""
    return [name for name in result.mutant.expect_failed if name not in result.failed_checks]


def _detail(result: MutantResult) -> str:
    """Failed checks for a killed mutant, else the record's reason."""
    return _checks(result) if result.failed_checks else result.reason


# -- console -------------------------------------------------------------------------------------------------


def console_table(run: BiteRun) -> Table:
    table = Table("mutant", "kind", "regression", "must be caught by", "result", "failed checks / reason",
                  "time", title=f"aarya-chaos bite {run.run_id}")
    for r in run.results:
        style = STYLE.get(r.result, "")
        table.add_row(escape(r.mutant.id), r.mutant.kind, escape(_short(r.mutant.regression)), escape(_caught_by(r)),
                      f"[{style}]{r.result}[/{style}]", escape(_short(_detail(r), 120)),
                      fmt_duration(r.duration_s) if r.duration_s else "-")
    return table


# -- bite.json -----------------------------------------------------------------------------------------------


def _result_dict(result: MutantResult) -> dict[str, Any]:
    return {**result.mutant.as_dict(), "result": result.result, "failed_checks": list(result.failed_checks),
            "expected_not_failed": expected_missing(result), "reason": result.reason,
            "duration_s": round(result.duration_s, 1), "log": None if result.log is None else str(result.log)}


def bite_json(run: BiteRun) -> dict[str, Any]:
    killed, total = kill_rate(run)
    return {"schema": SCHEMA,
            "run": {"id": run.run_id, "started": run.started, "finished": run.finished,
                    "interrupted": run.interrupted, "work_dir": None if run.work_dir is None else str(run.work_dir),
                    "warnings": list(run.warnings)},
            "kill_rate": {"killed": killed, "total": total, "rate": round(killed / total, 4) if total else None},
            "counts": counts(run),
            "mutants": [_result_dict(r) for r in run.results]}


# -- bite.md ---------------------------------------------------------------------------------------------------


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


MD_HEADER = ("mutant", "kind", "regression", "must be caught by", "result", "failed checks / reason", "time")


def markdown(run: BiteRun) -> str:
    lines = [f"# aarya-chaos bite {run.run_id}", "",
             f"{kill_rate_line(run)}. Started {run.started}, finished {run.finished}"
             + (" (interrupted)" if run.interrupted else "") + ".", "",
             "| " + " | ".join(MD_HEADER) + " |", "|" + "---|" * len(MD_HEADER)]
    for r in run.results:
        row = (f"`{r.mutant.id}`", r.mutant.kind, r.mutant.regression, _caught_by(r), f"**{r.result}**",
               _detail(r), fmt_duration(r.duration_s) if r.duration_s else "-")
        lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
    missing = [(r, expected_missing(r)) for r in run.results if r.result == KILLED and expected_missing(r)]
    if missing:
        lines += ["", "Killed, but not by every expected check:", ""]
        lines += [f"- `{r.mutant.id}`: {', '.join(names)} did not fail" for r, names in missing]
    return "\n".join(lines) + "\n"


# -- bite.html -------------------------------------------------------------------------------------------------

EXTRA_CSS = """
.v-none { color:var(--muted); background:#eaeef2; }
tr.r-survived td { background:var(--fail-bg); } tr.r-killed td:first-child { border-left:4px solid var(--pass); }
tr.r-error td:first-child, tr.r-skipped td:first-child { border-left:4px solid var(--error); }
"""


def _html_row(r: MutantResult, esc: Callable[[object], str]) -> str:
    edits = "".join(f"<pre>{esc(e.path)}\n- {esc(e.old)}\n+ {esc(e.new)}</pre>" for e in r.mutant.edits)
    settings = "".join(f"<code>{esc(svc)}: {esc(k)}={esc(v)}</code> " for svc, env in r.mutant.settings.items()
                       for k, v in env.items())
    stack = f"<code>{esc(json.dumps(r.mutant.as_dict()['stack']))}</code>" if r.mutant.stack else ""
    change = f"<details><summary>the change</summary>{edits}{settings}{stack}</details>"
    log = f'<br><span class="muted">log: {esc(r.log)}</span>' if r.log else ""
    badge = f'<span class="badge {BADGE.get(r.result, "v-error")}">{esc(r.result)}</span>'
    expected = ", ".join(f"{'✓' if n in r.failed_checks else '✗'} {n}" for n in r.mutant.expect_failed)
    return (f'<tr class="r-{esc(r.result)}"><td><code>{esc(r.mutant.id)}</code><br>{esc(r.mutant.title)}</td>'
            f"<td>{esc(r.mutant.kind)}</td><td>{esc(r.mutant.regression)}{change}</td><td>{esc(_caught_by(r))}</td>"
            f"<td>{badge}</td><td>{esc(_detail(r))}<br><span class=\"muted\">expected: {esc(expected)}</span>{log}</td>"
            f'<td class="num">{esc(fmt_duration(r.duration_s) if r.duration_s else "-")}</td></tr>')


def render_html(run: BiteRun) -> str:
    from reports.html import CSS, esc  # the chaos report's look: same stylesheet and escaping

    killed, total = kill_rate(run)
    survivors = [r.mutant.id for r in run.results if r.result != KILLED]
    banner = ('<div class="banner ok">every mutant was killed by a failed check</div>' if not survivors else
              f'<div class="banner bad">{len(survivors)} of {total} mutants not killed by a failed check'
              f'<ul>{"".join(f"<li><code>{esc(i)}</code></li>" for i in survivors)}</ul></div>')
    head = "".join(f"<th>{esc(h)}</th>" for h in MD_HEADER)
    rows = "".join(_html_row(r, esc) for r in run.results)
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>aarya-chaos bite {esc(run.run_id)}'
            f"</title><style>{CSS}{EXTRA_CSS}</style></head><body><h1>aarya-chaos bite</h1>"
            f'<div class="meta">run {esc(run.run_id)}, {esc(run.started)} to {esc(run.finished)}'
            f'{" (interrupted)" if run.interrupted else ""}; {esc(kill_rate_line(run))}</div>{banner}'
            f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></body></html>\n")


def write_reports(run: BiteRun, reports_dir: Path) -> Mapping[str, Path]:
    """bite.json, bite.md and bite.html in `reports_dir`; their paths by format."""
    reports_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": reports_dir / "bite.json", "md": reports_dir / "bite.md", "html": reports_dir / "bite.html"}
    paths["json"].write_text(json.dumps(bite_json(run), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    paths["md"].write_text(markdown(run), encoding="utf-8")
    paths["html"].write_text(render_html(run), encoding="utf-8")
    return paths


def not_run_ids(results: Sequence[MutantResult]) -> list[str]:
    return [r.mutant.id for r in results if r.result == NOT_RUN]
