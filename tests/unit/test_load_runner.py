"""Unit tests for load.runner without the stack: command lines, summaries, and locust subprocesses against a
closed port (no server needed). Locust itself is never imported here."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import psutil
import pytest

from aarya_chaos.errors import NotReady
from load import runner as runner_module
from load.history import pair_ops, read_records
from load.runner import LoadProfile, LoadRun, api_base, summarize_stats
from stack.ports import free_port


def test_api_base() -> None:
    assert api_base("http://127.0.0.1:8000") == "http://127.0.0.1:8000/api/v1"
    assert api_base("http://127.0.0.1:8000/") == "http://127.0.0.1:8000/api/v1"
    assert api_base("http://127.0.0.1:8000/api/v1/") == "http://127.0.0.1:8000/api/v1"


def test_single_process_command(tmp_path: Path) -> None:
    run = LoadRun("http://127.0.0.1:8000", tmp_path / "h", LoadProfile(users=3, spawn_rate=1.5, max_duration_s=42.9),
                  output_dir=tmp_path / "out")
    cmd = run.command()
    assert cmd[:3] == [sys.executable, "-m", "locust"]
    assert cmd[cmd.index("-f") + 1] == str(runner_module.LOCUSTFILE)
    assert cmd[cmd.index("-u") + 1] == "3" and cmd[cmd.index("-r") + 1] == "1.5"
    assert cmd[cmd.index("-t") + 1] == "42s"
    assert cmd[cmd.index("--host") + 1] == "http://127.0.0.1:8000/api/v1"
    assert cmd[cmd.index("--exit-code-on-error") + 1] == "0"
    assert "--headless" in cmd and "--master" not in cmd


def test_distributed_commands(tmp_path: Path) -> None:
    run = LoadRun("http://127.0.0.1:8000", tmp_path / "h", LoadProfile(workers=3), output_dir=tmp_path / "out")
    master = run.command(master_port=5599, ready_timeout_s=20)
    assert "--master" in master and master[master.index("--expect-workers") + 1] == "3"
    assert master[master.index("--master-bind-host") + 1] == "127.0.0.1"
    assert master[master.index("--master-bind-port") + 1] == "5599"
    assert master[master.index("--expect-workers-max-wait") + 1] == "20"
    worker = run.worker_command(5599)
    assert "--worker" in worker and worker[worker.index("--master-port") + 1] == "5599"
    assert "--headless" not in worker and "--json-file" not in worker


def test_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCUST_SKIP_MONKEY_PATCH", "1")
    monkeypatch.setenv("LOCUST_HOST", "http://elsewhere")
    run = LoadRun("http://127.0.0.1:8000", tmp_path / "h", LoadProfile(wait_min_s=0.1, wait_max_s=0.3),
                  output_dir=tmp_path / "out", env={"EXTRA": "1"})
    env = run.environment()
    assert not any(k.startswith("LOCUST_") for k in env)
    assert env["AARYA_HISTORY_DIR"] == str(tmp_path / "h")
    assert (env["AARYA_WAIT_MIN_S"], env["AARYA_WAIT_MAX_S"]) == ("0.1", "0.3")
    assert env["EXTRA"] == "1"


def test_bad_profiles_are_refused(tmp_path: Path) -> None:
    for profile in (LoadProfile(users=0), LoadProfile(workers=-1), LoadProfile(max_duration_s=0.5)):
        with pytest.raises(ValueError):
            LoadRun("http://x", tmp_path, profile, output_dir=tmp_path)


def test_summarize_stats() -> None:
    entries = [
        {"name": "/a", "num_requests": 10, "num_failures": 1, "start_time": 100.0, "last_request_timestamp": 104.0},
        {"name": "/b", "num_requests": 5, "num_failures": 0, "start_time": 101.0, "last_request_timestamp": 110.0},
    ]
    assert summarize_stats(entries) == (15, 1, 10.0)
    assert summarize_stats([]) == (0, 0, None)


def test_free_port() -> None:
    assert 1024 < free_port() < 65536


def _no_locust_left(pids: list[int]) -> bool:
    return not [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]


def test_not_ready_when_locust_exits_early(tmp_path: Path) -> None:
    run = LoadRun("http://127.0.0.1:9", tmp_path / "h", LoadProfile(users=1), output_dir=tmp_path / "out",
                  locustfile=tmp_path / "missing_locustfile.py")
    with pytest.raises(NotReady) as raised:
        run.start(ready_timeout_s=30)
    assert "exited with code" in str(raised.value)
    assert "missing_locustfile" in raised.value.log_tail
    assert not run.running


def test_against_a_closed_port_every_op_completes_and_nothing_is_left(tmp_path: Path) -> None:
    """No server: every request fails below HTTP; reads fail, writes are info, each invoke has its completion."""
    port = free_port()  # nobody listens there any more
    profile = LoadProfile(users=2, spawn_rate=10, max_duration_s=30, wait_min_s=0.05, wait_max_s=0.1)
    with LoadRun(f"http://127.0.0.1:{port}", tmp_path / "h", profile, output_dir=tmp_path / "out") as run:
        pids = [p.popen.pid for p in run._procs]
        assert run.running
    summary = run.stop()
    assert run.stop() is summary
    assert not run.running and _no_locust_left(pids)
    assert len(summary.history_files) == 1
    ops = pair_ops(read_records(summary.history_files))
    assert ops and all(op.end is not None for op in ops)
    assert {op.outcome for op in ops if op.f == "register"} == {"info"}
    assert all(op.outcome == "fail" for op in ops if op.f in ("browse", "product", "search"))
    assert all(op.process and op.process.startswith(f"{pids[0]}:") for op in ops)
    stats = json.loads(summary.artifacts["json"].read_text())
    assert summary.requests == sum(e["num_requests"] for e in stats) and summary.failures == summary.requests


@pytest.mark.slow  # about 6 s: stopping waits for locust's 5 s stop timeout
def test_not_ready_when_nothing_completes_in_time(tmp_path: Path) -> None:
    """A listener that never answers: the first request can only end at its 5 s network timeout."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        run = LoadRun(url, tmp_path / "h", LoadProfile(users=1), output_dir=tmp_path / "out")
        with pytest.raises(NotReady) as raised:
            run.start(ready_timeout_s=1.5)
        pids = [p.popen.pid for p in run._procs]
    assert "no operation completed" in str(raised.value)
    assert "Ramping to 1 users" in raised.value.log_tail
    assert not run.running and _no_locust_left(pids)
