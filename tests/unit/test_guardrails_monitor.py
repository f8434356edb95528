"""fixtures/guardrails.py: the live history read as it is written, a heal that runs once, the monitor's loop,
and whole runs on the fake driver (inner pytest sessions, as tests/unit/test_needs_marker.py's): a guardrail
that trips heals the fault at once, skips the recovery and ends the run `aborted` with its reason; a
control that expects the trip records `pass`; a run whose guardrail never trips is judged as before."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from checks.guardrails import SuccessFloor, Trip
from fixtures.faults.base import Evidence
from fixtures.guardrails import GuardrailMonitor, HealOnce, HistoryTail
from load.history import HistoryWriter, Op
from tests.helpers.histories import call, history

pytest_plugins = ["pytester"]


class CountingFault:
    name = "counting fault"

    def __init__(self) -> None:
        self.heals = 0

    def inject(self) -> None:
        pass

    def landed(self) -> Evidence | None:
        return Evidence("it landed")

    def heal(self) -> None:
        time.sleep(0.05)
        self.heals += 1


def test_the_tail_reads_whole_lines_only_and_each_once(tmp_path: Path) -> None:
    writer = HistoryWriter(tmp_path / "load-1.jsonl", process="w")
    tail = HistoryTail(tmp_path)
    op = writer.invoke("checkout")
    assert [o.outcome for o in tail.ops()] == ["info"]  # in flight: never completed yet
    writer.complete(op, "checkout", "ok")
    with (tmp_path / "load-1.jsonl").open("a") as handle:
        handle.write('{"type":"invoke","f":"chec')  # a writer half-way through its line
    assert [(o.f, o.outcome) for o in tail.ops()] == [("checkout", "ok")]
    with (tmp_path / "load-1.jsonl").open("a") as handle:
        handle.write('kout","time":1.0,"mono":1.0,"id":"x-1"}\n')
    with HistoryWriter(tmp_path / "load-2.jsonl", process="v") as later:  # a file that appeared later
        later.event("inject")
    assert sorted(o.id for o in tail.ops()) == ["w-1", "x-1"]
    writer.close()


def test_a_fault_heals_once_whoever_asks_and_however_many_at_once() -> None:
    fault = CountingFault()
    once = HealOnce(fault)
    threads = [threading.Thread(target=once.heal) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    once.heal()
    assert fault.heals == 1 and once.healed and once.name == fault.name


def failing_load(since: float) -> list[Op]:
    return history([r for i in range(40) for r in call("checkout", since + i * 0.05, "fail")])


def test_the_monitor_trips_once_and_ends() -> None:
    tripped: list[Trip] = []
    ops = failing_load(100.0)
    clock = iter(100.0 + i * 0.1 for i in range(1000))
    monitor = GuardrailMonitor(lambda: ops, [SuccessFloor(0.95, 0.5)], 100.0, tripped.append, interval_s=0.001,
                               clock=lambda: next(clock))
    monitor.start()
    monitor._thread.join(timeout=5)
    assert not monitor._thread.is_alive()
    assert len(tripped) == 1 and monitor.trip is tripped[0] and tripped[0].when == pytest.approx(100.5)


def test_the_monitor_stops_cleanly_and_its_loop_is_bounded() -> None:
    stopped = GuardrailMonitor(lambda: [], [SuccessFloor(0.95, 0.5)], time.monotonic(), lambda trip: None,
                               interval_s=0.01)
    stopped.start()
    stopped.stop()
    assert not stopped._thread.is_alive() and stopped.trip is None
    bounded = GuardrailMonitor(lambda: [], [SuccessFloor(0.95, 0.5)], time.monotonic(), lambda trip: None,
                               interval_s=0.01, max_s=0.1)
    bounded.start()
    bounded._thread.join(timeout=5)
    assert not bounded._thread.is_alive()


def test_an_unreadable_history_is_read_again_at_the_next_tick() -> None:
    reads = iter([OSError("gone"), failing_load(100.0)])

    def read() -> list[Op]:
        value = next(reads)
        if isinstance(value, Exception):
            raise value
        return value

    tripped: list[Trip] = []
    monitor = GuardrailMonitor(read, [SuccessFloor(0.95, 0.5)], 100.0, tripped.append, interval_s=0.001,
                               clock=lambda: 102.0)
    monitor.start()
    monitor._thread.join(timeout=5)
    assert monitor.errors == 1 and len(tripped) == 1


# ---- whole runs on the fake driver --------------------------------------------------------------------

ENGINE = ("-p", "no:locust", "-p", "no:cacheprovider", "-p", "fixtures.plugin")
CONFTEST = """
import threading
import time

import pytest

from fixtures.faults.base import Evidence
from fixtures.scenario import ScenarioRun, Targets
from load.history import HistoryWriter
from stack.drivers.fake import FakeDriver


