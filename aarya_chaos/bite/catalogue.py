"""The mutants `aarya-chaos bite` runs the suite against: small, realistic regressions of the reference stack.

Each mutant is one change a real team could ship (a setting, a line of code, a step of a script, a line of a
server config), and names the scenario tests that must catch it. A mutant is applied to a copy of the
project (aarya_chaos/bite/mutate.py), never to the tree itself:

    edits      exact text replacements, relative to the project root; each `old` must occur exactly once
               in its file (else the mutant is stale: the code moved, and `bite --check` says so)
    settings   extra service environment per service name, merged over the service's default env
    stack      other stack-config overrides (`{"redis": {"maxmemory_policy": "allkeys-lru"}}`)

`caught_by` are pytest node ids of non-control scenario tests; `expect_failed` the checks expected to fail,
reported beside the result (not required: any failed check kills the mutant).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from types import MappingProxyType
from typing import Any, Literal, get_args

__all__ = ["CATALOGUE", "KINDS", "Edit", "Kind", "Mutant", "by_id", "scenario_label", "validate_catalogue"]

Kind = Literal["setting", "code", "script", "config-file"]
KINDS: tuple[str, ...] = get_args(Kind)
ID_PATTERN = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
NODE_PATTERN = re.compile(r"^scenarios/test_\w+\.py::test_\w+(\[[\w-]+\])?$")
ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


@dataclass(frozen=True)
class Edit:
    """Replace `old` (which must occur exactly once) by `new` in the file `path` (relative to the root)."""

    path: str
    old: str
    new: str


@dataclass(frozen=True)
class Mutant:
    id: str
    title: str
    regression: str
    kind: Kind
    caught_by: tuple[str, ...]
    expect_failed: tuple[str, ...] = ()
    edits: tuple[Edit, ...] = ()
    settings: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    stack: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:  # read-only views: a catalogue entry is a constant
        object.__setattr__(self, "settings",
                           MappingProxyType({k: MappingProxyType(dict(v)) for k, v in self.settings.items()}))
        object.__setattr__(self, "stack", MappingProxyType(dict(self.stack)))

    def as_dict(self) -> dict[str, Any]:
        """Every field, as plain JSON-ready data."""
        return {"id": self.id, "title": self.title, "regression": self.regression, "kind": self.kind,
                "edits": [{"path": e.path, "old": e.old, "new": e.new} for e in self.edits],
                "settings": {k: dict(v) for k, v in self.settings.items()}, "stack": _plain(self.stack),
                "caught_by": list(self.caught_by), "expect_failed": list(self.expect_failed)}


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def scenario_label(node_id: str) -> str:
    """`scenarios/test_network_partition.py::test_network_partition[black_hole]` -> `test_network_partition[black_hole]`."""
    path, _, test = node_id.partition("::")
    param = test[test.index("["):] if "[" in test else ""
    return PurePosixPath(path).stem + param


# -- the scenario tests that catch them ---------------------------------------------------------------------

POSTGRES_CRASH = "scenarios/test_postgres_crash.py::test_postgres_crash"                       # 1.1
POOL_EXHAUSTION = "scenarios/test_pool_exhaustion.py::test_pool_exhaustion"                    # 1.2
REDIS_OOM = "scenarios/test_redis_oom.py::test_redis_oom"                                      # 2.1
REDIS_DOWN = "scenarios/test_redis_connection_failure.py::test_redis_connection_failure"       # 2.2
COMMERCE_DOWN = "scenarios/test_commerce_unavailable.py::test_commerce_unavailable"            # 3.2
STREAM_BACKLOG = "scenarios/test_stream_backlog.py::test_stream_backlog"                       # 4.1
PARTITION_REFUSED = "scenarios/test_network_partition.py::test_network_partition[refused]"     # 5.2
PARTITION_BLACK_HOLE = "scenarios/test_network_partition.py::test_network_partition[black_hole]"
SUSPICIOUS = "scenarios/test_suspicious_activity.py::test_suspicious_activity"                 # 6.1
SLOW_DB = "scenarios/test_slow_database_cascade.py::test_slow_database_cascade"                # 7.1
DB_ROLLBACK = "scenarios/test_database_rollback.py::test_database_rollback"                    # 8.2

PAYMENTS = "stack/services/commerce/payments.py"
PAYMENT = "stack/services/payment/routes.py"
SESSIONS = "stack/services/core_platform/sessions.py"
CHECKOUT = "stack/services/commerce/checkout.py"
ORDERS = "stack/services/commerce/orders.py"
EVENTS = "stack/services/commerce/events.py"
SEARCH = "stack/services/search_recommendation/app.py"
RECOVER = "stack/scripts/recover"
WORKER = "stack/services/content_services/worker.py"
COMPACTOR = "stack/services/event_compactor/compactor.py"
RECONCILER = "stack/services/commerce/reconciler.py"
NGINX = "stack/nginx/nginx.conf.tmpl"

# -- the catalogue -----------------------------------------------------------------------------------------

_DATABASE: tuple[Mutant, ...] = (
    Mutant(
        "commerce-pool-waits-30s", "commerce waits 30 s for a pooled connection",
        "DB_POOL_TIMEOUT_S raised to 30 so that checkouts 'stop failing under load': the pool no longer fails fast.",
        "setting", (POOL_EXHAUSTION,), ("no_request_hung_during_the_fault",),
        settings={"commerce": {"DB_POOL_TIMEOUT_S": "30"}}),
    Mutant(
        "commerce-no-lock-timeout", "commerce's lock_timeout off",
        "DB_LOCK_TIMEOUT_MS set to 0 (PostgreSQL's default) because a migration kept failing on it: a "
        "statement blocked on a row lock waits out the whole statement_timeout, holding its pooled connection.",
        "setting", (SLOW_DB,), ("no_request_hung_during_the_fault",),
        settings={"commerce": {"DB_LOCK_TIMEOUT_MS": "0"}}),
    Mutant(
        "recover-replays-to-the-end", "recover ignores --target-time",
        "A refactor of the recovery settings keeps recovery_target_action but drops recovery_target_time: "
        "the restore replays the whole archive, the destructive DELETE included.",
        "script", (DB_ROLLBACK,), ("deleted_orders_are_back",),
        edits=(Edit(RECOVER,
                    '        lines += [f"recovery_target_time = {_pgenv.quote_literal(moment)}",\n'
                    "                  \"recovery_target_action = 'promote'\"]\n",
                    "        lines += [\"recovery_target_action = 'promote'\"]\n"),)),
    Mutant(
        "recover-without-wal", "recover no longer writes recovery.signal",
        "The recovery.signal step is dropped as a leftover of PostgreSQL 11's recovery.conf: the server starts "
        "from the base backup alone (crash recovery), restore_command is never used, no archived WAL replayed.",
        "script", (DB_ROLLBACK,), ("orders_after_the_backup_replayed", "orders_acknowledged_before_the_damage_are_back"),
        edits=(Edit(RECOVER, '    (env.pgdata / "recovery.signal").touch()\n', ""),)),
)

_CACHE: tuple[Mutant, ...] = (
    Mutant(
        "commerce-breaker-never-opens", "commerce's Redis breaker never opens",
        "BREAKER_FAILURE_THRESHOLD raised to 1000000 after a flapping breaker paged someone: every request "
        "waits out its Redis timeout during an outage.",
        "setting", (REDIS_DOWN,), ("breaker_opened_during_the_outage",),
        settings={"commerce": {"BREAKER_FAILURE_THRESHOLD": "1000000"}}),
    Mutant(
        "redis-allkeys-lru", "Redis evicts any key (allkeys-lru)",
        "maxmemory-policy set to allkeys-lru, the policy most guides recommend for a cache: sessions and carts "
        "become evictable.",
        "setting", (REDIS_OOM,), ("policy_kept_sessions_and_carts",),
        stack={"redis": {"maxmemory_policy": "allkeys-lru"}}),
    Mutant(
        "short-session-ttl", "sessions expire after 60 s",
        "SESSION_TTL_S lowered to 60 'for security': sessions become the keys closest to expiry, which "
        "volatile-ttl evicts first.",
        "setting", (REDIS_OOM,), ("policy_kept_sessions_and_carts",),
        settings={"core_platform": {"SESSION_TTL_S": "60"}}),
    Mutant(
        "lockout-counters-expire-in-redis", "login lockout counters get a Redis TTL again, of 5 minutes",
        "'Let Redis expire the counters instead of a sweeper': SET ... EX <window>, with the usual five-minute "
        "window. A key with a TTL is one volatile-ttl may evict, and this one expires as soon as the longest "
        "cache entry: eviction takes it with the cache, resetting the lockout.",
        "code", (REDIS_OOM,), ("login_lockout_counters_kept", "no_login_lockout_counter_evicted"),
        edits=(Edit(SESSIONS, "redis.call('SET', KEYS[1], count .. ':' .. now)\n",
                    "redis.call('SET', KEYS[1], count .. ':' .. now, 'EX', window)\n"),),
        settings={"core_platform": {"LOGIN_FAILURE_WINDOW_S": "300"}}),
    Mutant(
        "redis-aof-off", "Redis without its AOF",
        "appendonly turned off to save disk I/O (the RDB schedule is off too): a Redis restart comes back empty.",
        "config-file", (REDIS_DOWN,), ("persisted_session_and_cart_came_back",),
        edits=(Edit("stack/redis/redis.conf.tmpl", "appendonly yes\n", "appendonly no\n"),)),
)

_SERVICES: tuple[Mutant, ...] = (
    Mutant(
        "payment-key-per-attempt", "the payment idempotency key is unique per request",
        "payment_key gets a random suffix ('keys must be unique') so a retried charge is a new charge.",
        "code", (COMMERCE_DOWN,), ("no_order_charged_twice",),
        edits=(Edit(PAYMENTS, "from uuid import UUID\n", "from uuid import UUID, uuid4\n"),
               Edit(PAYMENTS, '    return f"order:{order.order_id}"\n',
                    '    return f"order:{order.order_id}:{uuid4().hex[:8]}"\n'))),
    Mutant(
        "checkout-ignores-idempotency-key", "checkout reads the idempotency key from the wrong header",
        "The header alias renamed to X-Idempotency-Key while clients send Idempotency-Key: every checkout, "
        "retries included, gets its own server-side key.",
        "code", (COMMERCE_DOWN,), ("no_phantom_orders", "no_duplicate_orders_for_one_intent"),
        edits=(Edit(CHECKOUT, 'Header(alias="Idempotency-Key", max_length=200)',
                    'Header(alias="X-Idempotency-Key", max_length=200)'),)),
    Mutant(
        "order-total-ignores-quantity", "an order's total ignores the quantities",
        "The total rewritten as the sum of the items' prices, the quantity forgotten: a customer buying three "
        "is charged for one, and the order's total no longer matches its items.",
        "code", (POSTGRES_CRASH,), ("acknowledged_orders_stored_as_answered",),
        edits=(Edit(ORDERS, "        total = sum(item.price_cents * item.quantity for item in items)\n",
                    "        total = sum(item.price_cents for item in items)\n"),)),
    Mutant(
        "payment-outage-answered-400", "checkout answers 400 when payment is unreachable",
        "'Do not take orders we cannot charge': checkout answers 400 when payment is down, after the order "
        "was committed; the shopper, told it did not happen, checks out again: two orders for one cart.",
        "code", (PARTITION_REFUSED,), ("no_refused_write_happened", "no_duplicate_orders_for_one_intent",
                                       "checkout_took_orders_as_pending_payment"),
        edits=(Edit(CHECKOUT, "    outcome = pay_order(d, order)\n    _clear_cart(d, user.user_id",
                    "    outcome = pay_order(d, order)\n    if not outcome.payment_reachable:\n"
                    "        raise BadRequest(\"payment is unavailable, please try again\")\n"
                    "    _clear_cart(d, user.user_id"),)),
    Mutant(
        "checkout-retries-on-timeout", "checkout retries its order insert on a timeout",
        "A 'transient' statement timeout retried three times inside the request: each retry queues another "
        "statement on the lock that caused it, and the request waits three statement timeouts.",
        "code", (SLOW_DB,), ("no_request_hung_during_the_fault",),
        edits=(Edit(CHECKOUT, "    try:\n        order, placed_id = create_order(db, user.user_id, key, cart.items)\n"
                              "    except psycopg.errors.UniqueViolation:",
                    "    try:\n        for attempt in range(3):  # a timeout is transient: try again\n"
                    "            try:\n"
                    "                order, placed_id = create_order(db, user.user_id, key, cart.items)\n"
                    "                break\n"
                    "            except DependencyUnavailable:\n"
                    "                if attempt == 2:\n"
                    "                    raise\n"
                    "    except psycopg.errors.UniqueViolation:"),)),
    Mutant(
        "payment-rounds-amount", "payment records the amount rounded to whole rupees",
        "The charge's amount rounded to whole rupees (amount_cents to the nearest hundred) 'to match the card "
        "network': the payment no longer matches its order's total.",
        "code", (PARTITION_REFUSED,), ("no_paid_order_without_its_payment",),
        edits=(Edit(PAYMENT, "            (body.order_id, body.idempotency_key, body.amount_cents),\n",
                    "            (body.order_id, body.idempotency_key, round(body.amount_cents, -2)),\n"),)),
    # 5.2's answer-time budgets come from the reference configuration, not the run's: a mutant that raises a
    # timeout does not raise its own bound.
    Mutant(
        "commerce-payment-timeout-30s", "commerce waits 30 s for payment",
        "HTTP_TIMEOUT_S raised to 30 because the card processor is 'sometimes slow': a cut link to payment "
        "holds every checkout for 3 x 30 s.",
        "setting", (PARTITION_BLACK_HOLE,), ("no_checkout_hung",),
        settings={"commerce": {"HTTP_TIMEOUT_S": "30"}}),
    Mutant(
        "search-redis-timeout-10s", "search waits 10 s for Redis",
        "REDIS_SOCKET_TIMEOUT_S raised to 10 on search_recommendation after timeouts in a Redis failover.",
        "setting", (PARTITION_BLACK_HOLE,), ("no_readiness_probe_hung",),
        settings={"search_recommendation": {"REDIS_SOCKET_TIMEOUT_S": "10"}}),
    Mutant(
        "reconciler-off", "commerce's reconciler no longer retries pending payments",
        "The payment retry is taken out of the reconciler's tick (meant to move to a separate job that never "
        "shipped): orders left in pending_payment by an outage stay there; the outbox relay still runs.",
        "code", (PARTITION_REFUSED,), ("pending_orders_reconciled_after_heal",),
        edits=(Edit(RECONCILER, "        self.retry_payments()\n", ""),)),
)

_EVENTS: tuple[Mutant, ...] = (
    Mutant(
        "consumer-forgets-xack", "the consumer no longer acknowledges",
        "The XACK after the effect's commit is lost in a refactor: everything processed stays pending forever.",
        "code", (STREAM_BACKLOG,), ("backlog_back_under_threshold",),
        edits=(Edit(WORKER, "        self.redis.xack(stream, GROUP, message_id)\n"
                            "        self._attempts.pop((stream, message_id), None)\n",
                    "        self._attempts.pop((stream, message_id), None)\n"),)),
    Mutant(
        "compactor-trims-unconsumed", "the compactor trims to the age cutoff, past what it archived",
        "Compaction 'simplified' to one trim by age (XTRIM MINID <cutoff> instead of the archived batch's "
        "boundary), and the request's keep_unconsumed no longer passed through: entries beyond the first "
        "archived batch, consumed or not, are trimmed without being archived.",
        "code", (STREAM_BACKLOG,), ("every_event_consumed_or_archived",),
        edits=(Edit(COMPACTOR,
                    "        keep = self.settings.compactor_keep_unconsumed if keep_unconsumed is None "
                    "else keep_unconsumed\n",
                    "        keep = self.settings.compactor_keep_unconsumed\n"),
               Edit(COMPACTOR, "r.xtrim(stream, minid=plan.minid, approximate=False)",
                    "r.xtrim(stream, minid=cutoff, approximate=False)"))),
    Mutant(
        "order-events-renamed", "order events published to a renamed stream",
        "The order stream renamed to order-events to match a naming guide, the consumer left on order_events: "
        "orders are taken and paid, and nobody is ever notified.",
        "code", (STREAM_BACKLOG,), ("every_acknowledged_orders_event_processed",),
        edits=(Edit(EVENTS, 'ORDER_EVENTS = "order_events"\n', 'ORDER_EVENTS = "order-events"\n'),)),
    Mutant(
        "stream-capped-at-produce", "analytics events capped at the producer (MAXLEN ~ 100)",
        "search_recommendation XADDs its analytics events with MAXLEN ~ 100 to keep the stream small: "
        "entries the consumer has not read yet are trimmed unarchived.",
        "code", (STREAM_BACKLOG,), ("every_event_consumed_or_archived",),
        edits=(Edit(SEARCH, 'r.xadd(ANALYTICS_STREAM, {"type": "search", "q": q})',
                    'r.xadd(ANALYTICS_STREAM, {"type": "search", "q": q}, maxlen=100)'),)),
)

_SECURITY: tuple[Mutant, ...] = (
    Mutant(
        "search-sql-string-formatting", "search builds its SQL with an f-string",
        "The search query rewritten as one readable f-string, the user's text interpolated into "
        "ILIKE '%...%' instead of travelling as a bound parameter.",
        "code", (SUSPICIOUS,), ("no_injection_succeeded",),
        edits=(Edit(SEARCH,
                    'rows = conn.execute(SEARCH_SQL, {"pattern": like_pattern(q), "limit": limit}).fetchall()',
                    'rows = conn.execute(f"SELECT id, sku, name, category, price_cents FROM products '
                    "WHERE name ILIKE '%{q}%' OR category ILIKE '%{q}%' ORDER BY id LIMIT {limit}\").fetchall()"),)),
    Mutant(
        "gateway-deny-list-not-included", "the deny-list covers the catalogue only",
        "The deny-list include moved from the server block into the catalogue location, where the scraping "
        "was: a denied client is refused /api/v1/products but still reaches login and search.",
        "config-file", (SUSPICIOUS,), ("attacker_blocked_after_response",),
        edits=(Edit(NGINX, "        include {{deny_file}};\n", ""),
               Edit(NGINX, "        location /api/v1/products {\n",
                    "        location /api/v1/products {\n            include {{deny_file}};\n"))),
)

CATALOGUE: tuple[Mutant, ...] = _DATABASE + _CACHE + _SERVICES + _EVENTS + _SECURITY


def by_id(mutants: Iterable[Mutant] = CATALOGUE) -> dict[str, Mutant]:
    return {m.id: m for m in mutants}


# -- validation ----------------------------------------------------------------------------------------------


def validate_catalogue(mutants: Iterable[Mutant] = CATALOGUE) -> list[str]:
    """Every problem of the catalogue's entries (empty when it is sound): ids, kinds, targets, overrides."""
    problems: list[str] = []
    seen: set[str] = set()
    for mutant in mutants:
        if mutant.id in seen:
            problems.append(f"{mutant.id}: id used twice")
        seen.add(mutant.id)
        problems += [f"{mutant.id}: {p}" for p in _mutant_problems(mutant)]
    return problems


