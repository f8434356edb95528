"""aarya_chaos.bite.runner: the child's command, the classification of literal summary records, a run with a
fake pytest (the project tree unchanged), and the interrupted run's clean-up (Ctrl-C, SIGTERM)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from aarya_chaos.bite import child as child_module
from aarya_chaos.bite import command, runner
from aarya_chaos.bite.catalogue import Edit, Mutant
from aarya_chaos.bite.mutate import MutantPaths
from aarya_chaos.bite.runner import (BiteOptions, Hooks, PytestCall, child_env, classify, cleanup_commands,
                                     pytest_command, run_bite, run_pytest)

NODE = "scenarios/test_fake.py::test_fake"


def check(name: str, passed: bool) -> dict[str, Any]:
    return {"name": name, "passed": passed, "measured": None, "target": None, "detail": ""}


def record(verdict: str, *, control: str | None = None, reason: str = "", checks: Sequence[dict[str, Any]] = (),
           sid: str = "1.2") -> dict[str, Any]:
    return {"id": sid, "name": "Connection pool exhaustion", "control": control, "verdict": verdict,
            "reason": reason, "checks": list(checks)}


def summary(*records: dict[str, Any]) -> dict[str, Any]:
    return {"schema": 1, "run": {"started": "2026-12-03T10:00:00+00:00"}, "scenarios": list(records)}


# ---- the commands ----------------------------------------------------------------------------------------


def test_the_pytest_command_runs_the_catching_tests_on_the_mutant_config() -> None:
    m = Mutant("x", "t", "r", "setting", (NODE, "scenarios/test_b.py::test_b[refused]"), settings={"commerce": {}})
    paths = MutantPaths(Path("/tmp/aarya-chaos/bite/r1/x"))
    assert pytest_command(m, paths, python="/venv/bin/python") == [
        "/venv/bin/python", "-m", "pytest", NODE, "scenarios/test_b.py::test_b[refused]", "--stack", "local",
        "--stack-config", "/tmp/aarya-chaos/bite/r1/x/mutant.toml",
        "--reports-dir", "/tmp/aarya-chaos/bite/r1/x/reports", "-p", "no:cacheprovider", "-q"]


def test_the_child_environment_puts_the_copy_first_and_points_at_its_config() -> None:
    paths = MutantPaths(Path("/w/x"))
    env = child_env(paths, {"PATH": "/bin", "PYTHONPATH": "/work/main", "AARYA_CONFIG": "/mine.toml",
                            "AARYA_RUN_DIR": "/tmp/aarya-chaos/run"})
    assert env == {"PATH": "/bin", "PYTHONPATH": "/w/x/src", "AARYA_CONFIG": "/w/x/mutant.toml",
                   "AARYA_RUN_DIR": "/w/x/run", "AARYA_RUN_KIND": "bite"}


def test_the_cleanup_is_heal_then_down_for_the_mutant_config() -> None:
    assert cleanup_commands(MutantPaths(Path("/w/x")), python="py") == [
        ["py", "-m", "aarya_chaos.cli", "--config", "/w/x/mutant.toml", "heal"],
        ["py", "-m", "aarya_chaos.cli", "--config", "/w/x/mutant.toml", "down"]]


# ---- classification ----------------------------------------------------------------------------------------


def test_a_failed_check_kills_the_mutant_and_names_the_checks() -> None:
    outcome = classify(summary(record("fail", reason="1.2 missed 2 check(s):\n  no_request_hung_during_the_fault",
                                      checks=[check("detected_within_mttd_target", True),
                                              check("no_request_hung_during_the_fault", False),
                                              check("restored_within_rto_target", False)])), 1)
    assert outcome.result == "killed"
    assert outcome.failed_checks == ("no_request_hung_during_the_fault", "restored_within_rto_target")
    assert outcome.reason == "1.2: 1.2 missed 2 check(s): no_request_hung_during_the_fault"


def test_a_failure_beats_an_error_of_another_scenario() -> None:
    outcome = classify(summary(record("error", reason="not steady", sid="3.2"),
                               record("fail", checks=[check("no_phantom_orders", False)], sid="1.1")), 2)
    assert (outcome.result, outcome.failed_checks) == ("killed", ("no_phantom_orders",))


def test_an_error_alone_is_caught_only_as_an_error() -> None:
    outcome = classify(summary(record("error", reason="the stack was not steady before the fault"),
                               record("pass", sid="3.2")), 2)
    assert outcome == runner.Outcome("error", (), "1.2: the stack was not steady before the fault")


def test_a_skip_is_not_verified() -> None:
    outcome = classify(summary(record("skipped", reason="Skipped: the fault needs root")), 1)
    assert (outcome.result, outcome.reason) == ("skipped", "1.2: Skipped: the fault needs root")


def test_every_pass_is_a_survivor_and_controls_do_not_count() -> None:
    outcome = classify(summary(record("pass"), record("fail", control="skip-recovery",
                                                      checks=[check("restored_within_rto_target", False)])), 1)
    assert outcome.result == "survived"


def test_no_summary_or_no_record_is_an_error_with_the_log_tail() -> None:
    missing = classify(None, 1, "ERROR collecting scenarios/test_fake.py")
    assert missing.result == "error" and "no summary.json" in missing.reason and "ERROR collecting" in missing.reason
    empty = classify(summary(), 1, "Interrupted")
    assert empty.result == "error" and "0 of 1 scenario records" in empty.reason
    short = classify(summary(record("pass")), 2)
    assert short.result == "error" and "1 of 2" in short.reason


# ---- a run, with a fake pytest -------------------------------------------------------------------------------


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                          check=True, capture_output=True, text=True).stdout


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A tiny project in a git repo, with an uncommitted change the copy must carry."""
    root = tmp_path / "project"
    for path, text in {"stack/svc.py": "TIMEOUT = 2\nRETRIES = 3\n", "reports/__init__.py": "",
                       "scenarios/test_fake.py": "def test_fake():\n    pass\n"}.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "init")
    (root / "stack/svc.py").write_text("TIMEOUT = 2\nRETRIES = 4\n")  # uncommitted
    return root


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".git" not in p.parts}


