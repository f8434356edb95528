"""load.journeys: a team's writes recorded in the history format, found where the load runner looks, read back
by load.history and reconciled by checks.write_ledger (the round trip)."""

from __future__ import annotations

import os
import sys
import threading
import types
from pathlib import Path

import pytest

from checks.write_ledger import reconcile_named_writes
from load import journeys
from load.history import (
    HistoryWriter,
    Op,
    Outcome,
    Record,
    history_files,
    pair_ops,
    read_records,
)
from load.journeys import Ledger, close_process_history, outcome_of, process_history


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "history" / "load-1.jsonl"


def ops_in(directory: Path) -> list[Op]:
    return pair_ops(read_records(history_files(directory)))


def test_one_write_is_an_invoke_with_its_key_and_one_completion(path: Path) -> None:
    with HistoryWriter(path, process="7") as history:
        write = Ledger(history).begin("note", key="k1", value={"title": "hi"}, process="7:1")
        write.acknowledged(status=201, value={"id": "n1"})
    invoke, done = read_records([path])
    assert (invoke.type, invoke.f, invoke.value, invoke.process) == ("invoke", "note", {"title": "hi", "key": "k1"}, "7:1")
    assert (done.type, done.id, done.status, done.value) == ("ok", invoke.id, 201, {"id": "n1", "key": "k1"})
    (op,) = pair_ops(read_records([path]))
    assert op.value == {"title": "hi", "key": "k1", "id": "n1"} and op.outcome == "ok"


def test_refused_is_fail_and_unknown_is_info(path: Path) -> None:
    with HistoryWriter(path) as history:
        ledger = Ledger(history)
        ledger.begin("note", key="a").refused(status=409)
        ledger.begin("note", key="b").unknown(error="timeout")
    a, b = pair_ops(read_records([path]))
    assert (a.outcome, a.status, a.error) == ("fail", 409, "HTTP 409")
    assert (b.outcome, b.error) == ("info", "timeout")


@pytest.mark.parametrize(("status", "outcome"), [(200, "ok"), (201, "ok"), (202, "ok"), (400, "fail"), (409, "fail"),
                                                 (422, "fail"), (500, "info"), (503, "info"), (504, "info"),
                                                 (302, "info"), (0, "info"), (None, "info")])
def test_the_outcome_rule(status: int | None, outcome: Outcome) -> None:
    assert outcome_of(status) == outcome
    assert outcome_of(None, TimeoutError("timed out")) == "info"


class FakeResponse:
    def __init__(self, status_code: int, error: Exception | None = None) -> None:
        self.status_code = status_code
        self.error = error


def test_a_response_object_is_recorded_by_the_rule(path: Path) -> None:
    with HistoryWriter(path) as history:
        ledger = Ledger(history)
        assert ledger.begin("note", key="a").from_response(FakeResponse(201), value={"id": 1}) == "ok"
        assert ledger.begin("note", key="b").from_response(FakeResponse(404)) == "fail"
        assert ledger.begin("note", key="c").from_response(FakeResponse(502)) == "info"
        assert ledger.begin("note", key="d").from_response(FakeResponse(0, ConnectionResetError("reset"))) == "info"
    ops = pair_ops(read_records([path]))
    assert [(op.outcome, op.status, op.error) for op in ops] == [
        ("ok", 201, None), ("fail", 404, "HTTP 404"), ("info", 502, "HTTP 502"),
        ("info", None, "ConnectionResetError: reset")]


def test_the_block_records_unknown_when_it_raises_and_keeps_an_outcome_already_given(path: Path) -> None:
    with HistoryWriter(path) as history:
        ledger = Ledger(history)
        with pytest.raises(TimeoutError), ledger.write("note", key="a"):
            raise TimeoutError("timed out")
        with pytest.raises(KeyError), ledger.write("note", key="b") as write:
            write.acknowledged(status=201)
            raise KeyError("after the answer")
        with ledger.write("note", key="c"):
            pass
    a, b, c = pair_ops(read_records([path]))
    assert (a.outcome, a.error) == ("info", "TimeoutError: timed out")
    assert b.outcome == "ok"
    assert (c.outcome, c.error) == ("info", "no outcome recorded")


