"""A kernel-enforced memory limit on a running process tree, on cgroup v2 or v1, whichever the machine has.

Which hierarchy (decided at run time from /proc/self/mountinfo, nothing hard-coded):

- a cgroup2 mount whose root has ``memory`` in ``cgroup.subtree_control`` (the usual pure-v2 systemd
  machine): our cgroups are created directly under that root, ``<mount>/aarya-chaos-<name>``;
- else a cgroup v1 ``memory`` mount: our cgroups are created under the memory cgroup the *calling*
  process is in (``/proc/self/cgroup``), i.e. at the hierarchy root when we run in the root cgroup.
  Nesting keeps any limit or accounting a supervisor put on us in force for the processes we move;
  v1 has no "no internal processes" rule, so a cgroup with processes may have children.

A cgroup2 hierarchy that merely exists without the memory controller (a hybrid machine's
``/sys/fs/cgroup/unified``) is ignored.

Semantics worth knowing before relying on this:

- **Charges do not move with a process.** Memory a process already has stays charged to its old cgroup
  (v2 never moves charges; v1's ``memory.move_charge_at_immigrate`` is gone on recent kernels and is
  not used). The limit therefore bounds what the tree allocates *after* the move, plus memory of
  processes it forks afterwards.
- **No escape into swap.** v2: ``memory.swap.max = 0`` when the file exists. v1: when the kernel accounts
  swap (``memory.memsw.limit_in_bytes`` exists) it is set equal to the memory limit, so memory+swap is
  bounded by the same number and a process hits the OOM killer instead of swapping.
- **Lowering a limit below current usage** (``set_limit``): v2 reclaims what it can and then the
  kernel OOM-kills a process in the cgroup; the write succeeds. v1 answers ``EBUSY`` immediately when it
  cannot reclaim enough (anonymous memory without swap); ``set_limit`` then raises ``FaultError`` naming
  the usage and leaves the previous limit in place. Lowering stepwise does not help (anonymous memory
  cannot be reclaimed without swap), so it is not attempted. ``limit_memory`` never meets this case: it
  sets the limit on the empty cgroup first and moves the processes afterwards.
- When the limit is exceeded the kernel's OOM killer sends SIGKILL to the largest process of the
  cgroup (exit status 137 / ``returncode == -9``) and increments the counter read by ``oom_kills()``:
  v2 ``memory.events`` ``oom_kill``, v1 ``memory.oom_control`` ``oom_kill`` (kernel >= 4.13).
"""

from __future__ import annotations

import errno
import logging
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil

from aarya_chaos.errors import FaultError

log = logging.getLogger("aarya.cgroups")

CGROUP_PREFIX = "aarya-chaos"

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,100}$")
# v1 reports "no limit" as PAGE_COUNTER_MAX pages (0x7FFFFFFFFFFFF000 with 4 KiB pages); anything this
# large is no limit.
_V1_UNLIMITED = 1 << 62
_RMDIR_DEADLINE_S = 5.0


class CgroupsUnavailable(FaultError):
    """No writable memory controller (or not root): the message says why and what is needed."""


@dataclass(frozen=True)
class MemoryCgroup:
    path: Path
    version: int

    @property
    def name(self) -> str:
        return self.path.name

    def exists(self) -> bool:
        return self.path.is_dir()

    def usage_bytes(self) -> int:
        """Memory currently charged to the cgroup (v2 memory.current, v1 memory.usage_in_bytes)."""
        return int(self._read("memory.current" if self.version == 2 else "memory.usage_in_bytes"))

    def limit_bytes(self) -> int | None:
        """The hard limit, or None when unlimited."""
        if self.version == 2:
            raw = self._read("memory.max")
            return None if raw == "max" else int(raw)
        value = int(self._read("memory.limit_in_bytes"))
        return None if value >= _V1_UNLIMITED else value

    def oom_kills(self) -> int:
        """How many processes the OOM killer has killed in this cgroup (since it was created)."""
        if self.version == 2:
            fields = _keyed(self._read("memory.events"))
            return fields.get("oom_kill", 0)
        fields = _keyed(self._read("memory.oom_control"))
        if "oom_kill" not in fields:
            raise FaultError(
                f"{self.path / 'memory.oom_control'} has no oom_kill counter (needs Linux >= 4.13); "
                "cannot tell whether the OOM killer fired")
        return fields["oom_kill"]

    def pids(self) -> list[int]:
        """The processes (thread group ids) in the cgroup itself."""
        return [int(line) for line in self._read("cgroup.procs").split()]

    def _read(self, filename: str) -> str:
        try:
            return (self.path / filename).read_text().strip()
        except FileNotFoundError as exc:
            if not self.path.exists():
                raise FaultError(f"cgroup {self.path} no longer exists") from exc
            raise FaultError(f"{self.path / filename} is missing (kernel without this interface?)") from exc
        except OSError as exc:
            raise FaultError(f"cannot read {self.path / filename}: {exc}") from exc