def fake_mutant(mid: str, new: str = "TIMEOUT = 30") -> Mutant:
    return Mutant(mid, f"{mid} title", f"{mid} regression", "code", (NODE,), ("no_request_hung_during_the_fault",),
                  edits=(Edit("stack/svc.py", "TIMEOUT = 2", new),))


def options_for(tmp_path: Path, project: Path, **kw: Any) -> BiteOptions:
    return BiteOptions(project=project, reports_dir=tmp_path / "out", work_root=tmp_path / "work", run_id="r1",
                       python=sys.executable, environ={"PATH": os.environ.get("PATH", "")}, **kw)


class FakePytest:
    """Writes the summary a real run would, from what the copy holds; can be told to raise instead."""

    def __init__(self, verdicts: Mapping[str, str], raise_on: str | None = None,
                 raise_with: type[BaseException] = KeyboardInterrupt) -> None:
        self.verdicts, self.raise_on, self.raise_with = verdicts, raise_on, raise_with
        self.calls: list[PytestCall] = []

    def __call__(self, call: PytestCall) -> int | None:
        self.calls.append(call)
        mid = call.cwd.parent.name
        call.log.write_text(f"pytest of {mid}\nsvc: {(call.cwd / 'stack/svc.py').read_text()}")
        run_dir = Path(call.env["AARYA_RUN_DIR"])
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "run.json").write_text("{}")  # the mutant's stack recorded itself
        if mid == self.raise_on:
            if self.raise_with is KeyboardInterrupt:
                raise KeyboardInterrupt
            os.kill(os.getpid(), signal.SIGTERM)  # the handler raises Terminated right here
            time.sleep(5)
        verdict = self.verdicts.get(mid, "pass")
        if verdict == "timeout":
            return None
        if verdict == "crash":  # died without stopping its stack: no summary, run.json left behind
            return 1
        (run_dir / "run.json").unlink()  # a clean stop
        reports = Path(call.argv[call.argv.index("--reports-dir") + 1])
        reports.mkdir(parents=True)
        checks = [check("no_request_hung_during_the_fault", verdict != "fail")]
        (reports / "summary.json").write_text(json.dumps(summary(record(verdict, checks=checks, reason=verdict))))
        return 1 if verdict == "fail" else 0


class Commands:
    """`heal` and `down`: down stops the recorded stack (run.json goes), unless told to fail."""

    def __init__(self, down_fails: bool = False) -> None:
        self.calls: list[list[str]] = []
        self.down_fails = down_fails

    def __call__(self, argv: Sequence[str], cwd: Path, env: Mapping[str, str], log: Path) -> int:
        self.calls.append(list(argv))
        if argv[-1] == "down" and not self.down_fails:
            (Path(env["AARYA_RUN_DIR"]) / "run.json").unlink()
        return 1 if argv[-1] == "down" and self.down_fails else 0


