"""The PostgreSQL client deadlines of the reference services, and the release that drops them (5.2's control)."""

from __future__ import annotations

import threading

import pytest
from psycopg_pool import ConnectionPool

from stack.config import StackConfig
from stack.services.common.db import REQUEST_DEADLINE_MARGIN_S, Database
from stack.services.common.errors import DependencyUnavailable
from stack.services.common.settings import ServiceSettings

URL = "postgresql://aarya@127.0.0.1:1/aarya"  # never connected: the pool is not opened


def test_a_request_is_cut_one_margin_after_the_statement_timeout() -> None:
    db = Database(ServiceSettings(service_name="search_recommendation", database_url=URL,
                                  db_statement_timeout_ms=3000))
    assert db.request_deadline_s == 3.0 + REQUEST_DEADLINE_MARGIN_S
    assert db.pool._check == db._check_connection  # the pool's liveness check runs under a deadline


def test_the_no_deadline_release_drops_both_deadlines() -> None:
    env = StackConfig().releases["v1-no-client-deadline"]
    settings = ServiceSettings(service_name="search_recommendation", database_url=URL,
                               **{k.lower(): v for k, v in env.items()})
    db = Database(settings)
    assert settings.db_client_deadline is False
    assert db.request_deadline_s is None
    assert db.pool._check == ConnectionPool.check_connection


def test_requests_waiting_counts_only_the_requests_still_waiting() -> None:
    """psycopg_pool keeps a timed-out waiter in its queue; the stats /health/ready shows must not."""
    db = Database(ServiceSettings(service_name="commerce", database_url=URL, db_pool_timeout_s=0.3,
                                  db_connect_timeout_s=1))
    db.open()  # nothing listens on port 1: the pool never gets a connection
    try:
        during: list[int] = []
        sampler = threading.Timer(0.15, lambda: during.append(db.stats()["requests_waiting"]))
        sampler.start()
        with pytest.raises(DependencyUnavailable, match="pool timeout"):
            with db.connection():
                pytest.fail("a connection to a closed port")
        sampler.join()
        assert during == [1]
        assert db.stats()["requests_waiting"] == 0
        assert db.pool.get_stats()["requests_waiting"] == 1  # what psycopg_pool would have reported
    finally:
        db.close()
