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
"""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
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


def events(records: Iterable[Record], f: str | None = None) -> Iterator[Record]:
    return (r for r in records if r.type == "event" and (f is None or r.f == f))
