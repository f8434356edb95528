"""The local driver's lifecycle and its answers to bad situations: ports taken, crashed runs, Ctrl-C.

Each test runs its own stack on ports shifted by OFFSET, beside the session's stack.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from aarya_chaos.errors import ConfigError, PortInUse, StackAlreadyRunning
from stack import runs
from stack.config import StackConfig, load_config
from stack.drivers.local.driver import LocalDriver
from stack.waits import wait_until
from tests.helpers.config import write_toml

pytestmark = [pytest.mark.integration, pytest.mark.slow]
OFFSET = 100


@pytest.fixture
def shifted(request: pytest.FixtureRequest) -> Iterator[StackConfig]:
    run_dir = Path("/tmp/aarya-chaos/pytest") / request.node.name
    shutil.rmtree(run_dir, ignore_errors=True)
    yield load_config().with_port_offset(OFFSET, run_dir=run_dir)
    shutil.rmtree(run_dir, ignore_errors=True)


@pytest.fixture
def config_file(shifted: StackConfig, tmp_path: Path) -> Path:
    return write_toml(shifted, tmp_path / "aarya-chaos.toml")


def cli(config_file: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "aarya_chaos.cli", "--config", str(config_file), *args],
                          capture_output=True, text=True, timeout=timeout)


_started: list[subprocess.Popen[str]] = []


def start_up_in_background(config_file: Path) -> subprocess.Popen[str]:
    up = subprocess.Popen([sys.executable, "-m", "aarya_chaos.cli", "--config", str(config_file), "up", "--fresh"],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    _started.append(up)
    return up


@pytest.fixture(autouse=True)
def no_up_process_left(nothing_left_behind: None) -> Iterator[None]:
    """Whatever a test did, its `aarya-chaos up` is ended and its pipe closed (before the leftover check)."""
    yield
    while _started:
        up = _started.pop()
        if up.poll() is None:
            up.send_signal(signal.SIGINT)  # a clean teardown, as from Ctrl-C
            try:
                up.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                up.kill()
        up.communicate()


def stack_processes(config: StackConfig) -> list[psutil.Process]:
    """Every live process that belongs to a stack on these ports or in this run dir."""
    marker_ports = {str(p) for p in config.listen_ports().values()}
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        if proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue  # dead, holding no port or lock; this machine's init reaps orphans slowly
        cmd = " ".join(proc.info["cmdline"] or [])
        if str(config.run_dir) in cmd or any(f"--port {p}" in cmd or f"-port {p}" in cmd for p in marker_ports):
            found.append(proc)
    return found


def assert_all_gone(config: StackConfig) -> None:
    wait_until("stack", "process table", lambda: not stack_processes(config), timeout_s=20)
    for owner, port in config.listen_ports().items():
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((config.host, port))  # raises if anything still listens


@pytest.fixture(autouse=True)
def nothing_left_behind(shifted: StackConfig) -> Iterator[None]:
    yield
    leftovers = stack_processes(shifted)
    for proc in leftovers:
        proc.kill()
    assert not leftovers, f"processes left behind: {[p.pid for p in leftovers]}"


def test_a_run_dir_too_long_for_the_postgres_socket_is_refused_before_anything_starts(tmp_path: Path) -> None:
    config = load_config().with_port_offset(OFFSET, run_dir=Path("/tmp/aarya-chaos/pytest") / ("x" * 90))
    with pytest.raises(ConfigError, match="too long: PostgreSQL's socket .* over the 107 Linux allows"):
        LocalDriver(config, fresh=True).start()
    assert not config.run_dir.exists() and runs.find(config.run_dir) is None


def test_port_in_use_is_named_and_nothing_starts(shifted: StackConfig) -> None:
    with socket.socket() as squatter:
        squatter.bind((shifted.host, shifted.gateway.port))
        squatter.listen()
        started = time.monotonic()
        with pytest.raises(PortInUse, match=f"port {shifted.gateway.port}.*api_gateway"):
            LocalDriver(shifted, fresh=True).start()
        assert time.monotonic() - started < 10
    assert_all_gone(shifted)


def test_up_status_down_through_the_cli(config_file: Path, shifted: StackConfig) -> None:
    up = start_up_in_background(config_file)
    try:
        wait_until("aarya-chaos up", str(config_file), lambda: cli(config_file, "status").returncode == 0,
                   timeout_s=90, still_alive=lambda: None if up.poll() is None else f"up exited {up.returncode}")
        status = cli(config_file, "status")
        assert "commerce" in status.stdout and "api_gateway" in status.stdout
        with pytest.raises(StackAlreadyRunning, match="aarya-chaos down"):
            LocalDriver(shifted).start()
        down = cli(config_file, "down")
        assert down.returncode == 0, down.stdout + down.stderr
        output, _ = up.communicate(timeout=30)
        assert up.returncode == 0, output
    finally:
        if up.poll() is None:
            up.kill()
            up.communicate()
    assert_all_gone(shifted)
    assert cli(config_file, "status").returncode == 3


def test_a_crashed_owners_stack_goes_with_it(config_file: Path, shifted: StackConfig) -> None:
    """The kernel stops a SIGKILLed owner's servers; the next start clears what the registry lists."""
    up = start_up_in_background(config_file)
    wait_until("aarya-chaos up", str(config_file), lambda: cli(config_file, "status").returncode == 0,
               timeout_s=90, still_alive=lambda: None if up.poll() is None else f"up exited {up.returncode}")
    orphans = [p.pid for p in stack_processes(shifted) if p.pid != up.pid]
    up.kill()  # the owner dies without tearing down: the kernel's parent-death signals stop its servers
    up.communicate(timeout=10)
    wait_until("the dead owner's servers", "process table", lambda: not any(_running(pid) for pid in orphans),
               timeout_s=30)
    assert runs.find(shifted.run_dir) is not None  # the dead run is still recorded: `down` or the next start
    driver = LocalDriver(shifted)
    driver.start()  # clears what the registry lists before it binds a port
    try:
        assert not any(_running(pid) and pid not in _pids(driver) for pid in orphans)
        assert all(s.running for s in driver.status())
        entry = runs.find(shifted.run_dir)
        assert entry is not None and entry.alive() and entry.owner.pid == os.getpid()
    finally:
        driver.stop()
    assert_all_gone(shifted)
    assert runs.find(shifted.run_dir) is None


