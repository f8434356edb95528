"""Synthetic chaos runs for the report benchmarks: summary.json files shaped like the real ones (docs/summary-json.md,
tests/data/sample-run/summary.json), each scenario with a generated history, and an archive of earlier runs.

A run holds SCENARIOS runbook scenarios and a negative control of each (30 records). Only the latest run has
histories (the plugin keeps the artifacts of the latest run; archived runs keep their summary.json).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from benchmarks.histories import WALL_OFFSET_S, History, generate, write_jsonl
from load.history import Record

SCENARIOS = 15
RUNBOOK_IDS = [f"{section}.{n}" for section in range(1, 9) for n in (1, 2)][:SCENARIOS]
CONTROL = "skip-recovery"
HISTORY_OPS = 6_000  # a 30 s scenario at 200 load ops/s
FIRST_RUN = datetime(2026, 1, 1, tzinfo=timezone.utc)


def iso(wall: float) -> str:
    return datetime.fromtimestamp(wall, timezone.utc).isoformat(timespec="milliseconds")


def _window(name: str, start: float, end: float, total: int, ok: int) -> dict[str, Any]:
    return {"name": name, "start": start, "end": end, "total": total, "ok": ok, "fail": total - ok, "info": 0,
            "success_rate": ok / total, "p50_ms": 4.8, "p95_ms": 15.7, "p99_ms": 17.9, "max_latency_ms": 19.6,
            "throughput_per_s": ok / max(end - start, 1e-3)}


def _check(name: str, passed: bool, measured: object, target: object) -> dict[str, Any]:
    return {"name": name, "passed": passed, "measured": measured, "target": target,
            "detail": f"{measured!r} {'<=' if passed else '>'} {target!r}", "judged": "standard"}


def scenario_record(n: int, run: int, control: bool, artifacts: Path, history: History | None = None) -> dict[str, Any]:
    """One record of run number `run`: scenario `n` (0-based), or its control. Its figures drift with `run`, so a
    trend has something to draw."""
    sid = RUNBOOK_IDS[n]
    test = f"test_scenario_{sid.replace('.', '_')}" + ("_control_without_recovery" if control else "")
    rto = 5.0 + n * 0.7 + (run % 17) * 0.05
    mttd = 0.05 + n * 0.01 + (run % 7) * 0.002
    if history is not None:
        marks = {"injected": history.injected, "landed": history.landed, "detected": history.detected,
                 "recovery_started": history.recovery_started, "restored": history.back}
        timeline = {name: iso(t + WALL_OFFSET_S) for name, t in marks.items()}
    else:
        at = (FIRST_RUN + timedelta(hours=run)).timestamp() + 60 * n
        timeline = {"injected": iso(at), "landed": iso(at + 0.05), "detected": iso(at + mttd),
                    "recovery_started": iso(at + 0.4), "restored": iso(at + rto)}
    if control:
        timeline.pop("restored")
    checks = [_check("detected_within_mttd_target", True, mttd, 15.0),
              _check("restored_within_rto_target", not control, None if control else rto, 60.0),
              _check("no_lost_acknowledged_orders", True, 0, 0), _check("rpo_within_target", True, 0.0, 0.0),
              _check("no_duplicate_orders_for_one_intent", True, 0, 0), _check("no_order_charged_twice", True, 0, 0),
              _check("no_phantom_orders", True, 0, 0), _check("acknowledged_orders_stored_as_answered", True, 0, 0),
              _check("enough_writes_judged", True, 212, 150)]
    return {
        "id": sid, "name": f"Runbook scenario {sid}", "control": CONTROL if control else None, "verdict": "pass",
        "reason": "", "driver": "LocalDriver", "started": timeline["injected"], "duration_s": 31.5,
        "targets": {"mttd_s": 15.0, "rto_s": 60.0, "rpo_s": 0.0, "lost_acknowledged_writes": 0,
                    "failed_requests": None},
        "measured": {"mttd_s": mttd, "rto_s": None if control else rto, "rpo_s": 0.0, "lost_acknowledged_writes": 0,
                     "failed_requests": 34, "acknowledged_orders": 212},
        "windows": {"baseline": _window("baseline", 2664.18, 2669.18, 1000, 995),
                    "fault": _window("fault", 2669.18, 2669.18 + rto, 1200, 720),
                    "recovery": _window("recovery", 2669.18 + rto, 2694.18, 3000, 2985)},
        "timeline": timeline,
        "evidence": {"fault": "kill redis with SIGKILL", "summary": "redis (pid 21561) exited with status 137",
                     "pid": 21561, "signal": "SIGKILL", "exit_status": 137},
        "detection": {"signal": "redis-cli ping fails", "seen": "redis-cli ping exit 1: Connection refused"},
        "checks": checks, "notes": [], "artifacts": str(artifacts / test),
        "load": {"requests": 6000, "failures": 34, "rps": 200.0, "duration_s": 30.0},
    }


def summary(run: int, records: list[dict[str, Any]]) -> dict[str, Any]:
    started = FIRST_RUN + timedelta(hours=run)
    return {"schema": 1, "run": {"started": started.isoformat(timespec="seconds"),
                                 "finished": (started + timedelta(minutes=20)).isoformat(timespec="seconds"),
                                 "driver": "local", "host": "bench", "cpus": 2}, "scenarios": records}


def write_latest(reports: Path, run: int) -> Path:
    """reports/latest/: summary.json of 30 records, each scenario's history under scenarios/<test>/history/."""
    latest = reports / "latest"
    scenarios = latest / "scenarios"
    records = []
    for n in range(SCENARIOS):
        history = generate(HISTORY_OPS, seed=n)
        for control in (False, True):
            record = scenario_record(n, run, control, scenarios, history)
            directory = Path(record["artifacts"]) / "history"
            write_jsonl(history, directory / "load-1.jsonl")
            _write_events(record, directory / "scenario.jsonl")
            records.append(record)
    path = latest / "summary.json"
    path.write_text(json.dumps(summary(run, records), indent=2))
    return path


def _write_events(record: dict[str, Any], path: Path) -> None:
    lines = []
    for name, at in record["timeline"].items():
        wall = datetime.fromisoformat(at).timestamp()
        event = Record("event", "inject" if name == "injected" else name, wall, wall - WALL_OFFSET_S,
                       process="scenario")
        lines.append(event.to_json())
    path.write_text("\n".join(lines) + "\n")


def write_archive(reports: Path, runs: int) -> Path:
    """reports/runs/<time>/summary.json of `runs` earlier runs (compact JSON: the parse costs the same)."""
    archive = reports / "runs"
    for run in range(runs):
        records = [scenario_record(n, run, control, Path("/gone/scenarios"))
                   for n in range(SCENARIOS) for control in (False, True)]
        directory = archive / (FIRST_RUN + timedelta(hours=run)).strftime("%Y%m%dT%H%M%S")
        directory.mkdir(parents=True)
        (directory / "summary.json").write_text(json.dumps(summary(run, records)))
    return archive
