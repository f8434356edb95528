"""The HTML report of a chaos run: one self-contained file (inline CSS, plots as base64 PNG), for people.

    write_html_report(Path("reports/latest/summary.json"), Path("reports/latest/report.html"))

It holds the gate's verdict on the run, a table of every scenario (targets against measured MTTD, RTO, RPO,
lost writes and failed requests), the trends across earlier runs, the claims table (reports/claims.py: each
check, whether its controls bit in this run and whether its bite mutants were killed), and per scenario its
timeline plot (success rate, p95 latency and health probes, with the fault, detection and recovery windows
shaded), its impact, timeline, checks, windows, evidence and notes.

Trends. Earlier runs are found in two places under the reports directory (the parent of `latest/`):
`runs/<time>/summary.json`, where the plugin archives each previous run, and `history/trend.jsonl`, one
compact line per scenario per run (`append_trend`, called once per run by reports.report_plugin), which
survives the pruning of old run directories. Rows are merged and de-duplicated by (run, test, control).
"""

from __future__ import annotations

import html
import json
import platform
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from aarya_chaos.natural import natural_key
from load.history import ScenarioHistory, history_dir, parse_iso
from reports.claims import bite_path, html_section, load_bite
from reports.gate import GateInputError, judge, load_summary
from reports.incident import assess_impact, incident_filename, reason_line, severity
from reports.formatting import fmt_s
from reports.ledger_view import ledger_block
from reports.plots import data_uri, timeline_png, trend_png

TREND_FIELDS = ("run", "test", "id", "name", "control", "verdict", "mttd_s", "rto_s", "rpo_s")
TREND_COLUMNS = 12  # runs shown in the verdict history table

CSS = """
:root { --pass:#1a7f37; --pass-bg:#dafbe1; --fail:#cf222e; --fail-bg:#ffebe9; --error:#8250df;
        --error-bg:#fbefff; --skip:#9a6700; --skip-bg:#fff8c5; --line:#d0d7de; --muted:#57606a; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color:#1f2328; margin:0 auto; padding:24px 32px 64px; max-width:1240px; background:#fff; }
h1 { font-size:24px; margin:0 0 4px; } h2 { font-size:19px; margin:36px 0 10px; border-bottom:1px solid var(--line);
     padding-bottom:4px; } h3 { font-size:15px; margin:18px 0 6px; }
.meta { color:var(--muted); margin-bottom:16px; }
table { border-collapse:collapse; margin:6px 0 12px; width:100%; }
th, td { border:1px solid var(--line); padding:4px 8px; text-align:left; vertical-align:top; }
th { background:#f6f8fa; font-weight:600; white-space:nowrap; }
tr:nth-child(even) td { background:#fafbfc; }
td.num { text-align:right; font-variant-numeric:tabular-nums; white-space:nowrap; }
.badge { display:inline-block; padding:1px 8px; border-radius:10px; font-weight:600; font-size:12px;
         text-transform:uppercase; letter-spacing:.03em; }
.v-pass { color:var(--pass); background:var(--pass-bg); } .v-fail { color:var(--fail); background:var(--fail-bg); }
.v-error { color:var(--error); background:var(--error-bg); } .v-skipped { color:var(--skip); background:var(--skip-bg); } .v-flaky { color:var(--error); background:var(--skip-bg); }
.v-aborted { color:var(--fail); background:var(--skip-bg); }
.control { color:var(--muted); font-size:12px; border:1px solid var(--line); border-radius:10px; padding:0 6px; }
.over { color:var(--fail); font-weight:600; }
.banner { padding:10px 14px; border-radius:6px; margin:12px 0 4px; font-size:15px; }
.banner.ok { background:var(--pass-bg); color:var(--pass); } .banner.bad { background:var(--fail-bg); color:var(--fail); }
.banner ul { margin:6px 0 0 18px; padding:0; font-size:13px; }
section.scenario { border:1px solid var(--line); border-radius:8px; padding:4px 18px 12px; margin:22px 0; }
section.scenario > h2 { border:0; margin-top:12px; }
img.plot { max-width:100%; height:auto; border:1px solid #eaeef2; border-radius:4px; }
pre { background:#f6f8fa; padding:8px 10px; border-radius:6px; overflow-x:auto; font-size:12px; white-space:pre-wrap; }
code { font-size:12.5px; background:#f6f8fa; padding:0 3px; border-radius:3px; }
details > summary { cursor:pointer; color:var(--muted); margin:6px 0; }
.muted { color:var(--muted); } .ok { color:var(--pass); } .bad { color:var(--fail); }
.grid { display:grid; grid-template-columns: 1fr 1fr; gap:0 24px; }
@media (max-width: 900px) { .grid { grid-template-columns: 1fr; } body { padding:12px; } }
"""


