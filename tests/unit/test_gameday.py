"""`aarya-chaos gameday`: choosing the scenario, the pytest arguments, the live view's figures, the report
fallback. No stack here: the runs themselves are in tests/integration/test_gameday.py."""

from __future__ import annotations

import io
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from rich.console import Console

from aarya_chaos import gameday
from aarya_chaos import gameday_plugin as plugin
from aarya_chaos import gameday_view
from fixtures.scenario import Targets
from load.history import HistoryWriter
from stack.drivers.fake import FakeDriver

SCENARIOS = gameday.scenarios_dir()


def known() -> list[gameday.KnownScenario]:
    return gameday.discover()


def test_discover_reads_tests_and_their_runbook_ids() -> None:
    found = {s.test: s for s in known()}
    commerce = found["test_commerce_unavailable"]
    assert (commerce.runbook_id, commerce.name, commerce.control) == ("3.2", "Commerce service unavailable", False)
    assert commerce.file == SCENARIOS / "test_commerce_unavailable.py"
    assert found["test_commerce_unavailable_control_without_restart"].control
    assert found["test_postgres_crash"].runbook_id == "1.1"


def test_discover_skips_files_that_do_not_parse(tmp_path: Path) -> None:
    (tmp_path / "test_ok.py").write_text('def test_a(chaos):\n    chaos.start("9.9", "Nine", None)\n')
    (tmp_path / "test_broken.py").write_text("def test_b(:\n")
    assert [(s.test, s.runbook_id, s.name) for s in gameday.discover(tmp_path)] == [("test_a", "9.9", "Nine")]


@pytest.mark.parametrize("query, test", [
    ("test_commerce_unavailable", "test_commerce_unavailable"),
    ("commerce_unavailable", "test_commerce_unavailable"),
    ("3.2", "test_commerce_unavailable"),
    ("1.1", "test_postgres_crash"),
    ("postgres_crash", "test_postgres_crash"),
    ("Commerce service unavailable", "test_commerce_unavailable"),
    ("redis_connection", "test_redis_connection_failure"),
    ("test_postgres_crash_control_without_restart", "test_postgres_crash_control_without_restart"),
])
def test_resolve(query: str, test: str) -> None:
    target, candidates = gameday.resolve(query, known())
    assert target is not None and target.test == test and candidates == []


def test_resolve_unknown_and_ambiguous() -> None:
    assert gameday.resolve("no_such_scenario", known()) == (None, [])
    fake = [gameday.KnownScenario("test_a_one", Path("x.py"), "1.1", "A", False),
            gameday.KnownScenario("test_a_two", Path("x.py"), "1.1", "B", False)]
    target, candidates = gameday.resolve("1.1", fake)
    assert target is None and [c.test for c in candidates] == ["test_a_one", "test_a_two"]
    target, candidates = gameday.resolve("a_", fake)
    assert target is None and len(candidates) == 2


def test_unknown_scenario_lists_the_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert gameday.main(["no_such_scenario", "--auto"]) == 2
    err = capsys.readouterr().err
    assert "unknown scenario 'no_such_scenario'" in err
    for name in ("postgres_crash", "redis_connection_failure", "commerce_unavailable"):
        assert name in err
    assert "control_without_restart" not in err  # controls are listed by --list


def test_no_scenario_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert gameday.main([]) == 2
    assert "name a scenario" in capsys.readouterr().err


def test_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert gameday.main(["--list"]) == 0
    out = capsys.readouterr().out
    assert "commerce_unavailable" in out and "negative control" in out


def test_k_expression_selects_exactly_one_test() -> None:
    scenarios = known()
    target, _ = gameday.resolve("commerce_unavailable", scenarios)
    assert target is not None
    assert gameday.k_expression(target, scenarios) == \
        "test_commerce_unavailable and not test_commerce_unavailable_control_without_restart"


