"""Prometheus metrics of a reference service, with the standard client library (docs/metrics.md).

`install_metrics(app, dependencies)` (called by `create_app`, so every service has it) gives the app:

* a pure ASGI middleware counting requests and errors and timing them, labelled by the matched route's
  *template* (``/orders/{order_id}``, never the raw URL: bounded cardinality), method and status class;
* ``GET /metrics`` in the Prometheus text format, on the service's own port only (the gateway proxies
  fixed prefixes and answers 404 to everything else, so /metrics is not public);
* state read at scrape time: the PostgreSQL pool (size, in use, waiting), the Redis breaker, and this
  service's view of Redis (evicted keys; stream length, lag and pending where `add_streams` was called).

A scrape never hangs and never answers 500 because a store is sick: the pool and breaker figures are in
memory, Redis is read through a client of its own with a SCRAPE_TIMEOUT_S connect and read timeout (not the
service's client: a misconfigured REDIS_SOCKET_TIMEOUT_S must not stretch a scrape, and the scrape must not
drive the service's breaker), and any failure becomes an increment of ``aarya_metrics_scrape_errors_total``.
Each app has its own registry, so apps built in one process (tests) do not collide.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import redis
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from redis.backoff import NoBackoff
from redis.retry import Retry
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .breaker import BreakerState, CircuitBreaker

if TYPE_CHECKING:
    from fastapi import FastAPI

    from .app import Dependencies

__all__ = [
    "SCRAPE_TIMEOUT_S",
    "BreakerCollector",
    "MetricsMiddleware",
    "PoolCollector",
    "RedisCollector",
    "ServiceMetrics",
    "StreamsReader",
    "add_streams",
    "install_metrics",
    "route_template",
    "status_class",
]

log = logging.getLogger("aarya.metrics")

SCRAPE_TIMEOUT_S = 0.5  # connect and read, each: a scrape of a black-holed Redis costs about 1 s at worst
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"
BREAKER_STATES: Mapping[BreakerState, int] = {
    BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2,
}

# {stream: {length, lag, pending, ...}} read from a Redis client (content_services' worker.group_lag)
StreamsReader = Callable[["redis.Redis"], Mapping[str, Mapping[str, int | None]]]


def status_class(status: int) -> str:
    return f"{status // 100}xx" if 100 <= status < 600 else "other"


def route_template(scope: Scope, routes: Iterable[BaseRoute]) -> str:
    """The template of the route that served (or would serve) the request; UNMATCHED for none.

    The router leaves the matched route in ``scope["route"]``; a request answered before routing (the bad
    release's injected failures, scenario 8.1) is matched here against the app's routes."""
    route = scope.get("route")
    if route is None:
        for candidate in routes:
            match, _ = candidate.matches(scope)
            if match is not Match.NONE:
                route = candidate
                break
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return str(template) if template else UNMATCHED


class ServiceMetrics:
    """The registry of one service app and its request metrics."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.registry = CollectorRegistry(auto_describe=False)
        labels = ["service", "method", "route", "status"]
        self.requests = Counter(
            "aarya_http_requests", "HTTP requests answered, by route template, method and status class.",
            labels, registry=self.registry,
        )
        self.errors = Counter(
            "aarya_http_request_errors",
            "HTTP requests that failed: kind=5xx for a 5xx answer, kind=exception for an unhandled exception.",
            ["service", "method", "route", "kind"], registry=self.registry,
        )
        self.latency = Histogram(
            "aarya_http_request_duration_seconds",
            "Time from the request reaching the service to the end of its answer.",
            labels, buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self._state = _StateCollectors(self)
        self.registry.register(self._state)
        # Registered last, so a failure during this scrape's state collection is already in this scrape.
        self.scrape_errors = Counter(
            "aarya_metrics_scrape_errors",
            "Scrape-time reads that failed or timed out (source: postgres_pool, breaker, redis, ...).",
            ["service", "source"], registry=self.registry,
        )

    def observe(self, method: str, route: str, status: int, seconds: float, exception: bool) -> None:
        method = method if method in METHODS else "other"
        status_label = status_class(status)
        self.requests.labels(self.service, method, route, status_label).inc()
        self.latency.labels(self.service, method, route, status_label).observe(seconds)
        if exception:
            self.errors.labels(self.service, method, route, "exception").inc()
        elif status >= 500:
            self.errors.labels(self.service, method, route, "5xx").inc()

    def scrape_failed(self, source: str) -> None:
        self.scrape_errors.labels(self.service, source).inc()

    def add(self, source: str, collector: Collector) -> None:
        """A collector of state read at scrape time; any exception it raises is counted, never raised."""
        self._state.collectors.append((source, collector))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _StateCollectors(Collector):
    def __init__(self, metrics: ServiceMetrics) -> None:
        self.metrics = metrics
        self.collectors: list[tuple[str, Collector]] = []

    def collect(self) -> Iterator[Metric]:
        for source, collector in self.collectors:
            try:
                families = list(collector.collect())
            except Exception as exc:  # a scrape answers with what it has; the failure is a counted sample
                log.warning("metrics: %s failed at scrape time: %s: %s", source, type(exc).__name__, exc)
                self.metrics.scrape_failed(source)
                continue
            yield from families


class MetricsMiddleware:
    """Counts and times every HTTP request (pure ASGI: streaming bodies and exceptions pass untouched)."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics, routes: Callable[[], Iterable[BaseRoute]]) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what ServerErrorMiddleware answers if nothing else did

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        except Exception:
            self._observe(scope, status, started, exception=True)
            raise
        self._observe(scope, status, started, exception=False)

    def _observe(self, scope: Scope, status: int, started: float, exception: bool) -> None:
        route = route_template(scope, self.routes())
        self.metrics.observe(str(scope.get("method", "")), route, status, time.perf_counter() - started, exception)


class PoolCollector(Collector):
    """The psycopg pool: size, in use (size - available), waiting requests, timeouts. In memory, no I/O."""

    def __init__(self, service: str, stats: Callable[[], Mapping[str, int]]) -> None:
        self.service = service
        self.stats = stats

    def collect(self) -> Iterator[Metric]:
        stats = self.stats()
        size = int(stats.get("pool_size", 0))
        available = int(stats.get("pool_available", 0))
        gauges = (
            ("aarya_db_pool_size", "Connections the pool holds (in use or idle).", size),
            ("aarya_db_pool_max", "The pool's maximum size.", int(stats.get("pool_max", 0))),
            ("aarya_db_pool_in_use", "Connections checked out by requests (pool_size - pool_available).",
             max(0, size - available)),
            ("aarya_db_pool_available", "Idle connections in the pool.", available),
            ("aarya_db_pool_waiting", "Requests waiting for a pooled connection right now.",
             int(stats.get("requests_waiting", 0))),
        )
        for name, doc, value in gauges:
            family = GaugeMetricFamily(name, doc, labels=["service"])
            family.add_metric([self.service], value)
            yield family
        counters = (
            ("aarya_db_pool_timeouts", "Checkouts that gave up waiting for a connection (pool timeouts).",
             "requests_errors"),
            ("aarya_db_pool_connection_errors", "Failed attempts to open a connection.", "connections_errors"),
        )
        for name, doc, key in counters:
            counter = CounterMetricFamily(name, doc, labels=["service"])
            counter.add_metric([self.service], int(stats.get(key, 0)))
            yield counter


class BreakerCollector(Collector):
    """Circuit breakers: state (0 closed, 1 half-open, 2 open), failures and short-circuits. In memory."""

    def __init__(self, service: str, breakers: Callable[[], Iterable[CircuitBreaker]]) -> None:
        self.service = service
        self.breakers = breakers

    def collect(self) -> Iterator[Metric]:
        state = GaugeMetricFamily(
            "aarya_breaker_state", "Circuit breaker state: 0 closed, 1 half-open, 2 open.",
            labels=["service", "breaker"],
        )
        failures = CounterMetricFamily(
            "aarya_breaker_failures", "Calls through the breaker that failed.", labels=["service", "breaker"]
        )
        short = CounterMetricFamily(
            "aarya_breaker_short_circuits", "Calls the breaker answered without running them (open).",
            labels=["service", "breaker"],
        )
        for breaker in self.breakers():
            snap = breaker.snapshot()
            labels = [self.service, breaker.name]
            state.add_metric(labels, BREAKER_STATES[BreakerState(str(snap["state"]))])
            failures.add_metric(labels, _number(snap["total_failures"]))
            short.add_metric(labels, _number(snap["total_short_circuits"]))
        yield from (state, failures, short)


class RedisCollector(Collector):
    """This service's view of Redis: evicted keys (INFO stats) and, with `streams`, each stream's length and
    the consumer group's lag and pending. One client of its own with short timeouts; a failure raises, and
    `ServiceMetrics` counts it (source ``redis``); the stream reads are skipped once INFO failed."""

    def __init__(self, service: str, client: redis.Redis, streams: StreamsReader | None = None,
                 group: str | None = None) -> None:
        self.service = service
        self.client = client
        self.streams = streams
        self.group = group

    def collect(self) -> Iterator[Metric]:
        info: Mapping[str, Any] = self.client.info("stats")
        families: list[Metric] = []
        evicted = CounterMetricFamily(
            "aarya_redis_evicted_keys",
            "Keys Redis evicted under memory pressure (INFO stats evicted_keys, as this service's link sees it).",
            labels=["service"],
        )
        evicted.add_metric([self.service], _number(info.get("evicted_keys", 0)))
        families.append(evicted)
        if self.streams is not None:
            streams = self.streams(self.client)
            length = GaugeMetricFamily("aarya_stream_length", "Entries in the stream (XLEN).",
                                       labels=["service", "stream"])
            lag = GaugeMetricFamily("aarya_stream_group_lag", "Entries not yet delivered to the consumer group.",
                                    labels=["service", "stream", "group"])
            pending = GaugeMetricFamily(
                "aarya_stream_group_pending", "Entries delivered to the group and not yet acknowledged (PEL).",
                labels=["service", "stream", "group"],
            )
            group = self.group or ""
            for name, figures in sorted(streams.items()):
                length.add_metric([self.service, name], figures.get("length") or 0)
                if figures.get("lag") is not None:
                    lag.add_metric([self.service, name, group], _number(figures["lag"]))
                if figures.get("pending") is not None:
                    pending.add_metric([self.service, name, group], _number(figures["pending"]))
            families += [length, lag, pending]
        return iter(families)


def _number(value: object) -> float:
    return float(value) if isinstance(value, (int, float, str)) else 0.0


def scrape_client(redis_url: str) -> redis.Redis:
    """A Redis client for scrapes only: SCRAPE_TIMEOUT_S to connect and to read, no retries, 2 connections."""
    return redis.Redis.from_url(
        redis_url,
        socket_timeout=SCRAPE_TIMEOUT_S,
        socket_connect_timeout=SCRAPE_TIMEOUT_S,
        retry=Retry(NoBackoff(), 0),
        max_connections=2,
        health_check_interval=0,
        decode_responses=True,
        protocol=2,
    )


def install_metrics(app: FastAPI, dependencies: Dependencies) -> ServiceMetrics:
    """Request metrics, GET /metrics and the state collectors of `dependencies`; kept in app.state.metrics."""
    service = dependencies.settings.service_name
    metrics = ServiceMetrics(service)
    app.state.metrics = metrics
    app.add_middleware(MetricsMiddleware, metrics=metrics, routes=lambda: app.router.routes)

    @app.get("/metrics", include_in_schema=False)
    def metrics_endpoint(request: Request) -> Response:  # sync: runs in the threadpool, off the event loop
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    db = dependencies.db
    if db is not None:
        metrics.add("postgres_pool", PoolCollector(service, db.stats))
    cache = dependencies.cache
    if cache is not None:
        metrics.add("breaker", BreakerCollector(service, lambda: [cache.breaker]))
        if dependencies.settings.redis_url:
            client = scrape_client(dependencies.settings.redis_url)
            dependencies.background.append(client.close)
            app.state.metrics_redis = RedisCollector(service, client)
            metrics.add("redis", app.state.metrics_redis)
    return metrics


def add_streams(app: FastAPI, reader: StreamsReader, group: str) -> None:
    """Also export the streams' length and the group's lag and pending (content_services)."""
    collector: RedisCollector | None = getattr(app.state, "metrics_redis", None)
    if collector is None:
        raise RuntimeError("add_streams needs a service with REDIS_URL")
    collector.streams = reader
    collector.group = group
