"""The event compactor's id arithmetic, batch planning and archive-before-trim ordering (no servers)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from stack.services.common.errors import DependencyUnavailable
from stack.services.event_compactor.compactor import compact_stream
from stack.services.event_compactor.ids import (
    MAX_SEQ,
    UnorderedBatch,
    count_after,
    cutoff_id,
    format_id,
    next_id,
    parse_id,
    plan_trim,
)

# -- ids ---------------------------------------------------------------------------------------------


def test_parse_and_format_round_trip() -> None:
    assert parse_id("1700000000000-3") == (1700000000000, 3)
    assert format_id((1700000000000, 3)) == "1700000000000-3"
    assert parse_id("42") == (42, 0)


@pytest.mark.parametrize("bad", ["", "-", "a-1", "1-", "1-b", "-1", "1-2-3", " 1-2", f"1-{2**64}"])
def test_parse_rejects_garbage(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_id(bad)


def test_next_id_increments_the_sequence() -> None:
    assert next_id("1700000000000-0") == "1700000000000-1"
    assert next_id("5-41") == "5-42"


def test_next_id_rolls_over_to_the_next_millisecond() -> None:
    assert next_id(f"5-{MAX_SEQ}") == "6-0"


def test_next_id_is_the_smallest_greater_id() -> None:
    for text in ["0-1", "5-0", "5-9", f"7-{MAX_SEQ - 1}", f"7-{MAX_SEQ}"]:
        after = parse_id(next_id(text))
        assert after > parse_id(text)
        # nothing fits in between: the id space is (ms, seq) in lexicographic order
        ms, seq = parse_id(text)
        assert after == ((ms, seq + 1) if seq < MAX_SEQ else (ms + 1, 0))


def test_next_id_of_the_largest_id_is_an_error() -> None:
    with pytest.raises(ValueError):
        next_id(f"{2**64 - 1}-{MAX_SEQ}")


def test_cutoff_is_inclusive_of_the_whole_millisecond() -> None:
    assert cutoff_id(10_000, 0) == f"10000-{MAX_SEQ}"
    assert cutoff_id(10_000, 2.5) == f"7500-{MAX_SEQ}"


def test_cutoff_older_than_the_epoch_selects_nothing() -> None:
    assert cutoff_id(1_000, 60) == "0-0"


def test_negative_age_is_rejected() -> None:
    with pytest.raises(ValueError):
        cutoff_id(1_000, -1)


# -- batch planning ----------------------------------------------------------------------------------


def test_plan_of_an_empty_batch_is_none() -> None:
    assert plan_trim([], start="-", batch_size=500) is None


def test_plan_trims_just_past_the_last_archived_id() -> None:
    plan = plan_trim(["1-0", "1-1", "3-0"], start="-", batch_size=500)
    assert plan is not None
    assert plan.minid == "3-1"  # MINID removes ids strictly lower: exactly the three archived
    assert plan.next_start == "3-1"
    assert (plan.first_id, plan.last_id, plan.count) == ("1-0", "3-0", 3)
    assert plan.maybe_more is False


def test_a_full_batch_may_have_more() -> None:
    plan = plan_trim(["1-0", "2-0"], start="-", batch_size=2)
    assert plan is not None and plan.maybe_more is True


def test_successive_batches_cover_the_range_without_gaps() -> None:
    ids = [f"{ms}-{seq}" for ms in range(1, 6) for seq in range(3)]
    start, seen = "-", []
    while True:
        batch = [i for i in ids if start == "-" or parse_id(i) >= parse_id(start)][:4]
        plan = plan_trim(batch, start=start, batch_size=4)
        if plan is None:
            break
        seen += batch
        # every id below the trim boundary has been archived by now
        assert {i for i in ids if parse_id(i) < parse_id(plan.minid)} <= set(seen)
        if not plan.maybe_more:
            break
        start = plan.next_start
    assert seen == ids


@pytest.mark.parametrize(
    ("ids", "start"),
    [
        (["2-0", "1-0"], "-"),  # decreasing
        (["1-0", "1-0"], "-"),  # duplicate
        (["1-5"], "2-0"),  # before the range start
    ],
)
def test_plan_refuses_unordered_batches(ids: list[str], start: str) -> None:
    with pytest.raises(UnorderedBatch):
        plan_trim(ids, start=start, batch_size=500)


def test_plan_refuses_more_than_asked_for() -> None:
    with pytest.raises(UnorderedBatch):
        plan_trim(["1-0", "2-0", "3-0"], start="-", batch_size=2)


def test_count_after_counts_undelivered_entries() -> None:
    ids = ["1-0", "1-1", "2-0", "3-0"]
    assert count_after(ids, "1-1") == 2
    assert count_after(ids, "0-0") == 4
    assert count_after(ids, "9-0") == 0
    assert count_after(ids, None) == 4


# -- archive before trim, with fakes -----------------------------------------------------------------


class FakeRedis:
    def __init__(self, ids: list[str]) -> None:
        self.entries = [(i, {"type": "x", "n": i}) for i in ids]
        self.trims: list[str] = []

    def xrange(self, stream: str, start: str, end: str, count: int) -> list[tuple[str, dict[str, str]]]:
        lo = None if start == "-" else parse_id(start)
        hi = parse_id(end)
        out = [e for e in self.entries if (lo is None or parse_id(e[0]) >= lo) and parse_id(e[0]) <= hi]
        return out[:count]

    def xtrim(self, stream: str, minid: str, approximate: bool) -> int:
        assert approximate is False
        self.trims.append(minid)
        before = len(self.entries)
        self.entries = [e for e in self.entries if parse_id(e[0]) >= parse_id(minid)]
        return before - len(self.entries)

    def xlen(self, stream: str) -> int:
        return len(self.entries)

    def xinfo_groups(self, stream: str) -> list[dict[str, Any]]:
        return [{"name": "content_services", "last-delivered-id": "1002-0"}]

    def xpending(self, stream: str, group: str) -> dict[str, Any]:
        return {"pending": 2, "min": "1001-1", "max": "1002-0", "consumers": []}


class FakeCache:
    def __init__(self, r: FakeRedis) -> None:
        self.r = r

    def run(self, op: Callable[[FakeRedis], Any]) -> Any:
        return op(self.r)


class FakeCursor:
    def __init__(self, rowcount: int) -> None:
        self.rowcount = rowcount


class FakeDb:
    def __init__(self, fail_on_call: int | None = None) -> None:
        self.archived: list[str] = []
        self.calls = 0
        self.fail_on_call = fail_on_call

    @contextmanager
    def connection(self) -> Iterator[Any]:
        db = self
        staged: list[str] = []

        class Conn:
            def execute(self, sql: str, params: tuple[str, list[str], list[str]]) -> FakeCursor:
                db.calls += 1
                if db.fail_on_call == db.calls:
                    raise DependencyUnavailable("postgres", "boom")
                new = [i for i in params[1] if i not in db.archived]
                staged.extend(new)
                return FakeCursor(len(new))

        yield Conn()
        db.archived.extend(staged)  # "commit"


def _ids(n: int) -> list[str]:
    return [f"{1000 + k // 3}-{k % 3}" for k in range(n)]


def test_compact_stream_archives_everything_it_trims() -> None:
    r, db = FakeRedis(_ids(1200)), FakeDb()
    report = compact_stream(db, FakeCache(r), "s", cutoff=f"9999-{MAX_SEQ}", batch_size=500)  # type: ignore[arg-type]
    assert report.archived == report.trimmed == report.new_rows == 1200
    assert report.batches == 3 and report.length_after == 0
    assert db.archived == _ids(1200)
    assert report.undelivered == 1200 - 7  # ids 1000-0..1002-0 had been delivered


def test_compact_stream_respects_the_cutoff() -> None:
    r, db = FakeRedis(_ids(30)), FakeDb()
    report = compact_stream(db, FakeCache(r), "s", cutoff=f"1004-{MAX_SEQ}", batch_size=4)  # type: ignore[arg-type]
    assert report.archived == report.trimmed == 15
    assert [e[0] for e in r.entries] == _ids(30)[15:]
    assert set(db.archived) == set(_ids(30)[:15])


def test_an_archive_failure_trims_nothing_more() -> None:
    r, db = FakeRedis(_ids(20)), FakeDb(fail_on_call=3)
    with pytest.raises(DependencyUnavailable):
        compact_stream(db, FakeCache(r), "s", cutoff=f"9999-{MAX_SEQ}", batch_size=5)  # type: ignore[arg-type]
    # two batches archived and trimmed, the third failed before its trim
    assert len(db.archived) == 10 and len(r.trims) == 2
    remaining = {e[0] for e in r.entries}
    assert remaining == set(_ids(20)[10:])
    assert remaining.isdisjoint(db.archived)
    assert set(_ids(20)) == remaining | set(db.archived)  # nothing lost


def test_a_rerun_after_failure_finishes_the_job() -> None:
    r, db = FakeRedis(_ids(20)), FakeDb(fail_on_call=2)
    with pytest.raises(DependencyUnavailable):
        compact_stream(db, FakeCache(r), "s", cutoff=f"9999-{MAX_SEQ}", batch_size=5)  # type: ignore[arg-type]
    db.fail_on_call = None
    report = compact_stream(db, FakeCache(r), "s", cutoff=f"9999-{MAX_SEQ}", batch_size=5)  # type: ignore[arg-type]
    assert report.trimmed == 15 and report.length_after == 0
    assert sorted(db.archived, key=parse_id) == _ids(20)


def test_a_stop_request_ends_the_stream_between_batches() -> None:
    r, db, stop = FakeRedis(_ids(20)), FakeDb(), threading.Event()
    stop.set()
    report = compact_stream(db, FakeCache(r), "s", cutoff=f"9999-{MAX_SEQ}", batch_size=5, stop=stop)  # type: ignore[arg-type]
    assert report.trimmed == 0 and report.length_after == 20


# -- keeping what the consumer group has not finished with -------------------------------------------


def test_prev_id() -> None:
    from stack.services.event_compactor.ids import prev_id

    assert prev_id("5-3") == "5-2"
    assert prev_id("5-0") == f"4-{MAX_SEQ}"
    assert prev_id("0-0") is None
    for text in ["1-0", "1-1", "7-9"]:
        assert next_id(prev_id(text) or "") == text


def test_consumer_safe_end() -> None:
    from stack.services.event_compactor.ids import consumer_safe_end

    cutoff = f"100-{MAX_SEQ}"
    assert consumer_safe_end(cutoff, "200-0", None) == cutoff  # the group is ahead of the cutoff
    assert consumer_safe_end(cutoff, "50-3", None) == "50-3"  # never beyond what was delivered
    assert consumer_safe_end(cutoff, "200-0", "40-0") == f"39-{MAX_SEQ}"  # nor at/after the oldest pending
    assert consumer_safe_end(cutoff, "200-0", "40-2") == "40-1"
    assert consumer_safe_end(cutoff, None, None) == "0-0"  # no group: nothing consumed, nothing trimmed
    assert consumer_safe_end(cutoff, "200-0", "0-1") == "0-0"


def test_keep_unconsumed_stops_before_the_oldest_pending_entry() -> None:
    r, db = FakeRedis(_ids(30)), FakeDb()
    report = compact_stream(  # type: ignore[arg-type]
        db, FakeCache(r), "s", cutoff=f"9999-{MAX_SEQ}", batch_size=5, keep_unconsumed=True
    )
    # delivered up to 1002-0, but 1001-1 is still pending: only 1000-0..1000-2 and 1001-0 may go
    assert report.archived == report.trimmed == 4 and report.undelivered == 0
    assert db.archived == _ids(4) and [e[0] for e in r.entries] == _ids(30)[4:]