def test_a_run_classifies_each_mutant_and_leaves_the_tree_unchanged(tmp_path: Path, project: Path) -> None:
    before, status = snapshot(project), git(project, "status", "--porcelain")
    fake, commands, lines = FakePytest({"a": "fail", "b": "pass", "c": "timeout", "d": "crash"}), Commands(), []
    mutants = [fake_mutant("a"), fake_mutant("b"), fake_mutant("c"), fake_mutant("d")]
    run = run_bite(mutants, options_for(tmp_path, project), Hooks(fake, commands, lines.append))
    assert [(r.mutant.id, r.result) for r in run.results] == [("a", "killed"), ("b", "survived"), ("c", "error"),
                                                               ("d", "error")]
    assert run.results[0].failed_checks == ("no_request_hung_during_the_fault",)
    assert "timed out" in run.results[2].reason
    assert "no summary.json" in run.results[3].reason and "svc: TIMEOUT = 30" in run.results[3].reason
    # heal and down only for the two that left their stack recorded: c (stopped) and d (crashed)
    assert [(Path(c[-2]).parent.name, c[-1]) for c in commands.calls] == [
        ("c", "heal"), ("c", "down"), ("d", "heal"), ("d", "down")]
    kept = run.results[0].log
    assert kept == tmp_path / "out" / "mutants" / "a" / "pytest.log"
    assert "TIMEOUT = 30\nRETRIES = 4" in kept.read_text()  # the mutant, over the uncommitted working tree
    assert snapshot(project) == before and git(project, "status", "--porcelain") == status
    assert not (tmp_path / "work" / "r1").exists()
    assert lines[0].startswith("[1/4] a: pytest scenarios/test_fake.py::test_fake (elapsed ")
    assert lines[1].startswith("[1/4] a: killed (no_request_hung_during_the_fault) in ")


def test_a_stale_mutant_is_an_error_and_the_run_goes_on(tmp_path: Path, project: Path) -> None:
    fake = FakePytest({"ok": "fail"})
    stale = Mutant("stale", "t", "r", "code", (NODE,), edits=(Edit("stack/svc.py", "TIMEOUT = 9", "x"),))
    run = run_bite([stale, fake_mutant("ok")], options_for(tmp_path, project), Hooks(fake, Commands(), lambda _: None))
    assert [(r.mutant.id, r.result) for r in run.results] == [("stale", "error"), ("ok", "killed")]
    assert "stale mutant stale" in run.results[0].reason and len(fake.calls) == 1


@pytest.mark.parametrize("signal_kind", [KeyboardInterrupt, runner.Terminated])
def test_an_interrupted_run_cleans_up_reports_and_leaves_the_tree_unchanged(
        tmp_path: Path, project: Path, signal_kind: type[BaseException]) -> None:
    before = snapshot(project)
    fake, commands = FakePytest({"a": "fail"}, raise_on="b", raise_with=signal_kind), Commands()
    previous = signal.getsignal(signal.SIGTERM)
    run = run_bite([fake_mutant("a"), fake_mutant("b"), fake_mutant("c")], options_for(tmp_path, project),
                   Hooks(fake, commands, lambda _: None))
    assert signal.getsignal(signal.SIGTERM) is previous
    assert run.interrupted
    assert [(r.mutant.id, r.result) for r in run.results] == [("a", "killed"), ("b", "not-run"), ("c", "not-run")]
    assert run.results[1].reason == "interrupted while it ran" and run.results[1].log is not None
    assert run.results[2].reason == "not started (interrupted)"
    config = str(tmp_path / "work" / "r1" / "b" / "mutant.toml")
    assert commands.calls == [[sys.executable, "-m", "aarya_chaos.cli", "--config", config, "heal"],
                              [sys.executable, "-m", "aarya_chaos.cli", "--config", config, "down"]]
    assert not (tmp_path / "work" / "r1").exists()
    assert snapshot(project) == before
    assert [m.id for m in run.not_run()] == ["b", "c"]
    assert command.exit_code(run) == 130


def test_keep_leaves_the_work_dir(tmp_path: Path, project: Path) -> None:
    run_bite([fake_mutant("a")], options_for(tmp_path, project, keep=True),
             Hooks(FakePytest({"a": "fail"}), Commands(), lambda _: None))
    assert (tmp_path / "work" / "r1" / "a" / "src" / "stack" / "svc.py").read_text() == "TIMEOUT = 30\nRETRIES = 4\n"


def test_a_stack_that_down_could_not_stop_keeps_its_work_dir_and_warns(tmp_path: Path, project: Path) -> None:
    run = run_bite([fake_mutant("a"), fake_mutant("b")], options_for(tmp_path, project),
                   Hooks(FakePytest({"a": "crash", "b": "fail"}), Commands(down_fails=True), lambda _: None))
    assert [r.result for r in run.results] == ["error", "killed"]
    assert (tmp_path / "work" / "r1" / "a" / "mutant.toml").is_file()
    assert not (tmp_path / "work" / "r1" / "b").exists()
    assert len(run.warnings) == 1 and "a: its stack may still run" in run.warnings[0]


