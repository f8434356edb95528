"""The local driver: the whole stack as supervised processes on loopback, no Docker.

Example:
    with LocalDriver(load_config(), fresh=True) as stack:
        print(stack.endpoints()["api_gateway"])
        stack.kill("postgres", signal.SIGKILL)
        stack.restart("postgres")

Start-up is in dependency order with polled readiness deadlines. A failed or interrupted start (Ctrl-C
included) tears down whatever had started. Teardown leaves no process, port or lock behind.
"""

from __future__ import annotations

import re
import logging
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Mapping
from typing import Any

import psutil

from aarya_chaos.errors import ConfigError, StackAlreadyRunning, StackError
from stack.binaries import Binaries, find_binaries
from stack.config import StackConfig
from stack.drivers.base import Capability, ComponentStatus, OutsideClient, ProcessEvent
from stack.drivers.common import StackContext, check_ports_free, live_owner, read_run_state, write_run_state
from stack import runs
from stack.pgrestore import roll_back_interrupted_restore
from stack.logtail import tail
from stack.waits import wait_until

from . import cgroups
from .components import Component, Gateway, Postgres, Redis, RunLayout, Service, Toxiproxy
from .instances import LocalInstances
from .process import ProcessRecord, reap
from .events import LocalEvents
from .stack_env import write_stack_env
from .stores import LocalStores

OUTSIDE_CLIENT_ADDRESS = "127.0.0.66"  # the legitimate load comes from 127.0.0.1

log = logging.getLogger("aarya.driver")
UNIX_SOCKET_PATH_MAX = 107  # sun_path is 108 bytes with its terminating NUL
EXEC_TIMEOUT_S = 5


