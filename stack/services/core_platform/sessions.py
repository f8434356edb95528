"""Sessions and the failed-login counter, both kept in Redis (see docs/architecture.md, "Redis keys").

Every function takes the service's `Cache` and goes through `cache.run`, so a Redis outage becomes a fast
DependencyUnavailable (503) rather than a hang; callers that can live without Redis use `cache.run_or`.
"""

from __future__ import annotations

import secrets
import time
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


# A failed-login counter is `<count>:<epoch second of the last failure>` in `ratelimit:login:<email>`, with no
# TTL: Redis's volatile-ttl evicts only keys that have one, so memory pressure can never take a counter (an
# evicted counter resets the lockout of an account under attack: scenario 2.1 found a 300 s TTL evicted with
# the cache, and a longer one evicted now and then, since eviction samples). The window lives in the value;
# `sweep_failure_counters` deletes the counters whose window has passed.
_RECORD_FAILURE = """
local value = redis.call('GET', KEYS[1])
local count, last = 0, 0
if value then
  local c, l = string.match(value, '^(%d+):(%d+)$')
  if c then count, last = tonumber(c), tonumber(l) end
end
local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
if now - last >= window then count = 0 end
count = count + 1
redis.call('SET', KEYS[1], count .. ':' .. now)
return count
"""
SWEEP_BATCH = 500


def _parse_counter(value: bytes | str | None) -> tuple[int, int]:
    """(count, epoch second of the last failure) of a counter's value; (0, 0) for none or an unreadable one."""
    text = value.decode() if isinstance(value, bytes) else (value or "")
    count, _, last = text.partition(":")
    return (int(count), int(last)) if count.isdigit() and last.isdigit() else (0, 0)


def failure_count(cache: Cache, email: str, window_s: int, now: float | None = None) -> FailureCount:
    """Failed logins for `email` in the current window, and the seconds until the window ends."""
    count, last = _parse_counter(cache.run(lambda client: client.get(RATELIMIT_PREFIX + email)))
    elapsed = int(now if now is not None else time.time()) - last
    if count == 0 or elapsed >= window_s:
        return FailureCount(count=0, retry_after_s=1)
    return FailureCount(count=count, retry_after_s=max(window_s - elapsed, 1))


def record_failure(cache: Cache, email: str, window_s: int, now: float | None = None) -> int:
    """Count one failed login; the window restarts with every failure. Returns the new count."""
    stamp = int(now if now is not None else time.time())
    return int(cache.run(lambda client: client.eval(_RECORD_FAILURE, 1, RATELIMIT_PREFIX + email, stamp,
                                                    window_s)))


def sweep_failure_counters(client: redis.Redis, window_s: int, now: float | None = None,
                           limit: int = 20 * SWEEP_BATCH) -> int:
    """Delete the counters whose window has passed (at most `limit` looked at per sweep); returns how many."""
    stamp = int(now if now is not None else time.time())
    removed = looked = 0
    batch: list[bytes | str] = []
    for key in client.scan_iter(match=RATELIMIT_PREFIX + "*", count=SWEEP_BATCH):
        batch.append(key)
        looked += 1
        if len(batch) >= SWEEP_BATCH or looked >= limit:
            removed += _sweep(client, batch, window_s, stamp)
            batch = []
        if looked >= limit:
            break
    return removed + (_sweep(client, batch, window_s, stamp) if batch else 0)


def _sweep(client: redis.Redis, keys: list[bytes | str], window_s: int, stamp: int) -> int:
    values = client.mget(keys)
    stale = [k for k, v in zip(keys, values) if stamp - _parse_counter(v)[1] >= window_s]
    return int(client.delete(*stale)) if stale else 0
