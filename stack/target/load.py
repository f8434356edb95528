"""`load_profile(path)`: a target profile read from TOML and checked key by key.

Every problem found is collected and raised together as one `ProfileError`, one line per problem, each
naming the file, the line and the key path (`profile.toml:14: edges.commerce__postgres.address_env: ...`).
Only the file is read (and the locustfile and compose file looked up): nothing of the platform is touched.
The live checks are `stack.target.preflight`.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from difflib import get_close_matches
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from aarya_chaos.errors import ConfigError
from stack.target.positions import KeyPath, Positions
from stack.target.profile import (
    COMPONENT_KINDS,
    EDGE_SEPARATOR,
    STORE_KINDS,
    URL_SCHEMES,
    Component,
    ComponentKind,
    Compose,
    Edge,
    Journeys,
    Ledger,
    Store,
    StoreKind,
    TargetProfile,
    url_password,
)
from stack.target.readonly import read_only_problem

T = TypeVar("T")
Choice = TypeVar("Choice", bound=str)
Reader = Callable[[Mapping[str, Any], KeyPath], T | None]  # reads one table at a key path

TOP_KEYS = ("name", "description", "components", "stores", "edges", "journeys", "ledger", "compose")
COMPONENT_KEYS = ("kind", "health", "ready", "container", "compose_service")
STORE_KEYS = ("kind", "dsn_env", "url", "password_env")
EDGE_KEYS = ("address_env", "address_setting", "upstream")
JOURNEY_KEYS = ("locustfile", "users", "spawn_rate", "host")
LEDGER_KEYS = ("op", "key_field", "store", "query")
COMPOSE_KEYS = ("file", "project")

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HOST_PORT = re.compile(r"^[^\s:/]+:(\d{1,5})$")
_TOML_LINE = re.compile(r"at line (\d+)")
_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "a boolean", dict: "a table",
               list: "an array"}


@dataclass(frozen=True)
class ProfileIssue:
    file: Path
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else str(self.file)
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class ProfileError(ConfigError):
    """A target profile that cannot be used; `issues` holds every problem found, one per line of the message."""

    def __init__(self, issues: Collection[ProfileIssue]) -> None:
        self.issues = tuple(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues))


def load_profile(path: Path | str) -> TargetProfile:
    """The profile at `path`, checked; raises ProfileError naming every problem."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ProfileError([ProfileIssue(path, None, "", f"cannot read the profile: {exc.strerror or exc}")]) from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = _TOML_LINE.search(str(exc))
        line = int(found.group(1)) if found else None
        raise ProfileError([ProfileIssue(path, line, "", f"not valid TOML: {exc}")]) from exc
    checker = _Checker(path, Positions(text))
    profile = checker.profile(data)
    if checker.issues or profile is None:
        raise ProfileError(sorted(checker.issues, key=lambda issue: issue.line or 0))
    return profile


