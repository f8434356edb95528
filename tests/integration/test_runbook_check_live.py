"""`aarya-chaos runbook-check --live` against the session's stack: read-only commands run, writes never do."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import psycopg
import pytest

from aarya_chaos.runbook_check.engine import check_runbook
from aarya_chaos.runbook_check.report import CommandCheck, Report
from stack.config import StackConfig
from stack.drivers.local.driver import LocalDriver

pytestmark = pytest.mark.integration
RUNBOOKS = Path(__file__).resolve().parents[1] / "data" / "runbooks"


def by_line(report: Report) -> dict[int, CommandCheck]:
    return {c.line: c for c in report.checks}


def write_toml(config: StackConfig, path: Path) -> Path:
    path.write_text(config.to_toml())
    return path


def scratch_servers() -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if any("aarya-runbook-scratch-" in part for part in proc.info["cmdline"] or []):
            found.append(proc)
    return found


def test_planted_mistakes_are_caught_live(stack: LocalDriver) -> None:
    report = check_runbook(RUNBOOKS / "planted.md", "live", stack.config)
    checks = by_line(report)
    assert report.mode == "live"

    assert checks[12].result == "ok" and "ran read-only (database postgres), statement_timeout 5s: 1 row: count=" \
        in checks[12].why
    assert checks[15].result == "fails"
    assert "PostgreSQL: function terminate_backend(integer) does not exist (did you mean pg_terminate_backend()?)" \
        in checks[15].why
    assert checks[22].result == "dry-run" and "validated with PREPARE" in checks[22].why
    assert "needs a value for <blocking_pid>" in checks[22].why

    assert (checks[31].result, checks[31].why) == ("ok", "ran live: PONG")
    assert checks[32].result == "ok" and "(integer)" in checks[32].why
    assert checks[35].result == "fails" and "from COMMAND INFO/DOCS of the live server" in checks[35].why
    assert "the scratch Redis rejects it: wrong number of arguments for 'xreadgroup'" in checks[35].why
    assert checks[38].result == "fails" and "the group is missing" in checks[38].why
    assert "the live server answered: syntax error" in checks[38].why
    assert checks[41].result == "ok"

    assert checks[50].result == "fails" and "lines of commerce's log" in checks[50].why
    assert checks[53].result == "ok" and "on those lines the pipeline prints" in checks[53].why
    assert checks[54].result == "ok" and "lines of content_services's log" in checks[54].why

    commerce = stack.config.services["commerce"].port
    assert checks[61].result == "ok" and f"commerce at :{commerce}" in checks[61].why and "HTTP 200" in checks[61].why
    assert checks[68].result == "fails"
    assert not scratch_servers()


def test_good_runbook_is_all_ok_live(stack: LocalDriver) -> None:
    report = check_runbook(RUNBOOKS / "good.md", "live", stack.config)
    assert [(c.line, c.result) for c in report.checks if c.result != "ok"] == []
    assert "evicted_keys:" in by_line(report)[13].why


@pytest.fixture
def canaries(stack: LocalDriver) -> Iterator[dict[str, object]]:
    """A named PostgreSQL session, Redis keys and a stream that the destructive runbook targets."""
    redis = stack.redis()
    redis.set("canary:one", "1", ex=600)
    redis.set("canary:two", "2", ex=600)
    redis.delete("canary:stream")
    for n in range(3):
        redis.xadd("canary:stream", {"n": str(n)})
    session = psycopg.connect(stack.config.app_dsn + " application_name=runbook-canary", autocommit=True)
    orders = stack.sql("SELECT count(*) FROM orders")[0][0]
    # Keys that cannot expire during the test (no TTL, or more than two minutes left): each must still be
    # there after it. dbsize() is not the measure: cache entries of earlier tests expire meanwhile.
    lasting = {key for key in redis.scan_iter(count=1000) if redis.ttl(key) == -1 or redis.ttl(key) > 120}
    try:
        yield {"session": session, "orders": orders, "keys": lasting}
    finally:
        session.close()
        redis.delete("canary:one", "canary:two", "canary:stream")


def test_writes_and_side_effects_never_run_live(stack: LocalDriver, canaries: dict[str, object]) -> None:
    report = check_runbook(RUNBOOKS / "writes.md", "live", stack.config)
    checks = by_line(report)

    session = canaries["session"]
    assert isinstance(session, psycopg.Connection)
    assert session.execute("SELECT 1").fetchone() == (1,), "pg_terminate_backend was run"
    assert stack.sql("SELECT count(*) FROM orders")[0][0] >= canaries["orders"]  # type: ignore[operator]
    redis = stack.redis()
    assert redis.get("canary:one") == "1" and redis.get("canary:two") == "2"
    assert redis.xlen("canary:stream") == 3
    lasting = canaries["keys"]
    assert isinstance(lasting, set)
    gone = [key for key in lasting if not redis.exists(key)]
    assert not gone, f"the live check deleted {gone[:5]}"

    assert checks[8].result == "dry-run" and "pg_terminate_backend(): terminates server processes" in checks[8].why
    assert checks[13].result == "dry-run" and "pg_reload_conf()" in checks[13].why
    assert checks[16].result == "dry-run" and "validated with PREPARE (database aarya)" in checks[16].why
    assert checks[19].result == "dry-run" and "would delete 2 existing of 2 key(s)" in checks[19].why
    assert checks[20].result == "warning" and "would delete all" in checks[20].why
    assert checks[21].result == "dry-run" and "would remove 3 of 3 entries of canary:stream" in checks[21].why
    assert "on the scratch Redis" in checks[21].why
    assert checks[22].result == "warning" and "KEYS" in checks[22].why
    assert checks[29].result == "ok" and checks[29].why == "ran live: 1"  # EVAL_RO
    assert checks[32].result == "fails" and "Error compiling script" in checks[32].why
    assert checks[35].result == "not runnable" and checks[36].result == "dry-run"
    assert not scratch_servers()


def test_company_runbook_live(stack: LocalDriver, gateway: httpx.Client, shopper: object) -> None:
    gateway.get("/products")  # an access-log line with an upstream address; `shopper` logged in once
    report = check_runbook(RUNBOOKS / "failure-scenarios-and-recovery.md", "live", stack.config)
    fails = {c.line: c.why for c in report.checks if c.result == "fails"}
    warnings = {c.line: c.why for c in report.checks if c.result == "warning"}
    assert sorted(fails) == [48, 90, 367, 383, 432, 577, 647]
    assert "function terminate_backend(integer) does not exist" in fails[90]
    assert "upstream" in warnings[528] and "successes" in warnings[519]
    assert "evicted_keys" in by_line(report)[133].why
    assert by_line(report)[300].result == "ok"


def test_cli_live(stack: LocalDriver, tmp_path: Path) -> None:
    config = write_toml(stack.config, tmp_path / "aarya-chaos.toml")
    result = subprocess.run([sys.executable, "-m", "aarya_chaos.runbook_check", str(RUNBOOKS / "planted.md"), "--live",
                             "--config", str(config)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stderr
    assert "live check" in result.stdout and "terminate_backend" in result.stdout
    assert "5 fails" in result.stdout
