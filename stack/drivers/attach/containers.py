"""The attach driver's core: the team's containers found by their compose labels, their addresses and
readiness probes; state, readiness, logs, `docker exec`, the container actions (kill, stop, start, restart,
pause, resume) and the event list are ContainerOps' (stack/drivers/container_ops.py), as on the docker driver.

A component is found as the container labelled `com.docker.compose.project=<project>` and
`com.docker.compose.service=<the profile's compose_service>`; nothing else is ever acted on (a container of
another project, or of no project, with the same name is not found). The proxy the run added is the
component `toxiproxy` (compose service `aarya-toxiproxy`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import docker
import httpx
import psycopg
import redis
from docker.errors import DockerException

from aarya_chaos.errors import StackError
from stack.config import StackConfig
from stack.drivers.common import StackContext
from stack.drivers.container_ops import ContainerOps
from stack.drivers.docker.core import EngineUnavailable
from stack.drivers.docker.engine import docker_client
from stack.redis_client import NO_RETRY
from stack.target.profile import Store, TargetProfile, redact
from stack.target.stack_config import store_of_kind
from stack.toxiproxy import ToxiproxyClient

from .labels import TOXIPROXY_SERVICE

log = logging.getLogger("aarya.attach.driver")

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
PROXY_COMPONENT = "toxiproxy"
PROBE_TIMEOUT_S = 2.0


class AttachCore(ContainerOps, StackContext):
    config: StackConfig
    _log = log

    def __init__(self, profile: TargetProfile, config: StackConfig, project: str,
                 environ: Mapping[str, str]) -> None:
        super().__init__()
        self.profile = profile
        self.config = config
        self.project = project
        self.environ = dict(environ)
        self.services: dict[str, str] = {name: c.compose_service for name, c in profile.components.items()
                                         if c.compose_service}
        self.services[PROXY_COMPONENT] = TOXIPROXY_SERVICE
        self._names = list(self.services)
        self._client: docker.DockerClient | None = None

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            try:
                self._client = docker_client()
            except DockerException as exc:
                raise EngineUnavailable(f"the Docker engine does not answer: {exc}") from exc
        return self._client

    def _find(self, name: str) -> Any | None:
        self._check_name(name)
        found = self.client.containers.list(all=True, filters={"label": [
            f"{PROJECT_LABEL}={self.project}", f"{SERVICE_LABEL}={self.services[name]}"]})
        return min(found, key=lambda c: str(c.name)) if found else None

    def _container(self, name: str) -> Any:
        """The component's container in the team's project (by compose labels), or StackError."""
        container = self._find(name)
        if container is None:
            raise StackError(f"no container of compose service {self.services[name]!r} in project "
                             f"{self.project!r} for {name}")
        return container

    # -- addresses and probes -------------------------------------------------------------------

    def store(self, kind: str) -> Store:
        store = store_of_kind(self.profile, kind)
        if store is None:
            raise StackError(f"profile {self.profile.name!r} declares no {kind} store")
        return store

    def endpoints(self) -> Mapping[str, str]:
        result: dict[str, str] = {}
        for name in self._names:
            component = self.profile.components.get(name)
            if name == PROXY_COMPONENT:
                result[name] = self.config.url(self.config.toxiproxy.port)
            elif component is not None and (component.health or component.ready):
                result[name] = str(component.health or component.ready)
            elif name in self.profile.stores:
                result[name] = self.profile.stores[name].redacted()
            else:
                result[name] = f"compose service {self.services[name]}"
        return result

    def _probe(self, name: str) -> Callable[[], object]:
        component = self.profile.components.get(name)
        if name == PROXY_COMPONENT:
            def version() -> object:
                with ToxiproxyClient(self.config.url(self.config.toxiproxy.port), timeout_s=PROBE_TIMEOUT_S) as c:
                    return c.version()
            return version
        store = self.profile.stores.get(name)
        if store is not None and store.kind == "postgres":
            def pg() -> object:
                dsn = store.connection_string(self.environ)
                with psycopg.connect(dsn, connect_timeout=2, autocommit=True) as conn:
                    return conn.execute("SELECT 1").fetchone()
            return pg
        if store is not None:
            def ping() -> object:
                client = redis.Redis.from_url(store.connection_string(self.environ), socket_timeout=PROBE_TIMEOUT_S,
                                              socket_connect_timeout=PROBE_TIMEOUT_S, retry=NO_RETRY)
                try:
                    return client.ping()
                finally:
                    client.close()
            return ping
        url = (component.ready or component.health) if component is not None else None
        if url is None:
            return lambda: bool((self._state(name) or {}).get("Running"))

        def http() -> object:
            response = httpx.get(url, timeout=PROBE_TIMEOUT_S)
            if not 200 <= response.status_code < 300:
                raise StackError(f"{url} answered {response.status_code}: {response.text[:200]}")
            return True
        return http

    def _redacted(self, text: str) -> str:
        return redact(text)

    def wait_ready(self, name: str, timeout_s: float | None = None) -> None:
        self._check_name(name)
        super().wait_ready(name, timeout_s)
