"""The write ledger for a team's own locustfile: one call per write puts it in the run's history, so the data
checkers (lost, duplicate, phantom, RPO: checks/write_ledger.py) judge that team's writes.

    from load.journeys import ledger

    write = ledger.begin("note", key=idempotency_key, value={"title": title})     # invoke
    response = self.client.post("/notes", json=..., headers={"Idempotency-Key": idempotency_key})
    write.from_response(response, value={"id": ...})   # ok / fail / info by the rule below

or, by hand, `write.acknowledged(status=201, value=...)`, `write.refused(status=409, error=...)`,
`write.unknown(error="timeout")`; or as a block, which records `unknown` if the block raises before an outcome:

    with ledger.write("note", key=idempotency_key) as write:
        ...

Outcome rule (`outcome_of`, the reference journeys' rule for writes, load/outcomes.py):

    2xx                                                        acknowledged   ok
    4xx                                                        refused        fail  (certainly not done)
    5xx, any other status, a timeout, a lost connection        unknown        info  (may or may not be done)

An uncertain outcome is `info`, never `fail`: a write the platform did while the client timed out is not a
finding, a "refused" write the database holds is.

Wire format: exactly load/history.py's. `begin` writes an invoke record whose value is the team's value plus
`key` (KEY_FIELD); the completion carries the key too. The file is the reference locustfile's:
`$AARYA_HISTORY_DIR/load-<pid>.jsonl` (the load runner sets the variable), one writer per process, shared
with load/locustfile.py's journeys when that module is loaded; safe from many greenlets or threads.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, cast

from load.history import HistoryWriter, Outcome
from load.outcomes import classify, exception_text, short_error

#: The value field that holds a write's key, in its invoke and its completion (the ledger profile's key field).
KEY_FIELD = "key"
#: The variable naming the history directory (set by load/runner.py; read as load/locustfile.py reads it).
HISTORY_DIR_VARIABLE = "AARYA_HISTORY_DIR"

_opening = threading.Lock()
_process_history: HistoryWriter | None = None
_opened_by_pid: int | None = None


class HttpAnswer(Protocol):
    """What `Write.from_response` reads: any response with a `status_code` (requests, locust's clients). Locust
    answers a request that got no response with status 0 and the exception in `error`."""

    status_code: int


def process_history() -> HistoryWriter:
    """This process's history writer, opened on first use (a locust master that runs no users writes no file).

    When load/locustfile.py is loaded in this process its writer is the one: two writers on one file would give
    two ops the same id."""
    reference = sys.modules.get("load.locustfile")
    if reference is not None:
        return cast(HistoryWriter, reference.history())
    global _process_history, _opened_by_pid
    with _opening:
        if _process_history is None or _opened_by_pid != os.getpid():
            directory = Path(os.environ.get(HISTORY_DIR_VARIABLE, "history"))
            _process_history = HistoryWriter(directory / f"load-{os.getpid()}.jsonl", process=str(os.getpid()))
            _opened_by_pid = os.getpid()
        return _process_history


def close_process_history() -> None:
    """Close this process's writer (optional: every record is flushed as it is written). The next write reopens
    the file, appending."""
    global _process_history
    with _opening:
        if _process_history is not None:
            _process_history.close()
            _process_history = None


def outcome_of(status: int | None, error: BaseException | str | None = None) -> Outcome:
    """The outcome of a write's HTTP answer: 2xx ok, 4xx fail, anything else info. `status` None or 0 means no
    answer arrived (`error` says why): info."""
    if status:
        return classify(write=True, status=status)
    return classify(write=True, status=None, transport_error=str(error or "no answer"))


class Write:
    """One write in flight: its invoke is in the history; exactly one of the outcome methods completes it.

    A Write belongs to the greenlet that began it. A second outcome raises RuntimeError."""

    def __init__(self, history: HistoryWriter, f: str, key: str, op_id: str, process: str | None) -> None:
        self.history = history
        self.f = f
        self.key = key
        self.op_id = op_id
        self.process = process
        self.outcome: Outcome | None = None

    @property
    def settled(self) -> bool:
        """True once an outcome was recorded."""
        return self.outcome is not None

    def acknowledged(self, *, status: int | None = None, value: Mapping[str, Any] | None = None) -> None:
        """The platform answered that the write is done (ok). `value`: what it answered (ids), JSON-able."""
        self._complete("ok", status=status, error=None, value=value)

    def refused(self, *, status: int | None = None, error: str | None = None,
                value: Mapping[str, Any] | None = None) -> None:
        """The platform answered that the write was not done, and it certainly was not (fail): a 4xx."""
        self._complete("fail", status=status, error=error or short_error(status) or "refused", value=value)

    def unknown(self, *, status: int | None = None, error: str | None = None,
                value: Mapping[str, Any] | None = None) -> None:
        """Nobody knows whether the write was done (info): a timeout, a lost connection, a 5xx."""
        self._complete("info", status=status, error=error or short_error(status) or "unknown", value=value)

    def answered(self, status: int | None, *, error: BaseException | str | None = None,
                 value: Mapping[str, Any] | None = None) -> Outcome:
        """Record the outcome of an HTTP answer by `outcome_of`; returns it. `error`: the transport error when
        no answer arrived, or a text for a non-2xx answer."""
        outcome = outcome_of(status, error)
        text = None if outcome == "ok" else short_error(status or None, None, error) or "no answer"
        self._complete(outcome, status=status or None, error=text, value=value)
        return outcome

    def from_response(self, response: HttpAnswer, *, value: Mapping[str, Any] | None = None) -> Outcome:
        """Record the outcome of a response object (`status_code`, and locust's `error` when there was none)."""
        status = response.status_code or None
        error = None if status else getattr(response, "error", None)
        return self.answered(status, error=error, value=value)

    def raised(self, exc: BaseException) -> None:
        """The request raised instead of answering (timeout, connection error): unknown."""
        self.unknown(error=exception_text(exc))

    def _complete(self, outcome: Outcome, *, status: int | None, error: str | None,
                  value: Mapping[str, Any] | None) -> None:
        if self.outcome is not None:
            raise RuntimeError(f"write {self.f} {self.key!r} already completed as {self.outcome}")
        self.outcome = outcome
        self.history.complete(self.op_id, self.f, outcome, status=status, error=error,
                              value=_with_key(value, self.key), process=self.process)


class Ledger:
    """Begins writes in a history: this process's (`process_history`) unless another writer is given."""

    def __init__(self, history: HistoryWriter | None = None) -> None:
        self._history = history

    def begin(self, f: str, *, key: str, value: Mapping[str, Any] | None = None,
              process: str | None = None) -> Write:
        """Record that write `f` (its name: what the ledger profile names) is sent with `key`, asking `value`.

        `key` is what identifies the write in the database (an idempotency key: a retry of an unknown write
        sends the same one); `value` is JSON-able and may not hold another `key`. `process` labels the record
        (default: the pid)."""
        if not key:
            raise ValueError(f"write {f} needs a key")
        history = self._history or process_history()
        op_id = history.invoke(f, process=process, value=_with_key(value, key))
        return Write(history, f, key, op_id, process)

    @contextmanager
    def write(self, f: str, *, key: str, value: Mapping[str, Any] | None = None,
              process: str | None = None) -> Iterator[Write]:
        """`begin` as a block: a block that raises (a timeout, GreenletExit at stop) before an outcome records
        `unknown` with the exception, and re-raises; one that ends without an outcome records `unknown`."""
        write = self.begin(f, key=key, value=value, process=process)
        try:
            yield write
        except BaseException as exc:
            if not write.settled:
                write.raised(exc)
            raise
        if not write.settled:
            write.unknown(error="no outcome recorded")


def _with_key(value: Mapping[str, Any] | None, key: str) -> dict[str, Any]:
    if value is not None and KEY_FIELD in value and value[KEY_FIELD] != key:
        raise ValueError(f"value[{KEY_FIELD!r}] is the write's key ({key!r}), not {value[KEY_FIELD]!r}")
    return {**(value or {}), KEY_FIELD: key}


#: The ledger of this process: `from load.journeys import ledger`.
ledger = Ledger()
