"""The history of a run: every operation the load generator (and the prober) attempted, and every
nemesis event, one JSON object per line (JSONL). Checkers are pure functions over it.

Record types, after Jepsen:

    invoke   an operation was sent, with what it asks for  {"type":"invoke","id":"w1-17","f":"checkout",
                                                             "value":{"idempotency_key":...}}
    ok       it succeeded, and its effect is acknowledged   {"type":"ok","id":"w1-17","value":{"order_id":...}}
    fail     it certainly did not happen (a read that failed, a write refused before any effect)
    info     unknown: a timeout or a dropped connection left the outcome uncertain
    event    a timeline event of the scenario (f = inject, landed, detected, recovery_started, restored, ...)

Every record has `time` (wall clock, epoch seconds) and `mono` (CLOCK_MONOTONIC seconds, comparable across
processes of one machine, so load workers and the scenario share one clock). Completions carry
`latency_ms`, the HTTP `status` if any, an `error` text and a `value` (ids of acknowledged writes:
order_id, payment_id, user_id...). An invoke may carry a `value` too (what the write asks for: its
idempotency key, its items), so an operation that never completed can still be looked up afterwards; a
paired op's value is the invoke's, updated with the completion's. An invoke with no completion (the process
died) reads as `info`.

A saved scenario's history, read back: `history_dir(record)` finds the `history/` directory of a summary
record (docs/summary-json.md), and `ScenarioHistory.load(dir)` reads it and maps the record's ISO times onto the
history's monotonic clock.
"""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

RecordType = Literal["invoke", "ok", "fail", "info", "event"]
Outcome = Literal["ok", "fail", "info"]


@dataclass(frozen=True)
class Record:
    type: RecordType
    f: str
    time: float
    mono: float
    id: str | None = None
    process: str | None = None
    latency_ms: float | None = None
    status: int | None = None
    error: str | None = None
    value: Mapping[str, Any] | None = None

    def to_json(self) -> str:
        return json.dumps({k: v for k, v in asdict(self).items() if v is not None}, separators=(",", ":"))

    @classmethod
    def from_json(cls, line: str) -> Record:
        data = json.loads(line)
        return cls(**data)


@dataclass(frozen=True)
class Op:
    """An invocation paired with its completion."""

    id: str
    f: str
    process: str | None
    start: float  # mono
    end: float | None  # mono; None when it never completed
    start_time: float  # wall clock
    outcome: Outcome
    latency_ms: float | None = None
    status: int | None = None
    error: str | None = None
    value: Mapping[str, Any] = field(default_factory=dict)


class HistoryWriter:
    """Appends records to one JSONL file; safe to share between threads of one process.

    Example:
        with HistoryWriter(path, process="prober") as history:
            op = history.invoke("health:commerce")
            history.complete(op, "health:commerce", "ok", status=200, latency_ms=3.1)
            history.event("inject", {"fault": "kill postgres"})
    """

    def __init__(self, path: Path, process: str | None = None) -> None:
        self.path = path
        self.process = process or f"p{os.getpid()}"
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("a", buffering=1, encoding="utf-8")
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._starts: dict[str, float] = {}

    def __enter__(self) -> HistoryWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            self._file.close()

    def _write(self, record: Record) -> None:
        with self._lock:
            if not self._file.closed:
                self._file.write(record.to_json() + "\n")

    def invoke(self, f: str, process: str | None = None, value: Mapping[str, Any] | None = None) -> str:
        op_id = f"{self.process}-{next(self._ids)}"
        mono = time.monotonic()
        self._starts[op_id] = mono
        self._write(Record("invoke", f, time.time(), mono, id=op_id, process=process or self.process,
                           value=value or None))
        return op_id

    def complete(self, op_id: str, f: str, outcome: Outcome, *, status: int | None = None,
                 error: str | None = None, value: Mapping[str, Any] | None = None,
                 process: str | None = None) -> None:
        mono = time.monotonic()
        started = self._starts.pop(op_id, mono)
        self._write(Record(outcome, f, time.time(), mono, id=op_id, process=process or self.process,
                           latency_ms=round((mono - started) * 1000, 3), status=status, error=error,
                           value=value or None))

    def event(self, f: str, value: Mapping[str, Any] | None = None) -> Record:
        record = Record("event", f, time.time(), time.monotonic(), process=self.process, value=value or None)
        self._write(record)
        return record


def read_records(paths: Iterable[Path]) -> list[Record]:
    """All records of several history files, ordered by monotonic time. A torn last line is skipped."""
    records: list[Record] = []
    for path in paths:
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                try:
                    records.append(Record.from_json(line))
                except (ValueError, TypeError):
                    continue  # a writer killed mid-line leaves a partial record
    records.sort(key=lambda r: r.mono)
    return records


