"""How the harness talks to Redis: one attempt per call.

redis-py 6 and later retry a failed command three times with backoff by default (about 4 s against a Redis
that refuses connections). A probe that retries measures its own patience, not Redis: every client of the
harness (probes, drivers, heal) passes `retry=NO_RETRY`, as the reference services do.
"""

from __future__ import annotations

from redis.backoff import NoBackoff
from redis.retry import Retry

NO_RETRY = Retry(NoBackoff(), 0)