def test_same_ports_fail_naming_the_owner(config_file: Path, shifted: StackConfig, tmp_path: Path) -> None:
    """A second run on the ports of a living one fails at once, in one line naming that run and its pid."""
    up = start_up_in_background(config_file)
    wait_until("aarya-chaos up", str(config_file), lambda: cli(config_file, "status").returncode == 0,
               timeout_s=90, still_alive=lambda: None if up.poll() is None else f"up exited {up.returncode}")
    other = write_toml(shifted.model_copy(update={"run_dir": shifted.run_dir.with_name("second-run")}),
                       tmp_path / "second.toml")
    started = time.monotonic()
    second = cli(other, "up", "--fresh", "--detach-check")
    assert time.monotonic() - started < 10
    assert second.returncode == 2
    assert len(second.stderr.strip().splitlines()) == 1, second.stderr  # one line, naming the owner
    assert f"belong to the up run in {shifted.run_dir} (pid {up.pid})" in second.stderr, second.stderr
    assert "aarya-chaos down --run" in second.stderr
    assert up.poll() is None and cli(config_file, "status").returncode == 0  # the first run untouched


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _pids(driver: LocalDriver) -> set[int]:
    return {s.pid for s in driver.status() if s.pid is not None}


def test_ctrl_c_during_start_up_tears_everything_down(config_file: Path, shifted: StackConfig) -> None:
    up = start_up_in_background(config_file)
    redis_log = shifted.run_dir / "logs" / "redis.log"
    wait_until("redis start", str(redis_log), redis_log.exists, timeout_s=60,
               still_alive=lambda: None if up.poll() is None else f"up exited {up.returncode}")
    up.send_signal(signal.SIGINT)
    output, _ = up.communicate(timeout=60)
    assert up.returncode == 130, output
    assert "interrupted" in output
    assert_all_gone(shifted)
    assert not (shifted.run_dir / "run.json").exists()
