"""commerce: catalogue, cart, checkout and orders. Run with `uvicorn stack.services.commerce.app:app`."""

from __future__ import annotations

from ..common.app import Dependencies, create_app
from ..common.settings import ServiceSettings
from . import cart, catalogue, checkout
from .reconciler import Reconciler


def start_reconciler(d: Dependencies) -> None:
    reconciler = Reconciler(d)
    d.background.append(reconciler.stop)
    reconciler.start()


app = create_app(
    ServiceSettings(),
    calls=["core_platform", "payment"],
    on_start=start_reconciler,
)
for module in (catalogue, cart, checkout):
    app.include_router(module.router)
