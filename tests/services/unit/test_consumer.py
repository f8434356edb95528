"""content_services' message -> effect mapping and the worker's pure helpers (no servers)."""

from __future__ import annotations

import json

import pytest
from psycopg.types.json import Jsonb

from stack.services.content_services.effects import (
    UnknownStream,
    event_type,
    order_kind,
    plan_effect,
    user_id,
    user_kind,
)
from stack.services.content_services.worker import ContentSettings, Worker, _Backoff, _stream_entries


@pytest.mark.parametrize(
    ("fields", "kind"),
    [
        ({"type": "order_placed", "user_id": "7"}, "order_placed"),
        ({"type": "order.placed"}, "order_placed"),
        ({"type": "ORDER-CREATED"}, "order_placed"),
        ({}, "order_placed"),
        ({"type": "order_paid"}, "order_paid"),
        ({"event": "payment.succeeded"}, "order_paid"),
        ({"type": "order_updated", "status": "paid"}, "order_paid"),
        ({"type": "order_cancelled"}, "order_cancelled"),
        ({"type": "refunded"}, "order_refunded"),
    ],
)
def test_order_events_become_notifications(fields: dict[str, str], kind: str) -> None:
    effect = plan_effect("order_events", "1-0", fields, "c1")
    assert effect.table == "notifications"
    assert effect.kind == kind == effect.params["kind"]


@pytest.mark.parametrize(
    ("kind", "expected"),
    [("user_registered", "welcome"), ("signup", "welcome"), ("", "welcome"), ("login", "login"),
     ("user_login", "login"), ("logout", "user_logout"), ("user_deleted", "user_deleted")],
)
def test_user_kinds(kind: str, expected: str) -> None:
    assert user_kind(kind) == expected


def test_unpaid_is_not_paid() -> None:
    assert order_kind("order_unpaid") == "order_unpaid"


def test_user_events_carry_the_user_id() -> None:
    effect = plan_effect("user_events", "5-1", {"type": "user_registered", "user_id": "42", "email": "a@b"}, "c1")
    assert effect.params["user_id"] == 42
    assert effect.params["stream"] == "user_events" and effect.params["message_id"] == "5-1"
    assert effect.params["consumer"] == "c1"


def test_outbox_payload_is_decoded_and_searched() -> None:
    payload = json.dumps({"type": "order_paid", "user_id": 9, "order_id": "abc"})
    effect = plan_effect("order_events", "1-0", {"payload": payload}, "c1")
    assert effect.kind == "order_paid" and effect.params["user_id"] == 9
    body = effect.params["body"]
    assert isinstance(body, Jsonb)
    assert body.obj == {"payload": {"type": "order_paid", "user_id": 9, "order_id": "abc"}}


def test_top_level_fields_win_over_the_payload() -> None:
    fields = {"type": "order_placed", "payload": json.dumps({"type": "order_paid"})}
    assert event_type(fields, {"type": "order_paid"}) == "order_placed"


@pytest.mark.parametrize("raw", ["abc", "-3", "0", "", "1.5", str(2**63), "٣"])
def test_bad_user_ids_become_null(raw: str) -> None:
    assert user_id({"user_id": raw}) is None


def test_a_good_user_id() -> None:
    assert user_id({"user_id": " 12 "}) == 12


def test_analytics_events_become_analytics_rows() -> None:
    effect = plan_effect("analytics_events", "9-9", {"type": "search", "q": "' OR 1=1--"}, "c1")
    assert effect.table == "analytics" and effect.kind == "search"
    payload = effect.params["payload"]
    assert isinstance(payload, Jsonb) and payload.obj == {"type": "search", "q": "' OR 1=1--"}
    assert plan_effect("analytics_events", "9-9", {"x": "1"}, "c1").kind == "unknown"


def test_nul_characters_are_stripped_from_json() -> None:
    payload = plan_effect("analytics_events", "1-0", {"type": "x", "q": "a\x00b"}, "c").params["payload"]
    assert isinstance(payload, Jsonb) and payload.obj["q"] == "ab"


