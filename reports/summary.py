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
        with self._lock:
            self.scenarios.append(record)
            self.run["finished"] = _now()
            self._write()

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"schema": SCHEMA, "run": self.run, "scenarios": self.scenarios},
                                  indent=2, default=str))
        tmp.replace(self.path)

