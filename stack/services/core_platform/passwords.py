"""Password hashing with argon2id, bounded so a login storm cannot exhaust CPU or memory.

Each argon2 call takes `ARGON2_MEMORY_KIB` of RAM and tens of milliseconds of CPU in a thread of FastAPI's
pool. At most `ARGON2_MAX_CONCURRENCY` run at once; a request that cannot get a slot within
`ARGON2_QUEUE_TIMEOUT_S` gets a fast 503 instead of queueing without bound.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from ..common.errors import DependencyUnavailable


class PasswordSettings(BaseSettings):
    """argon2id parameters; the defaults are OWASP's minimum (m=19 MiB, t=2, p=1)."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    argon2_time_cost: int = 2
    argon2_memory_kib: int = 19456
    argon2_max_concurrency: int = max(2, os.cpu_count() or 2)
    argon2_queue_timeout_s: float = 2.0


class Passwords:
    """Hash and verify passwords; `verify_unknown` burns the same CPU for a user that does not exist."""

    def __init__(self, settings: PasswordSettings) -> None:
        self._hasher = PasswordHasher(
            time_cost=settings.argon2_time_cost, memory_cost=settings.argon2_memory_kib, parallelism=1
        )
        self._slots = threading.BoundedSemaphore(settings.argon2_max_concurrency)
        self._queue_timeout_s = settings.argon2_queue_timeout_s
        self._dummy_hash = self._hasher.hash("not-a-real-password: timing equaliser")

    @contextmanager
    def _slot(self) -> Iterator[None]:
        if not self._slots.acquire(timeout=self._queue_timeout_s):
            raise DependencyUnavailable("password_hasher", "timeout waiting for a hashing slot (overloaded)")
        try:
            yield
        finally:
            self._slots.release()

    def hash(self, password: str) -> str:
        with self._slot():
            return self._hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        with self._slot():
            try:
                return self._hasher.verify(password_hash, password)
            except (VerificationError, InvalidHashError):
                return False

    def verify_unknown(self, password: str) -> None:
        """Spend the time a real verification costs, so an unknown email is not revealed by timing."""
        self.verify(self._dummy_hash, password)
