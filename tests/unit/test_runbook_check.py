"""`aarya-chaos runbook-check` on whole runbooks and from the command line: static checks, no servers (the
live path is tests/integration/test_runbook_check_live.py; single commands are test_runbook_check_commands.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aarya_chaos.runbook_check.cli import main
from stack.config import StackConfig, load_config
from tests.helpers.runbook_check import RUNBOOKS, by_line, static


@pytest.fixture
def config() -> StackConfig:
    return load_config()


# -- the planted runbook ----------------------------------------------------------------------------


def test_planted_mistakes_fail_and_good_commands_do_not(config: StackConfig) -> None:
    checks = by_line(static("planted.md", config))

    wrong_function = checks[15]
    assert (wrong_function.kind, wrong_function.result) == ("sql", "fails")
    assert "terminate_backend() does not exist" in wrong_function.why
    assert "did you mean pg_terminate_backend()" in wrong_function.why

    xreadgroup = checks[35]
    assert (xreadgroup.kind, xreadgroup.result) == ("redis", "fails")
    assert "expected GROUP at argument 1, got 'STREAM'" in xreadgroup.why
    assert "needs at least 6 argument(s), got 4" in xreadgroup.why

    xpending = checks[38]
    assert xpending.result == "fails" and "the group is missing" in xpending.why

    bre = checks[50]
    assert (bre.kind, bre.result) == ("grep", "fails")
    assert "`|` is a literal character" in bre.why and "as `grep -E` it would match 2" in bre.why

    doubled = checks[68]
    assert (doubled.kind, doubled.result) == ("shell", "fails")
    assert "/data/backups/postgres_/data/backups/postgres_" in doubled.why

    for line in (12, 22, 31, 32, 41, 53, 54, 61):  # the good ones: nothing fails, nothing warns
        assert checks[line].result == "dry-run", (line, checks[line].why)
    assert "needs a value for <blocking_pid>" in checks[22].why
    assert "pg_terminate_backend(): terminates server processes" in checks[22].why
    assert "matches 2 of 3 lines (3 built-in sample lines of commerce's log)" in checks[53].why


def test_good_runbook_passes_statically(config: StackConfig) -> None:
    report = static("good.md", config)
    assert not report.failed
    assert {c.result for c in report.checks} == {"dry-run"}
    assert {c.kind for c in report.checks} == {"sql", "redis", "grep", "curl"}


def test_writes_are_never_called_ok_in_a_dry_run(config: StackConfig) -> None:
    report = static("writes.md", config)
    results = {c.line: c.result for c in report.checks}
    assert results[20] == "warning"  # FLUSHDB: not only non-critical data
    assert results[22] == "warning"  # KEYS inside a script
    assert results[35] == "not runnable"  # $SLACK_WEBHOOK_URL
    assert results[36] == "dry-run"  # POST to localhost: never sent
    assert "ok" not in results.values()


# -- the command line ---------------------------------------------------------------------------------


def test_main_exits_1_when_a_command_fails_and_prints_a_table(capsys: pytest.CaptureFixture[str]) -> None:
    code = main([str(RUNBOOKS / "planted.md"), "--dry-run"])
    out = capsys.readouterr().out
    assert code == 1
    for header in ("section", "line", "command", "kind", "result", "why"):
        assert header in out
    assert "terminate_backend" in out and "fails" in out
    assert "note: static checks only (--dry-run)" in out


def test_main_exits_0_when_nothing_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(RUNBOOKS / "good.md"), "--dry-run"]) == 0


def test_json_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(RUNBOOKS / "planted.md"), "--dry-run", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["mode"] == "static" and data["counts"]["fails"] == 5
    assert {c["line"] for c in data["checks"] if c["result"] == "fails"} == {15, 35, 38, 50, 68}


def test_without_a_stack_it_checks_statically_and_says_what_it_could_not_check(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "aarya-chaos.toml"
    config.write_text(f'run_dir = "{tmp_path / "run"}"\n')
    code = main([str(RUNBOOKS / "good.md"), "--config", str(config)])
    out = capsys.readouterr().out
    assert code == 0
    assert "static checks only (no stack recorded in" in out
    assert "not checked: 2 SQL statements not run or validated against PostgreSQL" in out
    assert "not checked: 2 curl requests to the local stack not sent" in out


def test_live_without_a_stack_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "aarya-chaos.toml"
    config.write_text(f'run_dir = "{tmp_path / "run"}"\n')
    assert main([str(RUNBOOKS / "good.md"), "--live", "--config", str(config)]) == 2
    assert "--live: no stack recorded" in capsys.readouterr().err


@pytest.mark.parametrize("name, content, message", [
    ("missing.md", None, "no such file"),
    ("empty.md", b"  \n", "the file is empty"),
    ("binary.md", b"\x89PNG\r\n\x1a\n\x00\x00\x00", "binary content"),
    ("latin1.md", "caf\xe9 ```".encode("latin-1"), "not UTF-8 text"),
    ("image.png", b"# a heading", "not a markdown or text file"),
    ("prose.md", b"# Title\n\nJust words, `inline code` only.\n", "no fenced code blocks"),
])
def test_bad_input_gives_a_clear_message_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str,
                                                    content: bytes | None, message: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    assert main([str(path), "--dry-run"]) == 2
    assert message in capsys.readouterr().err


def test_a_runbook_without_commands_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(RUNBOOKS / "no_commands.md"), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "no commands to check" in err and "1 python, 1 markdown" in err


def test_a_directory_is_not_a_runbook(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path), "--dry-run"]) == 2
    assert "not a file" in capsys.readouterr().err


# -- the company runbook (a copy, so the findings stay reproducible) ------------------------------------


def test_company_runbook_findings(config: StackConfig) -> None:
    report = static("failure-scenarios-and-recovery.md", config)
    fails = {c.line: c.why for c in report.checks if c.result == "fails"}
    warnings = {c.line: c.why for c in report.checks if c.result == "warning"}
    assert sorted(fails) == [48, 90, 367, 383, 432, 577, 647]
    assert "pg_terminate_backend" in fails[90]
    assert "XPENDING" in fails[367] and "XREADGROUP" in fails[383]
    assert "timeout|timed out" in fails[577]
    assert "prefixed twice" in fails[48] and "prefixed twice" in fails[647] and "prefixed twice" in fails[432]
    assert "only the first gets the prefix" in fails[432]
    assert "successes" in warnings[519]  # "authentication\|login\|failed" also counts "login succeeded"
    assert "upstream" in warnings[528]  # grep -oE of IP addresses also counts upstream=127.0.0.1:PORT
    assert "--scale" in warnings[377] and "--scale" in warnings[601]
    assert "FLUSHDB is not selective" in warnings[145]
    assert "KEYS" in warnings[151]
    assert "never ends" in warnings[139]
    assert "sqlalchemy" in warnings[321]
    assert any("44.1" in s for s in report.structure)
