"""core_platform's API: registration, login with a failed-login limit, sessions (validate, me, logout)."""

from __future__ import annotations

import logging
import re
from typing import Annotated, NoReturn

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field, field_validator
from redis.typing import EncodableT, FieldT

from ..common.app import Dependencies, deps
from ..common.auth import bearer_token
from ..common.cache import Cache
from ..common.errors import Conflict, DependencyUnavailable, ServiceError, Unauthorized
from .passwords import Passwords
from .sessions import create_session, delete_session, failure_count, lookup_session, record_failure, utc_now

log = logging.getLogger("aarya.core_platform")
router = APIRouter(prefix="/auth", tags=["auth"])

EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
NOT_IN_ADDRESS = re.compile(r"[^0-9A-Za-z.:\[\]-]")  # keeps header junk out of the greppable log line
USER_EVENTS = "user_events"


class TooManyAttempts(ServiceError):
    status_code = 429
    code = "too_many_attempts"

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many failed logins; retry in {retry_after_s}s")
        self.retry_after_s = retry_after_s


class Credentials(BaseModel):
    email: str = Field(max_length=254)
    password: str = Field(min_length=1, max_length=1024)

    @field_validator("email")
    @classmethod
    def normalise_email(cls, value: str) -> str:
        email = value.strip().lower()
        if not EMAIL_PATTERN.match(email):
            raise ValueError("not a valid email address")
        return email


class Registration(Credentials):
    password: str = Field(min_length=8, max_length=1024)


class UserOut(BaseModel):
    user_id: int
    email: str


class LoginOut(BaseModel):
    token: str
    user_id: int
    expires_in: int


class NewUser(BaseModel):
    id: int


class UserRow(BaseModel):
    id: int
    email: str
    password_hash: str


def passwords(request: Request) -> Passwords:
    value: Passwords = request.app.state.passwords
    return value


DepsParam = Annotated[Dependencies, Depends(deps)]
PasswordsParam = Annotated[Passwords, Depends(passwords)]


def client_ip(request: Request) -> str:
    """The caller's address as the gateway saw it: X-Real-IP, else X-Forwarded-For's first hop, else the peer."""
    forwarded = request.headers.get("x-real-ip") or request.headers.get("x-forwarded-for", "").split(",")[0]
    peer = request.client.host if request.client is not None else "unknown"
    return NOT_IN_ADDRESS.sub("", forwarded.strip() or peer)[:64] or "unknown"


def publish(cache: Cache, event: dict[str, str | int]) -> None:
    """Best-effort: a lost user event never fails the request."""
    fields: dict[FieldT, EncodableT] = {key: value for key, value in event.items()}
    cache.run_or(lambda client: client.xadd(USER_EVENTS, fields), None)


@router.post("/register", status_code=201)
def register(body: Registration, d: DepsParam, hasher: PasswordsParam) -> UserOut:
    password_hash = hasher.hash(body.password)
    with d.require_db().connection() as conn:
        row = conn.execute(
            "INSERT INTO users (email, password_hash) VALUES (%s, %s) ON CONFLICT (email) DO NOTHING RETURNING id",
            (body.email, password_hash),
        ).fetchone()
    if row is None:
        raise Conflict("email already registered")
    user_id = NewUser.model_validate(row).id
    log.info("user registered", extra={"user_id": user_id})
    if d.cache is not None:
        publish(d.cache, {"type": "user_registered", "user_id": user_id, "at": utc_now()})
    return UserOut(user_id=user_id, email=body.email)


@router.post("/login")
def login(body: Credentials, request: Request, d: DepsParam, hasher: PasswordsParam) -> LoginOut:
    cache, settings, ip = d.require_cache(), d.settings, client_ip(request)
    failures = failure_count(cache, body.email, settings.login_failure_window_s)  # no Redis: 503 before any CPU
    if failures.count >= settings.login_max_failures:
        _log_failure(body.email, ip, "rate_limited")
        raise TooManyAttempts(failures.retry_after_s)
    user = _find_user(d, body.email)
    if user is None:
        hasher.verify_unknown(body.password)
        _reject(d, body.email, ip, "unknown_user")
    if not hasher.verify(user.password_hash, body.password):
        _reject(d, body.email, ip, "bad_password")
    token = create_session(cache, user.id, user.email, settings.session_ttl_s)
    log.info("login succeeded", extra={"user_id": user.id, "ip": ip})
    publish(cache, {"type": "user_login", "user_id": user.id, "at": utc_now()})
    return LoginOut(token=token, user_id=user.id, expires_in=settings.session_ttl_s)


def _find_user(d: Dependencies, email: str) -> UserRow | None:
    with d.require_db().connection() as conn:
        row = conn.execute("SELECT id, email, password_hash FROM users WHERE email = %s", (email,)).fetchone()
    return None if row is None else UserRow.model_validate(row)


def _log_failure(email: str, ip: str, reason: str) -> None:
    log.warning("authentication failed: login failed for email=%s ip=%s reason=%s", email, ip, reason)


def _reject(d: Dependencies, email: str, ip: str, reason: str) -> NoReturn:
    """Count the failure (best-effort), log it, answer 401: the same answer for both reasons."""
    try:
        record_failure(d.require_cache(), email, d.settings.login_failure_window_s)
    except DependencyUnavailable as exc:
        log.warning("could not count failed login (redis): %s", exc.reason)
    _log_failure(email, ip, reason)
    raise Unauthorized("invalid email or password")


def _session(request: Request) -> UserOut:
    session = lookup_session(deps(request).require_cache(), bearer_token(request))
    if session is None:
        raise Unauthorized("session not found or expired")
    return UserOut(user_id=session.user_id, email=session.email)


@router.get("/validate")
def validate(request: Request) -> UserOut:
    return _session(request)


@router.get("/me")
def me(request: Request) -> UserOut:
    return _session(request)


@router.post("/logout", status_code=204)
def logout(request: Request) -> Response:
    delete_session(deps(request).require_cache(), bearer_token(request))
    return Response(status_code=204)