def _keyed(text: str) -> dict[str, int]:
    """Parse 'key value' lines (memory.events, memory.oom_control) into a dict of ints."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            out[parts[0]] = int(parts[1])
    return out


# --- finding the hierarchy --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Hierarchy:
    version: int
    mountpoint: Path
    parent: Path  # where our cgroups are created


@dataclass(frozen=True)
class _Mount:
    fstype: str
    root: str  # the path inside the hierarchy that is mounted (field 4 of mountinfo)
    mountpoint: Path
    super_options: tuple[str, ...]


def _unescape(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def _cgroup_mounts() -> list[_Mount]:
    mounts: list[_Mount] = []
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return mounts
    for line in lines:
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3 or tail[0] not in ("cgroup", "cgroup2"):
            continue
        mounts.append(_Mount(tail[0], _unescape(fields[3]), Path(_unescape(fields[4])),
                             tuple(tail[2].split(","))))
    return mounts


def _own_cgroup_path(version: int) -> str | None:
    """This process's cgroup path in the v2 hierarchy or the v1 memory hierarchy."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        hid, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if version == 2 and hid == "0" and controllers == "":
            return path
        if version == 1 and "memory" in controllers.split(","):
            return path
    return None


def _v2_memory_mounts(mounts: list[_Mount]) -> list[_Mount]:
    out = []
    for mount in mounts:
        if mount.fstype != "cgroup2":
            continue
        try:
            available = (mount.mountpoint / "cgroup.controllers").read_text().split()
        except OSError:
            continue
        if "memory" in available:
            out.append(mount)
    return out


def _v1_memory_mounts(mounts: list[_Mount]) -> list[_Mount]:
    return [m for m in mounts if m.fstype == "cgroup" and "memory" in m.super_options]


def _find_hierarchy() -> tuple[_Hierarchy | None, str]:
    """The hierarchy to use, or None and the reason none is usable."""
    mounts = _cgroup_mounts()
    reasons: list[str] = []
    for mount in _v2_memory_mounts(mounts):
        try:
            enabled = (mount.mountpoint / "cgroup.subtree_control").read_text().split()
        except OSError as exc:
            reasons.append(f"cannot read {mount.mountpoint}/cgroup.subtree_control: {exc}")
            continue
        if "memory" not in enabled:
            reasons.append(f"cgroup2 at {mount.mountpoint} has the memory controller but does not enable it "
                           f"for children (as root: echo +memory > {mount.mountpoint}/cgroup.subtree_control)")
            continue
        return _Hierarchy(2, mount.mountpoint, mount.mountpoint), ""
    for mount in _v1_memory_mounts(mounts):
        parent = mount.mountpoint
        own = _own_cgroup_path(1)
        if own is not None:
            # /proc/self/cgroup paths are relative to the hierarchy's root; the mount may show a subtree.
            rel = os.path.relpath(own, mount.root) if mount.root != "/" else own.lstrip("/")
            candidate = (mount.mountpoint / rel).resolve() if not rel.startswith("..") else mount.mountpoint
            if candidate.is_dir() and candidate.is_relative_to(mount.mountpoint):
                parent = candidate
        return _Hierarchy(1, mount.mountpoint, parent), ""
    if not reasons:
        reasons.append("no cgroup2 hierarchy with the memory controller and no cgroup v1 memory hierarchy is "
                       "mounted (need e.g. `mount -t cgroup2 none /sys/fs/cgroup` on a kernel with "
                       "CONFIG_MEMCG, or `mount -t cgroup -o memory cgroup /sys/fs/cgroup/memory`)")
    return None, "; ".join(reasons)


def _usable_hierarchy() -> _Hierarchy:
    hierarchy, reason = _find_hierarchy()
    if hierarchy is None:
        raise CgroupsUnavailable(f"memory cgroups unavailable: {reason}")
    if not os.access(hierarchy.parent, os.W_OK | os.X_OK):
        who = "not root (euid %d)" % os.geteuid() if os.geteuid() != 0 else "root, but it is not writable"
        raise CgroupsUnavailable(
            f"memory cgroups unavailable: cannot create cgroups in {hierarchy.parent} ({who}); run as root "
            "or get a delegated, writable cgroup subtree with the memory controller")
    return hierarchy


