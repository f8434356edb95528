"""Run the locust journeys (load/locustfile.py) as subprocesses: headless, bounded, always cleaned up.

Locust monkey-patches gevent on import and its pytest plugin claims --host, so it never runs inside the
caller's process. One process by default; with `LoadProfile(workers=N)` a master plus N workers on
loopback, each worker writing its own history file.

    with LoadRun(config.gateway_url, run_dir / "history", LoadProfile(users=10), output_dir=out) as load:
        ...inject a fault, wait, heal...
    summary = load.stop()          # idempotent; the `with` block already stopped it
    ops = pair_ops(read_records(summary.history_files))
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from aarya_chaos.errors import NotReady
from stack.ports import free_port
from stack.runs import dying_with_owner

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
REPO_ROOT = Path(__file__).resolve().parents[1]
API_PREFIX = "/api/v1"
POLL_INTERVAL_S = 0.1
LOG_TAIL_LINES = 40
_COMPLETIONS = ('"type":"ok"', '"type":"fail"', '"type":"info"')


@dataclass(frozen=True)
class LoadProfile:
    users: int = 10  # shoppers
    spawn_rate: float = 10.0
    max_duration_s: float = 900.0  # locust's own -t: the run ends by itself even if nobody stops it
    workers: int = 0  # 0 = one process; N >= 1 = a master and N worker processes
    wait_min_s: float = 0.2
    wait_max_s: float = 1.0
    writers: int = 0  # ledger writers (load/writer.py), beside the shoppers
    writer_pacing_s: float = 0.4

    @property
    def locust_users(self) -> int:
        """Locust's -u: the writers are users of a fixed count, spawned first."""
        return self.users + self.writers


@dataclass(frozen=True)
class LoadSummary:
    requests: int
    failures: int
    rps: float
    duration_s: float
    history_files: list[Path]
    artifacts: dict[str, Path] = field(default_factory=dict)  # json, html, stats_csv, ..., log, worker logs


@dataclass
class _Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    log: IO[bytes]
    runs_users: bool

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, signum: int) -> None:
        if not self.alive:
            return
        try:
            os.killpg(self.popen.pid, signum)  # its own session: the group is this process (and any child)
        except ProcessLookupError:
            pass


def api_base(gateway_url: str) -> str:
    """The locust host: the gateway URL including /api/v1 (appended if missing)."""
    url = gateway_url.rstrip("/")
    return url if url.endswith(API_PREFIX) else url + API_PREFIX


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def summarize_stats(entries: list[Mapping[str, Any]]) -> tuple[int, int, float | None]:
    """Totals of locust's --json-file output: (requests, failures, seconds from first to last request)."""
    requests = sum(int(e.get("num_requests") or 0) for e in entries)
    failures = sum(int(e.get("num_failures") or 0) for e in entries)
    starts = [float(e["start_time"]) for e in entries if e.get("start_time")]
    ends = [float(e["last_request_timestamp"]) for e in entries if e.get("last_request_timestamp")]
    span = max(ends) - min(starts) if starts and ends and max(ends) > min(starts) else None
    return requests, failures, span


