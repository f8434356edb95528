"""The checks of 6.1 (suspicious activity) on literal histories of the load and the attack, a literal gateway
access log, literal core_platform log lines and literal table fingerprints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fixtures.faults.attack import LOGIN, SCRAPE, SQLI
from stack.drivers.base import GatewayFiles
from scenarios.test_suspicious_activity import (blocked_after_response, failed_logins_logged, legit_success,
                                                no_injection_succeeded, no_server_errors, suspicious_source,
                                                tables_intact)
from tests.helpers.access_logs import LEGIT, LOGIN_401, STACKED, TAUTOLOGY, UNION
from tests.helpers.histories import calls, every
from tests.helpers.runs import FakeRun, FakeStack, answer

GATEWAY = "api_gateway"
ATTACKER = "127.0.0.66"


def attack(f: str, t: float, status: int, by: str, **value: Any) -> list[Any]:
    """One attack request answered `status` by `by` (the gateway itself, or the service behind it)."""
    return answer(f, t, "ok" if status < 400 else "fail", status=status, value={"answered_by": by, **value})


def test_attack_source_identified_fails(tmp_path: Path) -> None:
    """The detector named no source in the gateway's log (the claim compares what it found with the attacker)."""
    log = tmp_path / "access.log"
    run = FakeRun(stack=FakeStack(gateway_files=lambda: GatewayFiles(log, tmp_path / "deny.conf")))
    log.write_text("\n".join([LEGIT] * 50 + [TAUTOLOGY, UNION] + [LOGIN_401] * 12) + "\n")  # under the thresholds
    assert suspicious_source(run, 0)() is None and run.measured.get("attack_source") != ATTACKER
    log.write_text("\n".join([LEGIT] * 50 + [TAUTOLOGY, UNION, STACKED] + [LOGIN_401] * 20) + "\n")
    assert suspicious_source(run, 0)() is not None and run.measured["attack_source"] == ATTACKER


def test_legit_success_during_attack_fails() -> None:
    """The shop's own traffic failed under the attack (the attack starved it); the attack's own failures
    are not the shop's."""
    shop = [calls("browse", every(10.0, 20.0, 0.5)), calls(LOGIN, every(10.0, 20.0, 0.1), "fail")]
    assert legit_success(FakeRun(shop), "legit_success_during_attack", 10.0, 20.0).passed
    starved = legit_success(FakeRun([shop, calls("search", every(10.0, 12.0, 0.5), "fail")]),
                            "legit_success_during_attack", 10.0, 20.0)
    assert not starved.passed and starved.measured == 0.8333333333333334


def test_legit_success_after_block_fails() -> None:
    """No block ever took effect: the window after it cannot be measured, and the claim does not hold."""
    check = legit_success(FakeRun(calls("browse", every(20.0, 30.0, 0.5))), "legit_success_after_block", None, 29.0)
    assert not check.passed and check.detail == "window not measured"


def test_no_injection_succeeded_fails() -> None:
    """An injection answered with rows (search built its SQL by string formatting)."""
    tried = [attack(SQLI, 11.0, 200, "search_recommendation", target="q=' OR 1=1--", rows=0),
             attack(SQLI, 11.5, 422, "search_recommendation", target="limit=1;DROP"),
             attack(SQLI, 22.0, 403, GATEWAY, target="q=' OR 1=1--")]  # after the block
    assert no_injection_succeeded(FakeRun(tried)).passed
    leaked = no_injection_succeeded(FakeRun([tried, attack(SQLI, 12.0, 200, "search_recommendation",
                                                           target="q=x' UNION SELECT email", rows=40)]))
    assert not leaked.passed and leaked.measured == 1
    never = no_injection_succeeded(FakeRun([tried, attack(SQLI, 23.0, 403, GATEWAY, target="q=%55NION")]))
    assert not never.passed  # one payload only ever met the gateway: not shown harmless


def test_no_500_for_attack_traffic_fails() -> None:
    """Attack traffic that made a service fail with 500 (a payload that breaks a query instead of a 422)."""
    fine = [attack(SCRAPE, 11.0, 200, "commerce", target="/products"), attack(LOGIN, 11.0, 401, "core_platform")]
    assert no_server_errors(FakeRun(fine)).passed
    assert not no_server_errors(FakeRun([fine, attack(SQLI, 12.0, 500, "commerce", target="category='")])).passed


def test_attacker_blocked_after_response_fails() -> None:
    """The deny-list does not cover every location: after the block the attacker's logins still reach
    core_platform."""
    run = FakeRun([attack(LOGIN, 20.5, 401, "core_platform"),  # in flight at the reload: the grace second
                   attack(LOGIN, 22.0, 403, GATEWAY), attack(SCRAPE, 22.5, 429, GATEWAY)],
                  measured={"blocked_at_mono": 20.0})
    volley = [(403, GATEWAY), (403, GATEWAY), (429, GATEWAY)]
    assert blocked_after_response(run, volley).passed
    leaky = FakeRun([run.recorded, attack(LOGIN, 23.0, 401, "core_platform")], measured={"blocked_at_mono": 20.0})
    check = blocked_after_response(leaky, [(401, "core_platform"), *volley[1:]])
    assert not check.passed and check.measured["reached_a_service"] == 1
    assert not blocked_after_response(FakeRun(run.recorded), volley).passed  # never blocked


def fingerprints(products: tuple[int, str], users: tuple[int, int]) -> FakeStack:
    """A stack whose products and users tables read as given: (count, md5 of the rows), (count, max id)."""
    return FakeStack(sql=lambda query, params=(): [products] if "FROM products" in query else [users])


def test_products_and_users_tables_intact_fails() -> None:
    """A stacked injection rewrote the catalogue, or deleted users."""
    before = {"products": 200, "products_md5": "a1", "users": 50, "max_user_id": 50}
    assert tables_intact(FakeRun(stack=fingerprints((200, "a1"), (57, 57))), before).passed  # new sign-ups
    assert not tables_intact(FakeRun(stack=fingerprints((200, "b2"), (57, 57))), before).passed
    assert not tables_intact(FakeRun(stack=fingerprints((200, "a1"), (49, 57))), before).passed


def core_log(*ips: str) -> FakeStack:
    """core_platform's log: a failed login from each of `ips`, and a successful one."""
    log = [f'{{"level": "WARNING", "msg": "authentication failed: login failed for email=v@x.test ip={ip} '
           f'reason=bad_password"}}' for ip in ips] + ['{"msg": "login succeeded ip=127.0.0.1 "}']
    return FakeStack(grep_logs=lambda name, pattern, lines=1000: list(log))


def test_failed_logins_in_core_platform_log_fails() -> None:
    """core_platform logs the failed logins without the attacker's address (it logs the gateway's instead)."""
    logins = [attack(LOGIN, 11.0 + n, 401, "core_platform") for n in range(3)] + [attack(LOGIN, 22.0, 403, GATEWAY)]
    assert failed_logins_logged(FakeRun(logins, stack=core_log(*[ATTACKER] * 3)), ATTACKER).passed
    hidden = failed_logins_logged(FakeRun(logins, stack=core_log(*["127.0.0.1"] * 3)), ATTACKER)
    assert not hidden.passed and hidden.measured == 0
    assert not failed_logins_logged(FakeRun(stack=core_log(ATTACKER)), ATTACKER).passed  # no login reached it
