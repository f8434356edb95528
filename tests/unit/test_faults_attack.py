"""The gateway access-log reader of runbook 6.1, on literal log lines, and the deny-list file handling."""

from __future__ import annotations

from pathlib import Path

import pytest

from stack.config import load_config
from stack.drivers.fake import FakeDriver

from fixtures.diagnose.attack import (
    AccessLine, denied, identify_source, is_bulk_page, is_injection, parse_line, read_access_log,
    runbook_grep_matches, runbook_ip_counts, scan, suspects, top_talkers,
)
from fixtures.faults.attack import injection_requests
from fixtures.recover.attack import add_deny, remove_denies

from tests.helpers.access_logs import (BROWSE, BULK, DENIED, ENCODED_LETTERS, LEGIT, LOGIN_401, LOGIN_429, STACKED,
                                      TAUTOLOGY, UNION)


def parsed(raw: str) -> AccessLine:
    line = parse_line(raw)
    assert line is not None
    return line


def test_a_line_parses_into_its_client_address_request_status_and_upstream() -> None:
    line = parsed(LOGIN_429)
    assert (line.addr, line.method, line.path, line.status, line.upstream) == \
        ("127.0.0.66", "POST", "/api/v1/auth/login", 429, "-")
    assert parse_line("not a log line") is None
    assert parse_line(LOGIN_401[:60]) is None  # a torn last line


def test_injection_patterns_match_the_decoded_request_only() -> None:
    assert [is_injection(parsed(raw)) for raw in (TAUTOLOGY, UNION, ENCODED_LETTERS, STACKED)] == [True] * 4
    assert not is_injection(parsed(LEGIT)) and not is_injection(parsed(BROWSE))
    assert parsed(ENCODED_LETTERS).decoded.startswith("/api/v1/search?q=1' UNION SELECT")


def test_the_runbook_grep_misses_the_tautology_and_encoded_letters() -> None:
    assert runbook_grep_matches(UNION) and runbook_grep_matches(STACKED)
    assert not runbook_grep_matches(TAUTOLOGY)
    assert not runbook_grep_matches(ENCODED_LETTERS)


def test_every_injection_request_of_the_attack_is_recognised_in_its_logged_form() -> None:
    import httpx

    for method, url, kwargs in injection_requests():
        target = httpx.Request(method, f"http://gateway/api/v1{url}", params=kwargs.get("params")).url.raw_path
        line = parse_line(f'127.0.0.66 - - [t] "{method} {target.decode()} HTTP/1.1" 200 1 upstream=- "-" "-"')
        assert line is not None and is_injection(line), target


def test_bulk_pages_are_the_large_catalogue_pages() -> None:
    assert is_bulk_page(parsed(BULK)) and is_bulk_page(parsed(DENIED))
    assert not is_bulk_page(parsed(BROWSE)) and not is_bulk_page(parsed(LEGIT))


def test_scan_counts_indicators_per_first_field_and_finds_the_source() -> None:
    lines = [parsed(raw) for raw in [LEGIT, BROWSE] * 50 + [TAUTOLOGY, UNION, STACKED] + [LOGIN_401] * 12
             + [LOGIN_429] * 10 + [DENIED] * 3 + [BULK] * 30]
    stats = scan(lines)
    attacker, legit = stats["127.0.0.66"], stats["127.0.0.1"]
    assert (attacker.injections, attacker.login_attempts, attacker.auth_failures, attacker.denied,
            attacker.bulk_pages) == (3, 22, 25, 3, 33)
    assert legit.reasons() == [] and len(attacker.reasons()) == 3
    assert identify_source(stats) == "127.0.0.66"
    assert [s.addr for s in suspects(stats)] == ["127.0.0.66"]


def test_nothing_suspicious_identifies_no_source() -> None:
    assert identify_source(scan([parsed(LEGIT)] * 100)) is None


def test_top_talkers_count_the_first_field_while_the_runbook_grep_counts_upstreams_too() -> None:
    raws = [LEGIT] * 3 + [LOGIN_401] * 5
    assert top_talkers([parsed(raw) for raw in raws]) == [("127.0.0.66", 5), ("127.0.0.1", 3)]
    # every proxied line also carries upstream=127.0.0.1:<port>: the runbook's command puts it on top
    assert runbook_ip_counts(raws)[0] == ("127.0.0.1", 3 * 2 + 5)


def test_read_access_log_from_an_offset(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text(LEGIT + "\n")
    offset = log.stat().st_size
    with log.open("a") as handle:
        handle.write(LOGIN_401 + "\n" + LOGIN_429[:40])
    assert [line.status for line in read_access_log(log, offset)] == [401]
    assert read_access_log(tmp_path / "missing.log") == []


def gateway_stack(root: Path) -> FakeDriver:
    stack = FakeDriver(("api_gateway",), config=load_config(run_dir=root))
    stack.gateway_files().deny_file.parent.mkdir(parents=True)
    stack.gateway_files().deny_file.write_text("# deny-list\ndeny 10.9.9.9;\n")
    return stack


def reloads(stack: FakeDriver) -> int:
    return stack.calls.count(("reload", "api_gateway"))


def test_deny_list_add_is_idempotent_and_remove_restores(tmp_path: Path) -> None:
    stack = gateway_stack(tmp_path)
    add_deny(stack, "127.0.0.66")
    add_deny(stack, "127.0.0.66")
    assert denied(stack) == ["10.9.9.9", "127.0.0.66"]
    assert remove_denies(stack, ["127.0.0.66"]) is True
    assert remove_denies(stack, ["127.0.0.66"]) is False
    assert stack.gateway_files().deny_file.read_text() == "# deny-list\ndeny 10.9.9.9;\n"
    assert reloads(stack) == 3  # two adds (reload even when present) and one effective removal


def test_only_an_address_reaches_the_deny_list(tmp_path: Path) -> None:
    stack = gateway_stack(tmp_path)
    with pytest.raises(ValueError):
        add_deny(stack, "127.0.0.66; include /etc/passwd")
    assert reloads(stack) == 0