class LoadRun:
    """Locust against the gateway, as a context manager: started on enter, stopped on exit (always)."""

    def __init__(self, gateway_url: str, history_dir: Path, profile: LoadProfile = LoadProfile(), *,
                 output_dir: Path, env: Mapping[str, str] | None = None, locustfile: Path = LOCUSTFILE,
                 host: str | None = None) -> None:
        """`host`: the base URL the users get as given (a team's journeys); without it, the gateway's API."""
        if (profile.users < 1 or profile.workers < 0 or profile.max_duration_s < 1 or profile.writers < 0
                or profile.writer_pacing_s <= 0):
            raise ValueError(f"bad load profile: {profile}")
        self.host = host or api_base(gateway_url)
        self.history_dir = Path(history_dir)
        self.profile = profile
        self.output_dir = Path(output_dir)
        self.extra_env = dict(env or {})
        self.locustfile = Path(locustfile)
        self.prefix = self.output_dir / "locust"
        self._procs: list[_Proc] = []
        self._started_at: float | None = None
        self._summary: LoadSummary | None = None

    # -- context manager -----------------------------------------------------------------------------------

    def __enter__(self) -> LoadRun:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- public ----------------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return any(p.alive for p in self._procs)

    @property
    def log_path(self) -> Path:
        return self.output_dir / "locust.log"

    def wait(self, timeout_s: float) -> bool:
        """Wait (polling, up to `timeout_s`) for locust to end by itself (its -t); True if it has."""
        self._wait(self._procs, time.monotonic() + timeout_s)
        return not self.running

    def history_paths(self) -> list[Path]:
        """The history files of this run's user-running processes that exist (one per process)."""
        paths = [self.history_dir / f"load-{p.popen.pid}.jsonl" for p in self._procs if p.runs_users]
        return [path for path in paths if path.exists()]

    def command(self, master_port: int | None = None, ready_timeout_s: float = 60) -> list[str]:
        """The command of the single process, or of the master when master_port is given."""
        p = self.profile
        cmd = [sys.executable, "-m", "locust", "-f", str(self.locustfile), "--headless",
               "-u", str(p.locust_users), "-r", str(max(p.spawn_rate, p.writers)), "-t", f"{int(p.max_duration_s)}s",
               "--host", self.host,
               "--csv", str(self.prefix), "--csv-full-history",
               "--json-file", f"{self.prefix}_summary", "--html", f"{self.prefix}.html",
               "--only-summary", "--stop-timeout", "5", "--exit-code-on-error", "0"]
        if master_port is not None:
            cmd += ["--master", "--expect-workers", str(p.workers),
                    "--expect-workers-max-wait", str(max(1, int(ready_timeout_s))),
                    "--master-bind-host", "127.0.0.1", "--master-bind-port", str(master_port)]
        return cmd

    def worker_command(self, master_port: int) -> list[str]:
        return [sys.executable, "-m", "locust", "-f", str(self.locustfile), "--worker",
                "--master-host", "127.0.0.1", "--master-port", str(master_port)]

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LOCUST_")}
        python_path = [str(REPO_ROOT), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
        env.update({
            "AARYA_HISTORY_DIR": str(self.history_dir),
            "AARYA_WAIT_MIN_S": str(self.profile.wait_min_s),
            "AARYA_WAIT_MAX_S": str(self.profile.wait_max_s),
            "AARYA_WRITERS": str(self.profile.writers),
            "AARYA_WRITER_PACING_S": str(self.profile.writer_pacing_s),
            "PYTHONPATH": os.pathsep.join(dict.fromkeys(python_path)),
            "PYTHONUNBUFFERED": "1",
        })
        env.update(self.extra_env)
        return env

    def start(self, ready_timeout_s: float = 60) -> None:
        """Launch locust and wait until at least one operation has completed in the history.

        Raises NotReady (with the tail of locust's log) if none completes in time or locust exits first;
        every process it started is stopped before it raises.
        """
        if self._procs:
            raise RuntimeError("this LoadRun was already started; use a new one")
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self.history_dir.mkdir(parents=True, exist_ok=True)
        self._started_at = time.monotonic()
        env = self.environment()
        try:
            if self.profile.workers >= 1:
                port = free_port()
                self._launch("master", self.command(port, ready_timeout_s), self.log_path, env, runs_users=False)
                for i in range(1, self.profile.workers + 1):
                    self._launch(f"worker-{i}", self.worker_command(port),
                                 self.output_dir / f"locust-worker-{i}.log", env, runs_users=True)
            else:
                self._launch("locust", self.command(), self.log_path, env, runs_users=True)
            self._wait_ready(ready_timeout_s)
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout_s: float = 30) -> LoadSummary:
        """SIGTERM (locust then stops its users and writes its summaries), SIGKILL whatever is left after
        `timeout_s`. Idempotent: later calls return the same summary."""
        if self._summary is not None:
            return self._summary
        deadline = time.monotonic() + timeout_s
        leader = next((p for p in self._procs if not p.runs_users or p.name == "locust"), None)
        if leader is not None:
            # The master first: it tells its workers to stop and quit, and collects their last stats.
            leader.signal(signal.SIGTERM)
            self._wait([leader], deadline)
        followers = [p for p in self._procs if p is not leader]
        self._wait(followers, min(deadline, time.monotonic() + 10))
        for proc in followers:
            proc.signal(signal.SIGTERM)
        self._wait(self._procs, deadline)
        for proc in self._procs:
            if proc.alive:
                proc.signal(signal.SIGKILL)
        for proc in self._procs:
            try:
                proc.popen.wait(timeout=5)
            except subprocess.TimeoutExpired:  # pragma: no cover - a SIGKILLed process always goes
                pass
            proc.log.close()
        self._summary = self._summarize()
        return self._summary

    # -- internals ------------------------------------------------------------------------------------

    def _launch(self, name: str, cmd: list[str], log_path: Path, env: Mapping[str, str], *, runs_users: bool) -> None:
        log = log_path.open("ab")
        try:
            popen = subprocess.Popen(dying_with_owner(cmd, signal.SIGTERM), stdin=subprocess.DEVNULL, stdout=log,
                                     stderr=subprocess.STDOUT, env=dict(env), cwd=str(self.output_dir),
                                     start_new_session=True)
        except BaseException:
            log.close()
            raise
        self._procs.append(_Proc(name, popen, log_path, log, runs_users))

    @staticmethod
    def _wait(procs: list[_Proc], deadline: float) -> None:
        while any(p.alive for p in procs) and time.monotonic() < deadline:
            time.sleep(POLL_INTERVAL_S)

    def _completed_one(self, offsets: dict[Path, int]) -> bool:
        for path in self.history_paths():
            with path.open("rb") as handle:
                handle.seek(offsets.get(path, 0))
                chunk = handle.read()
            # only whole lines count; keep the offset at the last newline
            end = chunk.rfind(b"\n") + 1
            offsets[path] = offsets.get(path, 0) + end
            text = chunk[:end].decode("utf-8", errors="replace")
            if any(marker in text for marker in _COMPLETIONS):
                return True
        return False

    def _wait_ready(self, timeout_s: float) -> None:
        started = time.monotonic()
        deadline = started + timeout_s
        offsets: dict[Path, int] = {}
        while True:
            if self._completed_one(offsets):
                return
            dead = [p for p in self._procs if not p.alive]
            if dead:
                proc = dead[0]
                raise NotReady("locust", self.host, time.monotonic() - started,
                               f"{proc.name} exited with code {proc.popen.returncode} before any operation "
                               "completed", self._log_tails())
            if time.monotonic() >= deadline:
                raise NotReady("locust", self.host, time.monotonic() - started,
                               f"no operation completed in the history under {self.history_dir}",
                               self._log_tails())
            time.sleep(POLL_INTERVAL_S)

    def _log_tails(self) -> str:
        parts = []
        for proc in self._procs:
            text = tail(proc.log_path)
            parts.append(text if len(self._procs) == 1 else f"[{proc.name} {proc.log_path}]\n{text}")
        return "\n".join(parts)

    def _artifacts(self) -> dict[str, Path]:
        candidates = {
            "json": Path(f"{self.prefix}_summary.json"),
            "html": Path(f"{self.prefix}.html"),
            "stats_csv": Path(f"{self.prefix}_stats.csv"),
            "stats_history_csv": Path(f"{self.prefix}_stats_history.csv"),
            "failures_csv": Path(f"{self.prefix}_failures.csv"),
            "exceptions_csv": Path(f"{self.prefix}_exceptions.csv"),
        }
        candidates.update({f"{p.name}_log" if p.name != "locust" and p.name != "master" else "log": p.log_path
                           for p in self._procs})
        return {name: path for name, path in candidates.items() if path.exists()}

    def _summarize(self) -> LoadSummary:
        wall = time.monotonic() - self._started_at if self._started_at is not None else 0.0
        artifacts = self._artifacts()
        history = self.history_paths()
        requests = failures = 0
        span: float | None = None
        entries = _read_json_list(artifacts.get("json"))
        if entries is not None:
            requests, failures, span = summarize_stats(entries)
        else:  # locust was killed before it wrote its summary: count the history instead
            requests, failures = _count_history(history)
        duration = span if span is not None else wall
        rps = requests / duration if duration > 0 else 0.0
        return LoadSummary(requests, failures, round(rps, 3), round(duration, 3), history, artifacts)


def _read_json_list(path: Path | None) -> list[Mapping[str, Any]] | None:
    if path is None:
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return [e for e in data if isinstance(e, dict)] if isinstance(data, list) else None


def _count_history(paths: list[Path]) -> tuple[int, int]:
    requests = failures = 0
    for path in paths:
        with path.open(encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if any(marker in line for marker in _COMPLETIONS):
                    requests += 1
                    failures += '"type":"ok"' not in line
    return requests, failures
