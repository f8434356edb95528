"""event_compactor: archives old stream entries to PostgreSQL, then trims them from Redis.

    GET  /health, /health/ready      (common)
    POST /compact?min_age_s=N&stream=S&keep_unconsumed=bool
                                         one pass now; 200 {stream: {archived, trimmed, length_after, ...}}
                                         503 with the partial report if a dependency failed mid-pass
    GET  /compact/status             passes, failures, last report, last error

A pass also runs every COMPACTOR_INTERVAL_S in a background thread (see compactor.py).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import Query, Request
from fastapi.responses import JSONResponse

from stack.services.common.app import Dependencies, create_app

from .compactor import STREAMS, CompactionFailed, Compactor, CompactorSettings

settings = CompactorSettings()  # read from the environment


def _start(deps: Dependencies) -> None:
    compactor = Compactor(settings, deps.require_db(), deps.require_cache())
    app.state.compactor = compactor
    compactor.start()
    deps.background.append(compactor.stop)


app = create_app(settings, on_start=_start)


def _compactor(request: Request) -> Compactor:
    compactor: Compactor = request.app.state.compactor
    return compactor


@app.post("/compact")
def compact(
    request: Request,
    min_age_s: Annotated[float | None, Query(ge=0, le=30 * 86400)] = None,
    stream: Annotated[list[str] | None, Query()] = None,
    keep_unconsumed: bool | None = None,
) -> JSONResponse:
    if stream:
        unknown = sorted(set(stream) - set(STREAMS))
        if unknown:
            return JSONResponse({"error": "unknown_stream", "detail": f"unknown streams: {unknown}"}, status_code=422)
    try:
        result = _compactor(request).run_pass(
            min_age_s, stream or None, keep_unconsumed=keep_unconsumed, lock_timeout_s=30.0
        )
    except TimeoutError as exc:
        return JSONResponse({"error": "busy", "detail": str(exc)}, status_code=409)
    except CompactionFailed as exc:
        return JSONResponse(
            {
                "error": "dependency_unavailable",
                "dependency": exc.cause.dependency,
                "detail": str(exc),
                "stream": exc.stream,
                "report": {name: asdict(r) for name, r in exc.report.items()},
            },
            status_code=503,
            headers={"Retry-After": str(exc.cause.retry_after_s)},
        )
    return JSONResponse(result.as_dict())


@app.get("/compact/status")
def status(request: Request) -> dict[str, object]:
    compactor = _compactor(request)
    return {
        "passes": compactor.passes,
        "failures": compactor.failures,
        "interval_s": settings.compactor_interval_s,
        "min_age_s": settings.compactor_min_age_s,
        "keep_unconsumed": settings.compactor_keep_unconsumed,
        "last_report": compactor.last_report,
        "last_error": compactor.last_error,
    }
