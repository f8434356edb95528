"""2.1's reading of `redis-cli --bigkeys`: which namespaces its recovery may clear."""

from __future__ import annotations

from scenarios.test_redis_oom import biggest_keys, non_essential_namespaces

BIGKEYS = """
# Scanning the entire keyspace to find biggest keys as well as
-------- summary -------
Biggest   hash found '"cart:149"' has 11 fields
Biggest string found '"cache:products:all:20:2233"' has 5120 bytes
Biggest stream found '"order_events"' has 2011 entries
Biggest string found 'session:abc' has 90 bytes
"""


def test_the_biggest_keys_are_read_from_the_output() -> None:
    assert biggest_keys(BIGKEYS) == [("hash", "cart:149"), ("string", "cache:products:all:20:2233"),
                                     ("stream", "order_events"), ("string", "session:abc")]


def test_only_non_essential_namespaces_are_cleared() -> None:
    assert non_essential_namespaces(biggest_keys(BIGKEYS)) == ["cache:"]
    assert non_essential_namespaces([("string", "ratelimit:login:a@b"), ("hash", "cart:1")]) == []
