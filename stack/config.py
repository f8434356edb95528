"""The stack's topology and addresses: the one place that names services, ports, edges and containers.

Defaults describe the reference stack (docs/architecture.md). A TOML file overrides any field, so the suite
can be pointed at another deployment without code changes:

    # aarya-chaos.toml
    run_dir = "/var/tmp/aarya"
    [postgres]
    port = 25432
    [services.commerce]
    port = 9010

The file is `aarya-chaos.toml` in the working directory, or the path in `AARYA_CONFIG`.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from aarya_chaos.errors import ConfigError

STORES = ("postgres", "redis")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServiceConfig(_Model):
    port: int = Field(ge=1, le=65535)
    depends_on: tuple[str, ...] = ()
    container: str = ""
    env: dict[str, str] = Field(default_factory=dict)
    routes: tuple[str, ...] = ()


class PostgresConfig(_Model):
    port: int = 15432
    database: str = "aarya"
    app_user: str = "aarya"
    app_password: str = "aarya"
    superuser: str = "postgres"
    superuser_password: str = "postgres"
    max_connections: int = 40
    archive_timeout_s: int = 60
    os_user: str = "postgres"
    container: str = "aarya_postgres"


class RedisConfig(_Model):
    port: int = 16379
    maxmemory_mb: int = 128
    maxmemory_policy: str = "volatile-ttl"
    container: str = "aarya_redis"


class GatewayConfig(_Model):
    port: int = 8000
    container: str = "aarya_api_gateway"


class ToxiproxyConfig(_Model):
    port: int = 18474
    proxy_port_base: int = 21000
    container: str = "aarya_toxiproxy"


def _default_services() -> dict[str, ServiceConfig]:
    def svc(port: int, deps: tuple[str, ...], name: str, **env: str) -> ServiceConfig:
        return ServiceConfig(port=port, depends_on=deps, container=f"aarya_{name}", env=env)

    return {
        "core_platform": svc(8001, ("postgres", "redis"), "core_platform", DB_POOL_MAX_SIZE="5"),
        # payment answers within its 1 s pool timeout, before commerce's 2 s call timeout gives up on it
        # (with equal timeouts commerce retried answers that were on their way: found by scenario 1.2).
        # Its card network takes 250 ms, as real authorisations do: a checkout cut off in that time (3.2's
        # kill) leaves an order charged but not marked paid, which only a stable payment key keeps single.
        "payment": svc(8020, ("postgres",), "payment", DB_POOL_MAX_SIZE="4", DB_POOL_TIMEOUT_S="1.0",
                       PAYMENT_PROCESSOR_LATENCY_MS="250"),
        "commerce": svc(
            8010, ("postgres", "redis", "core_platform", "payment"), "commerce", DB_POOL_MAX_SIZE="8"
        ),
        "content_services": svc(8030, ("postgres", "redis"), "content_services", DB_POOL_MAX_SIZE="3"),
        "search_recommendation": svc(
            8040, ("postgres", "redis"), "search_recommendation", DB_POOL_MAX_SIZE="4"
        ),
        "event_compactor": svc(8050, ("postgres", "redis"), "event_compactor", DB_POOL_MAX_SIZE="2"),
    }


@dataclass(frozen=True)
class Edge:
    """One dependency edge, carried by its own Toxiproxy proxy named `<client>__<dependency>`."""

    client: str
    dependency: str
    listen_port: int
    upstream_port: int

    @property
    def name(self) -> str:
        return f"{self.client}__{self.dependency}"


def _default_releases() -> dict[str, dict[str, str]]:
    """Releases a service can be deployed on: extra environment per release. `v2-bad` is a defective
    build (it fails 60% of API requests while /health stays green), for the rollback scenario (8.1). The
    others are the reference build with one mitigation configured away, for the negative controls:
    `v1-no-client-deadline` waits on PostgreSQL without a client-side deadline (5.2), `v1-pool-waits` waits
    30 s for a pooled connection instead of failing fast (1.2), `v1-breaker-off` has a Redis breaker that
    never opens (2.2)."""
    return {"v1": {}, "v2-bad": {"RELEASE_ERROR_RATE": "0.6"},
            "v1-no-client-deadline": {"DB_CLIENT_DEADLINE": "false"},
            "v1-pool-waits": {"DB_POOL_TIMEOUT_S": "30"},
            "v1-breaker-off": {"BREAKER_FAILURE_THRESHOLD": "1000000"}}


class StackConfig(_Model):
    host: str = "127.0.0.1"
    run_dir: Path = Path("/tmp/aarya-chaos/run")
    tools_dir: Path = Path.home() / ".cache" / "aarya-chaos" / "bin"
    ready_timeout_s: float = 60.0
    postgres: PostgresConfig = PostgresConfig()
    redis: RedisConfig = RedisConfig()
    gateway: GatewayConfig = GatewayConfig()
    toxiproxy: ToxiproxyConfig = ToxiproxyConfig()
    services: dict[str, ServiceConfig] = Field(default_factory=_default_services)
    releases: dict[str, dict[str, str]] = Field(default_factory=_default_releases)

    @model_validator(mode="after")
    def _check(self) -> StackConfig:
        known = set(self.services) | set(STORES)
        for name, service in self.services.items():
            unknown = set(service.depends_on) - known
            if unknown:
                raise ValueError(f"service {name!r} depends on unknown {sorted(unknown)}; known: {sorted(known)}")
        ports = self.listen_ports()
        duplicates = sorted({p for p in ports.values() if list(ports.values()).count(p) > 1})
        if duplicates:
            clashing = sorted(k for k, p in ports.items() if p in duplicates)
            raise ValueError(f"port(s) {duplicates} used twice, by {clashing}")
        return self

    def upstream_port(self, dependency: str) -> int:
        if dependency == "postgres":
            return self.postgres.port
        if dependency == "redis":
            return self.redis.port
        return self.services[dependency].port

    def edges(self) -> list[Edge]:
        """Every dependency edge, the gateway's included, each with a stable proxy port."""
        pairs = [(name, dep) for name, svc in self.services.items() for dep in svc.depends_on]
        pairs += [("gateway", name) for name in self.services]
        return [
            Edge(client, dep, self.toxiproxy.proxy_port_base + i, self.upstream_port(dep))
            for i, (client, dep) in enumerate(sorted(pairs))
        ]

    def edge(self, client: str, dependency: str) -> Edge:
        for edge in self.edges():
            if edge.client == client and edge.dependency == dependency:
                return edge
        raise ConfigError(f"no edge {client}__{dependency}; edges: {[e.name for e in self.edges()]}")

    def listen_ports(self) -> dict[str, int]:
        """Every port the stack listens on, by owner; used for clash detection and 'port in use' checks."""
        ports = {
            "postgres": self.postgres.port,
            "redis": self.redis.port,
            "api_gateway": self.gateway.port,
            "toxiproxy": self.toxiproxy.port,
        }
        ports.update({name: svc.port for name, svc in self.services.items()})
        ports.update({f"proxy {e.name}": e.listen_port for e in self.edges()})
        return ports

    def url(self, port: int, scheme: str = "http") -> str:
        return f"{scheme}://{self.host}:{port}"

    @property
    def gateway_url(self) -> str:
        return self.url(self.gateway.port)

    @property
    def admin_dsn(self) -> str:
        """Superuser connection straight to PostgreSQL (not through Toxiproxy): the operator's own access."""
        pg = self.postgres
        return f"host={self.host} port={pg.port} dbname={pg.database} user={pg.superuser} password={pg.superuser_password}"

    @property
    def app_dsn(self) -> str:
        pg = self.postgres
        return f"host={self.host} port={pg.port} dbname={pg.database} user={pg.app_user} password={pg.app_password}"

    @property
    def redis_url(self) -> str:
        return f"redis://{self.host}:{self.redis.port}/0"

    def with_port_offset(self, offset: int, run_dir: Path | None = None) -> StackConfig:
        """The same stack on every port shifted by `offset` (for a second stack beside the first)."""
        return self.model_copy(update={
            "run_dir": run_dir or self.run_dir,
            "postgres": self.postgres.model_copy(update={"port": self.postgres.port + offset}),
            "redis": self.redis.model_copy(update={"port": self.redis.port + offset}),
            "gateway": self.gateway.model_copy(update={"port": self.gateway.port + offset}),
            "toxiproxy": self.toxiproxy.model_copy(update={
                "port": self.toxiproxy.port + offset,
                "proxy_port_base": self.toxiproxy.proxy_port_base + offset,
            }),
            "services": {n: s.model_copy(update={"port": s.port + offset}) for n, s in self.services.items()},
        })

    def to_toml(self) -> str:
        """The run dir, every port and container name, as an aarya-chaos.toml that `load_config` reads back."""
        lines = [f'run_dir = "{self.run_dir}"',
                 "[postgres]", f"port = {self.postgres.port}", f'container = "{self.postgres.container}"',
                 "[redis]", f"port = {self.redis.port}", f'container = "{self.redis.container}"',
                 "[gateway]", f"port = {self.gateway.port}", f'container = "{self.gateway.container}"',
                 "[toxiproxy]", f"port = {self.toxiproxy.port}", f"proxy_port_base = {self.toxiproxy.proxy_port_base}",
                 f'container = "{self.toxiproxy.container}"']
        for name, service in self.services.items():
            lines += [f"[services.{name}]", f"port = {service.port}"]
            if service.container:
                lines.append(f'container = "{service.container}"')
        return "\n".join(lines) + "\n"

    def service_names(self) -> Iterator[str]:
        """Services in dependency order (a service after everything it calls)."""
        done: set[str] = set()
        pending = dict(self.services)
        while pending:
            ready = [n for n, s in pending.items() if all(d in done or d in STORES for d in s.depends_on)]
            if not ready:
                raise ConfigError(f"dependency cycle among {sorted(pending)}")
            for name in sorted(ready):
                done.add(name)
                del pending[name]
                yield name


