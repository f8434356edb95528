"""A target profile as the engine's StackConfig (stack/config.py), for the parts of the suite that read one.

    config = stack_config_of(load_profile("examples/second-platform/pretix.toml"), run_dir)

What maps:
- each component of kind `service`: its port (from its health URL, else its readiness URL), its container,
  and `depends_on` from the profile's edges whose client it is (a store by its kind: `postgres`/`redis`);
- the gateway: the component of kind `gateway` (port from its health URL, its container), else the first
  service, which then plays the gateway and is left out of `services` (StackConfig gives every port one
  owner; its edges stay in the profile, which is what the attach driver routes);
- `host`: the gateway's health URL's host (every address of a profile is reached from this machine);
- PostgreSQL: port, database and user of the store's URL (or of its DSN, read from `dsn_env` when that is
  set; without it the port comes from an edge's `upstream` to the store), its container;
- Redis: the port of the store's URL (else of an edge's `upstream`), its container;
- Toxiproxy: the API port on this machine the caller chooses (the attach override publishes it).

What does not map, and keeps StackConfig's default or is left empty:
- passwords: never copied here. `app_password` and `superuser_password` are empty; a connection takes the
  secret from the profile's store (`Store.connection_string`) when it is made;
- `superuser`: a profile names one role per store (its `url`/DSN user), mapped as `app_user`; the superuser
  keeps the default name and is not used by the attach driver;
- PostgreSQL's max_connections, archive_timeout_s and os_user, Redis's maxmemory settings: properties of a
  server the suite starts, not of a team's;
- a service's `env`, `routes` and the `releases`: the reference's build knobs; a team's platform has none;
- the proxies' ports (`proxy_port_base`): the attach driver's proxies listen inside the team's network, on
  ports the override chooses, not on this machine; `StackConfig.edges()` describes the reference's layout;
- an edge whose dependency is neither a service nor a store (an outside API): no `depends_on` entry;
- a `ready` URL, the journeys, the ledger and the compose file: the profile keeps them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from psycopg.conninfo import conninfo_to_dict

from aarya_chaos.errors import ConfigError
from stack.config import (
    STORES,
    GatewayConfig,
    PostgresConfig,
    RedisConfig,
    ServiceConfig,
    StackConfig,
    ToxiproxyConfig,
)
from stack.target.profile import Component, Store, TargetProfile

DEFAULT_TOXIPROXY_PORT = ToxiproxyConfig().port


def stack_config_of(profile: TargetProfile, run_dir: Path, *, toxiproxy_port: int = DEFAULT_TOXIPROXY_PORT,
                    ready_timeout_s: float | None = None, environ: Mapping[str, str] | None = None) -> StackConfig:
    """`profile` as a StackConfig; `environ` (default: the process's) is read only for a store given by
    `dsn_env`, and only its host, port, database and user are kept."""
    env = os.environ if environ is None else environ
    services = profile.services()
    gateway = next((c for c in profile.components.values() if c.kind == "gateway"), None)
    stand_in = gateway is None and bool(services)
    if gateway is None:
        if not services:
            raise ConfigError(f"profile {profile.name!r} has neither a gateway nor a service to enter by")
        gateway = services[0]
    mapped = {c.name: ServiceConfig(port=_port_of(c), container=c.container or "",
                                    depends_on=_depends_on(profile, c.name))
              for c in services if not (stand_in and c is gateway)}
    fields: dict[str, object] = {
        "host": _host_of(gateway),
        "run_dir": run_dir,
        "services": mapped,
        "gateway": GatewayConfig(port=_port_of(gateway), container=gateway.container or ""),
        "toxiproxy": ToxiproxyConfig(port=toxiproxy_port),
        "postgres": _postgres(profile, env),
        "redis": _redis(profile),
    }
    if ready_timeout_s is not None:
        fields["ready_timeout_s"] = ready_timeout_s
    try:
        return StackConfig.model_validate(fields)
    except ValueError as exc:
        raise ConfigError(f"profile {profile.name!r} does not map onto the engine's configuration: {exc}") from exc


def store_of_kind(profile: TargetProfile, kind: str) -> Store | None:
    """The profile's store of `kind`: the ledger's when it is of that kind, else the first one."""
    ledger = profile.stores.get(profile.ledger.store)
    if ledger is not None and ledger.kind == kind:
        return ledger
    return next((s for s in profile.stores.values() if s.kind == kind), None)


def dependency_kind(profile: TargetProfile, name: str) -> str:
    """An edge's dependency as StackConfig names it: a store by its kind, anything else by its name."""
    store = profile.stores.get(name)
    if store is not None:
        return store.kind
    component = profile.components.get(name)
    if component is not None and component.kind == "store" and name not in STORES:
        kinds = {s.kind for s in profile.stores.values()}
        return kinds.pop() if len(kinds) == 1 else name
    return name


def _depends_on(profile: TargetProfile, client: str) -> tuple[str, ...]:
    known = set(STORES) | {c.name for c in profile.services()}
    found: list[str] = []
    for edge in profile.edges.values():
        dependency = dependency_kind(profile, edge.dependency)
        if edge.client == client and dependency in known and dependency not in found:
            found.append(dependency)
    return tuple(found)


def _port_of(component: Component) -> int:
    url = component.health or component.ready
    port = _url_port(url) if url else None
    if port is None:
        raise ConfigError(f"component {component.name!r}: no port in its health URL {url!r}")
    return port


def _host_of(component: Component) -> str:
    url = component.health or component.ready or ""
    return urlsplit(url).hostname or StackConfig().host


def _url_port(url: str) -> int | None:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return None
    return port or {"http": 80, "https": 443}.get(parts.scheme)


def _container(profile: TargetProfile, store: Store | None, default: str) -> str:
    if store is None:
        return default
    component = profile.components.get(store.name)
    return component.container if component is not None and component.container else default


def _upstream_port(profile: TargetProfile, store: Store) -> int | None:
    for edge in profile.edges.values():
        if edge.dependency == store.name:
            return edge.upstream_port
    return None


def _postgres(profile: TargetProfile, env: Mapping[str, str]) -> PostgresConfig:
    default = PostgresConfig()
    store = store_of_kind(profile, "postgres")
    parts: dict[str, str] = {}
    if store is not None:
        text = store.url if store.url is not None else env.get(store.dsn_env or "", "")
        try:
            parts = {k: str(v) for k, v in conninfo_to_dict(text).items() if v is not None} if text else {}
        except Exception as exc:  # psycopg's ProgrammingError: an unparseable DSN, printed without it
            raise ConfigError(f"store {store.name!r}: its DSN cannot be parsed ({type(exc).__name__})") from None
    port = int(parts["port"]) if "port" in parts else (_upstream_port(profile, store) if store else None)
    return PostgresConfig(
        port=port or default.port,
        database=parts.get("dbname", default.database if store is None else ""),
        app_user=parts.get("user", default.app_user if store is None else ""),
        app_password="", superuser_password="",
        container=_container(profile, store, default.container),
    )


def _redis(profile: TargetProfile) -> RedisConfig:
    default = RedisConfig()
    store = store_of_kind(profile, "redis")
    port = _url_port(store.url) if store is not None and store.url else None
    if port is None and store is not None:
        port = _upstream_port(profile, store)
    return RedisConfig(port=port or default.port, container=_container(profile, store, default.container))
