"""Crash-safe runs: a runner killed with SIGKILL at any moment leaves nothing `heal` and `down` cannot clear.

Each case starts tests/crash_drill.py, a runner with a stack of its own (ports shifted by OFFSET, its own run
dir) under load, waits until the drill has taken its fault to the phase, and SIGKILLs it. Then, as the README
says after a crash, `aarya-chaos heal` and `aarya-chaos down`, given a config of *another* run dir: the dead
run is found through the machine's registry, as a user who never saw its config would find it. Checked:
nothing of the run is left (processes, ports, mounts, cgroups, containers, networks, registry entry), and
PostgreSQL started again on the run's data holds every order acknowledged before the kill. The steady phase
injects nothing, so it is one case, not one per fault.

What was left right after the kill, before `heal` and `down`, is written beside the result, to
`<reports>/crash/<driver>.json`: the matrix the README shows.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from checks.ledger import reconcile, writes
from fixtures.ledger import stored_orders
from checks.ledger import ledger_users
from load.history import pair_ops, read_records
from stack import reaper, runs
from stack.config import StackConfig, load_config
from stack.drivers.registry import make_driver
from stack.drivers.base import StackDriver
from stack.waits import wait_until
from tests.crash_drill import FAULTS

pytestmark = [pytest.mark.integration, pytest.mark.slow]
OFFSET = {"local": 400, "docker": 500}
REPO = Path(__file__).resolve().parents[2]
MATRIX = REPO / "reports" / "crash"
DRILL_READY_TIMEOUT_S = 240.0
# Every fault kind in each phase on the local driver. On docker, where a case costs a minute (a stack start,
# a restart on the data), the phases each once: every fault active at once, and the two recoveries that
# are long enough to be cut off (a restore, a release deployed by recreating its container).
LOCAL_CASES = [("steady", "none")] + [(phase, fault) for phase in ("fault", "recovery") for fault in sorted(FAULTS)]
DOCKER_CASES = [("steady", "none"), ("fault", "all"), ("recovery", "restore"), ("recovery", "release")]
CASES = [("local", *case) for case in LOCAL_CASES] + [("docker", *case) for case in DOCKER_CASES]


def crash_config(driver: str) -> StackConfig:
    config = load_config().with_port_offset(OFFSET[driver], run_dir=Path(f"/tmp/aarya-chaos/pytest/crash-{driver}"))
    if driver == "docker":  # beside the docker stacks of the other tests: container names of its own
        from tests.helpers.docker import with_container_suffix

        config = with_container_suffix(config, f"_crash{OFFSET[driver]}")
    return config


def engine_or_skip(driver: str) -> None:
    if driver == "docker":
        from stack.drivers.docker.engine import ensure_all

        reason = ensure_all()
        if reason is not None:
            pytest.skip(f"no usable Docker engine: {reason}")


@pytest.fixture(scope="module")
def bystander(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The config `heal` and `down` are given: a run dir nobody uses, the ports of nobody."""
    directory = tmp_path_factory.mktemp("bystander")
    config = load_config().with_port_offset(450, run_dir=directory / "run")
    path = directory / "aarya-chaos.toml"
    path.write_text(config.to_toml())
    return path


@pytest.fixture(scope="module")
def matrix() -> Iterator[dict[str, dict[str, dict[str, object]]]]:
    found: dict[str, dict[str, dict[str, object]]] = {"local": {}, "docker": {}}
    yield found
    MATRIX.mkdir(parents=True, exist_ok=True)
    for driver, cases in found.items():
        if cases:
            (MATRIX / f"{driver}.json").write_text(json.dumps(cases, indent=2, sort_keys=True))


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("AARYA_CONFIG", runs.OWNER_ENV)}
    return subprocess.run([sys.executable, "-m", "aarya_chaos.cli", "--config", str(config), *args], cwd=REPO,
                          capture_output=True, text=True, timeout=300, env=env)


