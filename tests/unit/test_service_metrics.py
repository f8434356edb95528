"""The services' Prometheus metrics (stack/services/common/metrics.py): the request middleware on a tiny app,
GET /metrics in the text format, and the scrape-time collectors with fake pools and Redis clients, including
a Redis that never answers (the scrape stays short, the failure is counted, the answer is still 200)."""

from __future__ import annotations

import logging
import socket
import time
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
import redis
from fastapi import FastAPI, HTTPException
from prometheus_client.parser import text_string_to_metric_families
from starlette.exceptions import StarletteDeprecationWarning

from stack.services.common.app import Dependencies, create_app
from stack.services.common.breaker import CircuitBreaker
from stack.services.common.metrics import (
    SCRAPE_TIMEOUT_S,
    BreakerCollector,
    PoolCollector,
    RedisCollector,
    install_metrics,
    scrape_client,
    status_class,
)
from stack.services.common.settings import ServiceSettings

with warnings.catch_warnings():  # this Starlette prefers httpx2 for its TestClient; httpx still works
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def value(found: Samples, name: str, **labels: str) -> float | None:
    return found.get((name, frozenset(labels.items())))


def tiny_app(service: str = "tiny") -> tuple[FastAPI, Dependencies]:
    settings = ServiceSettings(service_name=service)
    deps = Dependencies(settings=settings, log=logging.getLogger("test"))
    app = FastAPI()
    install_metrics(app, deps)

    @app.get("/orders/{order_id}")
    def order(order_id: int) -> dict[str, int]:
        return {"id": order_id}

    @app.post("/orders")
    def create() -> dict[str, str]:
        raise HTTPException(status_code=503, detail="postgres down")

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("a bug")

    return app, deps


@pytest.fixture
def client() -> Iterator[TestClient]:
    app, _ = tiny_app()
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def scrape(c: TestClient) -> Samples:
    response = c.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return samples(response.text)


def test_requests_are_labelled_by_route_template_method_and_status_class(client: TestClient) -> None:
    for order_id in (1, 2, 3):
        assert client.get(f"/orders/{order_id}").status_code == 200
    found = scrape(client)
    labels = dict(service="tiny", method="GET", route="/orders/{order_id}", status="2xx")
    assert value(found, "aarya_http_requests_total", **labels) == 3
    assert value(found, "aarya_http_request_duration_seconds_count", **labels) == 3
    assert value(found, "aarya_http_request_duration_seconds_bucket", **labels, le="+Inf") == 3
    assert not any("/orders/1" in dict(labelset).get("route", "") for _, labelset in found)


def test_unknown_paths_share_one_label_and_a_wrong_method_keeps_the_template(client: TestClient) -> None:
    for path in ("/nope/1", "/nope/2", "/a/b/c"):
        assert client.get(path).status_code == 404
    assert client.delete("/orders/7").status_code == 405
    found = scrape(client)
    assert value(found, "aarya_http_requests_total", service="tiny", method="GET", route="unmatched",
                 status="4xx") == 3
    assert value(found, "aarya_http_requests_total", service="tiny", method="DELETE",
                 route="/orders/{order_id}", status="4xx") == 1
    assert value(found, "aarya_http_request_errors_total", service="tiny", method="GET", route="unmatched",
                 kind="5xx") is None


def test_odd_methods_are_one_label(client: TestClient) -> None:
    client.request("PROPFIND", "/orders/1")
    found = scrape(client)
    assert value(found, "aarya_http_requests_total", service="tiny", method="other",
                 route="/orders/{order_id}", status="4xx") == 1


def test_5xx_answers_and_exceptions_are_errors(client: TestClient) -> None:
    assert client.post("/orders").status_code == 503
    assert client.get("/boom").status_code == 500
    found = scrape(client)
    assert value(found, "aarya_http_request_errors_total", service="tiny", method="POST", route="/orders",
                 kind="5xx") == 1
    assert value(found, "aarya_http_request_errors_total", service="tiny", method="GET", route="/boom",
                 kind="exception") == 1
    assert value(found, "aarya_http_requests_total", service="tiny", method="GET", route="/boom",
                 status="5xx") == 1


