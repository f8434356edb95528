"""The history writer (load.history.HistoryWriter): operations per second into a real file, and what it costs a
locust worker.

One operation is what the locustfile records per request: an invoke with what it asks (a checkout's key and
user) and its completion (status, latency, the order it was answered with). Its cost is the mean of one such
pair, measured in this process; the cost to a worker is that time times the worker's request rate.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from load.history import HistoryWriter

# The suite's default load (fixtures/plugin.py: 8 shoppers waiting 0.2-1.0 s, 8 ledger writers every 0.4 s with an
# add to cart before each checkout): about 13 + 40 requests a second, all in one locust process.
SUITE_REQUESTS_PER_S = 53.0
# A busy worker (FastHttpUser on loopback sends a few thousand a second on one core): where the writer's share shows.
BUSY_WORKER_PER_S = 1000.0


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[HistoryWriter]:
    with HistoryWriter(tmp_path / "history" / "load-1.jsonl", process="1") as history:
        yield history


def record_checkout(history: HistoryWriter, n: int) -> None:
    asks: dict[str, Any] = {"idempotency_key": f"L1-{n}/1", "user_id": 17, "intent": f"L1-{n}", "items": {"42": 2}}
    op = history.invoke("checkout", value=asks)
    history.complete(op, "checkout", "ok", status=201,
                     value={"order_id": f"7f3c-{n}", "status": "paid", "total_cents": 3998})


def test_history_writer_operation(benchmark: Any, writer: HistoryWriter) -> None:
    counter = iter(range(10**9))
    benchmark.group = "history writer"
    benchmark(lambda: record_checkout(writer, next(counter)))
    per_op_s = benchmark.stats.stats.mean
    benchmark.extra_info.update(ops_per_s=round(1 / per_op_s), per_op_us=round(per_op_s * 1e6, 1),
                                share_of_a_core_at_suite_load=round(per_op_s * SUITE_REQUESTS_PER_S, 5),
                                share_of_a_core_at_1000_per_s=round(per_op_s * BUSY_WORKER_PER_S, 4))
    writer.close()
    lines = writer.path.read_text().splitlines()
    assert len(lines) == 2 * next(counter)  # every op written whole: an invoke and its completion