def _mutant_problems(m: Mutant) -> list[str]:
    problems = []
    if not ID_PATTERN.match(m.id) or len(m.id) > 40:
        problems.append("id must be a short lower-case slug")
    if m.kind not in KINDS:
        problems.append(f"kind {m.kind!r} is not one of {KINDS}")
    if not (m.edits or m.settings or m.stack):
        problems.append("changes nothing (no edits, settings or stack overrides)")
    if m.kind != "setting" and not m.edits:
        problems.append(f"a {m.kind} mutant needs edits")
    if not m.caught_by:
        problems.append("caught_by is empty")
    problems += [f"caught_by {n!r} is not a non-control scenario test id" for n in m.caught_by
                 if not NODE_PATTERN.match(n) or "control" in n]
    return problems + _edit_problems(m.edits) + _settings_problems(m.settings) + _stack_problems(m.stack)


def _edit_problems(edits: Iterable[Edit]) -> list[str]:
    problems = []
    for edit in edits:
        path = PurePosixPath(edit.path)
        if path.is_absolute() or ".." in path.parts or not edit.path:
            problems.append(f"edit path {edit.path!r} must be relative to the project root")
        if not edit.old or edit.old == edit.new:
            problems.append(f"edit of {edit.path}: `old` must be non-empty and differ from `new`")
    return problems


def _settings_problems(settings: Mapping[str, Mapping[str, str]]) -> list[str]:
    from stack.config import _default_services

    known = _default_services()
    problems = [f"settings for unknown service {name!r} (known: {sorted(known)})" for name in settings
                if name not in known]
    for name, env in settings.items():
        problems += [f"settings {name}.{key}: not an environment variable name" for key in env
                     if not ENV_NAME.match(key)]
        problems += [f"settings {name}.{key}: value must be a string" for key, value in env.items()
                     if not isinstance(value, str)]
    return problems


def _stack_problems(stack: Mapping[str, Any]) -> list[str]:
    from stack.config import StackConfig

    problems = [f"stack override {key!r} is not a StackConfig field" for key in stack
                if key not in StackConfig.model_fields]
    problems += [f"stack override {key!r} is set by bite itself (use `settings` for service env)"
                 for key in stack if key in ("run_dir", "services")]
    return problems
