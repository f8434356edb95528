"""Calls to another service: one pooled httpx client, a timeout on every call, retries with full jitter.

Only idempotent requests are retried (GET, or a POST that carries an idempotency key the callee honours).
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from .errors import DependencyUnavailable
from .retry import RetryPolicy, retry_call
from .settings import ServiceSettings

log = logging.getLogger("aarya.http")
# 502/504: the callee (or the path to it) failed. A 503 is the callee's defined answer that one of *its*
# dependencies is down; retrying it only stretches the caller's latency, so it is passed through.
RETRYABLE_STATUS = frozenset({502, 504})


class _RetryableStatus(Exception):
    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


class ServiceClient:
    def __init__(self, name: str, base_url: str, settings: ServiceSettings) -> None:
        self.name = name
        self.client = httpx.Client(
            base_url=base_url,
            timeout=httpx.Timeout(settings.http_timeout_s),
            limits=httpx.Limits(max_connections=50, max_keepalive_connections=20),
            headers={"user-agent": f"aarya-{settings.service_name}"},
        )
        self.policy = RetryPolicy(
            attempts=settings.retry_attempts,
            base_delay_s=settings.retry_base_delay_s,
            max_delay_s=settings.retry_max_delay_s,
            deadline_s=settings.http_timeout_s * settings.retry_attempts,
        )

    def request(self, method: str, path: str, *, retry: bool, **kwargs: Any) -> httpx.Response:
        """Send a request; DependencyUnavailable when the callee is unreachable or keeps answering 5xx."""

        def attempt() -> httpx.Response:
            response = self.client.request(method, path, **kwargs)
            if retry and response.status_code in RETRYABLE_STATUS:
                raise _RetryableStatus(response)
            return response

        def on_retry(number: int, exc: BaseException, delay: float) -> None:
            log.warning("retrying %s %s%s after %s (attempt %d, backoff %.3fs)", method, self.name, path, exc, number, delay)

        policy = self.policy if retry else RetryPolicy(attempts=1, deadline_s=None)
        try:
            return retry_call(attempt, policy, retry_on=(httpx.TransportError, _RetryableStatus), on_retry=on_retry)
        except _RetryableStatus as exc:
            return exc.response
        except httpx.TransportError as exc:
            log.error("%s unreachable: %s %s: %s", self.name, method, path, exc)
            raise DependencyUnavailable(self.name, f"{type(exc).__name__}: {exc}") from exc

    def ping(self) -> float:
        response = self.request("GET", "/health", retry=False)
        if response.status_code != 200:
            raise DependencyUnavailable(self.name, f"/health answered {response.status_code}")
        return response.elapsed.total_seconds() * 1000

    def close(self) -> None:
        self.client.close()
