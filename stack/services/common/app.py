"""The pieces every service shares: its dependencies, /health, /health/ready and the error handlers.

A service module builds its FastAPI app with `create_app(settings, deps_factory)` and reads its
dependencies from `request.app.state.deps` (see `deps(request)`).
"""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from .cache import Cache
from .db import Database
from .errors import DependencyUnavailable, ServiceError
from .http import ServiceClient
from .logs import configure_logging
from .metrics import install_metrics
from .settings import ServiceSettings


@dataclass
class Dependencies:
    settings: ServiceSettings
    log: logging.Logger
    db: Database | None = None
    cache: Cache | None = None
    services: dict[str, ServiceClient] = field(default_factory=dict)
    background: list[Callable[[], None]] = field(default_factory=list)

    def require_db(self) -> Database:
        if self.db is None:
            raise RuntimeError(f"{self.settings.service_name} has no DATABASE_URL")
        return self.db

    def require_cache(self) -> Cache:
        if self.cache is None:
            raise RuntimeError(f"{self.settings.service_name} has no REDIS_URL")
        return self.cache

    def service(self, name: str) -> ServiceClient:
        return self.services[name]

    def checks(self) -> Iterable[tuple[str, Callable[[], float]]]:
        if self.db is not None:
            yield "postgres", self.db.ping
        if self.cache is not None:
            yield "redis", self.cache.ping
        for name, client in self.services.items():
            yield name, client.ping

    def close(self) -> None:
        for stop in self.background:
            stop()
        for client in self.services.values():
            client.close()
        if self.cache is not None:
            self.cache.close()
        if self.db is not None:
            self.db.close()


def build_dependencies(settings: ServiceSettings, calls: Iterable[str] = ()) -> Dependencies:
    log = configure_logging(settings.service_name, settings.log_level)
    deps = Dependencies(settings=settings, log=log)
    if settings.database_url:
        deps.db = Database(settings)
    if settings.redis_url:
        deps.cache = Cache(settings)
    urls = {"core_platform": settings.core_platform_url, "payment": settings.payment_url}
    for name in calls:
        url = urls.get(name)
        if not url:
            raise ValueError(f"{settings.service_name} calls {name} but {name.upper()}_URL is not set")
        deps.services[name] = ServiceClient(name, url, settings)
    return deps


def deps(request: Request) -> Dependencies:
    value: Dependencies = request.app.state.deps
    return value


def create_app(
    settings: ServiceSettings,
    calls: Iterable[str] = (),
    on_start: Callable[[Dependencies], None] | None = None,
) -> FastAPI:
    """A FastAPI app with health endpoints, error handlers and a lifespan that opens and closes the deps."""
    dependencies = build_dependencies(settings, calls)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if dependencies.db is not None:
            dependencies.db.open()
        if on_start is not None:
            on_start(dependencies)
        dependencies.log.info("started", extra={"release": settings.release})
        yield
        dependencies.close()
        dependencies.log.info("stopped")

    app = FastAPI(title=settings.service_name, lifespan=lifespan)
    app.state.deps = dependencies
    _add_error_handlers(app, dependencies)
    _add_health_routes(app, dependencies)
    if settings.release_error_rate > 0:
        _add_bad_release_middleware(app, settings.release_error_rate)
    install_metrics(app, dependencies)  # last: its middleware is outermost, so it counts the injected 500s too
    return app


def _add_error_handlers(app: FastAPI, dependencies: Dependencies) -> None:
    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError) -> JSONResponse:
        headers = {}
        body: dict[str, object] = {"error": exc.code, "detail": str(exc)}
        if isinstance(exc, DependencyUnavailable):
            headers["Retry-After"] = str(exc.retry_after_s)
            body["dependency"] = exc.dependency
            dependencies.log.error(
                "request failed: %s", exc, extra={"path": request.url.path, "dependency": exc.dependency}
            )
        return JSONResponse(body, status_code=exc.status_code, headers=headers)


def _add_health_routes(app: FastAPI, dependencies: Dependencies) -> None:
    settings = dependencies.settings

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok", "service": settings.service_name, "release": settings.release}

    @app.get("/health/ready")
    def ready() -> JSONResponse:
        checks: dict[str, dict[str, object]] = {}
        for name, probe in dependencies.checks():
            try:
                checks[name] = {"ok": True, "latency_ms": round(probe(), 2)}
            except Exception as exc:  # a readiness probe reports every failure, it never raises
                checks[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        if dependencies.cache is not None:
            checks.setdefault("redis", {})["breaker"] = dependencies.cache.breaker.state.value
        if dependencies.db is not None:
            checks.setdefault("postgres", {})["pool"] = dependencies.db.stats()
        ok = all(check.get("ok") for check in checks.values())
        body = {"status": "ready" if ok else "degraded", "service": settings.service_name,
                "release": settings.release, "checks": checks}
        return JSONResponse(body, status_code=200 if ok else 503)


def _add_bad_release_middleware(app: FastAPI, error_rate: float) -> None:
    """A deliberately broken release (scenario 8.1): fails a share of API requests, never /health. A read
    fails before its handler; a write after it (the build's answer step crashes once the work is done),
    so the order exists and the client is told 500: its outcome is unknown, and its retry must not be a
    second order. /metrics is spared like /health: the release is broken, its instrumentation is not."""

    @app.middleware("http")
    async def fail_some(request: Request, call_next: Callable[[Request], object]) -> Response:
        if not request.url.path.startswith(("/health", "/metrics")) and random.random() < error_rate:
            if request.method != "GET":
                await call_next(request)  # type: ignore[misc]
            return JSONResponse({"error": "bad_release", "detail": "injected defect"}, status_code=500)
        response: Response = await call_next(request)  # type: ignore[misc]
        return response

