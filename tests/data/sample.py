"""The sample run of the report tests, and small literal records.

tests/data/sample-run/        summary.json of a real run (6 records: 3 scenarios and their controls) and the
                              history and locust statistics of one of them (test_commerce_unavailable)
tests/data/sample-runs/<t>/   the summaries of two earlier runs (one ended in `error`), for the trends
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent
SAMPLE_RUN = DATA / "sample-run"
SAMPLE_RUNS = DATA / "sample-runs"
SAMPLE_SUMMARY = SAMPLE_RUN / "summary.json"
WITH_HISTORY = "test_commerce_unavailable"
EARLIER_RUN = SAMPLE_RUNS / "20261128T154836"  # all passed; 1.1 recovered in 1.07 s there (2.37 s in the sample)
ERROR_RUN = SAMPLE_RUNS / "20261128T154626"  # 2.2 ended in `error` before injecting


def sample_summary() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SAMPLE_SUMMARY.read_text())
    return data


def sample_record(test: str = WITH_HISTORY) -> dict[str, Any]:
    return copy.deepcopy(next(r for r in sample_summary()["scenarios"] if Path(r["artifacts"]).name == test))


def install_sample(root: Path, *, earlier: bool = True) -> Path:
    """A reports/ tree under `root` as the plugin leaves it: latest/ (the sample, its artifacts rewritten to
    where they now are) and, if `earlier`, runs/<time>/ with the earlier summaries. Returns latest/summary.json.
    """
    latest = root / "reports" / "latest"
    shutil.copytree(SAMPLE_RUN, latest)
    summary = sample_summary()
    for record in summary["scenarios"]:
        record["artifacts"] = str(latest / "scenarios" / Path(record["artifacts"]).name)
    (latest / "summary.json").write_text(json.dumps(summary, indent=2))
    if earlier:
        for run in sorted(SAMPLE_RUNS.iterdir()):
            (root / "reports" / "runs" / run.name).mkdir(parents=True)
            shutil.copy(run / "summary.json", root / "reports" / "runs" / run.name / "summary.json")
    return latest / "summary.json"


def record(sid: str = "9.9", verdict: str = "pass", *, control: str | None = None, mttd: float | None = 1.0,
           rto: float | None = 10.0, name: str = "Literal scenario", **extra: Any) -> dict[str, Any]:
    """A small literal summary record."""
    base: dict[str, Any] = {
        "id": sid, "name": name, "control": control, "verdict": verdict, "reason": "",
        "targets": {"mttd_s": 15.0, "rto_s": 60.0, "rpo_s": 0.0, "lost_acknowledged_writes": 0,
                    "failed_requests": None},
        "measured": {"mttd_s": mttd, "rto_s": rto, "rpo_s": 0.0, "lost_acknowledged_writes": 0,
                     "failed_requests": 3, "acknowledged_orders": 5},
        "timeline": {}, "evidence": {}, "detection": {}, "checks": [], "windows": {}, "notes": [],
        "artifacts": f"/nonexistent/scenarios/test_{sid.replace('.', '_')}",
    }
    base.update(extra)
    return base


def summary(*records: dict[str, Any], started: str = "2026-11-28T16:00:00+00:00") -> dict[str, Any]:
    return {"schema": 1, "run": {"started": started, "finished": started, "driver": "local", "host": "test",
                                 "cpus": 2}, "scenarios": list(records)}


def write_json(path: Path, data: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path
