"""Settings of one reference service, read only from the environment (see docs/architecture.md)."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Every knob a service has. Field names map to upper-case environment variables."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    service_name: str
    release: str = "v1"
    log_level: str = "INFO"

    database_url: str | None = None
    db_pool_min_size: int = 1
    db_pool_max_size: int = 5
    db_pool_timeout_s: float = 2.0
    db_statement_timeout_ms: int = 3000
    # A statement waiting on a row lock gives up after this (0: never): a lock held by a stuck batch job must
    # not hold the pool's connections for a whole statement_timeout each. Found by 7.1 held for 10 s: with
    # only the 3 s statement_timeout, blocked checkouts filled commerce's pool and every request queued. At
    # 1 s a blocked checkout still answered after 3.5 to 4.6 s (the lock wait, its round trips, its wait for
    # a pool connection that other blocked checkouts held), a few tenths from the shoppers' 5 s patience.
    db_lock_timeout_ms: int = 500
    db_connect_timeout_s: int = 2

    redis_url: str | None = None
    redis_socket_timeout_s: float = 0.5
    redis_max_connections: int = 20
    breaker_failure_threshold: int = 5
    breaker_recovery_timeout_s: float = 5.0

    core_platform_url: str | None = None
    payment_url: str | None = None
    http_timeout_s: float = 2.0
    retry_attempts: int = 3
    retry_base_delay_s: float = 0.05
    retry_max_delay_s: float = 1.0

    session_ttl_s: int = 86400
    cart_ttl_s: int = 7 * 86400
    login_max_failures: int = 5
    # The lockout window; the counter keeps it in its value, with no Redis TTL (sessions.py, scenario 2.1).
    login_failure_window_s: int = 900

    consumer_cost_ms: float = 0.0
    consumer_name: str | None = None
    consumer_claim_idle_ms: int = 30000
    compactor_interval_s: float = 30.0
    compactor_min_age_s: float = 60.0

    # Fault switch for the rollback scenario (8.1): a "bad release" fails this share of requests.
    release_error_rate: float = 0.0
    # Fault switch for 5.2's control: false drops the client-side PostgreSQL deadlines (db.py), as a build
    # that trusts statement_timeout alone would; a black-holed link then hangs its requests.
    db_client_deadline: bool = True
