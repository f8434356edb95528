"""Redis stream events. Fields are flat (one stream field per event attribute) so consumers read them as is."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timezone

from redis.typing import EncodableT, FieldT

from ..common.cache import Cache

ORDER_EVENTS = "order_events"
ANALYTICS_EVENTS = "analytics_events"


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat()


def stream_fields(event: Mapping[str, object]) -> dict[FieldT, EncodableT]:
    """Strings and numbers as they are, booleans as true/false, None as "", anything else as JSON."""
    fields: dict[FieldT, EncodableT] = {}
    for key, value in event.items():
        if isinstance(value, bool):
            fields[key] = "true" if value else "false"
        elif isinstance(value, (str, int, float)):
            fields[key] = value
        elif value is None:
            fields[key] = ""
        else:
            fields[key] = json.dumps(value, default=str)
    return fields


def publish_best_effort(cache: Cache | None, stream: str, event: Mapping[str, object]) -> None:
    """XADD without failing the caller: a lost analytics event is acceptable, a failed request is not."""
    if cache is not None:
        fields = stream_fields(event)
        cache.run_or(lambda client: client.xadd(stream, fields), None)
