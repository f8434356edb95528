"""Sessions and the failed-login counter, both kept in Redis (see docs/architecture.md, "Redis keys").

Every function takes the service's `Cache` and goes through `cache.run`, so a Redis outage becomes a fast
DependencyUnavailable (503) rather than a hang; callers that can live without Redis use `cache.run_or`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timezone

import redis
from redis.typing import EncodableT, FieldT

from ..common.cache import Cache

SESSION_PREFIX = "session:"
RATELIMIT_PREFIX = "ratelimit:login:"
# secrets.token_urlsafe(32) is 43 characters; anything far longer is not one of ours.
MAX_TOKEN_LENGTH = 128


@dataclass(frozen=True)
class Session:
    user_id: int
    email: str


@dataclass(frozen=True)
class FailureCount:
    count: int
    retry_after_s: int


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat()


def create_session(cache: Cache, user_id: int, email: str, ttl_s: int) -> str:
    """A new session token; the hash and its TTL are set atomically, and the failure counter is cleared."""
    token = secrets.token_urlsafe(32)
    key = SESSION_PREFIX + token
    mapping: dict[FieldT, EncodableT] = {"user_id": str(user_id), "email": email, "created_at": utc_now()}

    def write(client: redis.Redis) -> None:
        pipe = client.pipeline(transaction=True)
        pipe.hset(key, mapping=mapping)
        pipe.expire(key, ttl_s)
        pipe.delete(RATELIMIT_PREFIX + email)
        pipe.execute()

    cache.run(write)
    return token


def lookup_session(cache: Cache, token: str) -> Session | None:
    """The session behind a token, or None if it is unknown or expired (fixed TTL, never extended)."""
    if len(token) > MAX_TOKEN_LENGTH:
        return None
    data = cache.run(lambda client: client.hgetall(SESSION_PREFIX + token))
    try:
        return Session(user_id=int(data["user_id"]), email=str(data["email"]))
    except (KeyError, ValueError):
        return None


def delete_session(cache: Cache, token: str) -> None:
    if len(token) <= MAX_TOKEN_LENGTH:
        cache.run(lambda client: client.delete(SESSION_PREFIX + token))


def failure_count(cache: Cache, email: str) -> FailureCount:
    """Failed logins for `email` in the current window, and the seconds until the window ends."""
    key = RATELIMIT_PREFIX + email

    def read(client: redis.Redis) -> tuple[str | None, int]:
        pipe = client.pipeline(transaction=False)
        pipe.get(key)
        pipe.ttl(key)
        value, ttl = pipe.execute()
        return value, int(ttl)

    value, ttl = cache.run(read)
    return FailureCount(count=int(value or 0), retry_after_s=max(ttl, 1))


def record_failure(cache: Cache, email: str, window_s: int) -> int:
    """Count one failed login; the window restarts with every failure. Returns the new count."""
    key = RATELIMIT_PREFIX + email

    def incr(client: redis.Redis) -> int:
        pipe = client.pipeline(transaction=True)
        pipe.incr(key)
        pipe.expire(key, window_s)
        count, _ = pipe.execute()
        return int(count)

    return cache.run(incr)
