"""The machine's registry of runs: every stack a process starts is written down, so a crashed run is found.

    entry = register(config, driver="local")        # at a driver's start, before anything binds a port
    ...
    unregister(config)                               # at its clean stop
    for entry in entries(): print(entry.run_dir, entry.alive())

One JSON file per run directory in RUNS_DIR (`$AARYA_RUNS_DIR`, else /var/lib/aarya-chaos/runs as root,
else ~/.local/state/aarya-chaos/runs): which process owns the run (pid and start time, so a recycled pid is
never mistaken for it), what kind of run it is (`up`, `pytest`, `gameday`, `bite`), which driver, and the
whole configuration, so `aarya-chaos heal` and `down` can clear a dead run whatever config file is at hand.
It lives outside /tmp because a docker run's containers outlive a reboot.

Every process a run starts carries its owner in the environment (`AARYA_CHAOS_OWNER`, set in the owner's own
environment at registration, so children of children inherit it too: locust workers, a PostgreSQL that
`pg_ctl` started, a script's helpers). That is how the processes of a dead owner are found, beside run.json.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import sys
import threading
import time
import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from pydantic import ValidationError

from aarya_chaos.errors import StackAlreadyRunning
from stack.config import StackConfig

log = logging.getLogger("aarya.runs")

OWNER_ENV = "AARYA_CHAOS_OWNER"
KIND_ENV = "AARYA_RUN_KIND"  # set by a parent that runs pytest for its own purpose (bite, game day)
CREATE_TIME_SLACK_S = 1.0
_kind = "python"


def runs_dir() -> Path:
    if "AARYA_RUNS_DIR" in os.environ:
        return Path(os.environ["AARYA_RUNS_DIR"])
    if os.geteuid() == 0:
        return Path("/var/lib/aarya-chaos/runs")
    state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return state / "aarya-chaos" / "runs"


def run_id_for(run_dir: Path) -> str:
    """A stable id per run directory: `<name>-<hash>`, safe in file, cgroup, label and Compose names."""
    slug = re.sub(r"[^a-z0-9]+", "-", run_dir.name.lower()).strip("-")[:24] or "run"
    digest = hashlib.sha256(str(run_dir.resolve()).encode()).hexdigest()[:8]
    return f"{slug}-{digest}"


def set_kind(kind: str) -> None:
    """What this process is (`up`, `pytest`, `gameday`, `bite`), written into the runs it registers;
    `$AARYA_RUN_KIND` wins (a bite run's pytest is a bite run)."""
    global _kind
    _kind = os.environ.get(KIND_ENV) or kind


@dataclass(frozen=True)
class Owner:
    """A process, by pid and start time."""

    pid: int
    create_time: float

    @classmethod
    def me(cls) -> Owner:
        proc = psutil.Process()
        return cls(proc.pid, proc.create_time())

    @classmethod
    def parse(cls, token: str) -> Owner | None:
        pid, _, created = token.partition("@")
        try:
            return cls(int(pid), float(created))
        except ValueError:
            return None

    @property
    def token(self) -> str:
        return f"{self.pid}@{self.create_time:.2f}"

    def alive(self) -> bool:
        try:
            proc = psutil.Process(self.pid)
            return (abs(proc.create_time() - self.create_time) < CREATE_TIME_SLACK_S
                    and proc.status() != psutil.STATUS_ZOMBIE)
        except psutil.Error:
            return False


@dataclass(frozen=True)
class RunEntry:
    run_dir: Path
    run_id: str
    kind: str
    driver: str
    owner: Owner
    started: float
    argv: tuple[str, ...]
    config: StackConfig

    @property
    def path(self) -> Path:
        return runs_dir() / f"{self.run_id}.json"

    def alive(self) -> bool:
        return self.owner.alive()

    def to_json(self) -> dict[str, Any]:
        return {"run_dir": str(self.run_dir), "run_id": self.run_id, "kind": self.kind, "driver": self.driver,
                "owner": {"pid": self.owner.pid, "create_time": self.owner.create_time},
                "started": self.started, "argv": list(self.argv), "config": self.config.model_dump(mode="json")}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunEntry:
        owner = data["owner"]
        return cls(Path(data["run_dir"]), str(data["run_id"]), str(data["kind"]), str(data["driver"]),
                   Owner(int(owner["pid"]), float(owner["create_time"])), float(data["started"]),
                   tuple(str(a) for a in data.get("argv", ())), StackConfig.model_validate(data["config"]))


def entry_path(run_dir: Path) -> Path:
    return runs_dir() / f"{run_id_for(run_dir)}.json"


def read_entry(path: Path) -> RunEntry:
    """One registry file; ValueError naming the file when it cannot be read as an entry."""
    try:
        return RunEntry.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError, ValidationError) as exc:
        raise ValueError(f"{path}: not a run entry ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})") \
            from None


