"""Scenario files (scenarios/as_data): bad files get every problem with its line before anything runs, the
shipped files compile, and a compiled file plays its steps on the engine in the runbook's order."""

from __future__ import annotations

import json
import time
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from checks.verdict import Check
from scenarios.as_data.play import play
from scenarios.as_data.source import ScenarioFileError
from scenarios.as_data.spec import check_against_stack, compile_scenario, held_for
from stack.drivers.fake import FakeDriver

DATA = Path(__file__).resolve().parents[2] / "scenarios" / "data"

GOOD = """\
id: "3.2"
name: Commerce down
targets: {mttd_s: 15, rto_s: 60}
prepare:
  - remember_pid: {component: commerce, as: pid}
inject:
  process_kill: {component: commerce, signal: SIGKILL}
detect:
  name: commerce health fails
  signal:
    health_fails: {component: commerce}
recover:
  procedure: docker-compose restart commerce
  steps:
    - restart: {component: commerce}
judge_recovery:
  - not_restarted: {component: commerce, pid: $pid}
verify:
  - failures_were_defined: {statuses: [502, 503]}
controls:
  - name: without_restart
    skip_recovery: true
    must_fail: [restored_within_rto_target]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(text)
    return path


def problems(tmp_path: Path, text: str) -> list[tuple[int, str]]:
    with pytest.raises(ScenarioFileError) as caught:
        compile_scenario(write(tmp_path, text))
    assert all(str(caught.value.path) in line for line in str(caught.value).splitlines())
    return caught.value.problems


def test_a_good_file_compiles(tmp_path: Path) -> None:
    spec = compile_scenario(write(tmp_path, GOOD))
    assert (spec.id, spec.targets.mttd_s, spec.targets.rto_s) == ("3.2", 15, 60)
    assert [c.block.name for c in spec.inject] == ["process_kill"]
    assert spec.controls[0].label == "skip-recovery" and spec.controls[0].restore_timeout_s == 15.0


EXAMPLES = DATA.parents[1] / "examples" / "second-platform" / "scenarios"


@pytest.mark.parametrize("path", sorted(DATA.glob("*.yaml")) + sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.stem)
def test_the_shipped_files_compile(path: Path) -> None:
    spec = compile_scenario(path)
    assert spec.controls and (spec.twin or path.parent == EXAMPLES)


def test_an_unknown_fault_names_its_line_and_the_nearest_block(tmp_path: Path) -> None:
    found = problems(tmp_path, GOOD.replace("process_kill:", "proces_kill:"))
    assert found == [(7, "unknown fault 'proces_kill' (known: link_down, link_toxic, process_kill, process_pause, "
                         "row_lock_blocker); did you mean 'process_kill'?")]


def test_every_problem_is_reported_at_once_with_its_line(tmp_path: Path) -> None:
    text = (GOOD.replace("health_fails: {component: commerce}", "health_fails: {component: commerce, paht: /x}")
            .replace("statuses: [502, 503]", "statuses: fast")
            .replace("pid: $pid}", "pid: $pdi}")
            .replace("mttd_s: 15", "mtd_s: 15"))
    found = dict(problems(tmp_path, text))
    assert "unknown key 'mtd_s'; did you mean 'mttd_s'?" in found[3]
    assert "unknown parameter 'paht' (it takes: component, path); did you mean 'path'?" in found[11]
    assert "names '$pdi', which no earlier block made" in found[17]
    assert "statuses must be list[int], not 'fast'" in found[19]


def test_missing_sections_and_unknown_keys(tmp_path: Path) -> None:
    found = problems(tmp_path, 'id: "1"\nname: x\ntargts: {}\n')
    assert (3, "unknown key 'targts'; did you mean 'targets'?") in found
    assert {(1, f"missing key {key!r}") for key in ("targets", "inject", "detect", "recover")} <= set(found)


def test_a_missing_parameter_and_a_control_that_breaks_nothing(tmp_path: Path) -> None:
    text = GOOD.replace("process_kill: {component: commerce, signal: SIGKILL}", "process_kill: {}") \
        .replace("    skip_recovery: true\n", "")
    found = problems(tmp_path, text)
    assert (7, "fault 'process_kill': missing parameter 'component'") in found
    assert any("breaks nothing" in text for _, text in found)


def test_a_late_responder_control_holds_the_fault_longer(tmp_path: Path) -> None:
    held = GOOD.replace("recover:\n", "after_detect:\n  - hold_fault: {seconds: 3}\nrecover:\n").replace(
        "    skip_recovery: true\n", "    label: late responder\n    hold_fault_s: 15\n")
    spec = compile_scenario(write(tmp_path, held))
    control = spec.controls[0]
    assert (control.label, control.hold_fault_s, control.skip_recovery) == ("late responder", 15.0, False)
    assert [c.params for c in held_for(spec, control).after_detect] == [{"seconds": 15.0}]
    assert [c.params for c in held_for(spec, None).after_detect] == [{"seconds": 3}]


def test_a_hold_control_needs_a_hold_step_and_a_positive_number(tmp_path: Path) -> None:
    no_step = GOOD.replace("    skip_recovery: true\n", "    label: late\n    hold_fault_s: 15\n")
    assert any("needs a hold_fault step" in text for _, text in problems(tmp_path, no_step))
    bad = no_step.replace("hold_fault_s: 15", "hold_fault_s: -1")
    found = problems(tmp_path, bad)
    assert any("hold_fault_s must be a number > 0, not -1" in text for _, text in found)
    assert any("breaks nothing" in text for _, text in found)


def test_invalid_yaml_names_its_line(tmp_path: Path) -> None:
    assert problems(tmp_path, 'id: "1"\nname: [unclosed\ntargets: {}\n')[0][0] in (2, 3, 4)
    assert problems(tmp_path, "id: 1\nid: 2\n") == [(2, "not valid YAML: duplicate key 'id'")]
    assert problems(tmp_path, "- a list\n") == [(1, "a scenario file is a mapping (id:, name:, inject:, ...)")]


class RecordingRun:
    """What `play` calls on a ScenarioRun, recorded in order, over the fake driver."""

    def __init__(self) -> None:
        self.stack = FakeDriver()
        self.target = None
        self.calls: list[str] = []
        self.notes: list[str] = []
        self.judged: list[Check] = []
        self.verified: list[Check] = []

    def steady_state(self) -> None:
        self.calls.append("steady_state")

    @contextmanager
    def inject(self, fault: Any) -> Any:
        self.calls.append(f"inject {fault.name}")
        fault.inject()
        yield None
        self.calls.append("heal")

    def detect(self, name: str, signal: Any, timeout_s: float | None = None) -> None:
        self.calls.append(f"detect {name}")

    def recover(self, procedure: str, action: Any, removes_fault: bool = False) -> None:
        self.calls.append(f"recover {procedure}")
        action()

    def judge_recovery(self, *claims: Any) -> None:
        self.calls.append("judge_recovery")
        self.judged += [claim(self) for claim in claims]

    def verify(self, *claims: Any) -> None:
        self.calls.append("verify")
        self.verified += [claim(self) for claim in claims]


def test_play_follows_the_runbook_order_and_judges_before_the_heal(tmp_path: Path) -> None:
    text = GOOD.replace("verify:\n  - failures_were_defined: {statuses: [502, 503]}\n", "")
    run = RecordingRun()
    play(compile_scenario(write(tmp_path, text)), run)  # type: ignore[arg-type]
    assert run.calls == ["steady_state", "inject kill commerce with SIGKILL", "detect commerce health fails",
                         "recover docker-compose restart commerce", "judge_recovery", "heal", "verify"]
    assert ("kill", "commerce") in run.stack.calls and ("restart", "commerce") in run.stack.calls
    # the restart gave commerce a new pid: the claim the file wrote sees it, by the value `as: pid` named
    assert [(c.name, c.passed) for c in run.judged] == [("commerce_not_restarted", False)]


def test_a_runbook_command_step_runs_through_the_driver(tmp_path: Path) -> None:
    text = GOOD.replace("    - restart: {component: commerce}\n",
                        "    - command: {component: postgres, command: [\"true\"]}\n").split("verify:")[0]
    run = RecordingRun()
    play(compile_scenario(write(tmp_path, text)), run)  # type: ignore[arg-type]
    assert ("exec", "postgres: true") in run.stack.calls
    # commerce was killed and nothing restarted it: the claim sees no pid
    assert [(c.name, c.passed, c.measured) for c in run.judged] == [("commerce_not_restarted", False, None)]


def test_a_component_or_edge_the_stack_lacks_is_named_before_anything_runs(tmp_path: Path) -> None:
    spec = compile_scenario(write(tmp_path, GOOD.replace("process_kill: {component: commerce",
                                                         "process_kill: {component: comerce")))
    stack = FakeDriver()
    with pytest.raises(ScenarioFileError) as caught:
        check_against_stack(spec, stack.component_names(), [e.name for e in stack.config.edges()])
    assert caught.value.problems == [(7, f"process_kill: no component 'comerce' on this stack (components: "
                                         f"{', '.join(sorted(stack.component_names()))})")]
    assert stack.calls == []


def test_new_scenario_writes_a_skeleton_that_compiles_and_never_overwrites(tmp_path: Path,
                                                                           capsys: pytest.CaptureFixture[str]) -> None:
    from aarya_chaos import cli

    path = tmp_path / "mine.yaml"
    assert cli.main(["new-scenario", str(path), "--id", "9.9", "--name", "Mine"]) == 0
    spec = compile_scenario(path)
    assert (spec.id, spec.name, [c.name for c in spec.controls]) == ("9.9", "Mine", ["without_restart"])
    written = path.read_text()
    assert cli.main(["new-scenario", str(path)]) == 2 and path.read_text() == written
    assert "never overwrites" in capsys.readouterr().err
    path.write_text(written.replace("process_kill:", "proces_kill:"))
    assert cli.main(["new-scenario", "--check", str(path)]) == 2
    line = written.splitlines().index("  process_kill: {component: commerce, signal: SIGKILL}") + 1
    assert f"{path}:{line}: unknown fault 'proces_kill'" in capsys.readouterr().err.replace("\n", "")
    assert cli.main(["new-scenario", "--blocks"]) == 0
    assert "process_kill(component, signal?)" in capsys.readouterr().out


class _Answers(BaseHTTPRequestHandler):
    """POST /orders: 201 when the Authorization header is the token, else 401; GET /healthcheck/: 200."""

    seen: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Answers.seen.append(body)
        self.send_response(201 if self.headers.get("Authorization") == "Token t0k" else 401)
        self.end_headers()

    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200 if self.path == "/healthcheck/" else 500)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_request_and_health_claims_reach_the_targets_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from scenarios.as_data.blocks import health_answers, request_succeeds
    from stack.target.profile import Component, Journeys

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host = f"http://127.0.0.1:{server.server_address[1]}"
    run = RecordingRun()
    run.target = SimpleNamespace(journeys=Journeys(tmp_path / "l.py", host=host),  # type: ignore[assignment]
                                 components={"shop": Component("shop", "service", health=f"{host}/healthcheck/")})
    monkeypatch.setenv("SHOP_TOKEN", "Token t0k")
    try:
        ok = request_succeeds(run, {}, name="order_works_after_recovery", method="POST", path="/orders",  # type: ignore[arg-type]
                              accept=[201], json={"code": "R{unique}"}, headers_env={"Authorization": "SHOP_TOKEN"})
        monkeypatch.setenv("SHOP_TOKEN", "wrong")
        refused = request_succeeds(run, {}, name="order_works_after_recovery", method="POST", path="/orders",  # type: ignore[arg-type]
                                   accept=[201], json={"code": "R{unique}"}, headers_env={"Authorization": "SHOP_TOKEN"})
        healthy = health_answers(run, {}, component="shop")  # type: ignore[arg-type]
        sick = health_answers(run, {}, component="shop", path="/elsewhere")  # type: ignore[arg-type]
    finally:
        server.shutdown()
        server.server_close()
    assert (ok.passed, ok.measured, refused.passed, refused.measured) == (True, 201, False, 401)
    assert [len(b["code"]) for b in _Answers.seen] == [11, 11] and _Answers.seen[0] != _Answers.seen[1]
    assert (healthy.name, healthy.passed, sick.passed, sick.measured) == ("shop_healthy_after_recovery", True, False, 500)


def test_writes_failed_during_the_fault_fails_when_the_fault_bit_nothing() -> None:
    """A fault no write felt (every order in the fault window [10, 25) succeeded) proves nothing."""
    from scenarios.as_data.blocks import writes_failed_during_the_fault
    from tests.helpers.histories import call, calls, every
    from tests.helpers.runs import FakeRun

    felt_nothing = [calls("order", every(10.0, 25.0, 1.0)), call("order", 5.0, "fail")]
    check = writes_failed_during_the_fault(FakeRun(felt_nothing), {}, ops=["order"])  # type: ignore[arg-type]
    assert (check.name, check.passed, check.measured) == ("writes_failed_during_the_fault", False, 0)
    bit = writes_failed_during_the_fault(FakeRun([felt_nothing, call("order", 12.0, "info")]), {},  # type: ignore[arg-type]
                                         ops=["order"])
    assert (bit.passed, bit.measured) == (True, 1)


def test_the_write_probe_records_each_attempt_as_a_health_probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from load.history import HistoryWriter, pair_ops, read_records
    from scenarios.parts.request_probe import RequestProbe
    from stack.target.profile import Journeys

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    history = HistoryWriter(tmp_path / "h.jsonl", process="scenario")
    run = SimpleNamespace(target=SimpleNamespace(journeys=Journeys(tmp_path / "l.py",
                                                                    host=f"http://127.0.0.1:{server.server_address[1]}")),
                          history=history)
    monkeypatch.setenv("SHOP_TOKEN", "Token t0k")
    try:
        with RequestProbe(run, name="order", method="POST", path="orders", accept=[201],  # type: ignore[arg-type]
                          json={"code": "P{unique}"}, headers_env={"Authorization": "SHOP_TOKEN"}, interval_s=0.1):
            deadline = time.monotonic() + 5
            while len(pair_ops(read_records([tmp_path / "h.jsonl"]))) < 3 and time.monotonic() < deadline:
                time.sleep(0.05)
            monkeypatch.setenv("SHOP_TOKEN", "wrong")
            time.sleep(0.5)
    finally:
        server.shutdown()
        server.server_close()
        history.close()
    ops = pair_ops(read_records([tmp_path / "h.jsonl"]))
    assert {op.f for op in ops} == {"health:order"} and all(op.end is not None for op in ops)
    assert {(op.outcome, op.status) for op in ops} == {("ok", 201), ("fail", 401)}
