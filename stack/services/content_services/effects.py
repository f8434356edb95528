"""What processing one stream message writes to PostgreSQL. Pure: no I/O, unit-tested.

Each message becomes ONE statement, run in its own transaction: a data-modifying CTE inserts the
``event_deliveries`` row (one per processing, so redeliveries can be counted) and the main INSERT writes
the effect with ``ON CONFLICT (stream, message_id) DO NOTHING`` (so a redelivered message has no second
effect). The statement's rowcount tells whether the effect was new (1) or a duplicate (0).

Producers are not all written by the same hands, so the message format is read leniently:

* the event type is the first of the fields ``type``, ``event``, ``event_type``, ``kind``;
* a field ``payload`` or ``data`` holding a JSON object (the outbox publisher's format) is decoded and
  its keys are looked up too (top-level fields win);
* ``user_id`` must be a positive 64-bit integer, anything else is stored as NULL.

    order_events      -> notifications: kind order_placed (placed/created/unknown) or order_paid
                         (paid/payment succeeded/status=paid), other types order_<type> (order_cancelled)
    user_events       -> notifications: kind welcome (registered/signup/created/unknown) or login,
                         other types user_<type> (user_logout)
    analytics_events  -> analytics: event_type = the type ("unknown" if none), payload = the fields
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from psycopg.types.json import Jsonb

__all__ = ["STREAMS", "Effect", "UnknownStream", "event_type", "order_kind", "plan_effect", "user_id", "user_kind"]

STREAMS: tuple[str, ...] = ("user_events", "order_events", "analytics_events")

_TYPE_FIELDS = ("type", "event", "event_type", "kind")
_NESTED_FIELDS = ("payload", "data")
_MAX_BIGINT = 2**63 - 1
_MAX_KIND = 64

_PAID = {"order_paid", "paid", "payment_succeeded", "payment_captured", "payment_completed", "charge_succeeded"}
_PLACED = {"", "order_placed", "placed", "order_created", "created", "order_submitted", "checkout_completed"}
_WELCOME = {"", "welcome", "registered", "register", "user_registered", "signup", "sign_up", "user_signup",
            "user_created", "created", "account_created"}
_LOGIN = {"login", "logged_in", "user_login", "user_logged_in", "signin", "sign_in", "session_created"}

_NOTIFICATION_SQL = """
WITH delivery AS (
    INSERT INTO event_deliveries (stream, message_id, consumer)
    VALUES (%(stream)s, %(message_id)s, %(consumer)s)
)
INSERT INTO notifications (stream, message_id, user_id, kind, body)
VALUES (%(stream)s, %(message_id)s, %(user_id)s, %(kind)s, %(body)s)
ON CONFLICT DO NOTHING
"""

_ANALYTICS_SQL = """
WITH delivery AS (
    INSERT INTO event_deliveries (stream, message_id, consumer)
    VALUES (%(stream)s, %(message_id)s, %(consumer)s)
)
INSERT INTO analytics (stream, message_id, event_type, payload)
VALUES (%(stream)s, %(message_id)s, %(event_type)s, %(payload)s)
ON CONFLICT (stream, message_id) DO NOTHING
"""


class UnknownStream(ValueError):
    pass


@dataclass(frozen=True)
class Effect:
    table: str
    """notifications or analytics."""
    kind: str
    """The notification kind or the analytics event_type."""
    sql: str
    params: Mapping[str, object]


def _normalise(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.strip().lower()).strip("_")


def _lookup(fields: Mapping[str, str], nested: Mapping[str, object], name: str) -> str | None:
    if name in fields:
        return fields[name]
    value = nested.get(name)
    if value is None or isinstance(value, (dict, list)):
        return None
    return str(value)


def decode(fields: Mapping[str, str]) -> tuple[dict[str, object], dict[str, object]]:
    """(body, nested): the fields with JSON ``payload``/``data`` objects decoded, and those objects merged."""
    body: dict[str, object] = dict(fields)
    nested: dict[str, object] = {}
    for key in _NESTED_FIELDS:
        raw = fields.get(key)
        if raw is None or not raw.lstrip().startswith("{"):
            continue
        try:
            parsed = json.loads(raw)
        except ValueError:
            continue
        if isinstance(parsed, dict):
            body[key] = parsed
            for name, value in parsed.items():
                nested.setdefault(str(name), value)
    return body, nested


def event_type(fields: Mapping[str, str], nested: Mapping[str, object] | None = None) -> str:
    """The message's normalised type (lower case, ``a.b-c`` -> ``a_b_c``), or "" if it has none."""
    for name in _TYPE_FIELDS:
        value = _lookup(fields, nested or {}, name)
        if value is not None and value.strip():
            return _normalise(value)[:_MAX_KIND]
    return ""


def user_id(fields: Mapping[str, str], nested: Mapping[str, object] | None = None) -> int | None:
    value = _lookup(fields, nested or {}, "user_id")
    if value is None:
        return None
    value = value.strip()
    if not value.isdigit() or not value.isascii():
        return None
    number = int(value)
    return number if 0 < number <= _MAX_BIGINT else None


def order_kind(kind: str, status: str | None = None) -> str:
    if kind in _PAID or "paid" in kind.split("_") or _normalise(status or "") == "paid":
        return "order_paid"
    if kind in _PLACED:
        return "order_placed"
    return (kind if kind.startswith("order_") else f"order_{kind}")[:_MAX_KIND]


def user_kind(kind: str) -> str:
    if kind in _LOGIN:
        return "login"
    if kind in _WELCOME:
        return "welcome"
    return (kind if kind.startswith("user_") else f"user_{kind}")[:_MAX_KIND]


def _strip_nul(value: object) -> object:
    """jsonb cannot hold U+0000; drop it rather than turn the message into a poison pill."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {str(k).replace("\x00", ""): _strip_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strip_nul(v) for v in value]
    return value


def plan_effect(stream: str, message_id: str, fields: Mapping[str, str], consumer: str) -> Effect:
    """The statement recording this processing of the message and its (idempotent) effect."""
    body, nested = decode(fields)
    payload = Jsonb(_strip_nul(body))
    kind = event_type(fields, nested)
    base: dict[str, object] = {"stream": stream, "message_id": message_id, "consumer": consumer}
    if stream == "order_events":
        notification = order_kind(kind, _lookup(fields, nested, "status"))
        params = {**base, "user_id": user_id(fields, nested), "kind": notification, "body": payload}
        return Effect("notifications", notification, _NOTIFICATION_SQL, params)
    if stream == "user_events":
        notification = user_kind(kind)
        params = {**base, "user_id": user_id(fields, nested), "kind": notification, "body": payload}
        return Effect("notifications", notification, _NOTIFICATION_SQL, params)
    if stream == "analytics_events":
        analytics_type = kind or "unknown"
        params = {**base, "event_type": analytics_type, "payload": payload}
        return Effect("analytics", analytics_type, _ANALYTICS_SQL, params)
    raise UnknownStream(f"no effect defined for stream {stream!r}")