def memory_cgroup_support() -> str | None:
    """None when limit_memory() can be used here, else the reason (suitable for a pytest skip message)."""
    try:
        _usable_hierarchy()
    except CgroupsUnavailable as exc:
        return str(exc)
    return None


# --- limiting ---------------------------------------------------------------------------------------


def _write(path: Path, value: str) -> None:
    # One write(2) of the whole value: cgroup files act on each write separately.
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def process_tree(pid: int) -> list[int]:
    """A process and all its descendants (for limit_memory(name, process_tree(pid), ...))."""
    try:
        proc = psutil.Process(pid)
        return [pid, *(child.pid for child in proc.children(recursive=True))]
    except psutil.NoSuchProcess:
        return []


def run_prefix(run_id: str) -> str:
    """What the names of a run's cgroups start with: a driver names them `<run id>-<component>`
    (`limit_memory(f"{run_id}-{component}", ...)`), so a dead run's cgroups are found by its id and
    another run's are never touched."""
    return f"{CGROUP_PREFIX}-{run_id}-"


def limit_memory(name: str, pids: Iterable[int], limit_bytes: int) -> MemoryCgroup:
    """Create ``aarya-chaos-<name>``, set its hard limit, move every pid into it, return it.

    The limit is set before any process is moved, so it can be below what the processes already use
    (those charges stay with their old cgroup; see the module docstring). A pid that has exited by the
    time it is moved is skipped; if none could be moved the cgroup is released and FaultError raised.
    An existing cgroup of the same name (a leftover) is reused. Raises CgroupsUnavailable when the
    machine has no usable memory controller.
    """
    if not _NAME_RE.match(name):
        raise FaultError(f"bad cgroup name {name!r}: letters, digits, '_', '.', '-' only")
    if limit_bytes <= 0:
        raise FaultError(f"memory limit must be positive, got {limit_bytes}")
    wanted = list(dict.fromkeys(pids))
    if not wanted:
        raise FaultError(f"limit_memory({name!r}): no pids given")
    hierarchy = _usable_hierarchy()
    path = hierarchy.parent / f"{CGROUP_PREFIX}-{name}"
    try:
        path.mkdir(exist_ok=True)
    except OSError as exc:
        raise CgroupsUnavailable(f"cannot create cgroup {path}: {exc}") from exc
    cgroup = MemoryCgroup(path, hierarchy.version)
    try:
        if hierarchy.version == 2 and (path / "memory.swap.max").exists():
            _write(path / "memory.swap.max", "0")
        set_limit(cgroup, limit_bytes)
        moved = []
        for pid in wanted:
            try:
                _write(path / "cgroup.procs", str(pid))
                moved.append(pid)
            except ProcessLookupError:
                log.info("pid %d exited before it could be moved into %s", pid, path)
        if not moved:
            raise FaultError(f"none of the processes {wanted} exist any more; nothing put under {path}")
    except BaseException as exc:
        try:
            release(cgroup)
        except FaultError as cleanup:
            log.warning("%s", cleanup)
        if isinstance(exc, OSError):
            raise FaultError(f"could not put {wanted} under a {limit_bytes}-byte limit in {path}: {exc}") from exc
        raise
    log.info("memory limit %d bytes on pids %s (cgroup v%d %s)", limit_bytes, moved, hierarchy.version, path)
    return cgroup


