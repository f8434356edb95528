"""What one docker run needs on disk: its id and label, the Compose variables, and the rendered configs.

Everything comes from the StackConfig, as for the local driver, and lands in the run directory:

    <run_dir>/docker/compose.env            every variable docker-compose.test.yml reads (--env-file)
    <run_dir>/docker/postgres/              postgresql.conf (stack/postgres/postgresql.conf.tmpl), pg_hba.conf
    <run_dir>/docker/redis/redis.conf       stack/redis/redis.conf.tmpl
    <run_dir>/docker/toxiproxy/toxiproxy.json   one proxy per dependency edge
    <run_dir>/docker/env/<service>.env      each service's environment (as the local driver's Service.env())
    <run_dir>/nginx/                        nginx.conf (stack/nginx/nginx.conf.tmpl), deny.conf, logs/

Inside the network the containers reach each other by service name; every dependency edge still goes
through its own Toxiproxy proxy (`toxiproxy:<edge listen port>`), and the gateway's upstreams too.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from stack import runs
from stack.config import StackConfig
from stack.render import render_template

STACK_DIR = Path(__file__).resolve().parents[2]
REPO_DIR = STACK_DIR.parent
COMPOSE_FILE = REPO_DIR / "docker-compose.test.yml"
RUN_LABEL = "io.aarya-chaos.run"
COMPONENT_LABEL = "io.aarya-chaos.component"
PG_CONTAINER_PORT = 5432
REDIS_CONTAINER_PORT = 6379
TOXIPROXY_CONTAINER_PORT = 8474
PG_DATA_DIR = "/var/lib/postgresql/data/pgdata"  # PGDATA in docker-compose.test.yml
PG_ARCHIVE_DIR = "/var/lib/postgresql/data/wal_archive"
NGINX_DIR_IN_CONTAINER = "/etc/aarya/nginx"


def run_id_for(config: StackConfig) -> str:
    """The run's id (stack/runs.py): the label value, and part of the Compose project and network names."""
    return runs.run_id_for(config.run_dir)


def component_names(config: StackConfig) -> list[str]:
    """Components in start order, as the local driver names them."""
    return ["postgres", "redis", "toxiproxy", *config.service_names(), "api_gateway"]


def container_name(config: StackConfig, component: str) -> str:
    if component == "postgres":
        return config.postgres.container
    if component == "redis":
        return config.redis.container
    if component == "toxiproxy":
        return config.toxiproxy.container
    if component == "api_gateway":
        return config.gateway.container
    return config.services[component].container or f"aarya_{component}"


#: Components whose network namespace (address, published ports, DNS name) a `<container>_net` holds.
NETNS_COMPONENTS = frozenset({"postgres", "redis", "toxiproxy"})


def netns_container_name(config: StackConfig, component: str) -> str | None:
    """The container holding the component's network namespace (None: the gateway has its own)."""
    if component in NETNS_COMPONENTS or component in config.services:
        return f"{container_name(config, component)}_net"
    return None


def _upstream(config: StackConfig, dependency: str) -> str:
    if dependency == "postgres":
        return f"postgres:{PG_CONTAINER_PORT}"
    if dependency == "redis":
        return f"redis:{REDIS_CONTAINER_PORT}"
    return f"{dependency}:{config.services[dependency].port}"