def entries() -> list[RunEntry]:
    """Every run recorded on this machine, oldest first; unreadable files are logged and left in place."""
    found = []
    for path in sorted(runs_dir().glob("*.json")):
        try:
            found.append(read_entry(path))
        except ValueError as exc:
            log.warning("skipping %s", exc)
    return sorted(found, key=lambda e: e.started)


def unreadable() -> list[str]:
    """Registry files that are not run entries, each with why (shown by `aarya-chaos runs`)."""
    bad = []
    for path in sorted(runs_dir().glob("*.json")):
        try:
            read_entry(path)
        except ValueError as exc:
            bad.append(str(exc))
    return bad


def find(run_dir: Path) -> RunEntry | None:
    path = entry_path(run_dir)
    if not path.exists():
        return None
    try:
        return read_entry(path)
    except ValueError as exc:
        log.warning("ignoring %s", exc)
        return None


def register(config: StackConfig, driver: str) -> RunEntry:
    """Record this process as the owner of `config.run_dir`, and mark its future children as its own.

    Raises StackAlreadyRunning when a living process owns that run directory, or the ports of this config.
    A dead owner's entry is replaced: reap it first (`stack.reaper`), as every driver does before it starts.
    """
    me = Owner.me()
    for other in entries():
        if other.run_id != run_id_for(config.run_dir) and other.owner != me and other.alive():
            clash = sorted(set(other.config.listen_ports().values()) & set(config.listen_ports().values()))
            if clash and other.config.host == config.host:
                raise StackAlreadyRunning(
                    f"port(s) {', '.join(map(str, clash[:5]))} belong to the {other.kind} run in {other.run_dir} "
                    f"(pid {other.owner.pid}); stop it with `aarya-chaos down --run {other.run_dir}`, or change "
                    "the ports in aarya-chaos.toml")
    current = find(config.run_dir)
    if current is not None and current.owner != me and current.alive():
        raise StackAlreadyRunning(f"the {current.kind} run of pid {current.owner.pid} already owns "
                                  f"{config.run_dir}; stop it with `aarya-chaos down --run {config.run_dir}`, "
                                  "or choose another run_dir")
    entry = RunEntry(config.run_dir, run_id_for(config.run_dir), _kind, driver, me, time.time(),
                     tuple(sys.argv), config)
    _write(entry)
    os.environ[OWNER_ENV] = me.token
    return entry


def unregister(config: StackConfig) -> None:
    """Drop this process's entry for `config.run_dir` (another owner's entry is left alone)."""
    current = find(config.run_dir)
    if current is not None and current.owner == Owner.me():
        forget(current)


def forget(entry: RunEntry) -> None:
    try:
        entry.path.unlink()
    except FileNotFoundError:
        pass


def _write(entry: RunEntry) -> None:
    directory = runs_dir()
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / f".{entry.run_id}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # the config holds the stack's passwords
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(entry.to_json(), out, indent=2)
        out.flush()
        os.fsync(out.fileno())
    tmp.replace(entry.path)


SETPRIV = shutil.which("setpriv")  # util-linux, on every Debian


def dying_with_owner(command: Sequence[str], sig: int) -> list[str]:
    """`command` under `setpriv --pdeathsig`: the kernel sends it `sig` when its owner dies, so a run
    killed with SIGKILL takes its processes with it instead of leaving them on the ports.

    Only from the main thread: the kernel ties the signal to the thread that started the child, and the
    end of any other thread would kill a healthy process. (A setpriv, not a preexec_fn: nothing of Python
    runs between fork and exec.) Without setpriv, the run's registry entry and owner mark still let the
    next start, `aarya-chaos down` and `heal` find the process.
    """
    if SETPRIV is None or threading.current_thread() is not threading.main_thread():
        return list(command)
    return [SETPRIV, f"--pdeathsig={signal.Signals(sig).name}", "--", *command]


def with_owner_mark(env: Mapping[str, str] | None) -> dict[str, str] | None:
    """An explicit environment with the run owner's mark of now (stack/runs.py); None inherits it anyway."""
    if env is None:
        return None
    mark = os.environ.get(OWNER_ENV)
    return {**env, OWNER_ENV: mark} if mark else dict(env)


def marked_processes(owner: Owner) -> list[psutil.Process]:
    """Processes that carry `owner` in their environment, without this process and its ancestors."""
    spared = {os.getpid(), *(p.pid for p in psutil.Process().parents())}
    found = []
    for proc in _processes():
        if proc.pid in spared:
            continue
        try:
            if proc.environ().get(OWNER_ENV) == owner.token:
                found.append(proc)
        except psutil.Error:  # gone meanwhile, or another user's process we may not read
            continue
    return found


def _processes() -> Iterator[psutil.Process]:
    yield from psutil.process_iter()