def history_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.jsonl"))


def pair_ops(records: Iterable[Record]) -> list[Op]:
    """Pair invocations with completions; an invocation that never completed is `info` (unknown).

    An op's value is its invoke's value updated with its completion's."""
    pending: dict[str, Record] = {}
    ops: list[Op] = []
    for record in records:
        if record.type == "invoke" and record.id is not None:
            pending[record.id] = record
        elif record.type != "invoke" and record.type != "event" and record.id in pending:
            start = pending.pop(record.id)
            value = {**(start.value or {}), **(record.value or {})}
            ops.append(Op(record.id, start.f, start.process, start.mono, record.mono, start.time,
                          record.type, record.latency_ms, record.status, record.error, value))
    for op_id, start in pending.items():
        ops.append(Op(op_id, start.f, start.process, start.mono, None, start.time, "info",
                      error="never completed", value=dict(start.value or {})))
    ops.sort(key=lambda op: op.start)
    return ops



# ---- a saved scenario's history, read back ---------------------------------------------------------------

#: The marks of a summary record's `timeline` (ISO times), in their order.
MARKS = ("injected", "landed", "detected", "recovery_started", "restored")
#: A request the load generator cancelled when it stopped (locust kills its greenlets): no shopper saw it fail.
SHUTDOWN_ERRORS = ("GreenletExit",)


def cancelled_at_shutdown(op: Op) -> bool:
    return op.outcome != "ok" and (op.error or "").startswith(SHUTDOWN_ERRORS)


def history_dir(record: Mapping[str, Any], *, summary_dir: Path | None = None,
                history_root: Path | None = None) -> Path | None:
    """Where the history of `record` lives, or None.

    The record's `artifacts` is the scenario directory as written during the run; the run may have been
    archived since (reports/latest -> reports/runs/<time>/), so the name is looked up, in this order, under
    `history_root` (a directory of scenario directories; when given, nothing else is tried), next to the
    summary (`<summary_dir>/scenarios/<name>`), then at the recorded path itself.
    """
    artifacts = str(record.get("artifacts") or "")
    if not artifacts:
        return None
    name = Path(artifacts).name
    if history_root is not None:
        candidates = [history_root / name]
    else:
        candidates = [summary_dir / "scenarios" / name] if summary_dir is not None else []
        candidates.append(Path(artifacts))
    for candidate in candidates:
        if (candidate / "history").is_dir():
            return candidate / "history"
    return None


def parse_iso(value: object) -> float | None:
    """Epoch seconds of an ISO time (None, "" or garbage: None)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


@dataclass(frozen=True)
class ScenarioHistory:
    """Every record and op of one scenario's history, with its monotonic <-> wall clock offset."""

    directory: Path
    records: list[Record]
    ops: list[Op]
    offset: float  # mono - wall, the median over the records

    @classmethod
    def load(cls, directory: Path | None) -> ScenarioHistory | None:
        if directory is None or not directory.is_dir():
            return None
        records = read_records(history_files(directory))
        if not records:
            return None
        offsets = sorted(r.mono - r.time for r in records)
        return cls(directory, records, pair_ops(records), offsets[len(offsets) // 2])

    def mono(self, iso: object) -> float | None:
        wall = parse_iso(iso)
        return None if wall is None else wall + self.offset

    def marks(self, record: Mapping[str, Any]) -> dict[str, float]:
        """The record's timeline (ISO) on the history's monotonic clock; missing marks are left out."""
        timeline_ = record.get("timeline") or {}
        found = {name: self.mono(timeline_.get(name)) for name in MARKS}
        return {name: t for name, t in found.items() if t is not None}

    def events(self, f: str) -> list[Record]:
        return [r for r in self.records if r.type == "event" and r.f == f]

    def first_event(self, f: str) -> Record | None:
        found = self.events(f)
        return found[0] if found else None

    @property
    def start(self) -> float:
        return min(op.start for op in self.ops) if self.ops else self.records[0].mono

    @property
    def end(self) -> float:
        ends = [op.end if op.end is not None else op.start for op in self.ops]
        return max([*ends, self.records[-1].mono])

    def incident_window(self, record: Mapping[str, Any]) -> tuple[float, float] | None:
        """[injected, restored) on the monotonic clock; without a restoration, to the end of the history."""
        marks = self.marks(record)
        if "injected" not in marks:
            return None
        return marks["injected"], marks.get("restored", self.end + 1e-6)

    def in_incident(self, record: Mapping[str, Any]) -> list[Op]:
        """The ops (load and probes) invoked during the incident window."""
        window = self.incident_window(record)
        if window is None:
            return []
        start, end = window
        return [op for op in self.ops if start <= op.start < end]