def test_no_cleanup_when_the_mutant_stack_never_recorded_itself(tmp_path: Path, project: Path) -> None:
    commands = Commands()

    def never_started(call: PytestCall) -> int | None:
        return None  # timed out before the stack wrote run.json

    run = run_bite([fake_mutant("a")], options_for(tmp_path, project), Hooks(never_started, commands, lambda _: None))
    assert run.results[0].result == "error" and commands.calls == []


def test_exit_codes() -> None:
    results = [runner.MutantResult(fake_mutant("a"), "killed"), runner.MutantResult(fake_mutant("b"), "killed")]
    assert command.exit_code(runner.BiteRun("r", "t", results=results)) == 0
    results.append(runner.MutantResult(fake_mutant("c"), "skipped"))
    assert command.exit_code(runner.BiteRun("r", "t", results=results)) == 1


# ---- the real child runner, with tiny children (no stack) ------------------------------------------------


def child(tmp_path: Path, body: str) -> PytestCall:
    script = tmp_path / "child.py"
    script.write_text("import signal, sys, time, pathlib\n" + body)
    return PytestCall((sys.executable, str(script)), tmp_path, dict(os.environ), tmp_path / "log", 5.0)


def test_run_pytest_returns_the_exit_status_and_logs(tmp_path: Path) -> None:
    call = child(tmp_path, "print('hello'); sys.exit(3)\n")
    assert run_pytest(call) == 3
    assert "hello" in call.log.read_text()


def test_a_child_out_of_time_gets_sigint_first(tmp_path: Path) -> None:
    body = ("def healed(*_):\n    pathlib.Path('healed').write_text('yes'); sys.exit(130)\n"
            "signal.signal(signal.SIGINT, healed)\nprint('ready', flush=True)\ntime.sleep(30)\n")
    call = child(tmp_path, body)
    call = PytestCall(call.argv, call.cwd, call.env, call.log, 1.0)
    assert run_pytest(call) is None
    assert (tmp_path / "healed").read_text() == "yes"


def test_a_child_that_ignores_sigint_is_killed_after_the_grace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(child_module, "STOP_GRACE_S", 0.5)
    call = child(tmp_path, "signal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep(30)\n")
    call = PytestCall(call.argv, call.cwd, call.env, call.log, 0.5)
    started = time.monotonic()
    assert run_pytest(call) is None
    assert time.monotonic() - started < 10


# ---- the command, end to end with the fakes -------------------------------------------------------------------


def run_command_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, project: Path, fake: FakePytest,
                     *argv: str) -> tuple[int, str]:
    import argparse

    from rich.console import Console

    monkeypatch.setattr(command, "PROJECT_ROOT", project)
    monkeypatch.setattr(command, "CATALOGUE", (fake_mutant("a"), fake_mutant("b")))
    monkeypatch.setattr(command, "WORK_ROOT", tmp_path / "work")
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    console = Console(width=200, record=True)
    code = command.run(parser.parse_args(["--reports-dir", str(tmp_path / "out"), *argv]), console, console,
                       check_ports=lambda: None, hooks=Hooks(fake, Commands(), lambda _: None))
    return code, console.export_text()


def test_the_command_prints_the_matrix_writes_the_reports_and_exits_1_on_a_survivor(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, project: Path) -> None:
    code, out = run_command_line(monkeypatch, tmp_path, project, FakePytest({"a": "fail", "b": "pass"}))
    assert code == 1
    assert "kill rate 1/2 (50%): killed 1, error 0, skipped 0, survived 1" in out
    assert "- b: survived: every scenario passed" in out
    data = json.loads((tmp_path / "out" / "bite.json").read_text())
    assert [m["result"] for m in data["mutants"]] == ["killed", "survived"]
    assert (tmp_path / "out" / "bite.md").is_file() and (tmp_path / "out" / "bite.html").is_file()


def test_the_command_exits_0_when_every_mutant_is_killed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                         project: Path) -> None:
    code, _ = run_command_line(monkeypatch, tmp_path, project, FakePytest({"a": "fail", "b": "fail"}))
    assert code == 0


def test_the_command_exits_130_when_interrupted_and_says_what_was_not_run(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, project: Path) -> None:
    code, out = run_command_line(monkeypatch, tmp_path, project, FakePytest({}, raise_on="a"))
    assert code == 130
    assert "not run (2): a, b" in out
    assert json.loads((tmp_path / "out" / "bite.json").read_text())["run"]["interrupted"] is True
