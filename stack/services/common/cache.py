"""Redis access behind a circuit breaker, with short timeouts and no hidden client-side retries.

redis-py 8 retries timeouts ten times by default, which turns a black-holed Redis into a minute-long hang;
here the breaker alone decides, and an open breaker answers at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .breaker import CircuitBreaker, CircuitOpenError
from .errors import DependencyUnavailable
from .settings import ServiceSettings

T = TypeVar("T")
log = logging.getLogger("aarya.cache")
_UNSET = object()


class Cache:
    def __init__(self, settings: ServiceSettings) -> None:
        if not settings.redis_url:
            raise ValueError("REDIS_URL is not set")
        self.client: redis.Redis = redis.Redis.from_url(
            settings.redis_url,
            socket_timeout=settings.redis_socket_timeout_s,
            socket_connect_timeout=settings.redis_socket_timeout_s,
            retry=Retry(NoBackoff(), 0),
            max_connections=settings.redis_max_connections,
            health_check_interval=0,
            decode_responses=True,
            protocol=2,
        )
        self.breaker = CircuitBreaker(
            "redis",
            failure_threshold=settings.breaker_failure_threshold,
            recovery_timeout_s=settings.breaker_recovery_timeout_s,
            errors=(redis.RedisError, OSError),
        )

    def run(self, operation: Callable[[redis.Redis], T]) -> T:
        """Run an operation that needs Redis; DependencyUnavailable if Redis is down or the breaker is open."""
        try:
            return self.breaker.call(lambda: operation(self.client))
        except CircuitOpenError as exc:
            raise DependencyUnavailable("redis", f"circuit open: {exc}") from exc
        except (redis.RedisError, OSError) as exc:
            raise DependencyUnavailable("redis", f"{type(exc).__name__}: {exc}") from exc

    def run_or(self, operation: Callable[[redis.Redis], T], fallback: T) -> T:
        """Run an optional operation (a cache read or write); on any Redis trouble return the fallback."""
        try:
            return self.run(operation)
        except DependencyUnavailable as exc:
            log.warning("redis degraded, using fallback: %s", exc.reason)
            return fallback

    def ping(self) -> float:
        started = time.perf_counter()
        self.run(lambda r: r.ping())
        return (time.perf_counter() - started) * 1000

    def close(self) -> None:
        self.client.close()
