"""The load generator against the real stack: locust runs as subprocesses (never imported by pytest), every
request lands in the history, acknowledged orders exist in PostgreSQL, and no locust process outlives a run."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import psutil
import pytest

from load.history import Op, pair_ops, read_records
from load.outcomes import JOURNEY_FS
from load.runner import LoadProfile, LoadRun, LoadSummary
from stack.drivers.local.driver import LocalDriver

pytestmark = [pytest.mark.integration]

RUN_S = 8
# Short think times, so that even the rarest journey (checkout, weight 1 of 14) happens in a few seconds.
FAST = {"wait_min_s": 0.05, "wait_max_s": 0.3}


def _leftovers(pids: list[int]) -> list[psutil.Process]:
    """Live processes started by this run: the pids themselves or anything in their sessions."""
    left = []
    for proc in psutil.process_iter():
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
            if proc.pid in pids or os.getsid(proc.pid) in pids:
                left.append(proc)
        except (psutil.Error, ProcessLookupError, PermissionError):
            continue
    return left


def _run_to_the_end(run: LoadRun) -> LoadSummary:
    assert run.wait(RUN_S + 30), "locust did not end after its run time"
    return run.stop()


def _ops(summary: LoadSummary) -> list[Op]:
    return pair_ops(read_records(summary.history_files))


def test_single_process_run_records_every_journey(stack: LocalDriver, tmp_path: Path) -> None:
    profile = LoadProfile(users=5, spawn_rate=10, max_duration_s=RUN_S, **FAST)
    with LoadRun(stack.config.gateway_url, tmp_path / "history", profile, output_dir=tmp_path / "out") as run:
        assert run.running and run.history_paths()
        summary = _run_to_the_end(run)
    assert summary.requests > 0 and summary.rps > 0
    assert {"json", "html", "stats_csv", "log"} <= set(summary.artifacts)
    assert len(summary.history_files) == 1

    ops = _ops(summary)
    assert all(op.end is not None for op in ops), [op for op in ops if op.end is None]
    ok = Counter(op.f for op in ops if op.outcome == "ok")
    assert all(ok[f] > 0 for f in set(JOURNEY_FS) - {"remove_from_cart"}), ok  # only a ledger writer removes
    assert {op.process.rsplit(":", 1)[0] for op in ops if op.process} == {
        summary.history_files[0].stem.removeprefix("load-")}
    assert len({op.process for op in ops}) == 5

    registered = [op.value["user_id"] for op in ops if op.f == "register" and op.outcome == "ok"]
    assert len(stack.sql("SELECT id FROM users WHERE id = ANY(%s)", (registered,))) == len(registered)
    for op in ops:
        if op.f == "add_to_cart" and op.outcome == "ok":
            assert {"user_id", "product_id", "quantity"} <= set(op.value)

    checkouts = [op.value for op in ops if op.f == "checkout" and op.outcome == "ok"]
    assert all({"order_id", "status", "user_id", "idempotency_key", "total_cents"} <= set(v) for v in checkouts)
    rows = stack.sql("SELECT id::text, user_id, idempotency_key FROM orders WHERE id = ANY(%s::uuid[])",
                     ([v["order_id"] for v in checkouts],))
    found = {row[0]: (row[1], row[2]) for row in rows}
    assert all(found[v["order_id"]] == (v["user_id"], v["idempotency_key"]) for v in checkouts), (checkouts, found)


def test_ledger_writers_check_out_their_intents_at_their_pace(stack: LocalDriver, tmp_path: Path) -> None:
    """Writers beside the shoppers: each checkout names its key `<intent>/<attempt>`, its user and its items,
    and the order PostgreSQL holds has exactly those items."""
    profile = LoadProfile(users=1, spawn_rate=10, max_duration_s=RUN_S, writers=2, writer_pacing_s=0.4, **FAST)
    with LoadRun(stack.config.gateway_url, tmp_path / "history", profile, output_dir=tmp_path / "out") as run:
        summary = _run_to_the_end(run)
    ops = _ops(summary)
    written = [op for op in ops if op.f == "checkout" and op.value.get("intent") and op.outcome == "ok"]
    assert len({op.process for op in written}) == 2
    assert len(written) >= 2 * (RUN_S - 3) / 0.4 * 0.5, len(written)  # about one every 0.4 s per writer, at least half
    for op in written:
        assert op.value["idempotency_key"].startswith(op.value["intent"] + "/")
    rows = stack.sql("SELECT o.id::text, json_object_agg(i.product_id, i.quantity) FROM orders o "
                     "JOIN order_items i ON i.order_id = o.id WHERE o.id = ANY(%s::uuid[]) GROUP BY o.id",
                     ([op.value["order_id"] for op in written],))
    items = {row[0]: {str(k): v for k, v in row[1].items()} for row in rows}
    assert all(items[op.value["order_id"]] == op.value["items"] for op in written)


def test_distributed_run_has_one_history_per_worker(stack: LocalDriver, tmp_path: Path) -> None:
    profile = LoadProfile(users=4, spawn_rate=10, max_duration_s=RUN_S, workers=2, **FAST)
    with LoadRun(stack.config.gateway_url, tmp_path / "history", profile, output_dir=tmp_path / "out") as run:
        pids = [p.popen.pid for p in run._procs]
        assert len(pids) == 3
        summary = _run_to_the_end(run)
    assert not run.running and not _leftovers(pids)
    assert summary.requests > 0
    assert {"worker-1_log", "worker-2_log", "json"} <= set(summary.artifacts)

    assert len(summary.history_files) == 2
    ops = _ops(summary)
    writers = {op.process.split(":")[0] for op in ops if op.process}
    assert len(writers) == 2 and writers == {p.stem.removeprefix("load-") for p in summary.history_files}
    for path in summary.history_files:
        assert any(op.outcome == "ok" for op in pair_ops(read_records([path])))
    assert all(op.end is not None for op in ops)


def test_stop_is_idempotent_and_the_context_manager_stops_on_error(stack: LocalDriver, tmp_path: Path) -> None:
    profile = LoadProfile(users=2, spawn_rate=10, max_duration_s=120, **FAST)
    with pytest.raises(RuntimeError, match="boom"):
        with LoadRun(stack.config.gateway_url, tmp_path / "history", profile, output_dir=tmp_path / "out") as run:
            pids = [p.popen.pid for p in run._procs]
            # start() returned: at least one operation has completed already
            assert any(r.type in ("ok", "fail", "info") for r in read_records(run.history_paths()))
            raise RuntimeError("boom")
    assert not run.running and not _leftovers(pids)
    first = run.stop()
    assert run.stop() is first and run.stop(timeout_s=0) is first
    assert first.requests > 0 and "json" in first.artifacts  # SIGTERM: locust still wrote its summary
    assert all(op.end is not None for op in _ops(first))


def test_every_service_exports_prometheus_metrics_on_its_own_port(stack: LocalDriver) -> None:
    """GET /metrics on each service's own port (not through the gateway, which answers 404 there): the
    request, pool, breaker, Redis and stream families with the service's label; a request through the
    gateway lands in the counter of the service that served it (commerce's /products)."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    def scrape(url: str) -> dict[str, list[tuple[dict[str, str], float]]]:
        response = httpx.get(f"{url}/metrics", timeout=5)
        assert response.status_code == 200, (url, response.status_code, response.text[:300])
        families: dict[str, list[tuple[dict[str, str], float]]] = {}
        for family in text_string_to_metric_families(response.text):
            for sample in family.samples:
                families.setdefault(sample.name, []).append((sample.labels, sample.value))
        return families

    def products_served(families: dict[str, list[tuple[dict[str, str], float]]]) -> float:
        return sum(v for labels, v in families.get("aarya_http_requests_total", [])
                   if labels.get("route") == "/products" and labels.get("method") == "GET"
                   and labels.get("status") == "2xx")

    endpoints = stack.endpoints()
    assert httpx.get(f"{stack.config.gateway_url}/metrics", timeout=5).status_code == 404  # not public
    for name, service in stack.config.services.items():
        url = endpoints[name]
        httpx.get(f"{url}/health", timeout=5)
        families = scrape(url)
        expected = {"aarya_http_requests_total", "aarya_http_request_duration_seconds_bucket"}
        if "postgres" in service.depends_on:
            expected |= {"aarya_db_pool_size", "aarya_db_pool_in_use", "aarya_db_pool_waiting"}
        if "redis" in service.depends_on:
            expected |= {"aarya_breaker_state", "aarya_redis_evicted_keys_total"}
        if name == "content_services":
            expected |= {"aarya_stream_length"}
        assert expected <= set(families), (name, sorted(expected - set(families)))
        for family in expected:
            assert all(labels.get("service") == name for labels, _ in families[family]), (name, family)
        health = [labels for labels, _ in families["aarya_http_requests_total"] if labels["route"] == "/health"]
        assert health and all(labels["status"] == "2xx" for labels in health), (name, health)
        assert not families.get("aarya_metrics_scrape_errors_total"), (name, families.get(
            "aarya_metrics_scrape_errors_total"))
        if "redis" in service.depends_on:
            assert [labels["breaker"] for labels, _ in families["aarya_breaker_state"]] == ["redis"], name

    before = products_served(scrape(endpoints["commerce"]))
    for _ in range(3):
        assert httpx.get(f"{stack.config.gateway_url}/api/v1/products", timeout=5).status_code == 200
    assert products_served(scrape(endpoints["commerce"])) == before + 3
    assert products_served(scrape(endpoints["search_recommendation"])) == 0
