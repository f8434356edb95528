"""The plots of the reports, as PNG bytes.

`timeline_png(record, history)` draws what the load saw in a scenario's history (a
load.history.ScenarioHistory): success rate and p95 latency per bucket (checks.windows.timeline) and each
health probe, with the fault (injected -> restored), detection (injected -> detected) and recovery
(recovery started -> restored) windows shaded. `trend_png(rows)` draws MTTD and RTO per scenario across runs.

Figures are built with matplotlib's object-oriented API and the Agg canvas: no pyplot, no global backend
switch, nothing shared between threads.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from aarya_chaos.natural import natural_key
from checks.windows import is_probe, timeline
from load.history import ScenarioHistory, cancelled_at_shutdown, parse_iso
from reports.formatting import fmt_s

if TYPE_CHECKING:  # matplotlib is imported when a plot is drawn: loading the plugins stays fast
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

BEFORE_INJECTION_S = 8.0  # how much of the steady state before the fault a timeline shows

# Colours (colour-blind friendly: Okabe-Ito), shared with the HTML report.
OK_GREEN = "#009E73"
FAIL_RED = "#D55E00"
DETECT_ORANGE = "#E69F00"
RECOVER_BLUE = "#0072B2"
LATENCY_PURPLE = "#6A3D9A"
INJECT_RED = "#A50F15"
GREY = "#888888"


def png_bytes(fig: Figure) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=fig.dpi)
    return buffer.getvalue()


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _bucket_seconds(span: float) -> float:
    if span <= 60:
        return 0.5
    if span <= 300:
        return 1.0
    return math.ceil(span / 300)


def _shade(ax: Axes, marks: Mapping[str, float], t0: float, end: float) -> None:
    """injected -> detected (undetected fault), detected -> recovery started, recovery started -> restored."""
    injected = marks.get("injected")
    if injected is None:
        return
    restored = marks.get("restored", end)
    detected = marks.get("detected")
    recovery = marks.get("recovery_started")
    ax.axvspan(injected - t0, (detected if detected is not None else restored) - t0, color=FAIL_RED, alpha=0.22,
               lw=0)
    if detected is not None and recovery is not None and recovery > detected:
        ax.axvspan(detected - t0, recovery - t0, color=DETECT_ORANGE, alpha=0.25, lw=0)
    if recovery is not None:
        ax.axvspan(recovery - t0, restored - t0, color=RECOVER_BLUE, alpha=0.10, lw=0)
    styles = {"injected": (INJECT_RED, "-"), "detected": (DETECT_ORANGE, "--"),
              "recovery_started": (RECOVER_BLUE, ":"), "restored": (OK_GREEN, "-")}
    for name, (colour, style) in styles.items():
        if name in marks:
            ax.axvline(marks[name] - t0, color=colour, ls=style, lw=1.5)


def _targets_text(record: Mapping[str, Any], key: str) -> str:
    target = (record.get("targets") or {}).get(key)
    return f", target {fmt_s(target)}" if target is not None else ""


def _legend_handles(record: Mapping[str, Any], marks: Mapping[str, float], *, skipped: bool,
                    healed: float | None, failures: bool) -> list[Any]:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    injected = marks.get("injected", 0.0)
    measured = record.get("measured") or {}
    handles: list[Any] = [Line2D([], [], color=INJECT_RED, lw=1.5, label="injected (t = 0)")]
    if "detected" in marks:
        handles.append(Line2D([], [], color=DETECT_ORANGE, ls="--", lw=1.4,
                              label=f"detected +{marks['detected'] - injected:.2f} s "
                                    f"(MTTD {fmt_s(measured.get('mttd_s'))}{_targets_text(record, 'mttd_s')})"))
    else:
        handles.append(Line2D([], [], color=DETECT_ORANGE, ls="--", lw=1.4, label="never detected"))
    if "recovery_started" in marks:
        what = "recovery skipped (control)" if skipped else "recovery started"
        handles.append(Line2D([], [], color=RECOVER_BLUE, ls=":", lw=1.4,
                              label=f"{what} +{marks['recovery_started'] - injected:.2f} s"))
    if "restored" in marks:
        handles.append(Line2D([], [], color=OK_GREEN, lw=1.4,
                              label=f"restored +{marks['restored'] - injected:.2f} s "
                                    f"(RTO {fmt_s(measured.get('rto_s'))}{_targets_text(record, 'rto_s')})"))
    else:
        handles.append(Line2D([], [], color=OK_GREEN, lw=1.4, label="never restored"))
        if healed is not None:
            handles.append(Line2D([], [], color=GREY, ls="-.", lw=1.4,
                                  label=f"harness healed the fault +{healed - injected:.2f} s"))
    if failures:
        handles.append(Patch(color=FAIL_RED, alpha=0.5, label="failed load ops (right axis)"))
    handles += [Patch(color=FAIL_RED, alpha=0.3, label="fault, not yet detected"),
                Patch(color=DETECT_ORANGE, alpha=0.35, label="detected, recovery not started"),
                Patch(color=RECOVER_BLUE, alpha=0.18,
                      label="after the skipped recovery" if skipped else "recovering (until restored)")]
    return handles


def timeline_png(record: Mapping[str, Any], history: ScenarioHistory, *, bucket_s: float | None = None) -> bytes:
    """Success rate, p95 latency and health probes over time (seconds from the injection)."""
    from matplotlib.figure import Figure

    marks = history.marks(record)
    end = history.end
    injected = marks.get("injected")
    steady = history.first_event("steady_state")
    if injected is None:
        t0, first = history.start, history.start
    else:
        t0 = injected
        anchor = min(injected, steady.mono) if steady is not None else injected
        first = max(history.start, anchor - BEFORE_INJECTION_S)
    span = max(end - first, 1.0)
    size = bucket_s or _bucket_seconds(span)
    aligned = t0 - math.ceil((t0 - first) / size) * size  # a bucket edge falls on the injection
    shown = [op for op in history.ops if not cancelled_at_shutdown(op)]
    hidden = len(history.ops) - len(shown)
    buckets = [b for b in timeline(shown, aligned, end + 1e-6, size) if b.end > first]
    probes = sorted({op.f for op in history.ops if is_probe(op.f)},
                    key=lambda f: (f != "health:api_gateway", f))

    fig = Figure(figsize=(10.5, 5.4 + 0.22 * len(probes)), dpi=100, layout="constrained")
    heights = [2.2, 1.8] + ([0.35 + 0.22 * len(probes)] if probes else [])
    axes = fig.subplots(len(heights), 1, sharex=True, gridspec_kw={"height_ratios": heights})
    ax_rate, ax_lat = axes[0], axes[1]
    mids = [(b.start + b.end) / 2 - t0 for b in buckets]

    rates = [b.success_rate * 100 if b.success_rate is not None else math.nan for b in buckets]
    ax_rate.plot(mids, rates, color=OK_GREEN, marker="o", ms=3, lw=1.6, label="success rate")
    threshold = (record.get("targets") or {}).get("success_threshold", 0.95)
    ax_rate.axhline(100 * float(threshold), color=GREY, ls=(0, (2, 2)), lw=0.9)
    ax_rate.text(0.995, 100 * float(threshold) - 2, f"steady state ≥ {100 * float(threshold):.0f}%",
                 transform=ax_rate.get_yaxis_transform(), ha="right", va="top", fontsize=8, color=GREY)
    ax_rate.set_ylim(-3, 105)
    ax_rate.set_ylabel("load success rate (%)")
    failed = [b.fail + b.info for b in buckets]
    if any(failed):
        ax_fail = ax_rate.twinx()
        ax_fail.bar(mids, failed, width=size * 0.8, color=FAIL_RED, alpha=0.35, label="failed ops")
        ax_fail.set_ylabel("failed ops / bucket", color=FAIL_RED)
        ax_fail.tick_params(axis="y", colors=FAIL_RED)
        ax_fail.set_ylim(0, max(failed) * 2.2)
    verdict = str(record.get("verdict", "?"))
    control = record.get("control")
    title = f"{record.get('id', '?')} {record.get('name', '')}" + (f" — control ({control})" if control else "")
    ax_rate.set_title(f"{title} — verdict {verdict}", fontsize=11, loc="left")
    note = f" · {hidden} cancelled at load shutdown not shown" if hidden else ""
    ax_rate.set_title(f"shopper requests in {size:g} s buckets{note}", fontsize=8, loc="right", color=GREY)

    p95 = [b.p95_ms if b.p95_ms is not None else math.nan for b in buckets]
    ax_lat.plot(mids, p95, color=LATENCY_PURPLE, marker="o", ms=3, lw=1.4)
    finite = [v for v in p95 if not math.isnan(v) and v > 0]
    if finite and max(finite) / max(min(finite), 1e-3) > 30:
        ax_lat.set_yscale("log")
    ax_lat.set_ylabel("p95 latency (ms)")

    skipped = history.first_event("recovery_skipped") is not None
    healed_event = history.first_event("healed")
    healed = healed_event.mono if healed_event is not None and "restored" not in marks else None
    for ax in axes:
        _shade(ax, marks, t0, end)
        if healed is not None:
            ax.axvline(healed - t0, color=GREY, ls="-.", lw=1.4)
        ax.grid(True, axis="x", color="#dddddd", lw=0.6)
    ax_rate.grid(True, axis="y", color="#eeeeee", lw=0.6)
    ax_lat.grid(True, axis="y", color="#eeeeee", lw=0.6)

    if probes:
        ax_probe = axes[2]
        for row, f in enumerate(probes):
            ops = [op for op in history.ops if op.f == f and first <= op.start <= end]
            good = [op.start - t0 for op in ops if op.outcome == "ok"]
            bad = [op.start - t0 for op in ops if op.outcome != "ok"]
            ax_probe.scatter(good, [row] * len(good), marker="|", s=60, color=OK_GREEN, lw=1.2)
            ax_probe.scatter(bad, [row] * len(bad), marker="|", s=110, color=FAIL_RED, lw=2.4)
        ax_probe.set_yticks(range(len(probes)), [f.split(":", 1)[1] for f in probes], fontsize=8)
        ax_probe.set_ylim(len(probes) - 0.5, -0.5)
        ax_probe.set_ylabel("health\nprobes", rotation=0, ha="right", va="center")
        ax_probe.tick_params(axis="y", length=0)
    axes[-1].set_xlabel("seconds from the injection" if injected is not None else "seconds")
    axes[-1].set_xlim(first - t0, end - t0)
    fig.legend(handles=_legend_handles(record, marks, skipped=skipped, healed=healed, failures=any(failed)), loc="outside lower center",
               ncol=4, fontsize=8, frameon=False)
    return png_bytes(fig)


def _run_label(started: str) -> str:
    wall = parse_iso(started)
    if wall is None:
        return started[:16]
    return datetime.fromtimestamp(wall, timezone.utc).strftime("%m-%d\n%H:%M")


def _trend_key(row: Mapping[str, Any]) -> str:
    return str(row.get("test") or row.get("id"))


def trend_png(rows: Sequence[Mapping[str, Any]]) -> bytes | None:
    """MTTD and RTO of each (non-control) scenario across runs; None with fewer than 2 runs."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    runs = sorted({str(r["run"]) for r in rows if r.get("run")}, key=lambda s: parse_iso(s) or 0.0)
    if len(runs) < 2:
        return None
    index = {run: i for i, run in enumerate(runs)}
    scenarios: dict[str, tuple[str, str]] = {}  # key (the test, else the id) -> (id, name)
    for row in rows:
        if row.get("control") is None and row.get("id") is not None:
            scenarios.setdefault(_trend_key(row), (str(row["id"]), str(row.get("name") or "")))
    if not scenarios:
        return None
    fig = Figure(figsize=(10.5, 5.6), dpi=100, layout="constrained")
    ax_mttd, ax_rto = fig.subplots(2, 1, sharex=True)
    palette = [RECOVER_BLUE, DETECT_ORANGE, OK_GREEN, LATENCY_PURPLE, "#CC79A7", "#56B4E9", "#F0E442", GREY]
    ordered = sorted(scenarios.items(), key=lambda kv: (natural_key(kv[1][0]), kv[0]))
    for n, (key, (sid, name)) in enumerate(ordered):
        colour = palette[n % len(palette)]
        mine = sorted((r for r in rows if _trend_key(r) == key and r.get("control") is None and r.get("run")),
                      key=lambda r: index[str(r["run"])])
        for ax, metric in ((ax_mttd, "mttd_s"), (ax_rto, "rto_s")):
            xs = [index[str(r["run"])] for r in mine]
            ys = [float(r[metric]) if isinstance(r.get(metric), (int, float)) else math.nan for r in mine]
            ax.plot(xs, ys, color=colour, marker="o", ms=5, lw=1.6, label=f"{sid} {name}")
            bad = [(x, y) for x, y, r in zip(xs, ys, mine) if r.get("verdict") != "pass"]
            measured_bad = [(x, y) for x, y in bad if not math.isnan(y)]
            unmeasured = [x for x, y in bad if math.isnan(y)]
            if measured_bad:
                ax.scatter([b[0] for b in measured_bad], [b[1] for b in measured_bad], marker="X", s=90,
                           color=FAIL_RED, zorder=5)
            if unmeasured:  # not measured: drawn on the axis, whatever the scale
                ax.scatter(unmeasured, [0.04] * len(unmeasured), marker="X", s=90, color=FAIL_RED, zorder=5,
                           transform=ax.get_xaxis_transform(), clip_on=False)
                for x in unmeasured:
                    ax.annotate(sid, (x, 0.04), xycoords=ax.get_xaxis_transform(), xytext=(7, 0),
                                textcoords="offset points", va="center", fontsize=8, color=FAIL_RED)
    ax_mttd.set_ylabel("MTTD (s)")
    ax_rto.set_ylabel("RTO (s)")
    ax_mttd.set_title("Detection (MTTD) and recovery (RTO) times of each scenario across runs", fontsize=11,
                      loc="left")
    for ax in (ax_mttd, ax_rto):
        ax.grid(True, color="#e6e6e6", lw=0.6)
        ax.set_ylim(bottom=0)
    ax_rto.set_xticks(range(len(runs)), [_run_label(r) for r in runs], fontsize=8)
    ax_rto.set_xlim(-0.3, len(runs) - 0.7)
    ax_rto.set_xlabel("run (start time, UTC)")
    handles, labels = ax_mttd.get_legend_handles_labels()
    handles.append(Line2D([], [], color=FAIL_RED, marker="X", ms=9, ls=""))
    labels.append("verdict not pass (on the axis: not measured)")
    fig.legend(handles, labels, loc="outside lower center", ncol=min(4, len(labels)), fontsize=8, frameon=False)
    return png_bytes(fig)
