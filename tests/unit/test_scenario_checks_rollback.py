"""The checks of 8.1 (application rollback) on literal histories and literal release labels, and of 8.2
(database rollback) on a literal postmaster.pid."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

from fixtures.diagnose.release import BAD_RELEASE_ERROR
from scenarios.test_application_rollback import (no_bad_answers_after_rollback, outage_was_measured,
                                                 release_rolled_back, success_rate_back)
from scenarios.test_database_rollback import driver_sees_postgres
from tests.helpers.histories import calls, every
from tests.helpers.runs import FakeRun, FakeStack, answer, event, timeline


def bad(t: float) -> list[object]:
    """A request the bad build answered."""
    return answer("browse", t, "fail", status=500, error=f'{{"error": "{BAD_RELEASE_ERROR}"}}')


def test_release_rolled_back_fails() -> None:
    """A rollback that did not take: the driver or the service itself still on the bad release."""
    assert release_rolled_back("v1", "v1").passed
    assert not release_rolled_back("v1", "v2-bad").passed  # deployed, but the old process still answers
    assert not release_rolled_back("v2-bad", "v2-bad").passed


def test_no_bad_release_answer_after_rollback_fails() -> None:
    """The bad build still answered after the rollback was applied (another instance left on it)."""
    before = [event("recovery_applied", 20.0), bad(15.0), calls("browse", every(20.0, 30.0, 0.5))]
    assert no_bad_answers_after_rollback(FakeRun(before)).passed
    after = no_bad_answers_after_rollback(FakeRun([before, bad(21.0)]))
    assert not after.passed and after.measured == 1
    never = no_bad_answers_after_rollback(FakeRun([bad(15.0), calls("browse", every(20.0, 30.0, 0.5))]))
    assert not never.passed and never.detail == "the rollback was never applied"


def test_outage_was_measured_fails() -> None:
    """A bad release that hurt nobody (the deploy never reached the traffic): the RTO measured no outage."""
    healthy = calls("browse", every(10.5, 25.0, 0.5))
    assert not outage_was_measured(FakeRun(healthy)).passed
    other = outage_was_measured(FakeRun([healthy, calls("browse", every(11.0, 21.0, 0.5), "fail")]))
    assert not other.passed  # the load failed, but none of it was the bad build's answer
    hurt = outage_was_measured(FakeRun([healthy, [bad(t) for t in every(11.0, 21.0, 0.5)]]))
    assert hurt.passed and hurt.measured == 0.592


def test_success_rate_back_above_threshold_fails() -> None:
    """After the restoration the load still failed (the rollback left some requests on the bad build)."""
    back = calls("browse", every(25.0, 35.0, 0.5))
    assert success_rate_back(FakeRun(back)).passed
    assert not success_rate_back(FakeRun([back, [bad(t) for t in every(25.0, 28.0, 0.5)]])).passed
    never = success_rate_back(FakeRun(back, timeline=timeline(restored=None)))
    assert not never.passed and never.detail == "never restored"


def test_driver_sees_restored_postgres_fails(tmp_path: Path) -> None:
    """The driver still tracks the postmaster from before the restore (postmaster.pid names another)."""
    restored = FakeStack({"postgres": os.getpid()}, postgres_files=lambda: SimpleNamespace(pgdata=tmp_path))
    (tmp_path / "postmaster.pid").write_text(f"{os.getpid()}\n{tmp_path}\n")
    assert driver_sees_postgres(FakeRun(stack=restored)).passed
    (tmp_path / "postmaster.pid").write_text(f"{os.getpid() + 1}\n{tmp_path}\n")
    stale = driver_sees_postgres(FakeRun(stack=restored))
    assert not stale.passed and stale.target == f"running, ready, pid {os.getpid() + 1} (postmaster.pid)"