@dataclass(frozen=True)
class RunFiles:
    config: StackConfig
    images: Mapping[str, str]
    restart_policy: str = "no"

    @property
    def run_id(self) -> str:
        return run_id_for(self.config)

    @property
    def project(self) -> str:
        return f"aarya-chaos-{self.run_id}"

    @property
    def root(self) -> Path:
        return self.config.run_dir / "docker"

    @property
    def env_file(self) -> Path:
        return self.root / "compose.env"

    @property
    def nginx_dir(self) -> Path:
        return self.config.run_dir / "nginx"

    @property
    def state_file(self) -> Path:
        return self.config.run_dir / "run.json"

    def service_env_file(self, service: str) -> Path:
        return self.root / "env" / f"{service}.env"

    # -- Compose variables ----------------------------------------------------------------------

    def compose_env(self) -> dict[str, str]:
        cfg = self.config
        edges = cfg.edges()
        ports = [e.listen_port for e in edges]
        env = {
            "AARYA_PROJECT": self.project,
            "AARYA_RUN_ID": self.run_id,
            "AARYA_NETWORK": self.project,
            "AARYA_RESTART": self.restart_policy,
            "AARYA_BIND": cfg.host,
            "AARYA_CONF_DIR": str(self.root),
            "AARYA_NGINX_DIR": str(self.nginx_dir),
            "AARYA_PG_SUPERUSER": cfg.postgres.superuser,
            "AARYA_PG_SUPERUSER_PASSWORD": cfg.postgres.superuser_password,
            "AARYA_PORT_POSTGRES": str(cfg.postgres.port),
            "AARYA_PORT_REDIS": str(cfg.redis.port),
            "AARYA_PORT_TOXIPROXY": str(cfg.toxiproxy.port),
            "AARYA_PORT_GATEWAY": str(cfg.gateway.port),
            "AARYA_PROXY_FIRST": str(min(ports)),
            "AARYA_PROXY_LAST": str(max(ports)),
        }
        if sorted(ports) != list(range(min(ports), max(ports) + 1)):
            raise ValueError(f"the Toxiproxy edge ports are not one contiguous range: {sorted(ports)}")
        for name in component_names(cfg):
            env[f"AARYA_CONTAINER_{name.upper()}"] = container_name(cfg, name)
        for name, service in cfg.services.items():
            env[f"AARYA_PORT_{name.upper()}"] = str(service.port)
        for image in ("base", "python", "postgres", "redis", "nginx", "toxiproxy"):
            if image in self.images:
                env[f"AARYA_IMAGE_{image.upper()}"] = self.images[image]
        return env

    # -- per-service environment ----------------------------------------------------------------

    def service_env(self, service: str, release_env: Mapping[str, str] | None = None) -> dict[str, str]:
        """As the local driver's Service.env(), with every dependency reached through the Toxiproxy container."""
        cfg = self.config
        spec = cfg.services[service]
        pg = cfg.postgres
        env = {"SERVICE_NAME": service, "PYTHONUNBUFFERED": "1"}
        for dep in spec.depends_on:
            port = cfg.edge(service, dep).listen_port
            if dep == "postgres":
                env["DATABASE_URL"] = f"postgresql://{pg.app_user}:{pg.app_password}@toxiproxy:{port}/{pg.database}"
            elif dep == "redis":
                env["REDIS_URL"] = f"redis://toxiproxy:{port}/0"
            else:
                env[f"{dep.upper()}_URL"] = f"http://toxiproxy:{port}"
        env.update(spec.env)
        env.update(release_env or {})
        return env

    def write_service_env(self, service: str, release_env: Mapping[str, str] | None = None) -> None:
        _write_env(self.service_env_file(service), self.service_env(service, release_env))

    # -- configs ----------------------------------------------------------------------------------

    def toxiproxy_specs(self) -> list[dict[str, object]]:
        return [{"name": e.name, "listen": f"0.0.0.0:{e.listen_port}", "upstream": _upstream(self.config, e.dependency),
                 "enabled": True} for e in self.config.edges()]

    def write(self, releases: Mapping[str, Mapping[str, str]] | None = None) -> None:
        """Render every file of the run (idempotent; the deny-list is kept)."""
        cfg = self.config
        for sub in ("postgres", "redis", "toxiproxy", "env"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        (self.config.run_dir / "logs").mkdir(parents=True, exist_ok=True)
        _write_env(self.env_file, self.compose_env())
        pg = cfg.postgres
        (self.root / "postgres" / "postgresql.conf").write_text(render_template(
            STACK_DIR / "postgres" / "postgresql.conf.tmpl", {
                "port": PG_CONTAINER_PORT, "listen_addresses": "*", "socket_dir": "/var/run/postgresql",
                "max_connections": pg.max_connections, "archive_dir": PG_ARCHIVE_DIR,
                "archive_timeout_s": pg.archive_timeout_s,
            }))
        shutil.copy(STACK_DIR / "docker" / "pg_hba.conf", self.root / "postgres" / "pg_hba.conf")
        (self.root / "redis" / "redis.conf").write_text(render_template(
            STACK_DIR / "redis" / "redis.conf.tmpl", {
                "port": REDIS_CONTAINER_PORT, "bind": "0.0.0.0", "dir": "/data",
                "maxmemory_mb": cfg.redis.maxmemory_mb, "maxmemory_policy": cfg.redis.maxmemory_policy,
            }))
        (self.root / "toxiproxy" / "toxiproxy.json").write_text(json.dumps(self.toxiproxy_specs(), indent=2) + "\n")
        for service in cfg.services:
            self.write_service_env(service, (releases or {}).get(service))
        self._write_nginx()
        for path in self.root.rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)

    def _write_nginx(self) -> None:
        (self.nginx_dir / "logs").mkdir(parents=True, exist_ok=True)
        deny = self.nginx_dir / "deny.conf"
        if not deny.exists():
            deny.write_text("# deny-list: `deny <address>;` lines, applied by `nginx -s reload`\n")
        values: dict[str, object] = {
            "prefix": NGINX_DIR_IN_CONTAINER, "listen": f"0.0.0.0:{self.config.gateway.port}",
            "user_directive": "user root;", "deny_file": f"{NGINX_DIR_IN_CONTAINER}/deny.conf",
        }
        for service in self.config.services:
            values[f"up_{service}"] = f"toxiproxy:{self.config.edge('gateway', service).listen_port}"
        (self.nginx_dir / "nginx.conf").write_text(
            render_template(STACK_DIR / "nginx" / "nginx.conf.tmpl", values))

    def compose_command(self, *args: str) -> list[str]:
        return ["docker", "compose", "-f", str(COMPOSE_FILE), "--env-file", str(self.env_file), *args]


def _write_env(path: Path, values: Mapping[str, str]) -> None:
    for key, value in values.items():
        if "\n" in value:
            raise ValueError(f"{key}: a value in an env file cannot span lines")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
