"""The PostgreSQL faults' pure parts on a scripted driver: refusal messages, figures, signals, the
blocker-termination poll, and `Together` (inject in order, land when all have, heal all in reverse)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from aarya_chaos.errors import FaultError
from fixtures.detect.database import queries_wait_on_locks
from fixtures.detect.probes import all_of, new_log_lines
from fixtures.diagnose.database import ConnectionFigures, admin_sql, is_refusal, lock_waits
from fixtures.faults.base import Evidence, Together, applied
from fixtures.recover.database import terminate_blockers
from fixtures.heal import HealRegistry
from stack.drivers.fake import FakeDriver

Answer = list[tuple[Any, ...]] | Exception


class ScriptedDriver(FakeDriver):
    """`sql()` answers from a list of (pattern, answers) rules; each rule's answers are used in turn, the
    last one repeating. `grep_logs()` returns the lines set on it."""

    def __init__(self, rules: list[tuple[str, list[Answer]]] | None = None) -> None:
        super().__init__()
        self.rules = [(re.compile(pattern, re.S), list(answers)) for pattern, answers in rules or []]
        self.queries: list[str] = []
        self.log_lines: list[str] = []

    def sql(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        self.queries.append(query)
        for pattern, answers in self.rules:
            if pattern.search(query):
                answer = answers.pop(0) if len(answers) > 1 else answers[0]
                if isinstance(answer, Exception):
                    raise answer
                return answer
        return []

    def grep_logs(self, name: str, pattern: str, lines: int = 1000) -> list[str]:
        regex = re.compile(pattern, re.IGNORECASE)
        return [line for line in self.log_lines if regex.search(line)]


FULL = 'FATAL:  remaining connection slots are reserved for non-replication superuser connections'


def test_both_of_postgresql_full_messages_are_refusals() -> None:
    assert is_refusal(psycopg.OperationalError(f"connection failed: {FULL}"))
    assert is_refusal(psycopg.OperationalError("FATAL:  sorry, too many clients already"))
    assert not is_refusal(psycopg.OperationalError("password authentication failed for user \"aarya\""))


def test_the_limit_of_an_app_role_leaves_the_superuser_slots_out() -> None:
    figures = ConnectionFigures(total=44, client_backends=37, max_connections=40, superuser_reserved=3, holders=30)
    assert figures.app_limit == 37 and figures.at_limit
    assert not ConnectionFigures(44, 36, 40, 3, 30).at_limit


def test_admin_sql_retries_a_full_server_and_gives_up_on_other_errors() -> None:
    stack = ScriptedDriver([("SELECT 1", [psycopg.OperationalError(FULL), [(1,)]])])
    assert admin_sql(stack, "SELECT 1") == [(1,)]
    broken = ScriptedDriver([("SELECT 1", [psycopg.OperationalError("server closed the connection")])])
    with pytest.raises(psycopg.OperationalError, match="server closed"):
        admin_sql(broken, "SELECT 1")


def test_lock_waits_name_their_blockers_and_the_signal_says_so() -> None:
    stack = ScriptedDriver([("wait_event_type = 'Lock'", [[(11, "commerce", "transactionid", [7], 1.5, "INSERT")]])])
    assert lock_waits(stack)[0].blocked_by == (7,)
    seen = queries_wait_on_locks(stack)()
    assert seen is not None and "blocked by pids [7]" in seen
    assert queries_wait_on_locks(ScriptedDriver())() is None


def test_new_log_lines_ignores_what_was_already_there() -> None:
    stack = ScriptedDriver()
    stack.log_lines = ["old: pool timeout"]
    signal = new_log_lines(stack, "commerce", "timeout|timed out")
    assert signal() is None
    stack.log_lines.append("new: statement timeout")
    assert "1 new lines" in (signal() or "")


def test_all_of_needs_every_signal() -> None:
    assert all_of(lambda: "a", lambda: None)() is None
    assert all_of(lambda: "a", lambda: "b")() == "a | b"


def test_terminate_blockers_waits_for_a_waiter_then_terminates_its_blocker() -> None:
    stack = ScriptedDriver([
        ("wait_event_type = 'Lock'", [[], [(11, "commerce", "transactionid", [7, 8], 0.5, "INSERT")]]),
        ("pg_terminate_backend", [[(7,), (8,)]]),
    ])
    assert terminate_blockers(stack, timeout_s=2) == [7, 8]
    assert terminate_blockers(ScriptedDriver(), timeout_s=0.2) == []


class Recorded:
    """A fault that records its calls and lands after `lands_after` polls."""

    def __init__(self, name: str, calls: list[str], lands_after: int = 0,
                 heal: Callable[[], None] | None = None) -> None:
        self.name, self.calls, self.polls, self.lands_after = name, calls, 0, lands_after
        self._heal = heal

    def inject(self) -> None:
        self.calls.append(f"inject {self.name}")

    def landed(self) -> Evidence | None:
        self.polls += 1
        return Evidence(f"{self.name} landed", {"n": self.polls}) if self.polls > self.lands_after else None

    def heal(self) -> None:
        self.calls.append(f"heal {self.name}")
        if self._heal:
            self._heal()


def test_together_lands_when_every_part_has_and_heals_in_reverse() -> None:
    calls: list[str] = []
    first, second = Recorded("a", calls), Recorded("b", calls, lands_after=2)
    with applied(Together(first, second), registry=HealRegistry(), landed_timeout_s=5) as evidence:
        assert evidence.summary == "a landed; b landed"
        assert [part["fault"] for part in evidence.facts["parts"]] == ["a", "b"]
        assert first.polls == 1  # a landed part is not polled again
    assert calls == ["inject a", "inject b", "heal b", "heal a"]


def test_together_heals_every_part_even_when_one_heal_fails() -> None:
    calls: list[str] = []

    def boom() -> None:
        raise RuntimeError("boom")

    together = Together(Recorded("a", calls), Recorded("b", calls, heal=boom))
    with pytest.raises(FaultError, match="b: RuntimeError: boom"):
        together.heal()
    assert calls == ["heal b", "heal a"]