def test_misuse_is_loud(path: Path) -> None:
    with HistoryWriter(path) as history:
        ledger = Ledger(history)
        write = ledger.begin("note", key="a")
        write.acknowledged()
        with pytest.raises(RuntimeError, match="already completed as ok"):
            write.refused()
        with pytest.raises(ValueError, match="needs a key"):
            ledger.begin("note", key="")
        with pytest.raises(ValueError, match="the write's key"):
            ledger.begin("note", key="a", value={"key": "b"})


def test_the_process_history_is_where_the_load_runner_looks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AARYA_HISTORY_DIR", str(tmp_path))
    monkeypatch.delitem(sys.modules, "load.locustfile", raising=False)
    close_process_history()
    try:
        journeys.ledger.begin("note", key="a").acknowledged()
        assert process_history() is process_history()
    finally:
        close_process_history()
    (op,) = ops_in(tmp_path)
    assert history_files(tmp_path) == [tmp_path / f"load-{os.getpid()}.jsonl"]
    assert (op.process, op.id) == (str(os.getpid()), f"{os.getpid()}-1")


def test_the_reference_locustfiles_writer_is_shared_when_it_is_loaded(path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    with HistoryWriter(path) as shared:
        reference = types.ModuleType("load.locustfile")
        reference.history = lambda: shared  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "load.locustfile", reference)
        assert process_history() is shared


def test_many_threads_share_one_writer(path: Path) -> None:
    with HistoryWriter(path) as history:
        ledger = Ledger(history)

        def user(number: int) -> None:
            for i in range(50):
                with ledger.write("note", key=f"u{number}-{i}", process=f"user-{number}") as write:
                    write.answered(201 if i % 3 else 503)

        threads = [threading.Thread(target=user, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    records = read_records([path])
    ops = pair_ops(records)
    assert len(records) == 800 and len(ops) == 400 and len({op.id for op in ops}) == 400
    assert all(op.end is not None and op.value["key"].startswith(f"u{(op.process or '')[5:]}-") for op in ops)


def test_round_trip_from_the_journeys_to_the_verdict(tmp_path: Path) -> None:
    """A team's writes through load.journeys, read back by load.history, judged by checks.write_ledger."""
    directory = tmp_path / "history"
    with HistoryWriter(directory / "load-1.jsonl", process="1") as history:
        ledger = Ledger(history)
        ledger.begin("note", key="kept").acknowledged(status=201, value={"id": 1})
        ledger.begin("note", key="lost").acknowledged(status=201, value={"id": 2})
        ledger.begin("note", key="refused").refused(status=422)
        ledger.begin("note", key="timed-out").unknown(error="timeout")
        ledger.begin("note", key="dropped").raised(ConnectionResetError("reset"))
        history.event("inject", {"fault": "kill the store"})
        failure_at = read_records([directory / "load-1.jsonl"])[-1].mono
    rows = [{"key": "kept", "id": 1}, {"key": "kept", "id": 5}, {"key": "refused", "id": 3},
            {"key": "timed-out", "id": 4}, {"key": "never-sent", "id": 6}]
    found = reconcile_named_writes(ops_in(directory), "note", rows, failure_at=failure_at)
    assert (found.judged, [k for k, _ in found.lost]) == (2, ["lost"])
    assert found.rpo_s > 0 and found.exposure == ()
    assert found.duplicates == {"kept": ("1", "5")}
    assert (found.phantoms, found.failed_but_happened) == (("6",), ("refused",))
    assert (found.unknown_happened, found.unknown_did_not_happen) == (1, 1)


def test_records_are_the_history_format(path: Path) -> None:
    with HistoryWriter(path) as history:
        Ledger(history).begin("note", key="a").unknown(status=503)
    lines = path.read_text().splitlines()
    assert [Record.from_json(line).to_json() for line in lines] == lines