@pytest.fixture(scope="session")
def stack():
    yield FakeDriver()


class Fault:
    name = "fake outage"

    def __init__(self):
        self.heals = []

    def inject(self):
        pass

    def landed(self):
        return Evidence("the fake outage landed")

    def heal(self):
        self.heals.append(time.monotonic())


class FailingLoad:
    "Every checkout fails, one each 20 ms, from a thread: what the monitor reads while it is written."

    def __init__(self, run, outcome="fail"):
        self.writer = HistoryWriter(run.history_dir / "load-1.jsonl", process="w")
        self.outcome = outcome
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.wait(0.02):
            op = self.writer.invoke("checkout")
            self.writer.complete(op, "checkout", self.outcome)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        self.writer.close()


@pytest.fixture
def guarded(chaos, tmp_path):
    def make(control=None):
        run = ScenarioRun("9.9", "guarded", Targets(), chaos.stack, tmp_path / "out", chaos.registry,
                          control=control)
        run.prober.endpoints, run.prober.conditions = {}, {}  # nothing to probe on the fake: the load is the signal
        run.prober.start()
        chaos.run = run
        return run
    return make
"""


def inner(pytester: pytest.Pytester, tests: str) -> tuple[pytest.RunResult, dict[str, dict[str, Any]]]:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_guarded=tests)
    reports = pytester.path / "reports"
    result = pytester.runpytest_inprocess(*ENGINE, "--reports-dir", str(reports))
    summary = reports / "summary.json"
    records = json.loads(summary.read_text())["scenarios"] if summary.exists() else []
    return result, {r["control"] or "plain": r for r in records}


def test_a_tripped_guardrail_heals_at_once_skips_the_recovery_and_aborts(pytester: pytest.Pytester) -> None:
    result, records = inner(pytester, """
        from checks.guardrails import SuccessFloor
        from conftest import FailingLoad, Fault

        def test_guarded(guarded):
            run = guarded()
            run.guardrails = [SuccessFloor(0.95, 0.5, min_ops=3)]
            fault = Fault()
            recovered = []
            with FailingLoad(run), run.inject(fault):
                run.detect("shows at once", lambda: "seen", timeout_s=10)
                run.detect("never shows", lambda: None, timeout_s=10)
                run.recover("restart it", lambda: recovered.append(1))
            raise AssertionError("not reached")
    """)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*ScenarioAborted: aborted: success floor 95% over 0.5 s tripped at +0.*"])
    record = records["plain"]
    assert record["verdict"] == "aborted"
    assert record["reason"].startswith("aborted: success floor 95% over 0.5 s tripped at +0.")
    tripped = record["guardrails"]["tripped"]
    assert record["guardrails"]["watched"] == ["success floor 95% over 0.5 s"]
    assert tripped["guardrail"] == "success floor 95% over 0.5 s" and tripped["heal_error"] is None
    assert 0.5 <= tripped["after_injection_s"] < 1.5 and 0 <= tripped["heal_s_after_trip"] < 0.5
    assert record["timeline"]["healed"] == tripped["healed"]
    assert record["timeline"]["recovery_started"] is None and record["checks"] == []
    assert record["windows"]["fault"]["fail"] > 0  # the fault window's figures are in the record, and the MTTD
    assert 0 <= record["measured"]["mttd_s"] < 0.5


def test_a_control_expecting_the_trip_passes_and_a_quiet_run_is_judged_as_before(pytester: pytest.Pytester) -> None:
    result, records = inner(pytester, """
        import pytest
        from checks.guardrails import SuccessFloor
        from conftest import FailingLoad, Fault
        from fixtures.guardrails import ScenarioAborted
        from stack.waits import wait_until

        def test_control(guarded):
            run = guarded(control="guardrail trips")
            run.guardrails = [SuccessFloor(0.95, 0.5, min_ops=3)]
            fault = Fault()
            with pytest.raises(ScenarioAborted), FailingLoad(run), run.inject(fault):
                wait_until("guardrail", "monitor", lambda: run.guard.abort, timeout_s=10)
            assert len(fault.heals) == 1 and run.guard.abort.healed >= fault.heals[0]

        def test_quiet(guarded):
            run = guarded()
            run.guardrails = [SuccessFloor(0.95, 0.5, min_ops=3)]
            with FailingLoad(run, outcome="ok"), run.inject(Fault()):
                wait_until("a few windows", "monitor", lambda: len(run.ops()) > 60, timeout_s=10)
            assert run.guard.abort is None
    """)
    result.assert_outcomes(passed=2)
    assert records["guardrail trips"]["verdict"] == "pass"
    assert records["guardrail trips"]["reason"].startswith("control guardrail trips: aborted: success floor")
    assert records["plain"]["verdict"] == "pass" and records["plain"]["guardrails"]["tripped"] is None