def test_pytest_arguments() -> None:
    scenarios = known()
    target, _ = gameday.resolve("3.2", scenarios)
    assert target is not None
    args = gameday.pytest_arguments(target, scenarios, auto=True, users=3, config=Path("/tmp/x.toml"),
                                    extra=["--reports-dir", "/tmp/r"], reports_dir=Path("reports/gameday/t"))
    assert args[0] == str(SCENARIOS / "test_commerce_unavailable.py")
    assert args[1:3] == ["-k", gameday.k_expression(target, scenarios)]
    for expected in (["-s"], ["-p", "aarya_chaos.gameday_plugin"], ["--users", "3"], ["--gameday-auto"],
                     ["--stack-config", "/tmp/x.toml"]):
        assert any(args[i:i + len(expected)] == expected for i in range(len(args)))
    assert args[-2:] == ["--reports-dir", "/tmp/r"]  # passed through last: it wins over the default
    interactive = gameday.pytest_arguments(target, scenarios, auto=False, users=8, config=None, extra=[],
                                           reports_dir=Path("r"))
    assert "--gameday-auto" not in interactive and "--scenario-timeout" in interactive


# -- the live view's figures ------------------------------------------------------------------------


def test_history_tail_follows_appended_records(tmp_path: Path) -> None:
    load = HistoryWriter(tmp_path / "load-1.jsonl", process="1:1")
    scenario = HistoryWriter(tmp_path / "scenario.jsonl", process="scenario")
    tail = gameday_view.HistoryTail(tmp_path)
    for latency_ms, outcome in ((10, "ok"), (20, "ok"), (30, "ok"), (400, "fail")):
        op = load.invoke("browse")
        load._starts[op] -= latency_ms / 1000
        load.complete(op, "browse", outcome, status=200 if outcome == "ok" else 502)  # type: ignore[arg-type]
    hung = load.invoke("checkout")
    load._starts[hung] -= 5
    probe = scenario.invoke("health:commerce")
    scenario.complete(probe, "health:commerce", "fail", status=503)
    scenario.event("inject", {"fault": "kill commerce"})
    tail.poll()
    completed, ok, p95 = tail.load_window(time.monotonic())
    assert (completed, ok) == (4, 3) and p95 is not None and p95 >= 400
    assert tail.probes == {"commerce": ("fail", 503)}
    assert [e.f for e in tail.events] == ["inject"]
    # the hung invoke was written with the current clock: not yet older than 2 s
    assert tail.in_flight(time.monotonic() + 3) == 1
    scenario.event("detected", {"signal": "curl"})
    tail.poll()
    assert [e.f for e in tail.events] == ["inject", "detected"]
    load.close()
    scenario.close()


def fake_run(tmp_path: Path) -> Any:
    driver = FakeDriver()
    driver.running["commerce"] = False
    return SimpleNamespace(id="3.2", name="Commerce service unavailable", control=None, stack=driver,
                           history_dir=tmp_path, targets=Targets(mttd_s=15, rto_s=60),
                           timeline=SimpleNamespace(injected=None, detected=None))


def test_live_view_renders_phase_load_components_and_targets(tmp_path: Path) -> None:
    history = HistoryWriter(tmp_path / "scenario.jsonl", process="scenario")
    history.event("steady_state")
    history.event("inject", {"fault": "kill commerce with SIGKILL"})
    history.event("landed", {"evidence": "exit 137"})
    load = HistoryWriter(tmp_path / "load-7.jsonl", process="7:1")
    op = load.invoke("browse")
    load.complete(op, "browse", "ok", status=200)
    out = io.StringIO()
    view = gameday_view.LiveView(fake_run(tmp_path), Console(file=out, width=100))
    view.note("auto: inject: kill commerce with SIGKILL")
    Console(file=out, width=100).print(view.render())
    screen = out.getvalue()
    assert "FAULT ACTIVE" in screen and "100.0%" in screen and "1 requests" in screen
    assert "commerce" in screen and "DOWN" in screen and "MTTD" in screen and "/ 15s" in screen
    assert "landed: exit 137" in screen and "auto: inject" in screen
    history.close()
    load.close()


def test_live_view_survives_errors(tmp_path: Path) -> None:
    run = fake_run(tmp_path)
    run.stack = None  # status() will fail
    text = gameday_view.LiveView(run, Console(file=io.StringIO())).render()
    assert "live view error" in str(text)


# -- hooks, state and the report fallback -------------------------------------------------------------


