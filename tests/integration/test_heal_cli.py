"""`aarya-chaos heal` clears what a run killed too hard to heal itself left behind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from stack.drivers.local.driver import LocalDriver
from stack import mounts
from stack.drivers.local import cgroups
from stack.waits import wait_until
from tests.helpers.config import write_toml

pytestmark = pytest.mark.integration


def heal(stack: LocalDriver, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    config = write_toml(stack.config, tmp_path / "stack.toml")  # the CLI must find this very stack
    return subprocess.run([sys.executable, "-m", "aarya_chaos.cli", "--config", str(config), "heal"],
                          capture_output=True, text=True, timeout=60)


def test_heal_clears_toxics_disabled_proxies_and_paused_processes(stack: LocalDriver, tmp_path: Path) -> None:
    with stack.toxiproxy() as toxiproxy:
        toxiproxy.add_toxic("commerce__postgres", type="latency", name="left_behind", attributes={"latency": 500})
        toxiproxy.set_enabled("gateway__payment", False)
    deny_file = stack.config.run_dir / "nginx" / "deny.conf"
    deny_file.write_text(deny_file.read_text() + "deny 127.0.0.99;\n")
    stack.pause("event_compactor")
    pid = {s.name: s.pid for s in stack.status()}["event_compactor"]
    wait_until("event_compactor", "SIGSTOP delivered", lambda: psutil.Process(pid).status() == psutil.STATUS_STOPPED,
               timeout_s=5)

    result = heal(stack, tmp_path)

    assert result.returncode == 0, result.stderr
    with stack.toxiproxy() as toxiproxy:
        proxies = toxiproxy.proxies()
    assert not proxies["commerce__postgres"].toxics and proxies["gateway__payment"].enabled
    wait_until("event_compactor", "SIGCONT delivered", lambda: psutil.Process(pid).status() != psutil.STATUS_STOPPED,
               timeout_s=5)
    assert "toxiproxy: every proxy enabled" in result.stdout
    assert "deny 127.0.0.99" not in deny_file.read_text() and "removed 1 deny line" in result.stdout


@pytest.mark.skipif(cgroups.memory_cgroup_support() is not None or mounts.mount_support() is not None,
                    reason=f"needs root with cgroups and mount: {cgroups.memory_cgroup_support()} "
                           f"{mounts.mount_support()}")
def test_heal_releases_leftover_cgroups_and_mounts(stack: LocalDriver, tmp_path: Path) -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        cgroup = cgroups.limit_memory("heal-test", [sleeper.pid], 256 << 20)
        mountpoint = Path("/tmp/aarya-chaos/pytest/heal-test-mount")
        mountpoint.mkdir(parents=True, exist_ok=True)
        mounts.mount_tmpfs(mountpoint, 4 << 20)

        result = heal(stack, tmp_path)

        assert result.returncode == 0, result.stderr
        assert not cgroup.exists()
        assert not mounts.is_mountpoint(mountpoint)
        assert "cgroups: released aarya-chaos-heal-test (of no living run)" in result.stdout
        assert f"mounts: {mountpoint}: unmounted (of no living run)" in result.stdout
    finally:
        sleeper.kill()
        sleeper.wait()