def set_limit(cgroup: MemoryCgroup, limit_bytes: int) -> None:
    """Change the hard limit (swap held to the same bound on v1, to 0 on v2).

    Below current usage: v2 reclaims then OOM-kills inside the cgroup; v1 refuses with EBUSY, which is
    raised as FaultError (the previous limit stays).
    """
    if limit_bytes <= 0:
        raise FaultError(f"memory limit must be positive, got {limit_bytes}")
    path = cgroup.path
    try:
        if cgroup.version == 2:
            _write(path / "memory.max", str(limit_bytes))
            return
        memsw = path / "memory.memsw.limit_in_bytes"
        if not memsw.exists():
            _write(path / "memory.limit_in_bytes", str(limit_bytes))
            return
        # memory.limit_in_bytes must never exceed memsw.limit_in_bytes: lower the memory limit first,
        # raise the memory+swap limit first.
        current = int((path / "memory.limit_in_bytes").read_text())
        if limit_bytes <= current:
            _write(path / "memory.limit_in_bytes", str(limit_bytes))
            _write(memsw, str(limit_bytes))
        else:
            _write(memsw, str(limit_bytes))
            _write(path / "memory.limit_in_bytes", str(limit_bytes))
    except OSError as exc:
        if exc.errno == errno.EBUSY:
            usage = _safe(cgroup.usage_bytes)
            raise FaultError(
                f"cgroup v1 refused a {limit_bytes}-byte limit on {path}: usage is {usage} bytes and the "
                "kernel could not reclaim below the new limit (EBUSY); the previous limit stays. cgroup v1 "
                "does not OOM-kill on a limit change: set the limit before the memory is allocated") from exc
        if exc.errno == errno.ENOENT and not path.exists():
            raise FaultError(f"cgroup {path} no longer exists") from exc
        raise FaultError(f"cannot set memory limit {limit_bytes} on {path}: {exc}") from exc


def _safe(fn: Callable[[], int]) -> str:
    try:
        return str(fn())
    except Exception:  # noqa: BLE001 - only for an error message
        return "unknown"


def wait_for_oom(cgroup: MemoryCgroup, previous: int, timeout_s: float, *, poll_s: float = 0.02) -> int:
    """Wait until oom_kills() exceeds ``previous``; return the new count. FaultError after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while True:
        count = cgroup.oom_kills()
        if count > previous:
            return count
        if time.monotonic() >= deadline:
            raise FaultError(f"no OOM kill in {cgroup.path} within {timeout_s:.1f}s "
                             f"(oom_kill still {count}, usage {_safe(cgroup.usage_bytes)} bytes)")
        time.sleep(poll_s)


def release(cgroup: MemoryCgroup) -> None:
    """Move any remaining processes to the parent cgroup and remove the cgroup. Idempotent.

    Never raises for a cgroup that is already gone; raises FaultError if it cannot be removed
    (a process keeps reappearing, or a child cgroup exists).
    """
    path = cgroup.path
    parent_procs = path.parent / "cgroup.procs"
    deadline = time.monotonic() + _RMDIR_DEADLINE_S
    while True:
        if not path.exists():
            return
        try:
            pids = cgroup.pids()
        except FaultError:
            pids = []
        for pid in pids:
            try:
                _write(parent_procs, str(pid))
            except ProcessLookupError:
                pass
            except OSError as exc:
                log.warning("cannot move pid %d out of %s: %s", pid, path, exc)
        try:
            path.rmdir()
            log.info("released cgroup %s", path)
            return
        except FileNotFoundError:
            return
        except OSError as exc:
            # EBUSY: a process was still there (a fork raced us, or an exiting task not yet gone).
            if time.monotonic() >= deadline:
                raise FaultError(f"cannot remove cgroup {path}: {exc} (pids: {pids})") from exc
        time.sleep(0.02)


def _walk(root: Path, max_depth: int = 12) -> Iterator[Path]:
    """Directories of a cgroup hierarchy named aarya-chaos-*, not descending into those."""
    stack = [(root, 0)]
    while stack:
        directory, depth = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            try:
                if not entry.is_dir(follow_symlinks=False):
                    continue
            except OSError:
                continue
            if entry.name.startswith(f"{CGROUP_PREFIX}-"):
                yield Path(entry.path)
            elif depth < max_depth:
                stack.append((Path(entry.path), depth + 1))


def leftover_cgroups() -> list[MemoryCgroup]:
    """Every cgroup named aarya-chaos-* in any memory hierarchy (for `aarya-chaos heal` after a crash)."""
    mounts = _cgroup_mounts()
    found: list[MemoryCgroup] = []
    for mount in _v2_memory_mounts(mounts):
        found += [MemoryCgroup(p, 2) for p in _walk(mount.mountpoint)]
    for mount in _v1_memory_mounts(mounts):
        found += [MemoryCgroup(p, 1) for p in _walk(mount.mountpoint)]
    return sorted(set(found), key=lambda c: str(c.path))


def release_run(run_id: str) -> list[str]:
    """The memory cgroups of run `run_id` released; one line saying which."""
    if memory_cgroup_support() is not None:
        return []
    found = [c for c in leftover_cgroups() if c.path.name.startswith(run_prefix(run_id))]
    for cgroup in found:
        release(cgroup)
    return [f"cgroups: released {', '.join(c.path.name for c in found) or 'none'}"]