class _Checker:
    """Reads the parsed TOML into the profile's dataclasses, noting every problem instead of stopping."""

    def __init__(self, path: Path, positions: Positions) -> None:
        self.path = path
        self.base = path.resolve().parent
        self.positions = positions
        self.issues: list[ProfileIssue] = []

    # -- the sections -----------------------------------------------------------------------------

    def profile(self, data: Mapping[str, Any]) -> TargetProfile | None:
        self.known_keys(data, (), TOP_KEYS)
        name = self.value(data, ("name",), str)
        description = self.value(data, ("description",), str, required=False) or ""
        components = self.tables(data, ("components",), self.component)
        stores = self.tables(data, ("stores",), self.store)
        edges = self.tables(data, ("edges",), self.edge)
        journeys = self.section(data, ("journeys",), self.journeys)
        ledger = self.section(data, ("ledger",), self.ledger)
        compose = self.section(data, ("compose",), self.compose, required=False)
        self.cross_check(_raw_keys(data, "components"), components, stores, edges, _raw_ledger_store(data), compose)
        if name is None or journeys is None or ledger is None or self.issues:
            return None
        return TargetProfile(name=name, path=self.path, components=components, stores=stores, edges=edges,
                             journeys=journeys, ledger=ledger, compose=compose, description=description)

    def component(self, table: Mapping[str, Any], at: KeyPath) -> Component | None:
        self.known_keys(table, at, COMPONENT_KEYS)
        kind: ComponentKind | None = self.choice(table, at + ("kind",), COMPONENT_KINDS)
        health = self.url(table, at + ("health",), required=kind is not None and kind != "store")
        ready = self.url(table, at + ("ready",), required=False)
        container = self.value(table, at + ("container",), str, required=False)
        compose_service = self.value(table, at + ("compose_service",), str, required=False)
        if EDGE_SEPARATOR in at[-1]:
            self.issue(at, f"a component's name must not contain {EDGE_SEPARATOR!r} (it separates an edge's ends)")
        if container is None and compose_service is None and "container" not in table and "compose_service" not in table:
            self.issue(at, f"missing key: [{_dotted(at)}] names neither its 'container' nor its 'compose_service'")
        if kind is None:
            return None
        return Component(at[-1], kind, health, ready, container, compose_service)

    def store(self, table: Mapping[str, Any], at: KeyPath) -> Store | None:
        self.known_keys(table, at, STORE_KEYS)
        kind: StoreKind | None = self.choice(table, at + ("kind",), STORE_KINDS)
        dsn_env = self.env_name(table, at + ("dsn_env",))
        url = self.value(table, at + ("url",), str, required=False)
        password_env = self.env_name(table, at + ("password_env",))
        if "dsn_env" not in table and "url" not in table:
            self.issue(at, f"missing key: [{_dotted(at)}] needs 'dsn_env' (a variable holding the whole DSN) "
                           "or 'url' (without its password)")
        elif dsn_env is not None and url is not None:
            self.issue(at + ("url",), "give 'dsn_env' or 'url', not both")
        if dsn_env is not None and password_env is not None:
            self.issue(at + ("password_env",), "only with 'url': the DSN in 'dsn_env' carries its own password")
        if url is not None:
            self.check_store_url(url, kind, at + ("url",))
        if kind is None:
            return None
        return Store(at[-1], kind, dsn_env, url, password_env)

    def edge(self, table: Mapping[str, Any], at: KeyPath) -> Edge | None:
        self.known_keys(table, at, EDGE_KEYS)
        client, _, dependency = at[-1].partition(EDGE_SEPARATOR)
        if not client or not dependency:
            self.issue(at, f"an edge is named <client>{EDGE_SEPARATOR}<dependency>, e.g. commerce__postgres")
        address_env = self.env_name(table, at + ("address_env",))
        address_setting = self.value(table, at + ("address_setting",), str, required=False)
        if "address_env" not in table and "address_setting" not in table:
            self.issue(at + ("address_env",), f"missing key: [{_dotted(at)}] needs 'address_env' (the variable "
                       "holding the address in the client's compose service) or 'address_setting'")
        elif address_env is not None and address_setting is not None:
            self.issue(at + ("address_setting",), "give 'address_env' or 'address_setting', not both")
        upstream = self.value(table, at + ("upstream",), str)
        if upstream is not None and not _valid_host_port(upstream):
            self.issue(at + ("upstream",), f"{upstream!r} is not host:port")
        if not client or not dependency or upstream is None or not _valid_host_port(upstream):
            return None
        return Edge(client, dependency, upstream, address_env, address_setting)

    def journeys(self, table: Mapping[str, Any], at: KeyPath) -> Journeys | None:
        self.known_keys(table, at, JOURNEY_KEYS)
        locustfile = self.existing_file(table, at + ("locustfile",))
        users = self.value(table, at + ("users",), int, required=False)
        spawn_rate = self.value(table, at + ("spawn_rate",), float, required=False)
        host = self.value(table, at + ("host",), str, required=False)
        if host is not None and not host.startswith(("http://", "https://")):
            self.issue(at + ("host",), f"the journeys' base URL starts with http:// or https://, not {host!r}")
        if users is not None and users < 1:
            self.issue(at + ("users",), f"must be at least 1, not {users}")
        if spawn_rate is not None and spawn_rate <= 0:
            self.issue(at + ("spawn_rate",), f"must be more than 0, not {spawn_rate}")
        if locustfile is None:
            return None
        defaults = Journeys(locustfile)
        return Journeys(locustfile, users or defaults.users, float(spawn_rate or defaults.spawn_rate), host)

    def ledger(self, table: Mapping[str, Any], at: KeyPath) -> Ledger | None:
        self.known_keys(table, at, LEDGER_KEYS)
        op = self.value(table, at + ("op",), str)
        key_field = self.value(table, at + ("key_field",), str)
        store = self.value(table, at + ("store",), str)
        query = self.value(table, at + ("query",), str)
        if query is not None:
            problem = read_only_problem(query)
            if problem:
                self.issue(at + ("query",), f"the ledger query {problem}")
        if op is None or key_field is None or store is None or query is None:
            return None
        return Ledger(op, key_field, store, query.strip())

    def compose(self, table: Mapping[str, Any], at: KeyPath) -> Compose | None:
        self.known_keys(table, at, COMPOSE_KEYS)
        file = self.existing_file(table, at + ("file",))
        project = self.value(table, at + ("project",), str, required=False)
        return None if file is None else Compose(file, project)

    # -- across sections --------------------------------------------------------------------------

    def cross_check(self, declared: Collection[str], components: Mapping[str, Component], stores: Mapping[str, Store],
                    edges: Mapping[str, Edge], ledger_store: str | None, compose: Compose | None) -> None:
        """`declared`: every component named in the file, `components` those read without a problem."""
        for name in stores:
            if declared and (name not in declared or (name in components and components[name].kind != "store")):
                self.issue(("stores", name), f"store {name!r} needs its component: [components.{name}] with "
                                             "kind = \"store\" (where its container is named)")
        for name, edge in edges.items():
            for end in (edge.client, edge.dependency):
                if declared and end not in declared:
                    self.issue(("edges", name), f"edge {name} names component {end!r}, which is not declared "
                                                f"in [components]{_suggestion(end, declared)}")
            client = components.get(edge.client)
            if (compose is not None and edge.address_env is not None and client is not None
                    and client.compose_service is None):
                self.issue(("edges", name, "address_env"), f"client {edge.client!r} has no compose_service, so "
                                                           f"{edge.address_env} cannot be looked up in the compose file")
        if ledger_store is not None and stores and ledger_store not in stores:
            self.issue(("ledger", "store"), f"store {ledger_store!r} is not declared in [stores]"
                                            f"{_suggestion(ledger_store, stores)}")
        elif ledger_store is not None and ledger_store in stores and stores[ledger_store].kind != "postgres":
            self.issue(("ledger", "store"), f"the ledger query is SQL: store {ledger_store!r} must be postgres")

    # -- one value --------------------------------------------------------------------------------

    def issue(self, at: KeyPath, message: str) -> None:
        self.issues.append(ProfileIssue(self.path, self.positions.line_of(at), _dotted(at), message))

    def known_keys(self, table: Mapping[str, Any], at: KeyPath, allowed: Collection[str]) -> None:
        where = f"[{_dotted(at)}]" if at else "the top level"
        for key in table:
            if key not in allowed:
                self.issue(at + (key,), f"unknown key {key!r} in {where}{_suggestion(key, allowed)}")

    def value(self, table: Mapping[str, Any], at: KeyPath, kind: type[T], *, required: bool = True) -> T | None:
        if at[-1] not in table:
            if required:
                self.issue(at, f"missing key {at[-1]!r} in " + (f"[{_dotted(at[:-1])}]" if at[:-1] else "the top level"))
            return None
        found = table[at[-1]]
        if kind is float and isinstance(found, int) and not isinstance(found, bool):
            found = float(found)
        if not isinstance(found, kind) or (kind is int and isinstance(found, bool)):
            self.issue(at, f"expected {_TYPE_NAMES.get(kind, kind.__name__)}, got {_type_name(found)} ({found!r})")
            return None
        return found

    def section(self, data: Mapping[str, Any], at: KeyPath, read: Reader[T], *, required: bool = True) -> T | None:
        table = self.value(data, at, dict, required=required)
        return None if table is None else read(table, at)

    def tables(self, data: Mapping[str, Any], at: KeyPath, read: Reader[T]) -> dict[str, T]:
        """A table of named tables (components, stores, edges), each read by `read`."""
        outer = self.value(data, at, dict)
        if outer is None:
            return {}
        if not outer:
            self.issue(at, f"[{_dotted(at)}] declares nothing")
        found: dict[str, T] = {}
        for name in outer:
            inner = self.value(outer, at + (name,), dict)
            item = None if inner is None else read(inner, at + (name,))
            if item is not None:
                found[name] = item
        return found

    def choice(self, table: Mapping[str, Any], at: KeyPath, choices: tuple[Choice, ...]) -> Choice | None:
        found = self.value(table, at, str)
        if found is not None and found not in choices:
            self.issue(at, f"{found!r} is not one of {', '.join(map(str, choices))}{_suggestion(found, choices)}")
            return None
        return next((c for c in choices if c == found), None)

    def url(self, table: Mapping[str, Any], at: KeyPath, *, required: bool) -> str | None:
        found = self.value(table, at, str, required=required)
        if found is not None and (urlsplit(found).scheme not in ("http", "https") or not urlsplit(found).netloc):
            self.issue(at, f"{found!r} is not an http(s) URL")
            return None
        return found

    def env_name(self, table: Mapping[str, Any], at: KeyPath) -> str | None:
        found = self.value(table, at, str, required=False)
        if found is not None and not _ENV_NAME.match(found):
            self.issue(at, f"{found!r} is not the name of an environment variable")
            return None
        return found

    def existing_file(self, table: Mapping[str, Any], at: KeyPath) -> Path | None:
        found = self.value(table, at, str)
        if found is None:
            return None
        resolved = (self.base / found).resolve()
        if not resolved.is_file():
            self.issue(at, f"{found} does not exist (looked for {resolved}; a path is relative to the profile)")
            return None
        return resolved

    def check_store_url(self, url: str, kind: StoreKind | None, at: KeyPath) -> None:
        scheme = urlsplit(url).scheme
        if kind is not None and scheme not in URL_SCHEMES[kind]:
            self.issue(at, f"a {kind} URL starts with {' or '.join(s + '://' for s in URL_SCHEMES[kind])}")
        if url_password(url) or re.search(r"password=", url, re.IGNORECASE):
            self.issue(at, "the URL holds a password: remove it and name the variable that holds it in "
                           "'password_env' (a profile never holds a secret)")


def _raw_keys(data: Mapping[str, Any], table: str) -> set[str]:
    """The names declared in a table of the file, whether or not they were read without a problem."""
    found = data.get(table)
    return set(found) if isinstance(found, dict) else set()


def _raw_ledger_store(data: Mapping[str, Any]) -> str | None:
    ledger = data.get("ledger")
    store = ledger.get("store") if isinstance(ledger, dict) else None
    return store if isinstance(store, str) else None


def _dotted(at: KeyPath) -> str:
    return ".".join(at)


def _suggestion(word: str, choices: Collection[str]) -> str:
    close = get_close_matches(word, list(choices), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _type_name(value: object) -> str:
    return next((name for kind, name in _TYPE_NAMES.items() if type(value) is kind), type(value).__name__)


def _valid_host_port(text: str) -> bool:
    found = _HOST_PORT.match(text)
    return found is not None and 1 <= int(found.group(1)) <= 65535
