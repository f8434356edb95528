"""PostgreSQL access: a bounded psycopg pool with a checkout timeout, a server-side statement_timeout and a
client-side deadline.

Every failure mode (pool exhausted, server gone, statement cancelled, link black-holed) becomes
DependencyUnavailable within about `db_pool_timeout_s` + the request deadline, so a request never hangs on
the database. The client-side deadline matters when the network drops packets without closing anything:
`statement_timeout` is enforced by a server that never received the query, and TCP keepalives never fire
while a proxy (or a middlebox) acknowledges every byte. Found by the network-partition scenario (5.2).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from .errors import DependencyUnavailable
from .settings import ServiceSettings

log = logging.getLogger("aarya.db")
CHECK_DEADLINE_S = 1.0
REQUEST_DEADLINE_MARGIN_S = 1.0


def start_deadline(conn: psycopg.Connection[Any], seconds: float) -> threading.Timer:
    """Cut the connection's socket unless cancelled within `seconds`: libpq then fails the pending call at
    once (OperationalError) instead of waiting for an answer that will never come."""
    timer = threading.Timer(seconds, _shutdown_socket, args=(conn, seconds))
    timer.daemon = True
    timer.start()
    return timer


@contextmanager
def client_deadline(conn: psycopg.Connection[Any], seconds: float) -> Iterator[None]:
    timer = start_deadline(conn, seconds)
    try:
        yield
    finally:
        timer.cancel()


def _shutdown_socket(conn: psycopg.Connection[Any], seconds: float) -> None:
    try:
        duplicate = socket.socket(fileno=os.dup(conn.pgconn.socket))  # libpq keeps owning its own descriptor
    except (OSError, psycopg.Error):
        return
    with duplicate:
        log.error("postgres client deadline of %.1fs exceeded: cutting the connection (timeout)", seconds)
        try:
            duplicate.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def request_deadline_s(settings: ServiceSettings) -> float | None:
    """How long after a request got its connection the client cuts it (statement_timeout plus a margin for
    the round trip); None for the build without client deadlines (5.2's control)."""
    if not settings.db_client_deadline:
        return None
    return settings.db_statement_timeout_ms / 1000 + REQUEST_DEADLINE_MARGIN_S


class WaitingRequests:
    """How many requests are waiting for a pooled connection right now (its liveness check included).

    psycopg_pool's own `requests_waiting` is the length of its queue, and a waiter that timed out stays in
    that queue until a connection is offered to it: after a burst of pool timeouts it counts requests that
    have already been answered 503."""

    def __init__(self) -> None:
        self._count = 0
        self._lock = threading.Lock()

    def add(self, n: int) -> None:
        with self._lock:
            self._count += n

    @property
    def count(self) -> int:
        with self._lock:
            return self._count


class Database:
    def __init__(self, settings: ServiceSettings) -> None:
        if not settings.database_url:
            raise ValueError("DATABASE_URL is not set")
        self.pool = ConnectionPool(
            settings.database_url,
            min_size=settings.db_pool_min_size,
            max_size=settings.db_pool_max_size,
            timeout=settings.db_pool_timeout_s,
            # A reconnect task gives up after 10 s (its backoff doubles with no cap); the next request starts
            # a fresh one, so a long outage does not leave the pool asleep for as long again after it heals.
            reconnect_timeout=10,
            max_idle=60,
            check=self._check_connection if settings.db_client_deadline else ConnectionPool.check_connection,
            kwargs={
                "connect_timeout": settings.db_connect_timeout_s,
                "options": f"-c statement_timeout={settings.db_statement_timeout_ms} "
                           f"-c lock_timeout={settings.db_lock_timeout_ms}",
                "application_name": settings.service_name,
                "row_factory": dict_row,
            },
            name=settings.service_name,
            open=False,
        )

        self.waiting = WaitingRequests()
        self.request_deadline_s = request_deadline_s(settings)

    def _check_connection(self, conn: psycopg.Connection[Any]) -> None:
        """The pool's liveness check on checkout, bounded: a black-holed link would block it forever."""
        with client_deadline(conn, CHECK_DEADLINE_S):
            ConnectionPool.check_connection(conn)

    def open(self) -> None:
        self.pool.open(wait=False)

    def close(self) -> None:
        self.pool.close(timeout=2)

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[dict[str, object]]]:
        """A pooled connection; the block runs in one transaction, committed on success."""
        deadline: threading.Timer | None = None
        still_waiting = True
        self.waiting.add(1)
        try:
            # The deadline also covers the COMMIT/ROLLBACK the pool sends when the block exits.
            with self.pool.connection() as conn:
                still_waiting = False
                self.waiting.add(-1)
                if self.request_deadline_s is not None:
                    deadline = start_deadline(conn, self.request_deadline_s)
                yield conn
        except PoolTimeout as exc:
            log.error("postgres pool timeout: %s", exc, extra=self.pool.get_stats())
            raise DependencyUnavailable("postgres", f"pool timeout: {exc}") from exc
        except psycopg.errors.QueryCanceled as exc:
            log.error("postgres statement timeout: %s", exc)
            raise DependencyUnavailable("postgres", f"statement timeout: {exc}") from exc
        except psycopg.OperationalError as exc:
            log.error("postgres error: %s", exc)
            raise DependencyUnavailable("postgres", str(exc)) from exc
        finally:
            if still_waiting:
                self.waiting.add(-1)
            if deadline is not None:
                deadline.cancel()

    def ping(self) -> float:
        """Round-trip time of SELECT 1 in ms; raises DependencyUnavailable."""
        started = time.perf_counter()
        with self.connection() as conn:
            conn.execute("SELECT 1")
        return (time.perf_counter() - started) * 1000

    def stats(self) -> dict[str, int]:
        """psycopg_pool's statistics, with `requests_waiting` counted by us (see WaitingRequests)."""
        return {**self.pool.get_stats(), "requests_waiting": self.waiting.count}