class LocalDriver(LocalStores, LocalEvents, StackContext):
    def __init__(self, config: StackConfig, *, fresh: bool = False, install: bool = True,
                 binaries: Binaries | None = None) -> None:
        self.config = config
        self.fresh = fresh
        self.run_id = runs.run_id_for(config.run_dir)
        self.layout = RunLayout(config.run_dir)
        self.binaries = binaries or find_binaries(config.tools_dir, install=install)
        self.components: dict[str, Component] = {}
        self._build_components()
        self._events: list[ProcessEvent] = []
        self._expected_down: set[str] = set()
        self._lock = threading.Lock()
        self._monitor_stop = threading.Event()
        self._monitor: threading.Thread | None = None
        self._cgroups: dict[str, cgroups.MemoryCgroup] = {}
        self._instances = LocalInstances()
        self.started = False

    def _build_components(self) -> None:
        args = (self.config, self.layout, self.binaries)
        ordered: list[Component] = [Postgres(*args), Redis(*args), Toxiproxy(*args)]
        ordered += [Service(name, *args) for name in self.config.service_names()]
        ordered.append(Gateway(*args))
        self.components = {c.name: c for c in ordered}

    # -- whole stack -------------------------------------------------------------------------

    def start(self) -> None:
        """Start every component in dependency order; on any failure or Ctrl-C, tear down and re-raise."""
        started = time.monotonic()
        self._claim_run_dir()
        try:
            check_ports_free(self.config)
            for name in ("postgres", "redis", "toxiproxy"):
                self._start_and_wait(self.components[name], first_boot=True)
            services = [c for c in self.components.values() if isinstance(c, Service)]
            for service in services:  # all at once: their imports overlap, readiness is polled below
                self._launch(service)
            for service in services:
                self.wait_ready(service.name)
            self._start_and_wait(self.components["api_gateway"], first_boot=True)
            self._start_monitor()
            self.started = True
            self._save_state()
            log.info("stack ready in %.1fs", time.monotonic() - started)
        except BaseException:
            log.error("start-up failed or was interrupted; tearing down what had started")
            self.stop()
            raise

    def stop(self) -> None:
        """Stop everything in reverse order; idempotent."""
        self._monitor_stop.set()
        if self._monitor is not None:
            self._monitor.join(timeout=2)
        self._instances.stop_all()
        for name in list(self._cgroups):
            self.release_memory_limit(name)
        for component in reversed(list(self.components.values())):
            self._expected_down.add(component.name)
            try:
                component.process.stop(sig=component.stop_signal, timeout_s=15)
            except Exception as exc:  # keep stopping the others
                log.error("stopping %s failed: %s", component.name, exc)
        self._reap_orphan_postgres()
        self.started = False
        if self.layout.state_file.exists():
            self.layout.state_file.unlink()
        runs.unregister(self.config)

    def _claim_run_dir(self) -> None:
        from stack.reaper import reap_dead_runs  # it stops dead runs with this driver: imported when used

        socket = self.layout.pg_socket / f".s.PGSQL.{self.config.postgres.port}"
        if len(str(socket).encode()) > UNIX_SOCKET_PATH_MAX:
            raise ConfigError(f"run_dir {self.config.run_dir} is too long: PostgreSQL's socket {socket} would be "
                              f"{len(str(socket).encode())} bytes, over the {UNIX_SOCKET_PATH_MAX} Linux allows; "
                              "choose a shorter run_dir")

        for report in reap_dead_runs():
            log.warning("cleared a dead run before starting: %s", report.describe())
        runs.register(self.config, "local")
        state = self._read_state()
        if state is not None:
            owner = live_owner(state)
            if owner not in (None, os.getpid()):
                raise StackAlreadyRunning(
                    f"a stack run by pid {owner} already owns {self.layout.root}; "
                    "stop it with `aarya-chaos down`, or choose another run_dir")
            cleaned = [r.name for r in self._recorded_processes(state) if reap(r)]
            log.warning("stale run directory %s from a crashed run; reaped: %s",
                        self.layout.root, ", ".join(cleaned) or "nothing")
            self.layout.state_file.unlink()
        self._reap_orphan_postgres()
        rolled_back = roll_back_interrupted_restore(self.layout.pgdata)
        if rolled_back:
            log.warning("%s", rolled_back)
        if self.fresh and self.layout.root.exists():
            shutil.rmtree(self.layout.root)
        self.layout.root.mkdir(parents=True, exist_ok=True)
        self.layout.root.chmod(0o755)
        self.layout.logs.mkdir(exist_ok=True)
        write_stack_env(self.config, self.layout, self.binaries)
        self._save_state()

    def _reap_orphan_postgres(self) -> None:
        """A postmaster (or backend) left by a crash, or started by scripts/recover, holds our data dir."""
        pg = self.components["postgres"]
        assert isinstance(pg, Postgres)
        pid = pg._pid_from_file()
        if pid is None:
            return
        try:
            proc = psutil.Process(pid)
            if "postgres" in proc.name():
                reap(ProcessRecord("postgres", pid, proc.create_time()), timeout_s=15)
        except psutil.Error:
            pass

    def attach(self) -> dict[str, Any] | None:
        """Adopt the processes of a stack started by another process (for `status`, `down`, game days).

        Returns the run state, or None when no stack is recorded in the run directory.
        """
        state = self._read_state()
        if state is None:
            return None
        for record in self._recorded_processes(state):
            component = self.components.get(record.name)
            if component is not None and not isinstance(component, Postgres):
                component.process.pid_lookup = lambda r=record: r.pid if r.find() else None
        return state

    def owner_pid(self) -> int | None:
        """The pid of the live process that started the recorded stack, if any."""
        return live_owner(self._read_state())

    # -- one component -----------------------------------------------------------------------

    def component(self, name: str) -> Component:
        try:
            return self.components[name]
        except KeyError:
            raise ConfigError(f"unknown component {name!r}; known: {', '.join(self.components)}") from None

    def component_names(self) -> list[str]:
        return list(self.components)

    def _launch(self, component: Component) -> None:
        component.prepare()
        component.process.start()
        self._expected_down.discard(component.name)
        self._record(component.name, "started")

    def _start_and_wait(self, component: Component, *, first_boot: bool = False) -> None:
        self._launch(component)
        self.wait_ready(component.name)
        if first_boot and (not isinstance(component, Postgres) or component.initialized_now):
            component.after_ready()

    def wait_ready(self, name: str, timeout_s: float | None = None) -> None:
        component = self.component(name)
        wait_until(
            name, component.endpoint, component.probe,
            timeout_s=timeout_s if timeout_s is not None else self.config.ready_timeout_s,
            log_tail=lambda: tail(component.process.log_path),
            still_alive=lambda: None if component.process.is_running() else
            f"{name} is not running (exit code {component.process.poll()})",
        )

    def start_component(self, name: str) -> None:
        component = self.component(name)
        if component.process.is_running():
            return
        self._launch(component)
        self.wait_ready(name)
        self._save_state()

    def stop_component(self, name: str) -> None:
        component = self.component(name)
        self._expected_down.add(name)
        code = component.process.stop(sig=component.stop_signal)
        self._record(name, "stopped", code)
        self._save_state()

    def restart(self, name: str) -> None:
        """Stop if running, start, wait until ready. PostgreSQL waits out its orphaned backends."""
        component = self.component(name)
        if component.process.is_running():
            self.stop_component(name)
        if isinstance(component, Postgres):
            self._wait_postgres_released(component)
        self.start_component(name)

    def adopt_postgres(self) -> None:
        """Take back a PostgreSQL that stack/scripts/recover started with pg_ctl: restart it as our child.

        The driver still finds that postmaster (postmaster.pid), but its parent is init: a later SIGKILL leaves
        a zombie that holds postmaster.pid until init reaps it, and a restart in that window fails with
        `lock file "postmaster.pid" already exists`."""
        self.restart("postgres")

    def _wait_postgres_released(self, pg: Postgres) -> None:
        """Wait until no process of the old server can make a new postmaster refuse to start.

        After a SIGKILL of the postmaster its backends linger briefly and keep the shared memory; they keep
        the session of the postmaster we started (start_new_session), which is how we find them. A
        postmaster started by scripts/recover (pg_ctl) is not our child: once killed it stays a zombie
        until init reaps it, and while its pid exists PostgreSQL believes postmaster.pid is still in use.
        """
        popen = pg.process.popen
        session = popen.pid if popen is not None else None
        old_pid = pg._pid_from_file()

        def released() -> bool:
            if old_pid is not None and psutil.pid_exists(old_pid) and old_pid != (popen.pid if popen else None):
                return False
            return session is None or not any(_in_session(p, session) for p in psutil.process_iter())

        wait_until("postgres", "the killed server's processes to go away", released, timeout_s=30)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Signal the component's main process only, as the kernel's OOM killer or an operator would."""
        component = self.component(name)
        component.process.send_signal(sig)
        self._record(name, "signalled", detail=signal.Signals(sig).name)

    def pause(self, name: str) -> None:
        self.component(name).process.send_signal(signal.SIGSTOP, tree=True)
        self._record(name, "paused")

    def resume(self, name: str) -> None:
        self.component(name).process.send_signal(signal.SIGCONT, tree=True)
        self._record(name, "resumed")

    def pause_state(self, name: str) -> str | None:
        pid = self.component(name).process.pid()
        try:
            state = psutil.Process(pid).status() if pid is not None else None
        except psutil.Error:
            return None
        return f"pid {pid} is {state}" if state == psutil.STATUS_STOPPED else None

    def exec(self, name: str, command: list[str]) -> tuple[int, str]:
        """The command on this machine, where every local component runs: (exit code, stdout+stderr)."""
        self.component(name)
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=EXEC_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return 126, str(exc)
        return done.returncode, done.stdout + done.stderr

    def logs(self, name: str, lines: int = 100) -> str:
        # as many bytes as the lines asked for may take (JSON log lines run to a few hundred bytes)
        return tail(self.component(name).process.log_path, lines, max_bytes=max(64_000, lines * 600))

    def endpoints(self) -> Mapping[str, str]:
        return {name: c.endpoint for name, c in self.components.items()}

    def status(self, probe: bool = False) -> list[ComponentStatus]:
        result = []
        for name, component in self.components.items():
            running = component.process.is_running()
            ready: bool | None = None
            detail = ""
            if probe and running:
                try:
                    ready = bool(component.probe())
                except Exception as exc:  # a status report shows failures, it never raises
                    ready, detail = False, f"{type(exc).__name__}: {exc}"[:200]
            result.append(ComponentStatus(name, running, component.process.pid(), component.endpoint, ready, detail))
        return result

    # -- kernel-enforced limits -----------------------------------------------------------------

    def unsupported(self, capability: Capability) -> str | None:
        """Memory limits need a writable memory cgroup (cgroup v2 with the memory controller delegated); the
        other powers are the run's own processes and files (PGDATA, nginx's files, releases, instances)."""
        return cgroups.memory_cgroup_support() if capability is Capability.MEMORY_LIMITS else None

    def limit_memory(self, name: str, limit_bytes: int) -> cgroups.MemoryCgroup:
        """Put the component's process tree under a memory limit the kernel enforces (an OOM kill is real).

        Only memory allocated after this call is charged (the kernel does not move existing charges).
        """
        pid = self.component(name).process.pid()
        if pid is None:
            raise StackError(f"{name} is not running; cannot limit its memory")
        cgroup = cgroups.limit_memory(f"{self.run_id}-{name}", cgroups.process_tree(pid), limit_bytes)
        self._cgroups[name] = cgroup
        return cgroup

    def release_memory_limit(self, name: str) -> None:
        cgroup = self._cgroups.pop(name, None)
        if cgroup is not None:
            cgroups.release(cgroup)

    # -- releases ------------------------------------------------------------------------------

    def deploy(self, name: str, release: str) -> None:
        """Restart a service on another release (runbook 8.1: deploy, roll back)."""
        service = self.component(name)
        if not isinstance(service, Service):
            raise ConfigError(f"{name} is not a service; releases apply to services")
        if release not in self.config.releases:
            raise ConfigError(f"unknown release {release!r}; known: {', '.join(self.config.releases)}")
        service.release_env = {"RELEASE": release, **self.config.releases[release]}
        service.process.env = service.env()
        self._record(name, "deploying", detail=release)
        self.restart(name)

    def release_of(self, name: str) -> str:
        service = self.component(name)
        return service.release_env.get("RELEASE", "v1") if isinstance(service, Service) else "-"

    def outside_client(self) -> OutsideClient:
        """127.0.0.66: all of 127.0.0.0/8 is this machine's, so a socket bound to it needs no setup."""
        return OutsideClient(OUTSIDE_CLIENT_ADDRESS, self.config.gateway_url)

    def release_outside_client(self, client: OutsideClient) -> None:
        pass

    def scaling_note(self) -> str:
        return ("runbook: `docker-compose up -d --scale content_services=2` has no local equivalent; the driver "
                "started a second content_services process on a free port")

    def heal_leftovers(self) -> list[str]:
        """Paused processes of the recorded stack resumed, the run's memory cgroups released."""
        if self.attach() is None:
            lines = [f"processes: no stack recorded in {self.config.run_dir}"]
        else:
            resumed = [s.name for s in self.status() if s.running]
            for name in resumed:
                self.resume(name)
            lines = [f"processes: sent SIGCONT to {', '.join(resumed) or 'nothing (none running)'}"]
        return lines + cgroups.release_run(runs.run_id_for(self.config.run_dir))

    # -- clients for faults and checks ---------------------------------------------------------

    def start_instance(self, service: str, instance: str, env: Mapping[str, str],
                       timeout_s: float | None = None) -> str:
        """Another process of `service` (its command and environment plus `env`) on a free port; returns its
        base URL once /health/ready answers 200 (stack/drivers/local/instances.py)."""
        component = self.component(service)
        if not isinstance(component, Service):
            raise ConfigError(f"{service} is not a service; only services have extra instances")
        return self._instances.start(component, instance, env,
                                     timeout_s if timeout_s is not None else self.config.ready_timeout_s)

    def stop_instance(self, instance: str, timeout_s: float = 10.0) -> None:
        """SIGTERM (SIGKILL after `timeout_s`) to the instance's processes; idempotent."""
        self._instances.stop(instance, timeout_s)

    def grep_logs(self, name: str, pattern: str, lines: int = 1000) -> list[str]:
        """Lines of the last `lines` of a component's log matching an (extended, case-insensitive) regex."""
        regex = re.compile(pattern, re.IGNORECASE)
        return [line for line in self.logs(name, lines).splitlines() if regex.search(line)]

    # -- events --------------------------------------------------------------------------------

    # -- run.json ------------------------------------------------------------------------------

    def _save_state(self) -> None:
        records = {n: c.process.record() for n, c in self.components.items()}
        write_run_state(self.layout.state_file, {
            "processes": {n: r.__dict__ for n, r in records.items() if r is not None},
            "endpoints": dict(self.endpoints())})

    def _read_state(self) -> dict[str, Any] | None:
        return read_run_state(self.layout.state_file)

    @staticmethod
    def _recorded_processes(state: dict[str, Any]) -> list[ProcessRecord]:
        return [ProcessRecord(**fields) for fields in state.get("processes", {}).values()]


def _in_session(proc: psutil.Process, session: int) -> bool:
    try:
        return os.getsid(proc.pid) == session
    except OSError:
        return False
