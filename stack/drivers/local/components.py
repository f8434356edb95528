"""The stack's components as local processes: how each is prepared, started and judged ready.

Each component owns one ManagedProcess and knows its readiness probe. The LocalDriver starts them in
dependency order: postgres, redis, toxiproxy, the services (in parallel), then the gateway.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import redis

from aarya_chaos.errors import StackError
from stack.binaries import Binaries
from stack.config import StackConfig
from stack.render import render_template
from stack.toxiproxy import ProxySpec, ToxiproxyClient
from stack.redis_client import NO_RETRY

from .process import ManagedProcess

STACK_DIR = Path(__file__).resolve().parents[2]
PROBE_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class RunLayout:
    """Where everything of one run lives."""

    root: Path

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def pgdata(self) -> Path:
        return self.root / "pgdata"

    @property
    def pg_socket(self) -> Path:
        return self.root / "pg_socket"

    @property
    def wal_archive(self) -> Path:
        return self.root / "wal_archive"

    @property
    def backups(self) -> Path:
        return self.root / "backups"

    @property
    def redis(self) -> Path:
        return self.root / "redis"

    @property
    def nginx(self) -> Path:
        return self.root / "nginx"

    @property
    def state_file(self) -> Path:
        return self.root / "run.json"

    @property
    def stack_env(self) -> Path:
        return self.root / "stack.env"

    def log(self, component: str) -> Path:
        return self.logs / f"{component}.log"


class Component:
    """One process of the stack. Subclasses fill in prepare(), command() and probe()."""

    name: str
    depends_on: tuple[str, ...] = ()
    stop_signal: int = signal.SIGTERM

    def __init__(self, config: StackConfig, layout: RunLayout, binaries: Binaries) -> None:
        self.config = config
        self.layout = layout
        self.binaries = binaries
        self.process = ManagedProcess(
            self.name, self.command(), layout.log(self.name), env=self.env(), user=self.os_user(),
            death_signal=self.stop_signal,
        )

    @property
    def endpoint(self) -> str:
        raise NotImplementedError

    def command(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str] | None:
        return None

    def os_user(self) -> str | None:
        return None

    def prepare(self) -> None:
        """Create directories and config files; idempotent."""

    def probe(self) -> object:
        """Return something truthy when ready; raise or return False otherwise."""
        raise NotImplementedError

    def after_ready(self) -> None:
        """One-time work once the process answers (schema, proxies)."""


class Postgres(Component):
    name = "postgres"
    stop_signal = signal.SIGINT  # "fast" shutdown: abort transactions, checkpoint, exit

    @property
    def endpoint(self) -> str:
        return f"{self.config.host}:{self.config.postgres.port}"

    def os_user(self) -> str | None:
        return self.config.postgres.os_user if os.geteuid() == 0 else None

    def command(self) -> list[str]:
        return [str(self.binaries.pg("postgres")), "-D", str(self.layout.pgdata)]

    def __init__(self, config: StackConfig, layout: RunLayout, binaries: Binaries) -> None:
        super().__init__(config, layout, binaries)
        self.process.pid_lookup = self._pid_from_file
        self.initialized_now = False

    def _pid_from_file(self) -> int | None:
        try:
            return int((self.layout.pgdata / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def prepare(self) -> None:
        owned = [self.layout.pgdata, self.layout.pg_socket, self.layout.wal_archive, self.layout.backups]
        for path in owned:
            path.mkdir(parents=True, exist_ok=True)
            self._chown(path)
        self.layout.pgdata.chmod(0o700)
        self.layout.log(self.name).touch()
        self._chown(self.layout.log(self.name))
        if not (self.layout.pgdata / "PG_VERSION").exists():
            # WAL archived by an earlier cluster would make the new one's archive_command refuse
            # its own same-named segments forever.
            for segment in self.layout.wal_archive.iterdir():
                segment.unlink()
            self._initdb()
        self._write_config()

    def _chown(self, path: Path) -> None:
        user = self.os_user()
        if user:
            entry = pwd.getpwnam(user)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def _initdb(self) -> None:
        result = subprocess.run(
            [str(self.binaries.pg("initdb")), "-D", str(self.layout.pgdata), "-U", self.config.postgres.superuser,
             "--auth-local=trust", "--auth-host=scram-sha-256", "--encoding=UTF8", "--locale=C", "--no-sync"],
            user=self.os_user(), capture_output=True, text=True, timeout=120,
        )
        if result.returncode != 0:
            raise StackError(f"initdb failed (exit {result.returncode}):\n{result.stderr[-2000:]}")
        self.initialized_now = True

    def _write_config(self) -> None:
        pg = self.config.postgres
        conf = render_template(STACK_DIR / "postgres" / "postgresql.conf.tmpl", {
            "port": pg.port, "listen_addresses": self.config.host, "socket_dir": self.layout.pg_socket,
            "max_connections": pg.max_connections, "archive_dir": self.layout.wal_archive,
            "archive_timeout_s": pg.archive_timeout_s,
        })
        (self.layout.pgdata / "postgresql.conf").write_text(conf)
        shutil.copy(STACK_DIR / "postgres" / "pg_hba.conf", self.layout.pgdata / "pg_hba.conf")
        for name in ("postgresql.conf", "pg_hba.conf"):
            self._chown(self.layout.pgdata / name)

    def admin_conninfo(self, database: str | None = None) -> str:
        pg = self.config.postgres
        return (f"host={self.layout.pg_socket} port={pg.port} user={pg.superuser} "
                f"dbname={database or pg.database} connect_timeout=2")

    def probe(self) -> object:
        with psycopg.connect(self.admin_conninfo("postgres"), autocommit=True) as conn:
            return conn.execute("SELECT 1").fetchone()

    def after_ready(self) -> None:
        self._psql("postgres", STACK_DIR / "postgres" / "roles.sql")
        for script in ("schema.sql", "seed.sql"):
            self._psql(self.config.postgres.database, STACK_DIR / "postgres" / script)

    def _psql(self, database: str, script: Path) -> None:
        result = subprocess.run(
            [str(self.binaries.pg("psql")), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", str(self.layout.pg_socket),
             "-p", str(self.config.postgres.port), "-U", self.config.postgres.superuser, "-d", database,
             "-f", str(script)],
            capture_output=True, text=True, timeout=120,
        )
        if result.returncode != 0:
            raise StackError(f"applying {script.name} failed (exit {result.returncode}):\n{result.stderr[-2000:]}")


class Redis(Component):
    name = "redis"

    @property
    def endpoint(self) -> str:
        return f"{self.config.host}:{self.config.redis.port}"

    def command(self) -> list[str]:
        return [str(self.binaries.redis_server), str(self.layout.redis / "redis.conf")]

    def prepare(self) -> None:
        self.layout.redis.mkdir(parents=True, exist_ok=True)
        conf = render_template(STACK_DIR / "redis" / "redis.conf.tmpl", {
            "port": self.config.redis.port, "bind": self.config.host, "dir": self.layout.redis,
            "maxmemory_mb": self.config.redis.maxmemory_mb, "maxmemory_policy": self.config.redis.maxmemory_policy,
        })
        (self.layout.redis / "redis.conf").write_text(conf)

    def probe(self) -> object:
        client = redis.Redis(host=self.config.host, port=self.config.redis.port,
                             socket_timeout=PROBE_TIMEOUT_S, socket_connect_timeout=PROBE_TIMEOUT_S, retry=NO_RETRY)
        try:
            # While loading the AOF after a restart Redis answers PING with LOADING: not ready yet.
            return client.ping()
        finally:
            client.close()


class Toxiproxy(Component):
    name = "toxiproxy"

    @property
    def endpoint(self) -> str:
        return self.config.url(self.config.toxiproxy.port)

    def command(self) -> list[str]:
        return [str(self.binaries.toxiproxy), "-host", self.config.host, "-port", str(self.config.toxiproxy.port)]

    def client(self) -> ToxiproxyClient:
        return ToxiproxyClient(self.endpoint, timeout_s=PROBE_TIMEOUT_S)

    def probe(self) -> object:
        with self.client() as client:
            return client.version()

    def after_ready(self) -> None:
        host = self.config.host
        specs = [ProxySpec(e.name, f"{host}:{e.listen_port}", f"{host}:{e.upstream_port}")
                 for e in self.config.edges()]
        with self.client() as client:
            client.populate(specs)


class Service(Component):
    """A reference Python service run by uvicorn; `name` is set per instance."""

    def __init__(self, name: str, config: StackConfig, layout: RunLayout, binaries: Binaries,
                 release_env: dict[str, str] | None = None) -> None:
        self.name = name
        self.spec = config.services[name]
        self.depends_on = tuple(self.spec.depends_on)
        self.release_env = release_env or {}
        super().__init__(config, layout, binaries)

    @property
    def endpoint(self) -> str:
        return self.config.url(self.spec.port)

    def command(self) -> list[str]:
        return [sys.executable, "-m", "uvicorn", f"stack.services.{self.name}.app:app", "--host", self.config.host,
                "--port", str(self.spec.port), "--no-access-log", "--log-level", "warning",
                "--timeout-graceful-shutdown", "3"]

    def env(self) -> dict[str, str] | None:
        host = self.config.host
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_", "DB_", "RELEASE"))}
        env.update(SERVICE_NAME=self.name, PYTHONUNBUFFERED="1")
        pg = self.config.postgres
        for dep in self.spec.depends_on:
            port = self.config.edge(self.name, dep).listen_port
            if dep == "postgres":
                env["DATABASE_URL"] = f"postgresql://{pg.app_user}:{pg.app_password}@{host}:{port}/{pg.database}"
            elif dep == "redis":
                env["REDIS_URL"] = f"redis://{host}:{port}/0"
            else:
                env[f"{dep.upper()}_URL"] = f"http://{host}:{port}"
        env.update(self.spec.env)
        env.update(self.release_env)
        return env

    def probe(self) -> object:
        response = httpx.get(f"{self.endpoint}/health/ready", timeout=PROBE_TIMEOUT_S)
        if response.status_code != 200:
            raise StackError(f"/health/ready answered {response.status_code}: {response.text[:300]}")
        return True


class Gateway(Component):
    name = "api_gateway"
    stop_signal = signal.SIGQUIT  # graceful: finish in-flight requests

    @property
    def endpoint(self) -> str:
        return self.config.gateway_url

    @property
    def conf_path(self) -> Path:
        return self.layout.nginx / "nginx.conf"

    @property
    def deny_file(self) -> Path:
        return self.layout.nginx / "deny.conf"

    @property
    def access_log(self) -> Path:
        return self.layout.nginx / "logs" / "access.log"

    def command(self) -> list[str]:
        return [str(self.binaries.nginx), "-p", str(self.layout.nginx), "-c", str(self.conf_path),
                "-e", str(self.layout.nginx / "logs" / "nginx-error.log")]

    def prepare(self) -> None:
        (self.layout.nginx / "logs").mkdir(parents=True, exist_ok=True)
        if not self.deny_file.exists():
            self.deny_file.write_text("# deny-list: `deny <address>;` lines, applied by `nginx -s reload`\n")
        values: dict[str, object] = {
            "prefix": self.layout.nginx, "listen": f"{self.config.host}:{self.config.gateway.port}",
            "user_directive": "user root;" if os.geteuid() == 0 else "", "deny_file": self.deny_file,
        }
        for service in self.config.services:
            values[f"up_{service}"] = f"{self.config.host}:{self.config.edge('gateway', service).listen_port}"
        self.conf_path.write_text(render_template(STACK_DIR / "nginx" / "nginx.conf.tmpl", values))

    def reload(self) -> None:
        """Re-read the config and deny-list (`nginx -s reload`), as the runbook's responder does."""
        result = subprocess.run(self.command() + ["-s", "reload"], capture_output=True, text=True, timeout=10)
        if result.returncode != 0:
            raise StackError(f"nginx reload failed: {result.stderr.strip()}")

    def probe(self) -> object:
        response = httpx.get(f"{self.endpoint}/health", timeout=PROBE_TIMEOUT_S)
        return response.status_code == 200
