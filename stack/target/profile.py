"""A target profile: the platform the suite is pointed at, as one TOML file (docs/target-profiles.md).

The dataclasses here are what `stack.target.load.load_profile` returns once every key has been checked.
Secrets never live in them: a store names the environment variable that holds its DSN or its password, and
`Store.connection_string` reads it only when a connection is about to be made. Anything printed goes
through `Store.redacted` or `redact`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import quote, urlsplit, urlunsplit

from aarya_chaos.errors import ConfigError

ComponentKind = Literal["service", "gateway", "store"]
StoreKind = Literal["postgres", "redis"]
COMPONENT_KINDS: tuple[ComponentKind, ...] = ("service", "gateway", "store")
STORE_KINDS: tuple[StoreKind, ...] = ("postgres", "redis")
URL_SCHEMES: Mapping[StoreKind, tuple[str, ...]] = {
    "postgres": ("postgresql", "postgres"),
    "redis": ("redis", "rediss"),
}
EDGE_SEPARATOR = "__"
REDACTED = "***"


class MissingSecret(ConfigError):
    """An environment variable a store's connection needs is not set."""


@dataclass(frozen=True)
class Component:
    """One part of the platform: where it answers health and readiness, and how its container is named."""

    name: str
    kind: ComponentKind
    health: str | None = None  # None only for a store, which is checked by connecting to it
    ready: str | None = None
    container: str | None = None
    compose_service: str | None = None


@dataclass(frozen=True)
class Store:
    """How to reach a store: the whole DSN/URL in the variable `dsn_env`, or a `url` without a password plus
    `password_env`, the variable holding the password (None: the store needs none)."""

    name: str
    kind: StoreKind
    dsn_env: str | None = None
    url: str | None = None
    password_env: str | None = None

    def connection_string(self, environ: Mapping[str, str]) -> str:
        """The DSN/URL with its secret, for the connection only: never print it, print `redacted` instead."""
        if self.dsn_env is not None:
            if not environ.get(self.dsn_env):
                raise MissingSecret(f"store {self.name!r}: environment variable {self.dsn_env} is not set "
                                    f"(it holds the {self.kind} DSN)")
            return environ[self.dsn_env]
        assert self.url is not None  # the loader requires dsn_env or url
        if self.password_env is None:
            return self.url
        if not environ.get(self.password_env):
            raise MissingSecret(f"store {self.name!r}: environment variable {self.password_env} is not set "
                                f"(it holds the password for {self.url})")
        return with_password(self.url, environ[self.password_env])

    def redacted(self, environ: Mapping[str, str] | None = None) -> str:
        """What may be printed: the address without its password, and where the secret comes from."""
        if self.dsn_env is not None:
            value = (environ or {}).get(self.dsn_env)
            return f"{redact(value)} (from ${self.dsn_env})" if value else f"${self.dsn_env}"
        source = f" (password from ${self.password_env})" if self.password_env else ""
        return f"{redact(self.url or '')}{source}"


@dataclass(frozen=True)
class Edge:
    """A dependency edge `<client>__<dependency>`: the variable (`address_env`, in the client's compose
    service) or the setting (`address_setting`, free text: a config file and its directive) that holds the
    address the client dials, and the dependency's real address, which Toxiproxy's proxy forwards to."""

    client: str
    dependency: str
    upstream: str  # host:port
    address_env: str | None = None
    address_setting: str | None = None

    @property
    def name(self) -> str:
        return f"{self.client}{EDGE_SEPARATOR}{self.dependency}"

    @property
    def upstream_port(self) -> int:
        return int(self.upstream.rsplit(":", 1)[1])


@dataclass(frozen=True)
class Journeys:
    """The team's own load: a locustfile (absolute, resolved against the profile's directory), and the base
    URL its users are given as locust's --host (None: the driver's gateway)."""

    locustfile: Path
    users: int = 10
    spawn_rate: float = 10.0
    host: str | None = None


@dataclass(frozen=True)
class Ledger:
    """How an acknowledged write is found: history ops named `op` completed `ok` carry the write's key in
    value[`key_field`]; `query`, read-only, run on `store` with the keys as `%(keys)s`, returns a row for each
    of those the database holds: a column named `key_field`, and optionally `id` (checks/write_ledger.py)."""

    op: str
    key_field: str
    store: str
    query: str


@dataclass(frozen=True)
class Compose:
    file: Path
    project: str | None = None


@dataclass(frozen=True)
class TargetProfile:
    name: str
    path: Path
    components: Mapping[str, Component]
    stores: Mapping[str, Store]
    edges: Mapping[str, Edge]
    journeys: Journeys
    ledger: Ledger
    compose: Compose | None = None
    description: str = ""

    def services(self) -> list[Component]:
        return [c for c in self.components.values() if c.kind == "service"]


_KEYWORD_PASSWORD = re.compile(r"(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)
_QUERY_PASSWORD = re.compile(r"((?:^|&)password=)[^&]*", re.IGNORECASE)


def redact(dsn: str) -> str:
    """`dsn` (a URL or a libpq key=value string) with any password replaced by ***."""
    if "://" not in dsn:
        return _KEYWORD_PASSWORD.sub(lambda m: m.group(1) + REDACTED, dsn)
    parts = urlsplit(dsn)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        if ":" in userinfo:
            netloc = f"{userinfo.split(':', 1)[0]}:{REDACTED}@{host}"
    query = _QUERY_PASSWORD.sub(lambda m: m.group(1) + REDACTED, parts.query)
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def url_password(url: str) -> str | None:
    """The password written in a URL's user info, if any."""
    try:
        return urlsplit(url).password
    except ValueError:
        return None


def with_password(url: str, password: str) -> str:
    parts = urlsplit(url)
    user = parts.username or ""
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{quote(user, safe='')}:{quote(password, safe='')}@{host}"))
