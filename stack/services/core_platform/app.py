"""core_platform: accounts, login and sessions. Run with `uvicorn stack.services.core_platform.app:app`."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from ..common.app import create_app
from ..common.settings import ServiceSettings
from .passwords import PasswordSettings, Passwords
from .routes import TooManyAttempts, router
from .sweeper import start_sweeper


def build_app() -> FastAPI:
    application = create_app(ServiceSettings(), on_start=start_sweeper)
    application.state.passwords = Passwords(PasswordSettings())
    application.include_router(router)

    @application.exception_handler(TooManyAttempts)
    async def too_many_attempts(request: Request, exc: TooManyAttempts) -> JSONResponse:
        return JSONResponse(
            {"error": exc.code, "detail": str(exc), "retry_after_s": exc.retry_after_s},
            status_code=exc.status_code,
            headers={"Retry-After": str(exc.retry_after_s)},
        )

    return application


app = build_app()
