"""content_services: the consumer group ``content_services`` on the three event streams.

    GET  /health, /health/ready   (common)
    GET  /admin/stats             {consumer, cost_ms, processed, errors, claimed, ..., streams: {name: {length, lag, pending}}}
    POST /admin/cost   {"ms": N}  the per-message processing cost, at runtime
    POST /admin/pause             stop consuming (the process keeps running); {"paused": true, "idle": bool}
    POST /admin/resume            start again

Several instances (distinct CONSUMER_NAME or pid, distinct ports) share the work through the group.
The worker itself is in worker.py.
"""

from __future__ import annotations

from fastapi import Request
from pydantic import BaseModel, Field

from stack.services.common.app import Dependencies, create_app, deps
from stack.services.common.metrics import add_streams

from .worker import GROUP, ContentSettings, Worker, group_lag

settings = ContentSettings()  # read from the environment


def _start(dependencies: Dependencies) -> None:
    dependencies.require_cache()  # the admin endpoints read the streams through the shared client
    worker = Worker(settings, dependencies.require_db())
    app.state.worker = worker
    worker.start()
    dependencies.background.append(worker.stop)


app = create_app(settings, on_start=_start)
add_streams(app, group_lag, GROUP)  # /metrics: stream length, group lag and pending


def _worker(request: Request) -> Worker:
    worker: Worker = request.app.state.worker
    return worker


class CostBody(BaseModel):
    ms: float = Field(ge=0, le=60_000, description="processing cost per message, in milliseconds")


@app.get("/admin/stats")
def stats(request: Request) -> dict[str, object]:
    worker = _worker(request)
    body = worker.stats()
    streams = deps(request).require_cache().run(group_lag)
    body["streams"] = streams
    body["lag_total"] = sum((s["lag"] or 0) for s in streams.values())
    body["pending_total"] = sum((s["pending"] or 0) for s in streams.values())
    return body


@app.post("/admin/cost")
def set_cost(request: Request, body: CostBody) -> dict[str, object]:
    worker = _worker(request)
    worker.set_cost(body.ms)
    return {"consumer": worker.consumer, "cost_ms": worker.cost_ms, "batch_size": worker.batch_size()}


@app.post("/admin/pause")
def pause(request: Request) -> dict[str, object]:
    worker = _worker(request)
    idle = worker.pause()
    return {"consumer": worker.consumer, "paused": True, "idle": idle}


@app.post("/admin/resume")
def resume(request: Request) -> dict[str, object]:
    worker = _worker(request)
    worker.resume()
    return {"consumer": worker.consumer, "paused": False}

