"""Clearing the runs whose owner died: their processes, cgroups, mounts, containers and registry entries.

    for report in reap_dead_runs():          # every driver's start does this before it binds a port
        print(report.describe())

A dead run is cleared in the order that loses nothing: paused processes resumed (a stopped process never
handles SIGTERM), the stack stopped the way its driver stops it (PostgreSQL with a fast shutdown, so it
writes its checkpoint), every other process that carries the owner's mark terminated (locust, a restarted
service, an extra instance, a script half-way), then the run's cgroups released, its tmpfs mounts
undone (pg_wal's WAL copied back to the real disk first), a restore cut off half-way rolled back to the
data directory it replaced, and last its registry entry dropped. Only what
names the run is touched: its run directory, its run id, its owner's mark, its docker label.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from aarya_chaos.errors import ChaosError
from stack import runs
from stack.drivers.registry import driver_kind
from stack import mounts
from stack.drivers.local import cgroups
from stack.pgrestore import roll_back_interrupted_restore
from stack.pgwal import finish_interrupted_move, rescue_wal_from_tmpfs
from stack.runs import RunEntry

log = logging.getLogger("aarya.reaper")

TERMINATE_WAIT_S = 10.0
MAX_ROUNDS = 5  # killing a dead run's processes can leave the runs those processes owned dead in turn


@dataclass
class RunReport:
    """What clearing one run found and did, one line per kind of thing."""

    entry: RunEntry
    lines: list[str] = field(default_factory=list)

    def describe(self) -> str:
        head = (f"{self.entry.kind} run in {self.entry.run_dir} ({self.entry.driver}; owner pid "
                f"{self.entry.owner.pid}, dead)")
        return "\n".join([head, *(f"  - {line}" for line in self.lines)])


def what_is_left(entry: RunEntry) -> list[str]:
    """What of a run is still on the machine, one line per thing (empty: nothing): processes that carry its
    owner's mark or name its run dir or ports, its ports taken, its tmpfs mounts and cgroups, its docker
    containers and networks (volumes are the data: they stay), its registry entry."""
    kind = driver_kind(entry.driver)
    left = [f"process {p.pid} ({_describe(p)})" for p in _processes_of(entry, by_port=kind.owns_stack_ports)]
    if kind.owns_stack_ports:
        left += [f"port {port} ({owner}) taken" for owner, port in entry.config.listen_ports().items()
                 if not _port_free(entry.config.host, port)]
    left += [f"mount {m}" for m in mounts_of_run(entry.run_dir, entry.run_id)[0]]
    if cgroups.memory_cgroup_support() is None:
        left += [f"cgroup {c.path}" for c in cgroups.leftover_cgroups()
                 if c.path.name.startswith(cgroups.run_prefix(entry.run_id))]
    left += kind.leftovers_of_run(entry.run_id)
    deny = entry.run_dir / "nginx" / "deny.conf"
    if deny.exists():
        left += [f"deny-list line {line.strip()!r}" for line in deny.read_text().splitlines()
                 if line.strip().startswith("deny")]
    if runs.find(entry.run_dir) is not None:
        left.append(f"registry entry {runs.entry_path(entry.run_dir)}")
    return left


def _processes_of(entry: RunEntry, *, by_port: bool) -> list[psutil.Process]:
    """Marked with the run's owner, or naming its run dir; with `by_port`, also one naming one of its ports or
    its gateway (the load)."""
    ports = [str(p) for p in entry.config.listen_ports().values()] if by_port else []
    gateway = f"{entry.config.host}:{entry.config.gateway.port}/"
    found = {p.pid: p for p in runs.marked_processes(entry.owner)}
    for proc in psutil.process_iter(["cmdline"]):
        command = " ".join(proc.info["cmdline"] or [])
        if str(entry.run_dir) in command or (by_port and gateway in command) or \
                any(f"--port {p}" in command or f"-port {p}" in command for p in ports):
            found.setdefault(proc.pid, proc)
    return [p for p in found.values() if p.pid != os.getpid() and _running(p)]


def _running(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _describe(proc: psutil.Process) -> str:
    try:
        return " ".join(proc.cmdline())[:100] or proc.name()
    except psutil.Error:
        return "?"


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def dead_runs() -> list[RunEntry]:
    return [entry for entry in runs.entries() if not entry.alive()]


def reap_dead_runs() -> list[RunReport]:
    """Clear every run whose owner is dead, until none is left (bounded)."""
    reports: list[RunReport] = []
    done: set[str] = set()
    for _ in range(MAX_ROUNDS):
        todo = [e for e in dead_runs() if e.run_id not in done]
        if not todo:
            break
        for entry in todo:
            reports.append(reap(entry))
            done.add(entry.run_id)
    return reports


def reap(entry: RunEntry) -> RunReport:
    """Clear one run (its owner must be dead: a living owner's run is stopped through its owner)."""
    report = RunReport(entry)
    if entry.alive():
        raise ChaosError(f"the run in {entry.run_dir} is owned by the living pid {entry.owner.pid}; not reaping it")
    marked = runs.marked_processes(entry.owner)
    resume(marked)
    report.lines += driver_kind(entry.driver).stop_dead_stack(entry.config)
    report.lines.append(terminate(runs.marked_processes(entry.owner), "processes started by the dead owner"))
    report.lines += cgroups.release_run(entry.run_id)
    report.lines += run_mounts(entry.run_dir, entry.run_id)
    report.lines += finish_wal_move(entry.run_dir)
    report.lines += roll_back_restore(entry.run_dir)
    runs.forget(entry)
    log.warning("reaped the dead %s run in %s", entry.kind, entry.run_dir)
    return report


def resume(procs: list[psutil.Process]) -> None:
    for proc in procs:
        try:
            if proc.status() == psutil.STATUS_STOPPED:
                proc.send_signal(signal.SIGCONT)
        except psutil.Error:
            continue


def terminate(procs: list[psutil.Process], what: str) -> str:
    """SIGTERM, then SIGKILL what is still there after TERMINATE_WAIT_S; one line saying what happened."""
    if not procs:
        return f"{what}: none left"
    names = []
    for proc in procs:
        try:
            names.append(f"{proc.name()} ({proc.pid})")
            proc.send_signal(signal.SIGCONT)
            proc.terminate()
        except psutil.Error:
            continue
    _, alive = psutil.wait_procs(procs, timeout=TERMINATE_WAIT_S)
    for proc in alive:
        try:
            proc.kill()
        except psutil.Error:
            continue
    psutil.wait_procs(alive, timeout=5)
    killed = f", {len(alive)} killed after {TERMINATE_WAIT_S:.0f} s" if alive else ""
    return f"{what}: terminated {', '.join(names)}{killed}"


def mounts_of_run(run_dir: Path, run_id: str) -> tuple[list[Path], list[Path]]:
    """The run's tmpfs mounts, deepest first (below its run dir, or below its docker volumes' host side), and
    those volumes' roots (where undoing them is allowed); nothing when this machine cannot mount."""
    if mounts.mount_support() is not None:
        return [], []
    volumes = [root for root in mounts.aarya_volume_roots() if f"-{run_id}_" in str(root)]
    found = [path for path in mounts.leftover_mounts(allowed_roots=volumes)
             if below(path, run_dir) or any(below(path, root) for root in volumes)]
    return found, volumes


def run_mounts(run_dir: Path, run_id: str) -> list[str]:
    """The run's tmpfs mounts undone (pg_wal's WAL copied back first)."""
    if mounts.mount_support() is not None:
        return []
    return [f"mounts: {line}" for line in undo_mounts(*mounts_of_run(run_dir, run_id))]


def undo_mounts(found: list[Path], volumes: list[Path]) -> list[str]:
    """Unmount each (deepest first, as `mounts.leftover_mounts` orders them); a pg_wal tmpfs (5.1's) has
    the newest WAL on it, which is copied back to the real disk first."""
    lines = []
    for path in found:
        if path.name == "pg_wal":
            lines.append(rescue_wal_from_tmpfs(path, allowed_roots=(*volumes, path.parent)))
        else:
            mounts.unmount(path, allowed_roots=volumes)
            lines.append(f"{path}: unmounted")
    return lines or ["none"]


def finish_wal_move(run_dir: Path) -> list[str]:
    """A pg_wal move (5.1's tmpfs) the dead run left half-way with the tmpfs already gone, finished (stack/pgwal.py);
    PGDATA as the run's stack.env names it."""
    pgdata = stack_env_value(run_dir, "PGDATA")
    line = finish_interrupted_move(Path(pgdata)) if pgdata else None
    return [line] if line else []


def roll_back_restore(run_dir: Path) -> list[str]:
    """A restore the dead run left half-way (stack/pgrestore.py), put back; PGDATA as the run's stack.env
    names it (on docker, the host side of its volume)."""
    pgdata = stack_env_value(run_dir, "PGDATA")
    line = roll_back_interrupted_restore(Path(pgdata)) if pgdata else None
    return [line] if line else []


def stack_env_value(run_dir: Path, name: str) -> str | None:
    try:
        lines = (run_dir / "stack.env").read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    values = dict(line.partition("=")[::2] for line in lines if "=" in line)
    return values.get(name, "").strip() or None


def below(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
        return True
    except ValueError:
        return False
