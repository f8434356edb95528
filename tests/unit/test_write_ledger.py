"""checks.write_ledger on literal histories and literal query rows: each finding shown failing, and passing."""

from __future__ import annotations

from typing import Any

import pytest

from checks.ledger import RPO_RESOLUTION_S, Reconciliation
from checks.write_ledger import (
    SentWrite,
    reconcile_named_writes,
    sent_writes,
    stored_rows,
)
from load.history import Op, Outcome, Record
from tests.helpers.histories import call, history, hung
from tests.helpers.ledger import checkout


def note(t: float, key: str, outcome: Outcome = "ok", latency: float = 100.0) -> list[Record]:
    """A `note` write as load/journeys.py records it: the key in the invoke's value."""
    return call("note", t, outcome, latency, value={"key": key, "id": f"n-{key}"} if outcome == "ok" else None,
                asks={"key": key, "title": "hello"})


def rows(*keys: str) -> list[dict[str, Any]]:
    return [{"key": key} for key in keys]


def run(ops: list[Op], found_rows: list[dict[str, Any]], failure_at: float = 10.0,
        cut_at: float | None = None) -> Reconciliation:
    return reconcile_named_writes(ops, "note", found_rows, failure_at=failure_at, cut_at=cut_at)


def test_a_clean_run_has_no_finding() -> None:
    found = run(history(note(1.0, "a"), note(2.0, "b")), rows("a", "b"))
    assert (found.judged, found.lost, found.phantoms, found.duplicates, found.failed_but_happened) == (2, (), (), {}, ())
    assert (found.rpo_s, found.stored) == (0.0, 2)


def test_an_acknowledged_write_with_no_row_is_lost_and_its_age_at_the_failure_is_the_rpo() -> None:
    found = run(history(note(1.0, "a"), note(4.0, "b"), note(12.0, "c")), rows("b"), failure_at=10.0)
    assert [key for key, _ in found.lost] == ["a", "c"]
    assert found.rpo_s == 10.0 - 1.1  # "a" was acknowledged at 1.1
    assert [key for key, _ in found.exposure] == ["c"]


def test_one_lost_write_is_not_an_rpo_of_zero() -> None:
    assert run(history(note(9.9, "a")), [], failure_at=10.0).rpo_s == RPO_RESOLUTION_S


def test_two_rows_for_one_key_are_a_duplicate_named_by_their_ids() -> None:
    found = run(history(note(1.0, "a")), [{"key": "a", "id": 7}, {"key": "a", "id": 8}])
    assert found.duplicates == {"a": ("7", "8")}
    assert found.lost == () and found.phantoms == ()


def test_a_row_under_a_key_never_sent_is_a_phantom() -> None:
    found = run(history(note(1.0, "a")), rows("a", "server-made"))
    assert found.phantoms == ("server-made",)


def test_a_key_sent_only_by_another_write_is_a_phantom_of_this_one() -> None:
    ops = history(note(1.0, "a"), call("comment", 2.0, asks={"key": "c1"}))
    assert run(ops, rows("a", "c1")).phantoms == ("c1",)


def test_a_refused_write_the_store_holds_happened() -> None:
    found = run(history(note(1.0, "a", "fail")), rows("a"))
    assert found.failed_but_happened == ("a",)
    assert run(history(note(1.0, "a", "fail")), []).failed_but_happened == ()  # refused and absent: as told


def test_a_refused_write_retried_under_its_key_and_acknowledged_is_not_a_finding() -> None:
    found = run(history(note(1.0, "a", "fail"), note(2.0, "a")), rows("a"))
    assert (found.failed_but_happened, found.judged, found.lost) == ((), 1, ())


def test_an_unknown_write_absent_is_not_lost_and_present_is_not_a_phantom() -> None:
    ops = history(note(1.0, "a", "info"), note(2.0, "b", "info"), hung("note", 3.0, {"key": "c", "title": "x"}))
    found = run(ops, rows("a", "c"))
    assert (found.unknown_happened, found.unknown_did_not_happen) == (2, 1)
    assert (found.lost, found.phantoms, found.failed_but_happened, found.judged) == ((), (), (), 0)


def test_acknowledgements_after_the_cut_are_not_judged() -> None:
    """The query ran at 5.0: a write acknowledged at 6.1 may have committed after it."""
    found = run(history(note(1.0, "a"), note(6.0, "b")), rows("a"), failure_at=3.0, cut_at=5.0)
    assert (found.judged, found.lost, found.phantoms) == (1, (), ())


def test_the_rows_of_a_query_that_does_not_return_the_key_are_refused() -> None:
    with pytest.raises(ValueError, match="no 'key'"):
        stored_rows([{"note_key": "a"}])
    assert [(r.key, r.name) for r in stored_rows([{"key": 12}, {"key": "b", "id": 3}])] == [("12", "12"), ("b", "3")]


def test_writes_are_the_ops_of_the_named_write_holding_a_key() -> None:
    ops = history(note(1.0, "a"), call("note", 1.5), call("other", 2.0, asks={"key": "x"}),
                  note(0.5, "z", "info"))
    assert sent_writes(ops, "note") == [SentWrite("z", "info", 0.5, 0.6), SentWrite("a", "ok", 1.0, 1.1)]


def test_the_reference_checkouts_reconcile_by_their_idempotency_key_field() -> None:
    ops = history(checkout(1.0, "k1", order="o1"), checkout(2.0, "k2", order="o2"))
    found = reconcile_named_writes(ops, "checkout", [{"idempotency_key": "k2", "id": "o2"}], failure_at=5.0,
                                   key_field="idempotency_key")
    assert [key for key, _ in found.lost] == ["k1"] and found.phantoms == ()


def test_the_summary_has_the_reference_ledger_figures() -> None:
    summary = run(history(note(1.0, "a"), note(2.0, "b", "info")), rows("x", "x")).summary()
    assert (summary["lost"], summary["phantoms"], summary["duplicate_intents"]) == (1, 2, 1)
    assert summary["unknown_resolved"] == {"happened": 0, "did_not_happen": 1}
