"""Real kernel memory limits: a child that allocates past its cgroup limit is OOM-killed (SIGKILL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from aarya_chaos.errors import FaultError
from stack.drivers.local import cgroups
from stack.drivers.local.cgroups import (
    CGROUP_PREFIX,
    MemoryCgroup,
    leftover_cgroups,
    limit_memory,
    memory_cgroup_support,
    release,
    set_limit,
    wait_for_oom,
)

pytestmark = pytest.mark.integration

MB = 1 << 20

_REASON = memory_cgroup_support()
needs_cgroups = pytest.mark.skipif(_REASON is not None, reason=_REASON or "")

# Waits for "go" on stdin, then allocates step MB every pause_s seconds up to total MB, touching every
# page and printing "<time> <MB touched so far>" after every MB and after each pause; then prints "done" and sleeps.
ALLOCATOR = r"""
import sys, time
step, total, pause = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
print("ready", flush=True)
sys.stdin.readline()
chunks = []
touched = 0
while touched < total:
    block = bytearray(step << 20)
    for mb in range(step):
        for i in range(mb << 20, (mb + 1) << 20, 4096):
            block[i] = 1
        touched += 1
        print(f"{time.time():.6f} {touched}", flush=True)
    chunks.append(block)
    time.sleep(pause)
    print(f"{time.time():.6f} {touched}", flush=True)
