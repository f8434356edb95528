"""The live checks of a target profile, run before anything is injected: read-only, each problem one line.

    compose     each edge's address_env is set in its client's compose service (`environment:`, a mapping
                or a list), and each component's compose_service is in the file
    stores      each PostgreSQL DSN connects and answers SELECT 1; each Redis URL answers PING
    containers  each named container exists (docker SDK, lookup only)
    health      each health and readiness URL answers 2xx

Each check is a function of its inputs (the parsed compose file, a connector, a container lookup, an HTTP
getter) returning `Finding`s, so it is tested without a platform; `run_preflight` plugs in the real ones.
A finding prints the store's redacted address, never its secret.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from aarya_chaos.errors import ConfigError
from stack.target.profile import MissingSecret, Store, TargetProfile

TIMEOUT_S = 2.0

Connect = Callable[[str], None]          # raises when the DSN/URL does not answer
LookupContainer = Callable[[str], object]  # raises when the container does not exist
LookupService = Callable[[str, str], object]  # (compose project, service): raises when it has no container
HttpStatus = Callable[[str], int]          # the status code a GET of the URL answers
RunQuery = Callable[[str, str], None]      # runs a query read-only on a DSN; raises when it fails


@dataclass(frozen=True)
class Finding:
    check: str
    subject: str
    message: str
    level: Literal["error", "note"] = "error"

    def __str__(self) -> str:
        return f"{self.level}: {self.check}: {self.subject}: {self.message}"


def errors(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if f.level == "error"]


# -- compose ---------------------------------------------------------------------------------------------


def load_compose(path: Path) -> tuple[Mapping[str, Any] | None, list[Finding]]:
    """The compose file parsed (YAML, merge keys resolved), or a finding saying why it could not be read."""
    import yaml

    try:
        parsed = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        return None, [Finding("compose", str(path), f"cannot be read: {exc}")]
    if not isinstance(parsed, Mapping) or not isinstance(parsed.get("services"), Mapping):
        return None, [Finding("compose", str(path), "has no `services:` mapping")]
    return parsed, []


def environment_names(service: Mapping[str, Any]) -> set[str]:
    """The variables a compose service sets under `environment:` (a mapping, or a list of NAME[=value])."""
    environment = service.get("environment") or {}
    if isinstance(environment, Mapping):
        return {str(name) for name in environment}
    return {str(item).split("=", 1)[0] for item in environment}


def check_compose(profile: TargetProfile, compose: Mapping[str, Any], file: str = "the compose file") -> list[Finding]:
    services: Mapping[str, Any] = compose.get("services") or {}
    findings = [Finding("compose", f"component {c.name}", f"compose service {c.compose_service!r} is not in {file}")
                for c in profile.components.values()
                if c.compose_service is not None and c.compose_service not in services]
    for edge in profile.edges.values():
        client = profile.components.get(edge.client)
        if (edge.address_env is None or client is None or client.compose_service is None
                or client.compose_service not in services):
            continue
        service = services[client.compose_service] or {}
        if edge.address_env in environment_names(service):
            continue
        where = f"service {client.compose_service!r} of {file}"
        if service.get("env_file"):
            findings.append(Finding("compose", f"edge {edge.name}", f"{edge.address_env} is not under `environment:` "
                                    f"of {where}; it may be set by its env_file {service['env_file']}, which is "
                                    "not read", level="note"))
        else:
            findings.append(Finding("compose", f"edge {edge.name}", f"{edge.address_env} is not set in {where}: "
                                    "Toxiproxy cannot be put in this edge's path"))
    return findings


# -- stores ----------------------------------------------------------------------------------------------


def check_stores(profile: TargetProfile, environ: Mapping[str, str], connectors: Mapping[str, Connect]) -> list[Finding]:
    """Each store connected to with the connector of its kind ("postgres", "redis")."""
    return [f for store in profile.stores.values() for f in check_store(store, environ, connectors[store.kind])]


def check_store(store: Store, environ: Mapping[str, str], connect: Connect) -> list[Finding]:
    subject = f"store {store.name}"
    try:
        dsn = store.connection_string(environ)
    except MissingSecret as exc:
        return [Finding("stores", subject, str(exc).removeprefix(f"store {store.name!r}: "))]
    try:
        connect(dsn)
    except Exception as exc:  # noqa: BLE001 - any failure to connect is the finding
        return [Finding("stores", subject, f"{store.redacted(environ)} does not answer: "
                                           f"{_without_secrets(exc, store, environ)}")]
    return []


def _without_secrets(exc: Exception, store: Store, environ: Mapping[str, str]) -> str:
    """The error's text, first line, with the store's secret cut out should a driver have echoed it."""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    for name in (store.dsn_env, store.password_env):
        secret = environ.get(name) if name else None
        if secret:
            text = text.replace(secret, "***")
    return text


def connect_postgres(dsn: str) -> None:
    import psycopg

    with psycopg.connect(dsn, connect_timeout=int(TIMEOUT_S), autocommit=True) as conn:
        conn.execute("SELECT 1")


def ping_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S)
    try:
        client.ping()
    finally:
        client.close()


def check_ledger_query(profile: TargetProfile, environ: Mapping[str, str], run: RunQuery) -> list[Finding]:
    """The ledger query runs (read-only, with no keys): its tables and columns exist."""
    store = profile.stores.get(profile.ledger.store)
    if store is None:
        return []
    try:
        run(store.connection_string(environ), profile.ledger.query)
    except Exception as exc:  # noqa: BLE001 - any failure of the query is the finding
        return [Finding("ledger", f"store {store.name}", f"the ledger query fails on {store.redacted(environ)}: "
                                                         f"{_without_secrets(exc, store, environ)}")]
    return []


def run_read_only(dsn: str, query: str) -> None:
    """`query` with an empty key list, in a READ ONLY transaction that is rolled back."""
    import psycopg

    with psycopg.connect(dsn, connect_timeout=int(TIMEOUT_S)) as conn:
        conn.read_only = True
        conn.execute("SET LOCAL statement_timeout = 5000")
        conn.execute(query, {"keys": []}).fetchall()
        conn.rollback()


# -- containers ------------------------------------------------------------------------------------------


def check_containers(profile: TargetProfile, lookup: LookupContainer,
                     lookup_service: LookupService | None = None) -> list[Finding]:
    """Each component's container exists: by its compose project and service when the profile names both
    (a project's containers are named after the project, which a team may run under another name), else
    by its container name."""
    findings = []
    project = profile.compose.project if profile.compose is not None else None
    for component in profile.components.values():
        by_service = project is not None and component.compose_service is not None and lookup_service is not None
        if component.container is None and not by_service:
            continue
        what = (f"compose service {component.compose_service!r} of project {project!r}" if by_service
                else f"container {component.container!r}")
        try:
            if by_service:
                assert lookup_service is not None and project is not None and component.compose_service is not None
                lookup_service(project, component.compose_service)
            else:
                lookup(str(component.container))
        except Exception as exc:  # noqa: BLE001 - any failed lookup is the finding
            findings.append(Finding("containers", f"component {component.name}", f"{what} {_lookup_failure(exc)}"))
    return findings


def _lookup_failure(exc: Exception) -> str:
    from docker.errors import NotFound

    if isinstance(exc, NotFound):
        return "does not exist"
    return f"could not be looked up: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}"


def docker_lookup() -> tuple[tuple[LookupContainer, LookupService] | None, list[Finding]]:
    """The engine's container lookups (by name; by compose project and service), or a finding that there is
    no engine to ask."""
    import docker
    from docker.errors import DockerException, NotFound

    try:
        client = docker.from_env(timeout=int(TIMEOUT_S) + 3)
        client.ping()
    except DockerException as exc:
        return None, [Finding("containers", "docker", f"no Docker engine answers ({exc}); the containers are "
                                                      "not checked")]

    def by_service(project: str, service: str) -> None:
        labels = [f"com.docker.compose.project={project}", f"com.docker.compose.service={service}"]
        if not client.containers.list(all=True, filters={"label": labels}):
            raise NotFound(f"no container of {project}/{service}")

    return (client.containers.get, by_service), []


# -- health ----------------------------------------------------------------------------------------------


def check_health(profile: TargetProfile, get_status: HttpStatus) -> list[Finding]:
    findings = []
    for component in profile.components.values():
        for what, url in (("health", component.health), ("readiness", component.ready)):
            if url is None:
                continue
            try:
                status = get_status(url)
            except Exception as exc:  # noqa: BLE001 - no answer is the finding
                findings.append(Finding("health", f"component {component.name}", f"{what} {url} does not answer: "
                                        f"{str(exc) or type(exc).__name__}"))
                continue
            if not 200 <= status < 300:
                findings.append(Finding("health", f"component {component.name}", f"{what} {url} answered {status}"))
    return findings


def http_status(url: str) -> int:
    import httpx

    return httpx.get(url, timeout=TIMEOUT_S).status_code


# -- all of them -----------------------------------------------------------------------------------------


def run_preflight(profile: TargetProfile, environ: Mapping[str, str] | None = None, *,
                  containers: bool = True, live: bool = True) -> list[Finding]:
    """Every live check of the profile, against the platform it describes, read-only. `containers`: look the
    components' containers up (False where the suite runs the platform as processes of its own). `live`
    False: the compose file's checks alone (the platform is not started yet: the suite starts it)."""
    environ = os.environ if environ is None else environ
    findings: list[Finding] = []
    if profile.compose is not None:
        compose, unreadable = load_compose(profile.compose.file)
        findings += unreadable
        if compose is not None:
            findings += check_compose(profile, compose, str(profile.compose.file))
    elif any(e.address_env for e in profile.edges.values()):
        findings.append(Finding("compose", "edges", "the address_env of the edges are not checked: the profile "
                                "has no [compose]", level="note"))
    if not live:
        return findings
    findings += check_stores(profile, environ, {"postgres": connect_postgres, "redis": ping_redis})
    if not errors(f for f in findings if f.check == "stores"):
        findings += check_ledger_query(profile, environ, run_read_only)
    if containers and any(c.container or c.compose_service for c in profile.components.values()):
        lookups, no_engine = docker_lookup()
        findings += no_engine if lookups is None else check_containers(profile, *lookups)
    findings += check_health(profile, http_status)
    return findings


def require_platform_matches(profile: TargetProfile, *, containers: bool, before_start: bool = False,
                             platform_started: bool = True) -> None:
    """The preflight, read-only, before anything is injected: a ConfigError listing every problem at once.
    `containers`: look the team's containers up (the suite's own drivers run the platform themselves).
    `before_start`: the attach driver has not started yet, so the health URLs are not asked (they are once
    it has). `platform_started` False: the suite starts the team's project itself, so before that only the
    compose file is checked (the stores, ledger and containers once it runs)."""
    problems = [f for f in errors(run_preflight(profile, containers=containers, live=platform_started))
                if not (before_start and f.check == "health")]
    if problems:
        raise ConfigError(f"the target profile {profile.path} does not match the platform:\n"
                          + "\n".join(str(p) for p in problems))