def start_drill(config: StackConfig, fault: str, phase: str, out: Path, driver: str = "local") -> subprocess.Popen[bytes]:
    out.mkdir(parents=True, exist_ok=True)
    toml = out / "drill.toml"
    toml.write_text(config.to_toml())
    env = {k: v for k, v in os.environ.items() if k not in ("AARYA_CONFIG", runs.OWNER_ENV)}
    with (out / "drill.log").open("wb") as log:
        return subprocess.Popen([sys.executable, "-m", "tests.crash_drill", "--config", str(toml), "--driver", driver,
                                 "--fault", fault if fault != "none" else "kill", "--phase", phase, "--out", str(out)],
                                cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=env)


def wait_ready(drill: subprocess.Popen[bytes], out: Path) -> None:
    ready = out / "ready"

    def said() -> bool:
        return ready.exists() and ready.read_text() in ("ready", "recovered")

    def alive() -> str | None:
        code = drill.poll()
        return None if code is None else f"the drill exited {code}; see {out / 'drill.log'}"

    wait_until("crash drill", str(ready), said, timeout_s=DRILL_READY_TIMEOUT_S, still_alive=alive,
               log_tail=lambda: (out / "drill.log").read_text(errors="replace")[-3000:])


def acknowledged_lost(config: StackConfig, history: Path, driver: str = "local") -> tuple[int, list[str]]:
    """Start the stack again on the run's data; (orders acknowledged, those of them not in PostgreSQL)."""
    ops = pair_ops(read_records(sorted(history.glob("*.jsonl"))))
    stack = make_driver(config, driver, fresh=False)
    stack.start()
    try:
        history_writes = writes(ops)
        stored = stored_orders(stack, ledger_users(ops))
    finally:
        stack.stop()
    found = reconcile(history_writes, stored, failure_at=float("inf"))
    return len(found.acknowledged), [order for order, _ in found.lost]


def pids(stack: StackDriver) -> dict[str, int | None]:
    return {s.name: s.pid if s.running else None for s in stack.status()}


@pytest.mark.parametrize(("driver", "phase", "fault"), CASES, ids=[f"{d}-{p}-{f}" for d, p, f in CASES])
def test_a_killed_runner_leaves_nothing_heal_and_down_cannot_clear(
        driver: str, phase: str, fault: str, bystander: Path, tmp_path: Path,
        matrix: dict[str, dict[str, dict[str, object]]], stack: StackDriver) -> None:
    """`stack`, the session's own, is a second run on this machine: heal and down must not touch it."""
    engine_or_skip(driver)
    config = crash_config(driver)
    living = pids(stack)
    out = tmp_path / "drill"
    drill = start_drill(config, fault, phase, out, driver)
    try:
        wait_ready(drill, out)
        entry = runs.find(config.run_dir)
        assert entry is not None and entry.alive() and entry.owner.pid == drill.pid
        drill.send_signal(signal.SIGKILL)
        drill.wait()
        killed_at = time.time()
        said = (out / "ready").read_text()
        time.sleep(1.0)  # what the kernel's parent-death signals leave, once they have taken effect
        before = reaper.what_is_left(entry)
        if phase == "steady":
            listed = cli(bystander, "runs")
            assert listed.returncode == 0 and str(config.run_dir) in listed.stdout and "dead" in listed.stdout, \
                listed.stdout

        heal = cli(bystander, "heal")
        down = cli(bystander, "down")

        assert heal.returncode == 0, heal.stdout + heal.stderr
        assert down.returncode == 0, down.stdout + down.stderr
        assert f"run in {config.run_dir}" in down.stdout or not before, down.stdout
        after = reaper.what_is_left(entry)
        matrix[driver][f"{phase}/{fault}"] = {"left_after_kill": before, "left_after_heal_and_down": after,
                                      "killed_during": "recovery" if said == "ready" and phase == "recovery"
                                      else said, "heal": heal.stdout.splitlines(), "down": down.stdout.splitlines(),
                                      "seconds_from_kill_to_clean": round(time.time() - killed_at, 1)}
        assert after == [], f"left after heal and down: {after}\nheal: {heal.stdout}\ndown: {down.stdout}"
        assert pids(stack) == living, "heal or down touched another, living run"

        acknowledged, lost = acknowledged_lost(config, out / "history", driver)
        matrix[driver][f"{phase}/{fault}"].update(acknowledged_orders=acknowledged, lost=len(lost))
        assert acknowledged > 0 and lost == [], f"{len(lost)} of {acknowledged} acknowledged orders lost: {lost[:5]}"
    finally:
        if drill.poll() is None:
            drill.kill()
            drill.wait()