print("done", flush=True)
time.sleep(120)
"""


class Allocator:
    def __init__(self, step_mb: int, total_mb: int, pause_s: float) -> None:
        self.popen = subprocess.Popen(
            [sys.executable, "-c", ALLOCATOR, str(step_mb), str(total_mb), str(pause_s)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, start_new_session=True,
        )
        assert self.popen.stdout is not None and self.popen.stdin is not None
        assert self.popen.stdout.readline().strip() == "ready"
        self.lines: list[str] = []

    @property
    def pid(self) -> int:
        return self.popen.pid

    def go(self) -> None:
        assert self.popen.stdin is not None
        self.popen.stdin.write("go\n")
        self.popen.stdin.flush()

    def read_until_done(self) -> bool:
        """Read progress lines until 'done' (True) or EOF, i.e. the process died (False)."""
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            line = line.strip()
            if line == "done":
                return True
            self.lines.append(line)
        return False

    def kill(self) -> None:
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.popen.wait(timeout=10)
        for stream in (self.popen.stdin, self.popen.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass


@pytest.fixture
def made() -> Iterator[list[MemoryCgroup]]:
    """Cgroups a test created; all released at teardown."""
    created: list[MemoryCgroup] = []
    yield created
    for cgroup in created:
        release(cgroup)
    for cgroup in created:
        assert not cgroup.path.exists(), f"{cgroup.path} left behind"


@pytest.fixture
def children() -> Iterator[list[Allocator]]:
    procs: list[Allocator] = []
    yield procs
    for proc in procs:
        proc.kill()


def unique(label: str) -> str:
    return f"pytest-{label}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


@needs_cgroups
def test_child_over_limit_is_oom_killed(made: list[MemoryCgroup], children: list[Allocator]) -> None:
    child = Allocator(step_mb=10, total_mb=500, pause_s=0.05)
    children.append(child)
    cgroup = limit_memory(unique("oom"), [child.pid], 64 * MB)
    made.append(cgroup)
    assert cgroup.path.name.startswith(f"{CGROUP_PREFIX}-")
    assert cgroup.limit_bytes() == 64 * MB
    assert cgroup.pids() == [child.pid]
    before = cgroup.oom_kills()

    child.go()
    started = time.monotonic()
    finished = child.read_until_done()
    returncode = child.popen.wait(timeout=30)
    died_at = time.time()

    assert not finished, f"the allocator reached 500 MB under a 64 MB limit: {child.lines[-3:]}"
    assert returncode == -signal.SIGKILL, f"expected SIGKILL (-9), got {returncode}"
    assert wait_for_oom(cgroup, before, timeout_s=5) >= before + 1
    assert time.monotonic() - started < 20
    # The last progress line is the last MB the child touched before the kill.
    last_time, last_mb = child.lines[-1].split()
    print(f"\ncgroup v{cgroup.version}: killed after touching {last_mb} MB of new memory, "
          f"{(died_at - float(last_time)) * 1000:.1f} ms after the last MB was touched")
    assert 40 <= int(last_mb) <= 64, f"killed after {last_mb} MB under a 64 MB limit"


@needs_cgroups
def test_generous_limit_leaves_the_process_alone(made: list[MemoryCgroup], children: list[Allocator]) -> None:
    child = Allocator(step_mb=20, total_mb=100, pause_s=0.0)
    children.append(child)
    cgroup = limit_memory(unique("generous"), [child.pid], 512 * MB)
    made.append(cgroup)
    child.go()
    assert child.read_until_done(), "the allocator died under a 512 MB limit"
    assert child.popen.poll() is None
    assert cgroup.usage_bytes() >= 100 * MB
    assert cgroup.limit_bytes() == 512 * MB
    assert cgroup.oom_kills() == 0
    assert cgroup.pids() == [child.pid]

    release(cgroup)
    assert not cgroup.path.exists()
    assert child.popen.poll() is None, "release must not hurt the process"
    release(cgroup)  # idempotent


@needs_cgroups
def test_lowering_below_usage(made: list[MemoryCgroup], children: list[Allocator]) -> None:
    """v1 refuses (EBUSY -> FaultError, old limit stays); v2 reclaims then OOM-kills."""
    child = Allocator(step_mb=20, total_mb=100, pause_s=0.0)
    children.append(child)
    cgroup = limit_memory(unique("lower"), [child.pid], 512 * MB)
    made.append(cgroup)
    child.go()
    assert child.read_until_done()
    before = cgroup.oom_kills()
    if cgroup.version == 1:
        with pytest.raises(FaultError, match="EBUSY"):
            set_limit(cgroup, 32 * MB)
        assert cgroup.limit_bytes() == 512 * MB
        assert child.popen.poll() is None
        set_limit(cgroup, 256 * MB)  # still above usage: fine, and raising again works too
        assert cgroup.limit_bytes() == 256 * MB
        set_limit(cgroup, 768 * MB)
        assert cgroup.limit_bytes() == 768 * MB
        memsw = cgroup.path / "memory.memsw.limit_in_bytes"
        if memsw.exists():
            assert int(memsw.read_text()) == 768 * MB
    else:
        set_limit(cgroup, 32 * MB)
        assert child.popen.wait(timeout=30) == -signal.SIGKILL
        assert cgroup.oom_kills() >= before + 1


@needs_cgroups
def test_release_is_idempotent_and_moves_processes_back(made: list[MemoryCgroup],
                                                         children: list[Allocator]) -> None:
    child = Allocator(step_mb=1, total_mb=1, pause_s=0.0)
    children.append(child)
    cgroup = limit_memory(unique("release"), [child.pid], 128 * MB)
    made.append(cgroup)
    assert cgroup.path.is_dir()
    release(cgroup)
    assert not cgroup.path.exists()
    assert child.popen.poll() is None
    assert child.pid in [int(p) for p in (cgroup.path.parent / "cgroup.procs").read_text().split()]
    release(cgroup)
    release(MemoryCgroup(cgroup.path.parent / f"{CGROUP_PREFIX}-never-existed-{uuid.uuid4().hex}",
                         cgroup.version))


@needs_cgroups
def test_leftover_cgroups_finds_unreleased_and_heals(made: list[MemoryCgroup],
                                                     children: list[Allocator]) -> None:
    child = Allocator(step_mb=1, total_mb=1, pause_s=0.0)
    children.append(child)
    cgroup = limit_memory(unique("leftover"), [child.pid], 128 * MB)
    made.append(cgroup)  # teardown safety net; the test releases it itself below
    # As `aarya-chaos heal` would after a crash: find it by name, without the object we got back.
    found = [c for c in leftover_cgroups() if c.path == cgroup.path]
    assert found == [MemoryCgroup(cgroup.path, cgroup.version)]
    release(found[0])
    assert not cgroup.path.exists()
    assert cgroup not in leftover_cgroups()
    assert child.popen.poll() is None


@needs_cgroups
def test_bad_arguments_and_vanished_pids(made: list[MemoryCgroup]) -> None:
    with pytest.raises(FaultError):
        limit_memory("../escape", [os.getpid()], 64 * MB)
    with pytest.raises(FaultError):
        limit_memory(unique("zero"), [os.getpid()], 0)
    # A pid that does not exist: nothing to limit, and no cgroup may remain.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait(timeout=10)
    name = unique("dead")
    with pytest.raises(FaultError, match="none of the processes"):
        limit_memory(name, [dead.pid], 64 * MB)
    assert not any(c.path.name == f"{CGROUP_PREFIX}-{name}" for c in leftover_cgroups())


def test_counters_parse_v1_and_v2_files(tmp_path: Path) -> None:
    """The file formats of both versions, on a fake cgroup directory (this machine has only one)."""
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "memory.events").write_text("low 0\nhigh 0\nmax 12\noom 2\noom_kill 2\noom_group_kill 0\n")
    (v2 / "memory.max").write_text("max\n")
    (v2 / "memory.current").write_text("4096\n")
    (v2 / "cgroup.procs").write_text("12\n34\n")
    cg2 = MemoryCgroup(v2, 2)
    assert (cg2.oom_kills(), cg2.limit_bytes(), cg2.usage_bytes(), cg2.pids()) == (2, None, 4096, [12, 34])
    (v2 / "memory.max").write_text("67108864\n")
    assert cg2.limit_bytes() == 64 * MB

    v1 = tmp_path / "v1"
    v1.mkdir()
    (v1 / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n")
    (v1 / "memory.limit_in_bytes").write_text("9223372036854771712\n")
    (v1 / "memory.usage_in_bytes").write_text("8192\n")
    (v1 / "cgroup.procs").write_text("")
    cg1 = MemoryCgroup(v1, 1)
    assert (cg1.oom_kills(), cg1.limit_bytes(), cg1.usage_bytes(), cg1.pids()) == (3, None, 8192, [])
    (v1 / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\n")  # kernel < 4.13
    with pytest.raises(FaultError, match="4.13"):
        cg1.oom_kills()
    with pytest.raises(FaultError, match="no longer exists"):
        MemoryCgroup(tmp_path / "gone", 1).usage_bytes()


def test_support_reason_when_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cgroups, "_cgroup_mounts", lambda: [])
    reason = memory_cgroup_support()
    assert reason is not None and "memory" in reason
    with pytest.raises(cgroups.CgroupsUnavailable):
        limit_memory(unique("none"), [os.getpid()], 64 * MB)


def test_no_child_left_behind() -> None:
    mine = [p for p in psutil.Process().children(recursive=True)
            if "bytearray" in " ".join(p.cmdline())]
    assert mine == []


def test_hierarchy_choice_prefers_v2_with_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Detection on fake mounts: v2 only when its root enables memory for children, else v1 memory."""
    v2, v1 = tmp_path / "unified", tmp_path / "memory"
    v2.mkdir()
    v1.mkdir()
    (v2 / "cgroup.controllers").write_text("cpu io memory pids\n")
    (v2 / "cgroup.subtree_control").write_text("cpu io memory pids\n")
    fake = [cgroups._Mount("cgroup2", "/", v2, ("rw",)), cgroups._Mount("cgroup", "/", v1, ("rw", "memory"))]
    monkeypatch.setattr(cgroups, "_cgroup_mounts", lambda: fake)
    monkeypatch.setattr(cgroups, "_own_cgroup_path", lambda version: "/")
    hierarchy, _ = cgroups._find_hierarchy()
    assert hierarchy is not None and (hierarchy.version, hierarchy.parent) == (2, v2)

    (v2 / "cgroup.subtree_control").write_text("cpu io\n")  # available but not enabled for children
    hierarchy, _ = cgroups._find_hierarchy()
    assert hierarchy is not None and (hierarchy.version, hierarchy.parent) == (1, v1)

    (v1 / "sandbox" / "job").mkdir(parents=True)  # v1: nest under the caller's own memory cgroup
    monkeypatch.setattr(cgroups, "_own_cgroup_path", lambda version: "/sandbox/job")
    hierarchy, _ = cgroups._find_hierarchy()
    assert hierarchy is not None and hierarchy.parent == v1 / "sandbox" / "job"

    monkeypatch.setattr(cgroups, "_cgroup_mounts", lambda: fake[:1])  # v2 without memory enabled, no v1
    hierarchy, reason = cgroups._find_hierarchy()
    assert hierarchy is None and "+memory" in reason
