"""The machine's registry of runs (stack/runs.py) and the clearing of dead runs (stack/reaper.py).

Owners here are real short-lived processes: a child that registers a run, starts a grandchild with its mark,
then is killed, is exactly a runner killed with SIGKILL.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import psutil
import pytest

from aarya_chaos.errors import StackAlreadyRunning
from stack import reaper, runs
from stack.config import load_config
from stack.waits import wait_until


@pytest.fixture(autouse=True)
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "runs"
    monkeypatch.setenv("AARYA_RUNS_DIR", str(directory))
    monkeypatch.delenv(runs.OWNER_ENV, raising=False)
    monkeypatch.delenv(runs.KIND_ENV, raising=False)
    return directory


def owner_that_dies(tmp_path: Path, run_dir: Path) -> tuple[runs.Owner, int]:
    """A process that registers a run in `run_dir`, starts a marked grandchild (a sleep), and is SIGKILLed;
    returns the dead owner and the grandchild's pid."""
    script = textwrap.dedent(f"""
        import subprocess, sys, time
        from pathlib import Path
        from stack import runs
        from stack.config import load_config
        runs.set_kind("pytest")
        runs.register(load_config(run_dir=Path({str(run_dir)!r})).with_port_offset(700), "local")
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)
        print(child.pid, flush=True)
        time.sleep(120)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[2], env={**os.environ})
    assert proc.stdout is not None
    grandchild = int(proc.stdout.readline())
    owner = runs.Owner(proc.pid, psutil.Process(proc.pid).create_time())
    proc.kill()
    proc.wait()
    proc.stdout.close()  # not communicate(): the grandchild holds the pipe open
    return owner, grandchild


def test_a_registered_run_is_found_alive_and_gone_after_unregister(tmp_path: Path, registry: Path) -> None:
    config = load_config(run_dir=tmp_path / "run")
    runs.set_kind("up")
    entry = runs.register(config, "local")
    assert entry.alive() and entry.kind == "up" and entry.owner == runs.Owner.me()
    assert os.environ[runs.OWNER_ENV] == entry.owner.token  # what this process's children will carry
    assert [e.run_dir for e in runs.entries()] == [config.run_dir]
    assert runs.find(config.run_dir) == entry
    assert entry.path.stat().st_mode & 0o777 == 0o600  # it holds the stack's passwords
    assert runs.read_entry(entry.path).config == config  # the whole config, not only the ports
    runs.unregister(config)
    assert runs.entries() == []


def test_the_kind_set_by_a_parent_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(runs.KIND_ENV, "bite")
    runs.set_kind("pytest")
    assert runs.register(load_config(run_dir=tmp_path / "run"), "local").kind == "bite"


def test_a_living_owner_of_the_run_dir_or_its_ports_refuses_a_second_run(tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        other = runs.Owner(holder.pid, psutil.Process(holder.pid).create_time())
        config = load_config(run_dir=tmp_path / "held")
        runs._write(runs.RunEntry(config.run_dir, runs.run_id_for(config.run_dir), "up", "local", other, 1.0, (),
                                  config))
        with pytest.raises(StackAlreadyRunning, match=f"pid {holder.pid} already owns .*aarya-chaos down --run"):
            runs.register(config, "local")
        same_ports = load_config(run_dir=tmp_path / "elsewhere")
        with pytest.raises(StackAlreadyRunning, match=f"port\\(s\\) .* belong to the up run in .*pid {holder.pid}"):
            runs.register(same_ports, "local")
        runs.register(same_ports.with_port_offset(300), "local")  # other ports, other run dir: fine
    finally:
        holder.kill()
        holder.wait()


def test_a_dead_owner_is_not_alive_and_its_entry_does_not_block(tmp_path: Path) -> None:
    run_dir = tmp_path / "crashed"
    owner, grandchild = owner_that_dies(tmp_path, run_dir)
    try:
        entry = runs.find(run_dir)
        assert entry is not None and entry.owner == owner and entry.kind == "pytest"
        assert not entry.alive()
        assert [p.pid for p in runs.marked_processes(owner)] == [grandchild]
    finally:
        os.kill(grandchild, signal.SIGKILL)


def test_reaping_a_dead_run_stops_what_its_owner_started_and_forgets_it(tmp_path: Path) -> None:
    run_dir = tmp_path / "crashed"
    owner, grandchild = owner_that_dies(tmp_path, run_dir)
    reports = reaper.reap_dead_runs()
    assert [r.entry.run_dir for r in reports] == [run_dir]
    text = reports[0].describe()
    assert f"pytest run in {run_dir}" in text and "stack: no run.json" in text
    assert f"terminated python ({grandchild})" in text or f"({grandchild})" in text
    wait_until("grandchild", str(grandchild), lambda: not _running(grandchild), timeout_s=5)
    assert runs.entries() == []
    assert reaper.reap_dead_runs() == []  # nothing twice


def test_a_living_run_is_never_reaped(tmp_path: Path) -> None:
    entry = runs.register(load_config(run_dir=tmp_path / "mine"), "local")
    assert reaper.reap_dead_runs() == []
    with pytest.raises(Exception, match="living pid"):
        reaper.reap(entry)
    assert runs.find(entry.run_dir) == entry


def test_an_unreadable_entry_is_reported_and_left_in_place(registry: Path) -> None:
    registry.mkdir(parents=True)
    (registry / "broken.json").write_text("{not json")
    (registry / "partial.json").write_text(json.dumps({"run_dir": "/x"}))
    assert runs.entries() == []
    bad = runs.unreadable()
    assert len(bad) == 2 and all("not a run entry" in line for line in bad)
    assert (registry / "broken.json").exists() and (registry / "partial.json").exists()


def test_children_die_with_the_owner_only_when_the_main_thread_starts_them() -> None:
    wrapped = runs.dying_with_owner(["sleep", "1"], signal.SIGINT)
    if runs.SETPRIV is not None:
        assert wrapped == [runs.SETPRIV, "--pdeathsig=SIGINT", "--", "sleep", "1"]
    seen: list[list[str]] = []
    worker = threading.Thread(target=lambda: seen.append(runs.dying_with_owner(["sleep", "1"], signal.SIGTERM)))
    worker.start()
    worker.join()
    assert seen == [["sleep", "1"]]  # another thread's end would kill it: no parent-death signal there


def test_an_explicit_environment_carries_the_owner_mark(monkeypatch: pytest.MonkeyPatch) -> None:
    assert runs.with_owner_mark(None) is None
    assert runs.with_owner_mark({"A": "1"}) == {"A": "1"}
    monkeypatch.setenv(runs.OWNER_ENV, "12@3.00")
    assert runs.with_owner_mark({"A": "1", runs.OWNER_ENV: "stale"}) == {"A": "1", runs.OWNER_ENV: "12@3.00"}


@pytest.mark.skipif(runs.SETPRIV is None, reason="needs setpriv (util-linux)")
def test_a_child_started_by_the_main_thread_dies_with_its_owner(tmp_path: Path) -> None:
    script = textwrap.dedent("""
        import subprocess, sys, signal, time
        from stack import runs
        child = subprocess.Popen(runs.dying_with_owner([sys.executable, "-c", "import time; time.sleep(60)"],
                                                       signal.SIGTERM))
        print(child.pid, flush=True)
        time.sleep(60)
    """)
    owner = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                             cwd=Path(__file__).resolve().parents[2])
    assert owner.stdout is not None
    child = int(owner.stdout.readline())
    # setpriv sets the signal, then execs the command: before that exec an owner's death goes unnoticed (the
    # registry's owner mark is what finds such a child)
    wait_until("child", "its exec past setpriv", lambda: _past_setpriv(child), timeout_s=10)
    owner.kill()
    owner.wait()
    owner.stdout.close()
    wait_until("child", str(child), lambda: not _running(child), timeout_s=5)


def _past_setpriv(pid: int) -> bool:
    """setpriv's own command line names the command too: only its exec of the command proves the signal set."""
    cmdline = psutil.Process(pid).cmdline()
    return bool(cmdline) and not cmdline[0].endswith("setpriv") and "time.sleep(60)" in " ".join(cmdline)


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_runs_lists_each_run_on_one_whole_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from aarya_chaos.cli import main

    run_dir = tmp_path / ("a-run-dir-with-a-long-name-" * 3)
    owner_that_dies(tmp_path, run_dir)
    mine = runs.register(load_config(run_dir=tmp_path / "mine"), "local")
    assert main(["runs"]) == 0
    lines = capsys.readouterr().out.splitlines()
    dead = next(line for line in lines if str(run_dir) in line)  # never cut short, never wrapped
    assert dead.startswith("dead") and " pytest " in dead and " local " in dead
    living = next(line for line in lines if str(mine.run_dir) in line)
    assert living.startswith("running") and f"pid {os.getpid()}" in living
    assert "aarya-chaos down" in lines[-1]


def test_an_attach_runs_leftovers_never_list_the_teams_own_ports_or_processes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An attached platform keeps its ports and processes after `down`: they are the team's, not left over."""
    from dataclasses import replace

    from stack.drivers.attach.kind import KIND as ATTACH
    from stack.drivers.local.kind import KIND as LOCAL
    config = load_config(run_dir=tmp_path / "attached").with_port_offset(710)
    team_port = config.services["commerce"].port
    team_process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "--port", str(team_port)])
    try:
        with socket.socket() as team_socket:
            team_socket.bind((config.host, team_port))
            team_socket.listen()
            entry = runs.register(config, "attach")
            kinds = {"attach": replace(ATTACH, leftovers_of_run=lambda run_id: []),
                     "local": replace(LOCAL, leftovers_of_run=lambda run_id: [])}
            monkeypatch.setattr(reaper, "driver_kind", lambda name: kinds[name])
            # (other lines may name processes this pytest session started itself: they carry its mark)
            left = reaper.what_is_left(entry)
            assert f"registry entry {runs.entry_path(entry.run_dir)}" in left
            assert not any(f"port {team_port} " in line or f"process {team_process.pid} " in line for line in left), left
            as_local = replace(entry, driver="local")  # the same ports on a stack of the run's own are left over
            left = reaper.what_is_left(as_local)
            assert f"port {team_port} (commerce) taken" in left
            assert any(line.startswith(f"process {team_process.pid} ") for line in left)
    finally:
        team_process.kill()
        team_process.wait()
