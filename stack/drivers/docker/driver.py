"""The docker driver: the stack of docker-compose.test.yml, driven through the Docker API.

Example:
    with DockerDriver(load_config(), fresh=True) as stack:     # builds (cached), compose up --wait, probes
        stack.kill("postgres", signal.SIGKILL)                  # docker kill --signal: exit 137 in events()
        stack.restart("postgres")
        limit = stack.limit_memory("redis", 48 << 20)           # container.update(mem_limit=...)

The same StackDriver protocol as the local driver, so scenarios and faults run unchanged. Differences:
- kill/stop/restart/pause act on containers (pause is the cgroup freezer, `docker pause`, not SIGSTOP);
- exits, OOM kills and health changes come from the engine's event stream of the run's containers;
- `pg_isready`, `redis_cli` and `psql` run inside their containers (`docker exec`), as an operator would;
  `sql()` still connects with psycopg, to the port published on 127.0.0.1;
- a memory limit is the container's (`container.update`), and `restart` lifts it, as a restarted local
  process leaves its cgroup; `disconnect`/`reconnect` cut a container off its network (a partition);
  `mount_tmpfs` recreates a container with a size-limited tmpfs (the disk scenarios);
- `start_instance` runs one more container of a service (the runbook's `--scale`, 4.1) from the
  service container's image, command and environment, labelled with the run; `stop_instance` removes it;
- `<run_dir>/stack.env` (for stack/scripts/backup and recover) says PG_CONTROL=docker: the scripts stop and
  start the container and work on its volume from the host (stack/drivers/docker/stack_env.py).

It acts only on containers labelled io.aarya-chaos.run=<run id> (the id of the run directory); Compose
labels everything it creates from docker-compose.test.yml. A crashed run's leftovers are removed by label
at the next start, by `down()` and by `stack.drivers.docker.cleanup.remove_labelled`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path, PurePosixPath
from typing import Any

import psutil
import psycopg
import redis
from docker.errors import DockerException
from testcontainers.compose import DockerCompose

from aarya_chaos.errors import ConfigError, FaultError, StackAlreadyRunning, StackError
from stack import runs
from stack.drivers.base import GatewayFiles, OutsideClient, PostgresFiles
from stack.drivers.common import check_ports_free, live_owner
from stack.drivers.container_ops import STOP_TIMEOUT_S
from stack.redis_client import NO_RETRY
from stack.toxiproxy import ToxiproxyClient

from .cleanup import remove_labelled
from .core import UNLIMITED_BYTES, EngineUnavailable, log
from .engine import engine_reason, ensure_all
from .events import DockerEvents
from .images import build_images, image_tags
from .instances import INSTANCE_LABEL
from .limits import DockerLimits
from .runfiles import (NGINX_DIR_IN_CONTAINER, PG_ARCHIVE_DIR, PG_DATA_DIR, REPO_DIR, RunFiles,
                       container_name, netns_container_name)
from .scaling import DockerInstances
from .stack_env import write_stack_env


class DockerDriver(DockerEvents, DockerLimits, DockerInstances):
    def prepare(self) -> RunFiles:
        """Engine, Compose, images (cached) and the run's rendered files; no container is started."""
        started = time.monotonic()
        reason = ensure_all(install=self.install)
        if reason is not None:
            raise EngineUnavailable(reason)
        self.timings["engine_s"] = time.monotonic() - started
        started = time.monotonic()
        if self.build:
            result = build_images(self.client)
            tags = dict(result.tags)
            self.build_summary = result.summary()
        else:
            tags = image_tags(self.client)
        self.timings["images_s"] = time.monotonic() - started
        self.files = RunFiles(self.config, images=tags, restart_policy=self.restart_policy)
        return self.files

    def start(self) -> None:
        """Build (cached), compose up --wait, probe every component; on failure or Ctrl-C tear down and re-raise."""
        self.prepare()
        started = time.monotonic()
        self._claim_run_dir()
        try:
            check_ports_free(self.config)
            self.files.write()
            self._save_state()
            self._start_monitor()
            up = time.monotonic()
            self._compose().start()
            self.timings["compose_up_s"] = time.monotonic() - up
            for name in self._names:
                self.wait_ready(name)
            self._write_stack_env()
            self.started = True
            self._save_state()
            self.timings["stack_up_s"] = time.monotonic() - started
            log.info("docker stack %s ready in %.1fs", self.run_id, self.timings["stack_up_s"])
        except subprocess.CalledProcessError as exc:
            detail = (exc.stderr or b"").decode(errors="replace")[-2000:]
            self.stop()
            raise StackError(f"docker compose up failed (exit {exc.returncode}):\n{detail}") from None
        except BaseException:
            log.error("start-up failed or was interrupted; tearing down the containers")
            self.stop()
            raise

    def stop(self) -> None:
        """Remove every container of the run (volumes are kept, as the local driver keeps pgdata); idempotent."""
        self._expected_down.update(self._names)
        if self.files.env_file.exists():
            self._run_compose("down", "--remove-orphans", "--timeout", str(STOP_TIMEOUT_S), check=False)
        try:
            remove_labelled(self.run_id, volumes=False, client=self._client)
        except DockerException as exc:
            log.error("removing the run's containers by label failed: %s", exc)
        self._stop_monitor()
        self._limits.clear()
        self.started = False
        if self.files.state_file.exists():
            self.files.state_file.unlink()
        runs.unregister(self.config)

    def down(self, *, volumes: bool = False) -> None:
        """Stop, and with `volumes=True` also drop the data (pgdata, redis) of the run."""
        self.stop()
        if volumes:
            remove_labelled(self.run_id, volumes=True, client=self._client)

    def _compose(self, services: list[str] | None = None) -> DockerCompose:
        return DockerCompose(context=str(REPO_DIR), compose_file_name=self._compose_files(),
                             env_file=str(self.files.env_file), pull=False, build=False, wait=True,
                             services=services)

    def _claim_run_dir(self) -> None:
        from stack.reaper import reap_dead_runs  # it removes dead runs' containers: imported when used

        for report in reap_dead_runs():
            log.warning("cleared a dead run before starting: %s", report.describe())
        runs.register(self.config, "docker")
        pid = live_owner(self._read_state())
        if pid not in (None, os.getpid()):
            raise StackAlreadyRunning(f"a docker stack run by pid {pid} already owns {self.config.run_dir}; "
                                      "stop it with `aarya-chaos down`, or choose another run_dir")
        removed = remove_labelled(self.run_id, volumes=self.fresh, client=self.client)
        if removed:
            log.warning("removed what an earlier run %s left behind: %s", self.run_id, removed.describe())
        if self.fresh and self.config.run_dir.exists():
            shutil.rmtree(self.config.run_dir)
        self.config.run_dir.mkdir(parents=True, exist_ok=True)

    def start_component(self, name: str) -> None:
        if name in self._limits:
            self.release_memory_limit(name)  # a restarted process is no longer under the limit
        super().start_component(name)
        self._save_state()

    def stop_component(self, name: str) -> None:
        super().stop_component(name)
        self._save_state()

    def adopt_postgres(self) -> None:
        """After stack/scripts/recover (PG_CONTROL=docker: `docker stop` / `docker start` of our own
        container) nothing needs taking back: wait until it is ready."""
        self.wait_ready("postgres")

    def pg_isready(self) -> tuple[int, str]:
        """The runbook's `docker exec aarya_postgres pg_isready -U postgres` (over TCP in the container)."""
        code, output = self.exec("postgres", ["pg_isready", "-h", "127.0.0.1", "-p", "5432",
                                              "-U", self.config.postgres.superuser, "-t", "2"])
        return (2, f"no response: {output.strip()}") if code == 125 else (code, output)

    def redis_cli(self, *args: str) -> tuple[int, str]:
        """The runbook's `docker exec aarya_redis redis-cli ...`."""
        code, output = self.exec("redis", ["redis-cli", "-p", "6379", *args])
        return (1, f"Could not connect to Redis: {output.strip()}") if code == 125 else (code, output)

    def psql(self, query: str, database: str | None = None) -> tuple[int, str]:
        """`docker exec aarya_postgres psql -U postgres -c QUERY` (unaligned, tuples only)."""
        pg = self.config.postgres
        return self.exec("postgres", ["psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-U", pg.superuser,
                                      "-d", database or pg.database, "-c", query], timeout_s=30)

    def reload_gateway(self) -> None:
        code, output = self.exec("api_gateway", ["nginx", "-p", NGINX_DIR_IN_CONTAINER, "-c",
                                                 f"{NGINX_DIR_IN_CONTAINER}/nginx.conf", "-s", "reload"])
        if code != 0:
            raise StackError(f"nginx reload failed (exit {code}): {output.strip()}")

    def toxiproxy(self) -> ToxiproxyClient:
        return ToxiproxyClient(self.config.url(self.config.toxiproxy.port))

    def admin_conninfo(self, database: str | None = None) -> str:
        """The superuser's connection through the port published on 127.0.0.1 (not through Toxiproxy)."""
        pg = self.config.postgres
        return (f"host={self.config.host} port={pg.port} dbname={database or pg.database} user={pg.superuser} "
                f"password={pg.superuser_password} connect_timeout=5")

    def sql(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """SQL as the superuser through the port published on 127.0.0.1 (not through Toxiproxy)."""
        with psycopg.connect(self.admin_conninfo(), autocommit=True) as conn:
            cursor = conn.execute(query, params)
            return cursor.fetchall() if cursor.description else []

    def redis(self) -> redis.Redis:
        return redis.Redis(host=self.config.host, port=self.config.redis.port, socket_timeout=2,
                           socket_connect_timeout=2, decode_responses=True, retry=NO_RETRY)

    def mount_tmpfs(self, name: str, path: str, size_bytes: int) -> None:
        """Recreate the container with a tmpfs of `size_bytes` at `path` (writes past it fail with ENOSPC)."""
        if not path.startswith("/") or size_bytes <= 0:
            raise FaultError(f"a tmpfs needs an absolute path and a positive size, got {path!r}, {size_bytes}")
        override = self.files.root / f"override-{name}.yml"
        override.write_text(f"services:\n  {name}:\n    tmpfs:\n      - \"{path}:size={size_bytes}\"\n")
        self._tmpfs[name] = (path, size_bytes)
        self._recreate(name)
        self._record(name, "tmpfs_mounted", detail=f"{path} size={size_bytes}")

    def unmount_tmpfs(self, name: str) -> None:
        override = self.files.root / f"override-{name}.yml"
        if self._tmpfs.pop(name, None) is None and not override.exists():
            return
        override.unlink(missing_ok=True)
        self._recreate(name)
        self._record(name, "tmpfs_unmounted")

    def tmpfs_mounts(self) -> dict[str, tuple[str, int]]:
        return dict(self._tmpfs)

    def _recreate(self, name: str) -> None:
        self._expected_down.add(name)
        self._limits.pop(name, None)
        try:
            self._run_compose("up", "--detach", "--no-deps", "--force-recreate", "--wait", name)
        finally:
            self._expected_down.discard(name)
        self.wait_ready(name)
        self._save_state()

    def heal_leftovers(self) -> list[str]:
        """Undo the container faults a crashed run left; one line per kind. Without a living owner the
        run's containers and networks are removed by label instead (volumes stay: they hold the data)."""
        reason = engine_reason()
        if reason is not None:
            return [f"docker: {reason}; nothing to heal there"]
        if self.owner_pid() is None:
            removed = remove_labelled(self.run_id, volumes=False, client=self._client)
            if self.files.state_file.exists():
                self.files.state_file.unlink()
            return [f"docker: no living owner for run {self.run_id}; removed {removed.describe()} "
                    "(volumes kept; `python -m stack.drivers.docker clean` drops them)"]
        unpaused, limits, reconnected = [], [], []
        for name in self._names:
            try:
                container = self._container(name)
            except StackError:
                continue
            if container.status == "paused":
                container.unpause()
                unpaused.append(name)
            memory = int((container.attrs.get("HostConfig") or {}).get("Memory") or 0)
            if 0 < memory < psutil.virtual_memory().total:
                container.update(mem_limit=UNLIMITED_BYTES, memswap_limit=UNLIMITED_BYTES)
                limits.append(f"{name} ({memory >> 20} MiB)")
            if netns_container_name(self.config, name) is not None and not self.is_connected(name):
                self.reconnect(name)
                reconnected.append(name)
        outside = self._outside_addresses()
        for address in outside:
            self.release_outside_client(OutsideClient(address, ""))
        instances = sorted({(c.labels or {}).get(INSTANCE_LABEL, "?") for c in self._instance_containers()})
        for instance in instances:
            self.stop_instance(instance, timeout_s=5)
        tmpfs = [p.stem.removeprefix("override-") for p in self.files.root.glob("override-*.yml")]
        for name in tmpfs:
            self.unmount_tmpfs(name)
        return [f"docker: unpaused {', '.join(unpaused) or 'nothing'}",
                f"docker: lifted memory limits of {', '.join(limits) or 'nothing'}",
                f"docker: reconnected {', '.join(reconnected) or 'nothing'} to the stack network",
                f"docker: removed tmpfs overrides of {', '.join(tmpfs) or 'nothing'}",
                f"docker: removed extra service instances {', '.join(instances) or 'none'}",
                f"docker: removed client addresses {', '.join(outside) or 'none'} from the stack's bridge"]

    def gateway_files(self) -> GatewayFiles:
        """The run dir's nginx/ is the gateway container's config and log volume."""
        nginx = self.files.nginx_dir
        return GatewayFiles(nginx / "logs" / "access.log", nginx / "deny.conf")

    def deploy(self, name: str, release: str) -> None:
        """Recreate a service's container on another release (runbook 8.1: deploy, roll back)."""
        if name not in self.config.services:
            raise ConfigError(f"{name} is not a service; releases apply to services")
        if release not in self.config.releases:
            raise ConfigError(f"unknown release {release!r}; known: {', '.join(self.config.releases)}")
        self.files.write_service_env(name, {"RELEASE": release, **self.config.releases[release]})
        self._releases[name] = release
        self._record(name, "deploying", detail=release)
        self._recreate(name)

    def release_of(self, name: str) -> str:
        return self._releases.get(name, "v1") if name in self.config.services else "-"

    def host_path(self, name: str, container_path: str) -> Path:
        """Where a path inside the component's container lives on this machine (through its mounts)."""
        container = self._container(name)
        best: tuple[str, str] | None = None
        for mount in container.attrs.get("Mounts") or []:
            dest, source = str(mount.get("Destination", "")), str(mount.get("Source", ""))
            inside = container_path == dest or container_path.startswith(dest.rstrip("/") + "/")
            if source and inside and (best is None or len(dest) > len(best[0])):
                best = (dest, source)
        if best is None:
            raise StackError(f"{container_path} in {container.name} is on no volume or bind mount, so it has "
                             "no path on this machine")
        return Path(best[1]) / Path(container_path).relative_to(best[0])

    def postgres_files(self) -> PostgresFiles:
        pgdata = self.host_path("postgres", PG_DATA_DIR)
        owner = pgdata.stat()
        backups = self.config.run_dir / "backups"
        backups.mkdir(parents=True, exist_ok=True)
        return PostgresFiles(pgdata, self.host_path("postgres", PG_ARCHIVE_DIR), backups, owner.st_uid,
                             owner.st_gid, PurePosixPath(PG_DATA_DIR))

    def _write_stack_env(self) -> None:
        """<run_dir>/stack.env for stack/scripts/backup and recover (PG_CONTROL=docker).

        Not fatal: without access to the volume's files (not root) the stack still runs, only the scripts
        cannot (they say stack.env is missing)."""
        rows = self.sql("SELECT current_setting('server_version_num')::int / 10000")
        try:
            files = self.postgres_files()
        except OSError as exc:
            log.warning("no stack.env for the backup/recover scripts: PostgreSQL's volume is out of reach (%s)", exc)
            (self.config.run_dir / "stack.env").unlink(missing_ok=True)  # an earlier run's would mislead them
            return
        write_stack_env(self.config, files, container=container_name(self.config, "postgres"),
                        server_archive=PG_ARCHIVE_DIR, server_major=int(rows[0][0]))
