"""The local stack's stores and gateway as an operator reaches them: SQL over PostgreSQL's Unix socket, the
runbook's `pg_isready` and `redis-cli`, Toxiproxy's API, the gateway's files and reload."""

from __future__ import annotations

import subprocess
import time
from pathlib import PurePosixPath
from typing import Any

import psycopg
import redis

from stack.binaries import Binaries
from stack.config import StackConfig
from stack.drivers.base import GatewayFiles, PostgresFiles
from stack.redis_client import NO_RETRY
from stack.toxiproxy import ToxiproxyClient

from .components import Component, Gateway, Postgres, RunLayout

SQL_ATTEMPTS = 5


class LocalStores:
    config: StackConfig
    layout: RunLayout
    binaries: Binaries
    components: dict[str, Component]

    def toxiproxy(self) -> ToxiproxyClient:
        return ToxiproxyClient(self.components["toxiproxy"].endpoint)

    def admin_conninfo(self, database: str | None = None) -> str:
        """The superuser's connection over PostgreSQL's Unix socket (the operator's path, not through Toxiproxy)."""
        pg = self.components["postgres"]
        assert isinstance(pg, Postgres)
        return pg.admin_conninfo(database)

    def sql(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run SQL as the superuser over the Unix socket (the operator's path, not through Toxiproxy)."""
        pg = self.components["postgres"]
        assert isinstance(pg, Postgres)
        for attempt in range(SQL_ATTEMPTS):
            try:
                with psycopg.connect(pg.admin_conninfo(), autocommit=True) as conn:
                    cursor = conn.execute(query, params)
                    return cursor.fetchall() if cursor.description else []
            except psycopg.OperationalError as exc:
                # At a full server, refused app connections hold a reserved slot for a few milliseconds.
                if "too many clients" not in str(exc) or attempt == SQL_ATTEMPTS - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")

    def redis(self) -> redis.Redis:
        return redis.Redis(host=self.config.host, port=self.config.redis.port, socket_timeout=2,
                           socket_connect_timeout=2, decode_responses=True, retry=NO_RETRY)

    def pg_isready(self) -> tuple[int, str]:
        """The runbook's `pg_isready -U postgres`, over TCP: (exit code, output)."""
        pg = self.config.postgres
        return _run([str(self.binaries.pg("pg_isready")), "-h", self.config.host, "-p", str(pg.port),
                     "-U", pg.superuser, "-t", "2"])

    def redis_cli(self, *args: str) -> tuple[int, str]:
        """The runbook's `redis-cli ...` against our Redis: (exit code, output)."""
        return _run([str(self.binaries.redis_cli), "-h", self.config.host, "-p", str(self.config.redis.port),
                     *args])

    def postgres_files(self) -> PostgresFiles:
        owner = self.layout.pgdata.stat()
        return PostgresFiles(self.layout.pgdata, self.layout.wal_archive, self.layout.backups, owner.st_uid,
                             owner.st_gid, PurePosixPath(self.layout.pgdata))

    def reload_gateway(self) -> None:
        gateway = self.components["api_gateway"]
        assert isinstance(gateway, Gateway)
        gateway.reload()

    def gateway_files(self) -> GatewayFiles:
        gateway = self.components["api_gateway"]
        assert isinstance(gateway, Gateway)
        return GatewayFiles(gateway.access_log, gateway.deny_file)


def _run(command: list[str], timeout_s: float = 5.0) -> tuple[int, str]:
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return 124, f"{command[0]} timed out after {timeout_s}s"
    return result.returncode, result.stdout + result.stderr

