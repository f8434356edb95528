"""PostgreSQL access: a bounded psycopg pool with a checkout timeout and a server-side statement_timeout.

Every failure mode (pool exhausted, server gone, statement cancelled) becomes DependencyUnavailable within
about `db_pool_timeout_s` or `db_statement_timeout_ms`, so a request never hangs on the database.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from .errors import DependencyUnavailable
from .settings import ServiceSettings

log = logging.getLogger("aarya.db")


class Database:
    def __init__(self, settings: ServiceSettings) -> None:
        if not settings.database_url:
            raise ValueError("DATABASE_URL is not set")
        self.pool = ConnectionPool(
            settings.database_url,
            min_size=settings.db_pool_min_size,
            max_size=settings.db_pool_max_size,
            timeout=settings.db_pool_timeout_s,
            # Reconnect attempts never stop: a database outage must heal without a service restart.
            reconnect_timeout=3600,
            max_idle=60,
            check=ConnectionPool.check_connection,
            kwargs={
                "connect_timeout": settings.db_connect_timeout_s,
                "options": f"-c statement_timeout={settings.db_statement_timeout_ms}",
                "application_name": settings.service_name,
                "row_factory": dict_row,
            },
            name=settings.service_name,
            open=False,
        )

    def open(self) -> None:
        self.pool.open(wait=False)

    def close(self) -> None:
        self.pool.close(timeout=2)

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[dict[str, object]]]:
        """A pooled connection; the block runs in one transaction, committed on success."""
        try:
            with self.pool.connection() as conn:
                yield conn  # type: ignore[misc]
        except PoolTimeout as exc:
            log.error("postgres pool timeout: %s", exc, extra=self.pool.get_stats())
            raise DependencyUnavailable("postgres", f"pool timeout: {exc}") from exc
        except psycopg.errors.QueryCanceled as exc:
            log.error("postgres statement timeout: %s", exc)
            raise DependencyUnavailable("postgres", f"statement timeout: {exc}") from exc
        except psycopg.OperationalError as exc:
            log.error("postgres error: %s", exc)
            raise DependencyUnavailable("postgres", str(exc)) from exc

    def ping(self) -> float:
        """Round-trip time of SELECT 1 in ms; raises DependencyUnavailable."""
        started = time.perf_counter()
        with self.connection() as conn:
            conn.execute("SELECT 1")
        return (time.perf_counter() - started) * 1000

    def stats(self) -> dict[str, int]:
        return self.pool.get_stats()
