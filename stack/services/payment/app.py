"""payment: idempotent card charges (PostgreSQL only). Run with `uvicorn stack.services.payment.app:app`."""

from __future__ import annotations

from ..common.app import create_app
from ..common.settings import ServiceSettings
from .routes import router

app = create_app(ServiceSettings())
app.include_router(router)
