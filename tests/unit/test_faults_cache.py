"""The Redis memory fault's pure parts: INFO parsing, the runbook's detection, key namespaces, the condition probe."""

from __future__ import annotations

from pathlib import Path

from fixtures.detect.cache import redis_evicting
from fixtures.detect.probes import ConditionProbe
from fixtures.diagnose.cache import MemoryState, parse_info
from fixtures.faults.cache import EvictionLoss, namespace
from load.history import HistoryWriter, history_files, pair_ops, read_records

INFO_MEMORY = """# Memory\r
used_memory:10520304\r
used_memory_human:10.03M\r
maxmemory:10520016\r
maxmemory_policy:volatile-ttl\r
"""
INFO_STATS = "# Stats\r\nexpired_keys:3\r\nevicted_keys:2411\r\nevicted_clients:0\r\n"


class CliStack:
    """Answers the three redis-cli commands of runbook 2.1 with canned output."""

    def __init__(self, memory: str = INFO_MEMORY, stats: str = INFO_STATS, policy: str = "volatile-ttl") -> None:
        self.answers = {("INFO", "memory"): memory, ("INFO", "stats"): stats,
                        ("CONFIG", "GET", "maxmemory-policy"): f"maxmemory-policy\n{policy}\n"}

    def redis_cli(self, *args: str) -> tuple[int, str]:
        return 0, self.answers[args]


def test_parse_info_skips_headers_and_keeps_values_with_colons() -> None:
    fields = parse_info("# Server\r\nredis_version:7.0.15\r\n\r\nexecutable:/usr/bin/redis-server\r\nx:a:b\r\n")
    assert fields == {"redis_version": "7.0.15", "executable": "/usr/bin/redis-server", "x": "a:b"}


def test_detection_needs_the_counter_to_rise_since_the_baseline() -> None:
    stack = CliStack()
    assert redis_evicting(stack, baseline_evicted=2411)() is None  # evictions of an earlier fault: not now
    seen = redis_evicting(stack, baseline_evicted=2000)()
    assert seen is not None and "+411" in seen and "volatile-ttl" in seen


def test_detection_needs_memory_at_maxmemory() -> None:
    low = INFO_MEMORY.replace("used_memory:10520304", "used_memory:2000000")
    assert redis_evicting(CliStack(memory=low), baseline_evicted=0)() is None


def test_no_limit_is_never_at_maxmemory() -> None:
    assert MemoryState(5, 0, "noeviction", 0).ratio is None
    assert "no limit" in MemoryState(5, 0, "noeviction", 0).describe()


def test_namespaces() -> None:
    assert namespace("cache:bulk:12") == "cache:bulk"
    assert namespace("cache:product:3") == "cache"
    assert namespace("session:abc:def") == "session"
    assert namespace("cart:7") == "cart"
    assert namespace("analytics_events") == "stream"


def test_non_essential_counts_cache_keys_only() -> None:
    """A login lockout counter is not cache: its eviction resets a lockout (2.1)."""
    loss = EvictionLoss(10, {"cache:bulk": 5, "cache": 2, "ratelimit": 1, "session": 1, "stream": 1}, True,
                        ["session:a"], [], 3, 20, 0)
    assert loss.non_essential_evicted == 7
    assert loss.as_dict()["sessions_lost"] == 1 and loss.as_dict()["lost_examples"] == ["session:a"]


def test_condition_probe_records_health_ops(tmp_path: Path) -> None:
    answers = iter([None, "memory at 99%"])

    def check() -> str | None:
        try:
            return next(answers)
        except StopIteration:
            raise RuntimeError("redis unreachable") from None

    with HistoryWriter(tmp_path / "scenario.jsonl") as history:
        probe = ConditionProbe(history, "redis_memory", check)
        assert probe.sample() is None
        assert probe.sample() == "memory at 99%"
        assert probe.sample() == "RuntimeError: redis unreachable"
    ops = pair_ops(read_records(history_files(tmp_path)))
    assert [(op.f, op.outcome) for op in ops] == [("health:redis_memory", "ok"), ("health:redis_memory", "fail"),
                                                  ("health:redis_memory", "fail")]
    assert ops[2].error == "RuntimeError: redis unreachable"


def test_condition_probe_thread_stops(tmp_path: Path) -> None:
    with HistoryWriter(tmp_path / "scenario.jsonl") as history:
        with ConditionProbe(history, "x", lambda: None, interval_s=0.01) as probe:
            pass
        assert not probe._thread.is_alive()