def test_metrics_text_parses_and_counts_its_own_scrapes(client: TestClient) -> None:
    scrape(client)
    found = scrape(client)
    assert value(found, "aarya_http_requests_total", service="tiny", method="GET", route="/metrics",
                 status="2xx") == 1
    names = {family.name for family in text_string_to_metric_families(client.get("/metrics").text)}
    assert {"aarya_http_requests", "aarya_http_request_errors", "aarya_http_request_duration_seconds",
            "aarya_metrics_scrape_errors"} <= names


def test_apps_in_one_process_have_their_own_registries() -> None:
    first, _ = tiny_app("one")
    second, _ = tiny_app("two")
    with TestClient(first) as a, TestClient(second) as b:
        a.get("/orders/1")
        found = scrape(b)
    assert not any(dict(labelset).get("service") == "one" for _, labelset in found)


def test_create_app_counts_the_bad_releases_injected_failures_under_the_route() -> None:
    """The bad release (8.1) answers 500 before routing; the metrics middleware is outside it."""
    app = create_app(ServiceSettings(service_name="bad", release_error_rate=1.0))

    @app.get("/products/{product_id}")
    def product(product_id: int) -> dict[str, int]:
        return {"id": product_id}

    with TestClient(app) as c:
        assert c.get("/products/5").status_code == 500
        assert c.get("/health").status_code == 200
        found = scrape(c)
    assert value(found, "aarya_http_request_errors_total", service="bad", method="GET",
                 route="/products/{product_id}", kind="5xx") == 1
    assert value(found, "aarya_http_requests_total", service="bad", method="GET", route="/health",
                 status="2xx") == 1


def test_status_class() -> None:
    assert [status_class(s) for s in (200, 302, 404, 503, 99, 600)] == ["2xx", "3xx", "4xx", "5xx", "other", "other"]


# --- scrape-time collectors ---------------------------------------------------------------------------


def collected(collector: Any) -> Samples:
    out: Samples = {}
    for family in collector.collect():
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def test_pool_collector_in_use_is_size_minus_available() -> None:
    stats = {"pool_min": 1, "pool_max": 5, "pool_size": 4, "pool_available": 1, "requests_waiting": 3,
             "requests_errors": 2}
    found = collected(PoolCollector("commerce", lambda: stats))
    assert value(found, "aarya_db_pool_size", service="commerce") == 4
    assert value(found, "aarya_db_pool_max", service="commerce") == 5
    assert value(found, "aarya_db_pool_in_use", service="commerce") == 3
    assert value(found, "aarya_db_pool_waiting", service="commerce") == 3
    assert value(found, "aarya_db_pool_timeouts_total", service="commerce") == 2
    assert value(found, "aarya_db_pool_connection_errors_total", service="commerce") == 0  # absent key: 0


def test_breaker_collector_reports_each_state() -> None:
    now = [0.0]
    breaker = CircuitBreaker("redis", failure_threshold=1, recovery_timeout_s=5.0, clock=lambda: now[0],
                             errors=(OSError,))
    collector = BreakerCollector("core_platform", lambda: [breaker])
    labels = dict(service="core_platform", breaker="redis")
    assert value(collected(collector), "aarya_breaker_state", **labels) == 0

    def fail() -> None:
        raise OSError("down")

    with pytest.raises(OSError):
        breaker.call(fail)
    found = collected(collector)
    assert value(found, "aarya_breaker_state", **labels) == 2
    assert value(found, "aarya_breaker_failures_total", **labels) == 1
    now[0] = 6.0
    assert value(collected(collector), "aarya_breaker_state", **labels) == 1


class FakeRedis:
    def __init__(self, evicted: int = 0, fail: BaseException | None = None) -> None:
        self.evicted = evicted
        self.fail = fail
        self.calls = 0

    def info(self, section: str) -> dict[str, int]:
        self.calls += 1
        assert section == "stats"
        if self.fail is not None:
            raise self.fail
        return {"evicted_keys": self.evicted, "keyspace_hits": 10}


def streams(client: object) -> Mapping[str, Mapping[str, int | None]]:
    return {
        "order_events": {"length": 120, "lag": 7, "pending": 2},
        "user_events": {"length": 0, "lag": None, "pending": None},  # no group yet
    }


