"""`reports/latest/summary.json`: one record per scenario, rewritten after each one (a crash keeps the rest).

Shape (documented in docs/summary-json.md; the CI gate and the reports read it):

    {"schema": 1, "run": {"started", "finished", "driver", "host"},
     "scenarios": [{"id", "name", "control", "verdict", "reason", "targets", "measured", "timeline",
                    "evidence", "detection", "checks", "windows", "load", "artifacts", ...}]}
"""

from __future__ import annotations

import json
import os
import platform
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from reports.attempts import merge_attempt

SCHEMA = 1


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class SummaryWriter:
    def __init__(self, path: Path, *, driver: str) -> None:
        self.path = path
        self.run = {"started": _now(), "finished": None, "driver": driver, "host": platform.node(),
                    "cpus": os.cpu_count()}
        self.scenarios: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._write()

    def add(self, record: dict[str, Any]) -> None:
        """Append a record; a later attempt of the same test (`test`, `attempt` > 1: a re-run of a failed
        scenario) replaces the earlier one's record with both merged (reports/attempts.py)."""
        with self._lock:
            earlier = self._earlier_attempt(record)
            if earlier is None:
                self.scenarios.append(record)
            else:
                self.scenarios[earlier] = merge_attempt(self.scenarios[earlier], record)
            self.run["finished"] = _now()
            self._write()

    def _earlier_attempt(self, record: dict[str, Any]) -> int | None:
        if not record.get("test") or int(record.get("attempt") or 1) < 2:
            return None
        found = [i for i, r in enumerate(self.scenarios) if r.get("test") == record["test"]]
        return found[-1] if found else None

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"schema": SCHEMA, "run": self.run, "scenarios": self.scenarios},
                                  indent=2, default=str))
        tmp.replace(self.path)