def load_config(path: Path | None = None, **overrides: Any) -> StackConfig:
    """Read the TOML config (explicit path, else $AARYA_CONFIG, else ./aarya-chaos.toml if present)."""
    data: dict[str, Any] = {}
    candidate = path or (Path(os.environ["AARYA_CONFIG"]) if "AARYA_CONFIG" in os.environ else None)
    if candidate is None and Path("aarya-chaos.toml").is_file():
        candidate = Path("aarya-chaos.toml")
    if candidate is not None:
        if not candidate.is_file():
            raise ConfigError(f"config file {candidate} does not exist")
        try:
            data = tomllib.loads(candidate.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {candidate} is not valid TOML: {exc}") from exc
    if "AARYA_RUN_DIR" in os.environ:
        data.setdefault("run_dir", os.environ["AARYA_RUN_DIR"])
    data.update(overrides)
    if "services" in data:
        merged = {k: v.model_dump() for k, v in _default_services().items()}
        for name, fields in data["services"].items():
            merged[name] = {**merged.get(name, {}), **fields}
        data["services"] = merged
    try:
        return StackConfig.model_validate(data)
    except ValidationError as exc:
        where = f" in {candidate}" if candidate else ""
        raise ConfigError(f"invalid configuration{where}:\n{exc}") from exc
