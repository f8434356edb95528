"""The stores as health probes of every run: PostgreSQL `SELECT 1` and Redis `PING`, straight."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import psycopg
import redis

from fixtures.detect.probes import HealthProber, postgres_unanswered, redis_unanswered, store_conditions
from load.history import HistoryWriter, pair_ops, read_records
from stack.drivers.fake import FakeDriver


class StoreDriver(FakeDriver):
    """PostgreSQL and Redis answer while their component runs."""

    def __init__(self) -> None:
        super().__init__(("postgres", "redis", "commerce"))

    def sql(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if not self.running["postgres"]:
            raise psycopg.OperationalError("connection refused")
        return [(1,)]

    def redis(self) -> Any:
        running = self.running["redis"]

        class Client:
            def ping(self) -> bool:
                if not running:
                    raise redis.ConnectionError("Connection refused")
                return True

            def close(self) -> None: ...

        return Client()


def test_a_store_that_answers_is_healthy_and_one_that_does_not_says_why() -> None:
    stack = StoreDriver()
    assert postgres_unanswered(stack)() is None and redis_unanswered(stack)() is None
    stack.running["postgres"] = stack.running["redis"] = False
    assert "OperationalError: connection refused" in (postgres_unanswered(stack)() or "")
    assert "ConnectionError: Connection refused" in (redis_unanswered(stack)() or "")


def test_the_prober_records_each_store_as_a_health_probe_and_samples_on_demand(tmp_path: Path) -> None:
    stack = StoreDriver()
    path = tmp_path / "scenario.jsonl"
    history = HistoryWriter(path, process="scenario")
    prober = HealthProber(history, {}, store_conditions(stack), interval_s=0.01)
    prober.start()
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and len(read_records([path])) < 8:
            time.sleep(0.01)
        stack.running["postgres"] = False
        assert "connection refused" in (prober.sample("postgres") or "")
    finally:
        prober.stop()
        history.close()
    ops = pair_ops(read_records([path]))
    assert {op.f for op in ops} == {"health:postgres", "health:redis"}
    assert all(op.outcome == "ok" for op in ops if op.f == "health:redis")
    assert any(op.outcome == "fail" for op in ops if op.f == "health:postgres")