def esc(value: object) -> str:
    return html.escape("—" if value is None else str(value), quote=True)


def _json(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return f"{value:.4g}"
    return json.dumps(value, default=str, ensure_ascii=False)


def _badge(verdict: object) -> str:
    v = str(verdict)
    return f'<span class="badge v-{esc(v) if v in ("pass", "fail", "error", "skipped", "flaky", "aborted") else "error"}">{esc(v)}</span>'


# -- trends ----------------------------------------------------------------------------------------


def trend_rows(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The compact trend lines of one run: (run start, test, id, name, control, verdict, MTTD, RTO, RPO)."""
    run = (summary.get("run") or {}).get("started")
    rows = []
    for record in summary.get("scenarios") or []:
        measured = record.get("measured") or {}
        rows.append({"run": run, "test": Path(str(record.get("artifacts") or "")).name or None,
                     "id": record.get("id"), "name": record.get("name"), "control": record.get("control"),
                     "verdict": record.get("verdict"), "mttd_s": measured.get("mttd_s"),
                     "rto_s": measured.get("rto_s"), "rpo_s": measured.get("rpo_s")})
    return rows


def _key(row: Mapping[str, Any]) -> tuple[str, str, str, str]:
    return (str(row.get("run")), str(row.get("test") or ""), str(row.get("id")), str(row.get("control")))


def read_trend(path: Path) -> list[dict[str, Any]]:
    """The rows of trend.jsonl; a missing file is empty, a torn or foreign line is skipped."""
    rows: list[dict[str, Any]] = []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return rows
    for line in text.splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and row.get("run") and row.get("id") is not None:
            rows.append(row)
    return rows


def default_trend_path(summary_path: Path) -> Path:
    """`reports/history/trend.jsonl` for `reports/latest/summary.json`."""
    return summary_path.resolve().parent.parent / "history" / "trend.jsonl"


def append_trend(summary_path: Path, trend_path: Path | None = None) -> int:
    """Append this run's rows to trend.jsonl unless the run is already there; return how many were added."""
    trend_path = trend_path or default_trend_path(summary_path)
    summary = load_summary(summary_path)
    rows = [r for r in trend_rows(summary) if r["run"]]
    known = {_key(r) for r in read_trend(trend_path)}
    new = [r for r in rows if _key(r) not in known]
    if not new:
        return 0
    trend_path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps({k: r.get(k) for k in TREND_FIELDS}, separators=(",", ":")) + "\n" for r in new)
    if trend_path.is_file() and trend_path.stat().st_size:
        with trend_path.open("rb") as handle:
            handle.seek(-1, 2)
            if handle.read(1) != b"\n":
                text = "\n" + text  # never glue a line to a torn last one
    with trend_path.open("a", encoding="utf-8") as handle:
        handle.write(text)  # one write: a concurrent reader sees whole lines or nothing new
    return len(new)


def collect_trend(summary_path: Path, *, runs_dir: Path | None = None, trend_path: Path | None = None,
                  summary: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Rows of every known run: trend.jsonl, the archived runs' summaries, and this summary."""
    root = summary_path.resolve().parent.parent
    runs_dir = runs_dir if runs_dir is not None else root / "runs"
    rows = read_trend(trend_path or default_trend_path(summary_path))
    if runs_dir.is_dir():
        for archived in sorted(runs_dir.glob("*/summary.json")):
            try:
                rows += trend_rows(load_summary(archived))
            except GateInputError:
                continue  # a broken archive does not stop the report
    rows += trend_rows(summary if summary is not None else load_summary(summary_path))
    merged: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for row in rows:
        if row.get("run"):
            merged.setdefault(_key(row), row)
    return sorted(merged.values(),
                  key=lambda r: (parse_iso(r["run"]) or 0.0, natural_key(str(r.get("id"))), str(r.get("control"))))


# -- sections --------------------------------------------------------------------------------------


def _target_cell(measured: object, target: object, unit: str = " s") -> str:
    """`measured / target`, red when over the target."""
    is_num = isinstance(measured, (int, float)) and not isinstance(measured, bool)
    over = is_num and isinstance(target, (int, float)) and float(measured) > float(target)  # type: ignore[arg-type]
    shown = fmt_s(measured, unit) if is_num or measured is None else esc(measured)
    goal = "" if target is None else f' <span class="muted">/ {fmt_s(target, unit)}</span>'
    return f'<td class="num"><span class="{"over" if over else ""}">{shown}</span>{goal}</td>'


def _count_cell(measured: object, target: object) -> str:
    over = isinstance(measured, int) and isinstance(target, int) and measured > target
    goal = "" if target is None else f' <span class="muted">/ {esc(target)}</span>'
    return f'<td class="num"><span class="{"over" if over else ""}">{esc(measured)}</span>{goal}</td>'


def _banner(summary: Mapping[str, Any]) -> str:
    result = judge(summary)
    controls = sum(1 for r in result.rows if r.control)
    if result.passed:
        text = (f"Gate: PASSED — {len(result.rows) - controls} scenario record(s) passed, {controls} control(s) bit"
                + (f", {len(result.warnings)} note(s)" if result.warnings else ""))
        items = "".join(f"<li>{esc(w)}</li>" for w in result.warnings)
        return f'<div class="banner ok"><strong>{esc(text)}</strong>{f"<ul>{items}</ul>" if items else ""}</div>'
    items = "".join(f"<li>{esc(p)}</li>" for p in result.problems)
    return (f'<div class="banner bad"><strong>Gate: FAILED — {len(result.problems)} problem(s)</strong>'
            f"<ul>{items}</ul></div>")


def _overview(records: Sequence[Mapping[str, Any]]) -> str:
    head = ("<tr><th>id</th><th>scenario</th><th>control</th><th>verdict</th><th>MTTD / target</th>"
            "<th>RTO / target</th><th>RPO / target</th><th>lost writes / target</th><th>failed requests</th>"
            "<th>duration</th></tr>")
    rows = []
    for n, r in enumerate(records):
        m, t = r.get("measured") or {}, r.get("targets") or {}
        control = f'<span class="control">{esc(r.get("control"))}</span>' if r.get("control") else "—"
        rows.append(
            f'<tr><td><a href="#scenario-{n}">{esc(r.get("id"))}</a></td><td>{esc(r.get("name"))}</td>'
            f"<td>{control}</td><td>{_badge(r.get('verdict'))}</td>"
            + _target_cell(m.get("mttd_s"), t.get("mttd_s")) + _target_cell(m.get("rto_s"), t.get("rto_s"))
            + _target_cell(m.get("rpo_s"), t.get("rpo_s"))
            + _count_cell(m.get("lost_acknowledged_writes"), t.get("lost_acknowledged_writes"))
            + _count_cell(m.get("failed_requests"), t.get("failed_requests"))
            + f'<td class="num">{fmt_s(r.get("duration_s"))}</td></tr>')
    if not rows:
        rows.append('<tr><td colspan="10" class="muted">no scenario record in this summary</td></tr>')
    note = ('<p class="muted">A control (<span class="control">skip-recovery</span>) skips the recovery on purpose: '
            "its verdict <em>pass</em> means the scenario missed its checks, as it must. Red figures are over "
            "their target.</p>")
    return f"<table>{head}{''.join(rows)}</table>{note}"


def _trends(rows: Sequence[Mapping[str, Any]]) -> str:
    runs = sorted({str(r["run"]) for r in rows}, key=lambda s: parse_iso(s) or 0.0)
    if len(runs) < 2:
        return (f'<p class="muted">Trends appear from the second run on (runs known: {len(runs)}; earlier runs are '
                "read from <code>reports/runs/*/summary.json</code> and <code>reports/history/trend.jsonl</code>).</p>")
    parts = []
    try:
        png = trend_png(rows)
    except Exception as exc:  # a plot never stops the report
        png = None
        parts.append(f'<p class="bad">The trend plot failed: {esc(type(exc).__name__)}: {esc(exc)}</p>')
    if png is not None:
        parts.append(f'<img class="plot" alt="MTTD and RTO per scenario across runs" src="{data_uri(png)}">')
    shown = runs[-TREND_COLUMNS:]
    keys = sorted({(str(r.get("id")), str(r.get("name") or ""), str(r.get("test") or ""), r.get("control") or "")
                   for r in rows}, key=lambda k: (natural_key(k[0]), k[3], k[2]))
    cells = {(_row_key(r), str(r["run"])): r for r in rows}
    head = "".join(f"<th>{esc(_short_time(run))}</th>" for run in shown)
    body = []
    for key in keys:
        sid, name, test, control = key
        label = f"{esc(sid)} {esc(name)}" + (f' <span class="control">{esc(control)}</span>' if control else "")
        tds = []
        for run in shown:
            row = cells.get(((sid, test, control), run))
            if row is None:
                tds.append('<td class="muted">·</td>')
                continue
            figure = "" if control else f'<br><span class="muted">RTO {fmt_s(row.get("rto_s"))}</span>'
            tds.append(f"<td>{_badge(row.get('verdict'))}{figure}</td>")
        body.append(f"<tr><td>{label}</td>{''.join(tds)}</tr>")
    parts.append(f"<h3>Verdicts of the last {len(shown)} runs</h3><table><tr><th>scenario</th>{head}</tr>"
                 f"{''.join(body)}</table>")
    return "".join(parts)


def _row_key(row: Mapping[str, Any]) -> tuple[str, str, str]:
    return (str(row.get("id")), str(row.get("test") or ""), row.get("control") or "")


def _short_time(iso: str) -> str:
    wall = parse_iso(iso)
    if wall is None:
        return iso
    return datetime.fromtimestamp(wall, timezone.utc).strftime("%m-%d %H:%M UTC")


def _kv_table(data: Mapping[str, Any]) -> str:
    if not data:
        return '<p class="muted">none recorded</p>'
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(_json(v))}</td></tr>" for k, v in data.items())
    return f"<table>{rows}</table>"


def _timeline_table(record: Mapping[str, Any]) -> str:
    tl = record.get("timeline") or {}
    injected = parse_iso(tl.get("injected"))
    labels = {"injected": "fault injected", "landed": "fault landed (evidence)", "detected": "detected",
              "recovery_started": "recovery started", "restored": "restored (steady state back)"}
    rows = []
    for key, label in labels.items():
        at = parse_iso(tl.get(key))
        offset = f"+{at - injected:.2f} s" if at is not None and injected is not None else "—"
        rows.append(f"<tr><th>{esc(label)}</th><td>{esc(tl.get(key) or 'did not happen')}</td>"
                    f'<td class="num">{esc(offset)}</td></tr>')
    return f"<table>{''.join(rows)}</table>"


def _checks_table(record: Mapping[str, Any]) -> str:
    checks = record.get("checks") or []
    if not checks:
        return '<p class="muted">no check was judged</p>'
    rows = []
    for c in checks:
        mark = '<span class="ok">✓ passed</span>' if c.get("passed") else '<span class="bad">✗ failed</span>'
        rows.append(f"<tr><td><code>{esc(c.get('name'))}</code></td><td>{mark}</td>"
                    f"<td>{esc(_json(c.get('measured')))}</td><td>{esc(_json(c.get('target')))}</td>"
                    f"<td>{esc(c.get('detail') or '')}</td><td class=\"muted\">{esc(c.get('judged') or '')}</td></tr>")
    return ("<table><tr><th>check</th><th>result</th><th>measured</th><th>target</th><th>detail</th>"
            f"<th>judged</th></tr>{''.join(rows)}</table>")


def _windows_table(record: Mapping[str, Any]) -> str:
    windows = record.get("windows") or {}
    if not windows:
        return '<p class="muted">no windows (the fault was not injected, or no load op completed)</p>'
    rows = []
    for name, w in windows.items():
        rate = w.get("success_rate")
        rows.append(f"<tr><th>{esc(name)}</th><td class='num'>{fmt_s((w.get('end') or 0) - (w.get('start') or 0))}</td>"
                    f"<td class='num'>{esc(w.get('total'))}</td><td class='num'>{esc(w.get('ok'))}</td>"
                    f"<td class='num'>{esc(w.get('fail'))}</td><td class='num'>{esc(w.get('info'))}</td>"
                    f"<td class='num'>{'—' if rate is None else f'{100 * rate:.1f}%'}</td>"
                    f"<td class='num'>{fmt_s(w.get('p50_ms'), ' ms')}</td><td class='num'>{fmt_s(w.get('p95_ms'), ' ms')}</td>"
                    f"<td class='num'>{fmt_s(w.get('p99_ms'), ' ms')}</td>"
                    f"<td class='num'>{fmt_s(w.get('throughput_per_s'), '/s')}</td></tr>")
    return ("<table><tr><th>window</th><th>length</th><th>ops</th><th>ok</th><th>fail</th><th>unknown</th>"
            "<th>success</th><th>p50</th><th>p95</th><th>p99</th><th>ok/s</th></tr>" + "".join(rows) + "</table>")


def _impact_block(record: Mapping[str, Any], history: ScenarioHistory | None) -> str:
    impact = assess_impact(record, history)
    level, why = severity(impact)
    items = [f"<li><strong>Severity {esc(level)}</strong> ({esc(why)})</li>"]
    if impact.fault_target:
        items.append(f"<li>fault target: <strong>{esc(impact.fault_target)}</strong></li>")
    if impact.assessed:
        red = ", ".join(f"{n} ({b}/{t} probes)" for n, (b, t) in impact.red_services.items()) or "none"
        items.append(f"<li>health probes that went red: {esc(red)}</li>")
        failed = ", ".join(f"{f} ×{c}" for f, c in impact.failed_by_op.items()) or "none"
        items.append(f"<li>failed shopper requests: {esc(failed)}</li>")
        items.append(f"<li>simulated shoppers who saw an error: <strong>{len(impact.users)} of {impact.load_users}"
                     "</strong></li>")
        if impact.checkouts:
            items.append(f"<li>checkouts failed: {impact.checkouts_failed} of {impact.checkouts}</li>")
    elif impact.injected:
        items.append('<li class="muted">impact not assessed: no history found</li>')
    return f"<ul>{''.join(items)}</ul>"


def _scenario(n: int, record: Mapping[str, Any], history: ScenarioHistory | None, directory: Path | None) -> str:
    control = f' <span class="control">control: {esc(record.get("control"))}</span>' if record.get("control") else ""
    parts = [f'<section class="scenario" id="scenario-{n}">',
             f"<h2>{esc(record.get('id'))} {esc(record.get('name'))} {_badge(record.get('verdict'))}{control}</h2>",
             f'<p class="meta">test <code>{esc(Path(str(record.get("artifacts") or "")).name or "—")}</code> · '
             f"started {esc(record.get('started'))} · {fmt_s(record.get('duration_s'))} · driver "
             f"{esc(record.get('driver'))} · incident report <code>incidents/{esc(incident_filename(record))}</code></p>"]
    if record.get("reason"):
        parts.append(f"<p><strong>Reason:</strong> {esc(reason_line(record))}</p>")
        if "\n" in str(record.get("reason")):
            parts.append(f"<details><summary>full reason</summary><pre>{esc(record.get('reason'))}</pre></details>")
    if history is not None:
        try:
            png = timeline_png(record, history)
            parts.append(f'<img class="plot" alt="timeline of {esc(record.get("id"))}: success rate, p95 latency and '
                         f'health probes" src="{data_uri(png)}">')
        except Exception as exc:  # a plot never stops the report
            parts.append(f'<p class="bad">The timeline plot failed: {esc(type(exc).__name__)}: {esc(exc)}</p>')
    else:
        where = esc(directory) if directory else esc(record.get("artifacts"))
        parts.append(f'<p class="muted">No history to plot (looked for <code>history/*.jsonl</code> of {where}).</p>')
    parts.append('<div class="grid"><div><h3>Timeline</h3>' + _timeline_table(record) + "</div>"
                 "<div><h3>Impact</h3>" + _impact_block(record, history) + "</div></div>")
    parts.append("<h3>Checks</h3>" + _checks_table(record))
    recovery = record.get("recovery")
    if recovery:
        parts.append(f'<p class="muted">recovery: {esc(recovery)}</p>')
    for check, why in (record.get("opt_outs") or {}).items():
        parts.append(f'<p class="muted">standard check <code>{esc(check)}</code> not judged: {esc(why)}</p>')
    parts.append("<h3>Write ledger</h3>" + ledger_block(record))
    detection = record.get("detection") or {}
    parts.append('<div class="grid"><div><h3>Evidence (the fault landed)</h3>' + _kv_table(record.get("evidence") or {})
                 + "</div><div><h3>Detection</h3>" + _kv_table(detection) + "</div></div>")
    parts.append("<h3>Windows</h3>" + _windows_table(record))
    if record.get("extra"):
        parts.append("<h3>The scenario's own figures</h3>" + _kv_table(record["extra"]))
    load = record.get("load") or {}
    if load:
        parts.append(f"<p>Load (locust): {esc(load.get('requests'))} requests, {esc(load.get('failures'))} failures, "
                     f"{esc(load.get('rps'))} req/s over {fmt_s(load.get('duration_s'))}.</p>")
    notes = record.get("notes") or []
    parts.append("<h3>Notes</h3>" + ("<ul>" + "".join(f"<li>{esc(x)}</li>" for x in notes) + "</ul>" if notes
                                     else '<p class="muted">none</p>'))
    parts.append(f'<p class="muted">artifacts: <code>{esc(record.get("artifacts"))}</code></p></section>')
    return "".join(parts)


def render_html(summary: Mapping[str, Any], summary_path: Path, *, history_root: Path | None = None,
                trend: Sequence[Mapping[str, Any]] = (), bite: Mapping[str, Any] | None = None) -> str:
    run = summary.get("run") or {}
    records = list(summary.get("scenarios") or [])
    counts: dict[str, int] = {}
    for r in records:
        counts[str(r.get("verdict"))] = counts.get(str(r.get("verdict")), 0) + 1
    tally = ", ".join(f"{n} {v}" for v, n in sorted(counts.items())) or "no records"
    sections = []
    for n, record in enumerate(records):
        directory = history_dir(record, summary_dir=summary_path.parent, history_root=history_root)
        sections.append(_scenario(n, record, ScenarioHistory.load(directory), directory))
    generated = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return "".join([
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>aarya-chaos run {esc(run.get('started'))}</title><style>{CSS}</style></head><body>",
        f"<h1>Aarya chaos run — {esc(run.get('started'))}</h1>",
        f'<p class="meta">finished {esc(run.get("finished") or "(still running or crashed)")} · driver '
        f"{esc(run.get('driver'))} · host {esc(run.get('host'))} · {esc(run.get('cpus'))} CPUs · "
        f"{len(records)} scenario record(s): {esc(tally)}</p>",
        _banner(summary),
        "<h2>Scenarios</h2>", _overview(records),
        "<h2>Trends across runs</h2>", _trends(trend),
        "<h2>Claims and what shows them failing</h2>", html_section(summary, bite),
        *sections,
        f'<p class="muted">Generated {esc(generated)} on {esc(platform.node())} from <code>{esc(summary_path)}</code> '
        "by reports/html.py. Times are UTC. MTTD: injection to detection by the runbook signal; RTO: injection to the "
        "first steady window after it; see docs/summary-json.md.</p>",
        "</body></html>\n",
    ])


def write_html_report(summary_path: Path, out: Path, history_root: Path | None = None, *,
                      runs_dir: Path | None = None, trend_path: Path | None = None,
                      bite_json: Path | None = None) -> Path:
    """Render the summary at `summary_path` into the self-contained HTML file `out`; return `out`.

    `history_root` is a directory of scenario directories (`<test>/history/*.jsonl`); by default each
    record's history is looked up next to the summary, then at its recorded `artifacts` path. Trends read
    `runs_dir` (default `<reports>/runs`) and `trend_path` (default `<reports>/history/trend.jsonl`), where
    `<reports>` is the parent of the summary's directory. The claims section reads the mutants' results from
    `bite_json` (default `<reports>/bite/bite.json`, else reports/bite/bite.json; none: not shown). Raises
    GateInputError if the summary is missing or unreadable; the file is replaced atomically.
    """
    summary_path = Path(summary_path)
    summary = load_summary(summary_path)
    trend = collect_trend(summary_path, runs_dir=runs_dir, trend_path=trend_path, summary=summary)
    bite = load_bite(bite_json or bite_path(summary_path))
    text = render_html(summary, summary_path, history_root=history_root, trend=trend, bite=bite)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)
    return out