def test_the_next_scenario_run_after_a_crash_passes_without_heal_or_down(tmp_path: Path) -> None:
    """The issue's own trial: 3.1's runner killed while core_platform sits OOM-killed in its cgroup, then
    nothing but the next scenario run, which must clear the dead run (its restarted service, its locust)
    before it binds a port, and pass."""
    config = crash_config("local")
    out = tmp_path / "drill"
    drill = start_drill(config, "oom", "fault", out)
    try:
        wait_ready(drill, out)
    finally:
        drill.kill()
        drill.wait()
    toml = tmp_path / "next.toml"
    toml.write_text(config.to_toml())
    env = {k: v for k, v in os.environ.items() if k not in ("AARYA_CONFIG", runs.OWNER_ENV)}
    result = subprocess.run([sys.executable, "-m", "pytest", "scenarios/test_core_platform_oom.py", "-k", "not control",
                             "--stack-config", str(toml), "--reports-dir", str(tmp_path / "reports"),
                             "-p", "no:cacheprovider", "-q"], cwd=REPO, capture_output=True, text=True, timeout=600,
                            env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert runs.find(config.run_dir) is None


def test_down_run_dir_stops_a_living_pytest_run_and_the_session_ends(bystander: Path, tmp_path: Path) -> None:
    """`aarya-chaos down --run DIR` on a living run asks its owner to stop (SIGTERM): a pytest run must end
    its session there, tearing its stack down, not fail the test at hand and go on with the next."""
    config = crash_config("local")
    (tmp_path / "stack.toml").write_text(config.to_toml())
    (tmp_path / "test_long.py").write_text(textwrap.dedent(f"""
        import time
        from pathlib import Path

        def test_holds_the_stack(stack):
            Path({str(tmp_path / "up")!r}).write_text("up")
            time.sleep(300)

        def test_never_runs(stack):
            Path({str(tmp_path / "next")!r}).write_text("ran")
    """))
    env = {k: v for k, v in os.environ.items() if k not in ("AARYA_CONFIG", runs.OWNER_ENV)}
    session = subprocess.Popen([sys.executable, "-m", "pytest", str(tmp_path / "test_long.py"), "-p", "fixtures.plugin",
                                "--stack-config", str(tmp_path / "stack.toml"), "--reports-dir", str(tmp_path / "r"),
                                "-p", "no:cacheprovider", "-q", "--rootdir", str(tmp_path)], cwd=REPO, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_until("pytest run", str(tmp_path / "up"), (tmp_path / "up").exists, timeout_s=120,
                   still_alive=lambda: None if session.poll() is None else f"pytest exited {session.returncode}")
        entry = runs.find(config.run_dir)
        assert entry is not None and entry.alive() and entry.kind == "pytest"
        down = cli(bystander, "down", "--run", str(config.run_dir))
        assert down.returncode == 0 and f"stopped the stack in {config.run_dir}" in down.stdout, down.stdout
        output, _ = session.communicate(timeout=60)
        assert session.returncode != 0 and not (tmp_path / "next").exists(), output[-2000:]
        assert reaper.what_is_left(entry) == []
    finally:
        if session.poll() is None:
            session.kill()
            session.communicate()
