"""runbook-check's live stack through stand-in drivers: Redis checks against a redis-server of the test's own
(what a read returns, what the scratch server answers to a write), and log samples as the drivers give them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from aarya_chaos.runbook_check.context import Context
from aarya_chaos.runbook_check.engine import check_command
from aarya_chaos.runbook_check.live import LiveStack, scratch_redis_binary
from aarya_chaos.runbook_check.report import CommandCheck
from aarya_chaos.runbook_check.scratch import ScratchRedis
from aarya_chaos.runbook_check.shell import ShellCommand
from stack.config import StackConfig, load_config
from stack.drivers.base import ComponentStatus, GatewayFiles


class RedisOnlyDriver:
    """The few driver calls the Redis checks make, answered by one redis-server on loopback."""

    def __init__(self, config: StackConfig, port: int) -> None:
        self.config = config
        self.port = port

    def status(self, probe: bool = False) -> list[ComponentStatus]:
        return [ComponentStatus("redis", True, None, f"127.0.0.1:{self.port}")]

    def redis(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, decode_responses=True, socket_timeout=2)


@pytest.fixture
def live() -> Iterator[LiveStack]:
    """A "live" Redis holding a stream with a consumer group, as the platform's do."""
    config = load_config()
    server = ScratchRedis(scratch_redis_binary(config))
    server.link.call("XGROUP", "CREATE", "user_events", "content_services", "0", "MKSTREAM")
    server.link.call("CONFIG", "SET", "maxmemory-policy", "allkeys-lru")
    stack = LiveStack(RedisOnlyDriver(config, server.port))  # type: ignore[arg-type]
    try:
        yield stack
    finally:
        stack.close()
        server.stop()


def live_check(stack: LiveStack, text: str) -> CommandCheck:
    ctx = Context(stack.config, stack, "")
    return check_command(ShellCommand("2.1", 1, text), [], ctx)


def test_a_read_runs_live(live: LiveStack) -> None:
    check = live_check(live, "redis-cli CONFIG GET maxmemory-policy")
    assert (check.result, check.why) == ("ok", "ran live: maxmemory-policy = allkeys-lru")


def test_config_get_of_an_unknown_parameter_is_a_finding_not_ok(live: LiveStack) -> None:
    """It can only return nothing: the runbook's operator would read an empty answer as "not set"."""
    check = live_check(live, "redis-cli CONFIG GET maxmemroy")
    assert check.result == "fails", check.why
    assert "CONFIG GET maxmemroy: no such config parameter (did you mean maxmemory?), so it returns nothing" \
        in check.why
    assert live_check(live, "redis-cli CONFIG GET 'maxmemory*'").result == "ok"


def test_a_write_the_scratch_server_answers_with_an_error_fails(live: LiveStack) -> None:
    """The group is misspelt: the scratch server (the live groups mirrored) answers NOGROUP, as the live one would."""
    check = live_check(live, "redis-cli XREADGROUP GROUP content-services c1 COUNT 10 STREAMS user_events '>'")
    assert check.result == "fails", check.why
    assert "NOGROUP" in check.why and "never run live" in check.why
    busy = live_check(live, "redis-cli XGROUP CREATE user_events content_services '$'")
    assert busy.result == "fails" and "BUSYGROUP" in busy.why


def test_a_write_on_a_key_only_the_live_server_has_is_not_judged(live: LiveStack) -> None:
    live.redis().call("XADD", "order_events", "*", "n", "1")  # a stream without groups: not mirrored
    check = live_check(live, "redis-cli XGROUP CREATE order_events reconciler '$'")
    assert check.result == "dry-run" and "requires the key to exist" in check.why
    good = live_check(live, "redis-cli XREADGROUP GROUP content_services c1 COUNT 10 STREAMS user_events '>'")
    assert good.result == "dry-run" and "on the scratch Redis" in good.why


class LogsOnlyDriver:
    """Logs as the drivers give them: the local one's restart headers, docker's note for a log it cannot read."""

    def __init__(self, config: StackConfig, access_log: Path) -> None:
        self.config = config
        self.access_log = access_log

    def status(self, probe: bool = False) -> list[ComponentStatus]:
        return [ComponentStatus("commerce", True, None, "")]

    def logs(self, name: str, lines: int = 100) -> str:
        if name == "redis":
            return "(no logs: container aarya_redis not found)"
        return "=== 2026-11-28T15:57:00 starting commerce: python -m commerce\n" + "\n".join(
            f'{{"level": "INFO", "message": "line {n}"}}' for n in range(lines))

    def gateway_files(self) -> GatewayFiles:
        return GatewayFiles(self.access_log, self.access_log.with_name("deny.conf"))


def test_log_samples_come_from_the_driver_without_its_own_lines(tmp_path: Path) -> None:
    access_log = tmp_path / "access.log"
    access_log.write_text("".join(f'127.0.0.1 - - "GET /{n} HTTP/1.1" 200\n' for n in range(50)))
    stack = LiveStack(LogsOnlyDriver(load_config(), access_log))  # type: ignore[arg-type]
    commerce = stack.log_sample("commerce", 3)
    assert commerce == [f'{{"level": "INFO", "message": "line {n}"}}' for n in range(3)]
    assert stack.log_sample("redis", 10) == []
    assert stack.log_sample("api_gateway", 2) == ['127.0.0.1 - - "GET /48 HTTP/1.1" 200',
                                                  '127.0.0.1 - - "GET /49 HTTP/1.1" 200']
    access_log.unlink()
    assert stack.log_sample("api_gateway", 2) == []