def test_effects_record_a_delivery_and_are_idempotent() -> None:
    for stream in ("user_events", "order_events", "analytics_events"):
        sql = plan_effect(stream, "1-0", {"type": "x"}, "c").sql
        assert "INSERT INTO event_deliveries" in sql
        # notifications are also unique per outbox row, so that insert names no single constraint
        assert "ON CONFLICT (stream, message_id) DO NOTHING" in sql or "ON CONFLICT DO NOTHING" in sql
        assert "%(" in sql and "1-0" not in sql  # parameters, never interpolated values


def test_unknown_stream() -> None:
    with pytest.raises(UnknownStream):
        plan_effect("other", "1-0", {}, "c")


def test_stream_entries_normalises_both_shapes() -> None:
    legacy = [["user_events", [("1-0", {"a": "b"}), ("1-1", {})]]]
    assert _stream_entries(legacy) == [("user_events", [("1-0", {"a": "b"}), ("1-1", {})])]
    assert _stream_entries({"s": [("2-0", {"x": "y"})]}) == [("s", [("2-0", {"x": "y"})])]
    assert _stream_entries(None) == [] and _stream_entries([]) == []


def test_backoff_is_capped_and_resets() -> None:
    backoff = _Backoff(base_s=0.1, cap_s=5.0)
    delays = [backoff.next() for _ in range(30)]
    assert all(0 < d <= 5.0 for d in delays) and max(delays[-5:]) > 2.5
    backoff.reset()
    assert backoff.next() <= 0.1


def _worker(**env: object) -> Worker:
    settings = ContentSettings(service_name="content_services", redis_url="redis://127.0.0.1:1/0", **env)  # type: ignore[arg-type]
    return Worker(settings, db=None)  # type: ignore[arg-type]


def test_batch_shrinks_with_cost_so_a_batch_never_outlives_the_claim_idle_time() -> None:
    worker = _worker(consumer_claim_idle_ms=30000, consumer_name="t")
    assert worker.batch_size() == 20
    worker.set_cost(1000)
    assert worker.batch_size() == 15  # 15 x 1 s < 30 s / 2
    worker.set_cost(60000)
    assert worker.batch_size() == 1
    worker.set_cost(-5)
    assert worker.cost_ms == 0 and worker.batch_size() == 20


def test_consumer_name_defaults_to_host_and_pid() -> None:
    import os
    import socket

    assert _worker().consumer == f"{socket.gethostname()}-{os.getpid()}"
    assert _worker(consumer_name="blue").consumer == "blue"


def test_effective_lag_ignores_what_trimming_removed() -> None:
    from stack.services.content_services.worker import effective_lag

    # Redis 7.0 said lag=1409 for a caught-up group after undelivered entries were trimmed
    assert effective_lag(1409, 970, "9-2", "5-0", "9-2") == 0
    # group behind the first entry still in the stream: everything left is undelivered
    assert effective_lag(5000, 970, "4-0", "5-0", "9-2") == 970
    # in between: never more than the stream holds
    assert effective_lag(5000, 970, "6-0", "5-0", "9-2") == 970
    assert effective_lag(12, 970, "6-0", "5-0", "9-2") == 12
    assert effective_lag(None, 970, "6-0", "5-0", "9-2") is None
    assert effective_lag(None, 0, None, None, None) == 0


def test_lag_is_exact_only_at_the_edges() -> None:
    from stack.services.content_services.worker import lag_is_exact

    assert lag_is_exact(0, None, None, None)
    assert lag_is_exact(970, "9-2", "5-0", "9-2")  # caught up
    assert lag_is_exact(970, "4-0", "5-0", "9-2")  # behind everything
    assert not lag_is_exact(970, "6-0", "5-0", "9-2")  # in between: an upper bound only
    assert not lag_is_exact(970, None, "5-0", "9-2")