def test_redis_collector_evictions_and_streams() -> None:
    collector = RedisCollector("content_services", FakeRedis(evicted=42), streams, "content_services")  # type: ignore[arg-type]
    found = collected(collector)
    assert value(found, "aarya_redis_evicted_keys_total", service="content_services") == 42
    assert value(found, "aarya_stream_length", service="content_services", stream="order_events") == 120
    assert value(found, "aarya_stream_length", service="content_services", stream="user_events") == 0
    group = dict(service="content_services", group="content_services")
    assert value(found, "aarya_stream_group_lag", stream="order_events", **group) == 7
    assert value(found, "aarya_stream_group_pending", stream="order_events", **group) == 2
    assert value(found, "aarya_stream_group_lag", stream="user_events", **group) is None


def failing_app(fake: FakeRedis) -> TestClient:
    settings = ServiceSettings(service_name="search_recommendation", redis_url="redis://127.0.0.1:1/0")
    deps = Dependencies(settings=settings, log=logging.getLogger("test"))
    app = FastAPI()
    metrics = install_metrics(app, deps)
    metrics.add("redis", RedisCollector("search_recommendation", fake))  # type: ignore[arg-type]
    metrics.add("postgres_pool", PoolCollector("search_recommendation", lambda: {"pool_size": 2, "pool_available": 2}))
    return TestClient(app)


def test_a_failing_store_read_is_counted_not_raised() -> None:
    fake = FakeRedis(fail=redis.TimeoutError("Timeout reading from socket"))
    with failing_app(fake) as c:
        first = scrape(c)
        second = scrape(c)
    assert fake.calls == 2
    labels = dict(service="search_recommendation", source="redis")
    assert value(first, "aarya_metrics_scrape_errors_total", **labels) == 1  # in the very scrape that failed
    assert value(second, "aarya_metrics_scrape_errors_total", **labels) == 2
    assert value(second, "aarya_redis_evicted_keys_total", service="search_recommendation") is None
    assert value(second, "aarya_db_pool_size", service="search_recommendation") == 2  # the rest is still there


def test_a_redis_that_never_answers_costs_a_scrape_about_the_timeout() -> None:
    """A listening socket that is never served: connect succeeds, the read times out."""
    assert SCRAPE_TIMEOUT_S <= 1.0
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        client = scrape_client(f"redis://127.0.0.1:{port}/0")
        kwargs = client.connection_pool.connection_kwargs
        assert kwargs["socket_timeout"] <= 1.0 and kwargs["socket_connect_timeout"] <= 1.0
        settings = ServiceSettings(service_name="content_services")
        deps = Dependencies(settings=settings, log=logging.getLogger("test"))
        app = FastAPI()
        metrics = install_metrics(app, deps)
        metrics.add("redis", RedisCollector("content_services", client, streams, "content_services"))
        with TestClient(app) as c:
            started = time.monotonic()
            found = scrape(c)
            elapsed = time.monotonic() - started
        client.close()
    assert elapsed < 2 * SCRAPE_TIMEOUT_S + 0.5, elapsed
    assert value(found, "aarya_metrics_scrape_errors_total", service="content_services", source="redis") == 1
    assert value(found, "aarya_stream_length", service="content_services", stream="order_events") is None


def test_install_metrics_adds_the_state_collectors_of_the_dependencies() -> None:
    settings = ServiceSettings(service_name="core_platform", redis_url="redis://127.0.0.1:1/0")
    deps = Dependencies(settings=settings, log=logging.getLogger("test"))

    class FakeCache:
        breaker = CircuitBreaker("redis")

    class FakeDb:
        def stats(self) -> dict[str, int]:
            return {"pool_size": 3, "pool_available": 1, "pool_max": 5, "requests_waiting": 0}

    deps.cache = FakeCache()  # type: ignore[assignment]
    deps.db = FakeDb()  # type: ignore[assignment]
    app = FastAPI()
    install_metrics(app, deps)
    with TestClient(app) as c:
        found = scrape(c)  # Redis on port 1 refuses at once: counted, not raised
    assert value(found, "aarya_db_pool_in_use", service="core_platform") == 2
    assert value(found, "aarya_breaker_state", service="core_platform", breaker="redis") == 0
    assert value(found, "aarya_metrics_scrape_errors_total", service="core_platform", source="redis") == 1
    assert len(deps.background) == 1  # the scrape client is closed with the app's dependencies