def test_closing_lines() -> None:
    state = plugin.GameDayState(records=[{"id": "3.2", "verdict": "pass"}], incidents=[Path("/r/i.md")])
    assert state.closing_lines() == ["game day over: 3.2 pass", "incident report: /r/i.md"]
    state.aborted, state.aborted_at = "interrupted", "Ctrl-C"
    assert "aborted: every fault healed" in state.closing_lines()[0]
    state.heal_errors = ["could not heal kill commerce: boom"]
    assert "could not heal" in state.closing_lines()[0] and "aarya-chaos heal" in state.closing_lines()[0]


def test_minimal_incident_report(tmp_path: Path) -> None:
    record = {"id": "3.2", "name": "Commerce service unavailable", "verdict": "aborted",
              "reason": "game day aborted (Ctrl-C)",
              "timeline": {"injected": "2026-11-28T16:22:19.149+00:00", "detected": "2026-11-28T16:22:19.426+00:00",
                           "recovery_started": None, "restored": None},
              "evidence": {"fault": "kill commerce with SIGKILL", "summary": "exit 137"},
              "detection": {"signal": "curl -f", "seen": "refused"}, "checks": []}
    path = plugin.write_minimal_incident(record, tmp_path)
    text = path.read_text()
    assert path.name == "3.2-Commerce_service_unavailable.md"
    assert "**Incident ID:** INC-20261128-3.2" in text and "**Status:** Identified" in text
    assert "| 2026-11-28T16:22:19.426+00:00 | Incident detected |" in text and "Ctrl-C" in text


def test_read_yes_no_from_a_terminal() -> None:
    import os
    import termios
    import threading

    controller, terminal = os.openpty()

    def answer(keys: bytes) -> bool:
        # keys typed before the question are flushed: type once it is asked
        typist = threading.Timer(0.3, os.write, (controller, keys))
        typist.start()
        try:
            return gameday_view.read_yes_no(terminal)
        finally:
            typist.join()

    try:
        before = termios.tcgetattr(terminal)
        assert answer(b"xqn") is False  # other keys are ignored; n = no
        assert answer(b"\r") is True  # Enter = yes (the default)
        assert answer(b"Y") is True
        assert termios.tcgetattr(terminal) == before  # echo and line mode restored
    finally:
        os.close(controller)
        os.close(terminal)


def test_other_keys_at_a_question_go_to_the_caller() -> None:
    """`d` while the recovery question waits is the room's detection; the question still waits for y/n."""
    import os
    import threading

    controller, terminal = os.openpty()
    seen: list[bytes] = []
    typist = threading.Timer(0.3, os.write, (controller, b"dxy"))
    typist.start()
    try:
        assert gameday_view.read_yes_no(terminal, on_other_key=seen.append) is True
        assert seen == [b"d", b"x"]
    finally:
        typist.join()
        os.close(controller)
        os.close(terminal)


def test_the_d_key_in_its_own_thread_calls_once_and_gives_the_terminal_back() -> None:
    import os
    import termios

    controller, terminal = os.openpty()
    calls: list[int] = []
    try:
        before = termios.tcgetattr(terminal)
        key = gameday_view.DetectedKey(terminal, lambda: calls.append(1))
        key.start()
        os.write(controller, b"xd")
        deadline = time.monotonic() + 5
        while not calls and time.monotonic() < deadline:
            time.sleep(0.05)
        key.stop()
        assert calls == [1]
        assert termios.tcgetattr(terminal) == before
    finally:
        os.close(controller)
        os.close(terminal)


def test_the_view_asks_at_its_top_and_shows_the_rooms_detection(tmp_path: Path) -> None:
    history = HistoryWriter(tmp_path / "scenario.jsonl", process="scenario")
    history.event("inject", {"fault": "kill commerce with SIGKILL"})
    view = gameday_view.LiveView(fake_run(tmp_path), Console(file=io.StringIO(), width=100))
    view.listening, view.prompt = True, ("Apply the recovery now?", "recover: restart commerce")
    out = io.StringIO()
    Console(file=out, width=100).print(view.render())
    lines = out.getvalue().splitlines()
    assert "Apply the recovery now?" in lines[1] and "press d when you have detected" in lines[3]
    history.event("human_detected", {"human_mttd_s": 4.2})
    out = io.StringIO()
    Console(file=out, width=100).print(view.render())
    assert "detected by the room after 4.2s" in out.getvalue() and "press d" not in out.getvalue()
    history.close()
