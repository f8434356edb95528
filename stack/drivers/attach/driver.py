"""The attach driver (issue 11): the StackDriver protocol over a team's own compose project.

    driver = AttachDriver(load_profile("shop.toml"), run_dir, project="shop", api_port=26174)
    driver.start()        # override + proxies written (0600 / 0644), the proxy up, the edges' clients recreated
    with driver.toxiproxy() as proxy: proxy.set_enabled("web__db", False)
    driver.kill("web", signal.SIGKILL); driver.restart("web")
    driver.stop()         # clients recreated from the team's file alone, the proxy removed; nothing else

It starts nothing it was not told to start: only `aarya-toxiproxy` and the services whose edge variables the
override changes (`--no-deps`), the whole platform only with `suite_starts_platform=True` (and then it
stops, never removes, it at the end). It removes nothing it did not create: `stop`, `down` and
`heal_leftovers` remove only objects carrying `io.aarya-chaos.run=<run id>` (cleanup.removable), so a
team's volume survives every one of them. The team's containers are found by their compose labels
(containers.py). What the team's platform gives no power for (a memory limit on a container the suite did
not start, a tmpfs under the team's PGDATA, the reference's gateway files, releases, extra instances) is
said by `unsupported()` and raised as AttachUnsupported with the same reason.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

import psycopg
import redis
import yaml
from psycopg.conninfo import make_conninfo

from aarya_chaos.errors import CapabilityUnsupported, ConfigError, StackError
from stack.drivers.base import (
    Capability,
    GatewayFiles,
    MemoryLimit,
    OutsideClient,
    PostgresFiles,
)
from stack.drivers.common import live_owner, read_run_state, write_run_state
from stack.drivers.docker.core import EngineUnavailable
from stack.drivers.docker.engine import engine_reason
from stack.redis_client import NO_RETRY
from stack import runs
from stack.runs import run_id_for
from stack.target.profile import TargetProfile, redact
from stack.target.stack_config import DEFAULT_TOXIPROXY_PORT, stack_config_of
from stack.toxiproxy import ToxiproxyClient

from .cleanup import left_over
from .compose_cli import Argv, ComposeTarget, attach_commands, detach_commands
from .containers import PROXY_COMPONENT, log
from .engine_listing import listing, remove_run_objects
from .events import AttachEvents
from .override import DEFAULT_IMAGE, AttachOverride, OverrideOptions, build_override

DRIVER_NAME = "attach"
OVERRIDE_FILE = "attach.override.yml"
PROXIES_FILE = "attach.proxies.json"
COMPOSE_TIMEOUT_S = 600

#: Why each capability the team's platform does not give is refused (scenarios skip with it), keyed by the
#: Capability's value: `unsupported()` and the refusing methods (`_refuse`) both read it, so they agree.
UNSUPPORTED: Mapping[str, str] = {
    "memory": "the attach driver does not put memory limits on a team's containers: their cgroups are the "
              "team's (set by its compose file), and a limit the run sets would outlive it",
    "postgres_files": "PostgreSQL's files are in the team's volume: the attach driver neither reads nor "
                      "rewrites them (no tmpfs under PGDATA, no file faults, no backup/recover scripts)",
    "gateway": "the team's gateway is not the reference's nginx: no access log or deny-list files the "
               "driver knows, no reload, no outside client address",
    "releases": "the team's releases are its own images: the attach driver deploys none",
    "instances": "the attach driver starts no extra instances of a team's service",
}


class AttachUnsupported(CapabilityUnsupported):
    """What the attached platform gives no power for; the message says why (a scenario skips with it)."""


class AttachDriver(AttachEvents):
    def __init__(self, profile: TargetProfile, run_dir: Path, *, project: str | None = None,
                 api_port: int = DEFAULT_TOXIPROXY_PORT, suite_starts_platform: bool = False,
                 environ: Mapping[str, str] | None = None, compose_env: Mapping[str, str] | None = None,
                 image: str = DEFAULT_IMAGE, ready_timeout_s: float | None = None) -> None:
        if profile.compose is None:
            raise ConfigError(f"profile {profile.name!r} has no [compose] file: the attach driver works on a "
                              "compose project")
        project = project or profile.compose.project
        if project is None:
            raise ConfigError(f"profile {profile.name!r}: [compose] names no project; give project=")
        env = dict(os.environ if environ is None else environ)
        config = stack_config_of(profile, run_dir, toxiproxy_port=api_port, ready_timeout_s=ready_timeout_s,
                                 environ=env)
        super().__init__(profile, config, project, env)
        self.run_id = run_id_for(run_dir)
        self.suite_starts_platform = suite_starts_platform
        self.compose_env = {**env, **(compose_env or {})}
        self.image = image
        self.target = ComposeTarget(profile.compose.file, run_dir / OVERRIDE_FILE, project)
        self.override: AttachOverride | None = None
        self.timings: dict[str, float] = {}

    # -- lifecycle ------------------------------------------------------------------------------

    def build(self) -> AttachOverride:
        """The override over the team's file (parsed as written, not interpolated): AttachError if it cannot."""
        assert self.profile.compose is not None
        compose = yaml.safe_load(self.profile.compose.file.read_text()) or {}
        options = OverrideOptions(proxies_file=self.config.run_dir.resolve() / PROXIES_FILE, image=self.image,
                                  api_host_port=self.config.toxiproxy.port)
        return build_override(self.profile, compose, self.run_id, options, self.profile.compose.file.name)

    def start(self) -> None:
        """Write the override and the proxies, put the proxy on the edges; on failure detach and re-raise."""
        reason = engine_reason()
        if reason is not None:
            raise EngineUnavailable(reason)
        started = time.monotonic()
        override = self.build()
        if not self.suite_starts_platform:
            missing = [n for n in self._names if n != PROXY_COMPONENT and self._find(n) is None]
            if missing:
                raise StackError(f"project {self.project!r} has no container for {', '.join(missing)}; the attach "
                                 "driver starts nothing of the team's unless told to (suite_starts_platform)")
        self._claim_run_dir()
        run_dir = self.config.run_dir
        run_dir.mkdir(parents=True, exist_ok=True)
        _write(run_dir / PROXIES_FILE, override.proxies_json(), 0o644)  # host:port only; the proxy reads it
        _write(self.target.override_file, override.yaml_text(), 0o600)  # may hold the team's credentials
        self.override = override
        self._save_state()
        self._start_monitor()
        try:
            for argv in attach_commands(self.target, override.rewired_services(),
                                        suite_starts_platform=self.suite_starts_platform):
                self._compose(argv)
            self.timings["compose_s"] = time.monotonic() - started
            for name in self._rewired_components():
                self.wait_ready(name)
        except BaseException:
            log.error("attaching failed or was interrupted; detaching")
            self.stop()
            raise
        self.timings["attach_s"] = time.monotonic() - started
        log.info("attached to %s in %.1fs (%d proxies)", self.project, self.timings["attach_s"],
                 len(override.routed))

    def stop(self) -> None:
        """Detach: the rewired clients recreated with the team's own values, the proxy removed; then anything
        else still carrying the run's label. Idempotent; nothing of the team's is removed."""
        rewired = self.override.rewired_services() if self.override else tuple(self._state_rewired())
        self._expected_down.update(self._names)
        detached = True
        try:
            if self.target.override_file.exists():
                for argv in detach_commands(self.target, rewired, suite_starts_platform=self.suite_starts_platform):
                    detached = self._compose(argv, check=False).returncode == 0 and detached
            remove_run_objects(self.client, self.run_id)
        finally:
            self._stop_monitor()
            self.override = None
        if detached:
            # The files go too (the override may hold the team's credentials), so a second stop or a heal
            # finds nothing to detach and recreates none of the team's services again. A failed detach
            # keeps them and run.json, for `heal` to try again.
            (self.config.run_dir / "run.json").unlink(missing_ok=True)
            self.target.override_file.unlink(missing_ok=True)
            (self.config.run_dir / PROXIES_FILE).unlink(missing_ok=True)
            runs.unregister(self.config)  # only this process's entry; a dead owner's is the reaper's to drop

    def down(self, *, volumes: bool = False) -> None:
        """`stop`. `volumes=True` changes nothing: the run creates no volume, and a team's is not the run's."""
        self.stop()

    def attach(self) -> dict[str, Any] | None:
        """The attach run recorded in the run dir, or None. A run recorded for another profile is a
        ConfigError: this driver would detach, heal or check a platform that run never touched."""
        state = read_run_state(self.config.run_dir / "run.json")
        if state is None or state.get("driver") != DRIVER_NAME:
            return None
        recorded = state.get("profile")
        if recorded and Path(str(recorded)) != self.profile.path.resolve():
            raise ConfigError(f"the run in {self.config.run_dir} is attached with the profile {recorded}, not "
                              f"{self.profile.path.resolve()}: give that --target, or none (`down`, `heal` and "
                              "`status` find the run recorded there)")
        return state

    def owner_pid(self) -> int | None:
        return live_owner(self.attach())

    def leftovers(self) -> list[str]:
        """What carries the run's label, one line each (nothing after a clean `stop`)."""
        return left_over(listing(self.client, self.run_id), self.run_id)

    def heal_leftovers(self) -> list[str]:
        reason = engine_reason()
        if reason is not None:
            return [f"attach: {reason}; nothing to heal there"]
        unpaused = []
        for name in self._names:
            container = self._find(name)
            if container is not None and container.status == "paused":
                container.unpause()
                unpaused.append(name)
        lines = [f"attach: unpaused {', '.join(unpaused) or 'nothing'}"]
        if self.owner_pid() is None and self.target.override_file.exists():
            self.stop()
            lines.append(f"attach: no living owner for run {self.run_id}: detached from {self.project} (clients "
                         "recreated with their own values, the proxy removed; nothing of the team's removed)")
        elif self._find(PROXY_COMPONENT) is not None:
            with self.toxiproxy() as proxy:
                proxy.reset()
            lines.append("attach: every proxy enabled, every toxic removed")
        return lines

    def unsupported(self, capability: Capability) -> str | None:
        """The team's platform gives none of the capabilities: each one's reason from UNSUPPORTED."""
        return UNSUPPORTED[capability.value]

    # -- stores ---------------------------------------------------------------------------------

    def toxiproxy(self) -> ToxiproxyClient:
        return ToxiproxyClient(self.config.url(self.config.toxiproxy.port))

    def admin_conninfo(self, database: str | None = None) -> str:
        """The profile's PostgreSQL store (its own role, straight, not through the proxy), with its secret."""
        dsn = self.store("postgres").connection_string(self.environ)
        return make_conninfo(dsn, connect_timeout=5, **({"dbname": database} if database else {}))

    def sql(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """The query's rows. A store that cannot be reached is a StackError (its address redacted); an error of
        the query itself is PostgreSQL's own, as with the other drivers (a fault's landing probe expects
        LockNotAvailable, an OperationalError, to come through as itself)."""
        try:
            conn = psycopg.connect(self.admin_conninfo(), autocommit=True)
        except psycopg.OperationalError as exc:
            raise StackError(f"PostgreSQL store {self.store('postgres').redacted(self.environ)}: "
                             f"{redact(str(exc))}") from None
        with conn:
            cursor = conn.execute(query, params)
            return cursor.fetchall() if cursor.description else []

    def redis(self) -> redis.Redis:
        url = self.store("redis").connection_string(self.environ)
        return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2, decode_responses=True,
                                    retry=NO_RETRY)

    def pg_isready(self) -> tuple[int, str]:
        code, output = self.exec(self.store("postgres").name, ["pg_isready", "-h", "127.0.0.1", "-p",
                                                               str(self._inner_port("postgres", 5432)), "-t", "2"])
        return (2, f"no response: {output.strip()}") if code == 125 else (code, output)

    def redis_cli(self, *args: str) -> tuple[int, str]:
        code, output = self.exec(self.store("redis").name, ["redis-cli", "-p",
                                                            str(self._inner_port("redis", 6379)), *args])
        return (1, f"Could not connect to Redis: {output.strip()}") if code == 125 else (code, output)

    def postgres_files(self) -> PostgresFiles:
        _refuse("postgres_files")

    def adopt_postgres(self) -> None:
        self.wait_ready(self.store("postgres").name)

    # -- what the team's platform does not give -------------------------------------------------

    def reload_gateway(self) -> None:
        _refuse("gateway")

    def gateway_files(self) -> GatewayFiles:
        _refuse("gateway")

    def outside_client(self) -> OutsideClient:
        _refuse("gateway")

    def release_outside_client(self, client: OutsideClient) -> None:
        _refuse("gateway")

    def deploy(self, name: str, release: str) -> None:
        _refuse("releases")

    def release_of(self, name: str) -> str:
        _refuse("releases")

    def start_instance(self, service: str, instance: str, env: Mapping[str, str],
                       timeout_s: float | None = None) -> str:
        _refuse("instances")

    def stop_instance(self, instance: str, timeout_s: float = 10.0) -> None:
        _refuse("instances")

    def scaling_note(self) -> str:
        return f"not available: {UNSUPPORTED['instances']}"

    def limit_memory(self, name: str, limit_bytes: int) -> MemoryLimit:
        _refuse("memory")

    def release_memory_limit(self, name: str) -> None:
        _refuse("memory")

    # -- helpers --------------------------------------------------------------------------------

    def _compose(self, argv: Argv, *, check: bool = True) -> subprocess.CompletedProcess[str]:
        log.info("running %s", " ".join(argv))
        result = subprocess.run(argv, capture_output=True, text=True, timeout=COMPOSE_TIMEOUT_S, check=False,
                                env=self.compose_env, cwd=self.target.team_file.parent)
        if check and result.returncode != 0:
            raise StackError(f"`{' '.join(argv[2:])}` failed (exit {result.returncode}):\n"
                             f"{redact(result.stderr[-2000:])}")
        if result.returncode != 0:
            log.warning("`%s` failed (exit %d): %s", " ".join(argv), result.returncode, result.stderr[-500:])
        return result

    def _rewired_components(self) -> list[str]:
        services = set(self.override.rewired_services()) if self.override else set()
        return [name for name, service in self.services.items() if service in services]

    def _inner_port(self, kind: str, default: int) -> int:
        """The store's port inside the team's network, from a routed edge's upstream (`db:5432`)."""
        store = self.store(kind)
        for edge in self.override.routed if self.override else ():
            if edge.edge.endswith(f"__{store.name}"):
                return int(edge.upstream.rsplit(":", 1)[1])
        return default

    def _state_rewired(self) -> Sequence[str]:
        state = self.attach() or {}
        return [str(s) for s in state.get("rewired", [])]

    def _claim_run_dir(self) -> None:
        """Clear the runs whose owner died (as the other drivers do before they start), then record this run
        in the machine's registry (stack/runs.py), so `aarya-chaos runs`, `down` and `heal` find it if this
        process dies: StackAlreadyRunning when a living run owns the run dir or the same ports."""
        from stack.reaper import reap_dead_runs  # it drives every kind of dead run: imported when used

        for report in reap_dead_runs():
            log.warning("cleared a dead run before attaching: %s", report.describe())
        runs.register(self.config, DRIVER_NAME)

    def _save_state(self) -> None:
        write_run_state(self.config.run_dir / "run.json", {
            "driver": DRIVER_NAME, "run_id": self.run_id, "project": self.project,
            "profile": str(self.profile.path.resolve()), "override": str(self.target.override_file),
            "rewired": list(self.override.rewired_services() if self.override else ()),
            "suite_starts_platform": self.suite_starts_platform, "api_port": self.config.toxiproxy.port})


def _refuse(what: str) -> NoReturn:
    """AttachUnsupported for the capability whose value is `what`, with the reason `unsupported` gives."""
    raise AttachUnsupported(UNSUPPORTED[Capability(what).value])


def _write(path: Path, text: str, mode: int) -> None:
    """`text` into `path` created with `mode` (never world-readable first, then narrowed)."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.chmod(path, mode)
