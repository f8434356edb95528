"""Runbook 6.1: Suspicious activity detection ("unusual API request patterns").

    Targets: none in the runbook; detection within 30 s of the first attack request, the block within 60 s,
             the attack contained within 60 s (RTO), the shop's own traffic at 95% success, nothing lost.
    Inject:  bounded attack traffic from a client address of its own (`driver.outside_client()`) beside the
             load: credential stuffing, SQL-injection payloads on /search and /products, scraping.
    Detect:  the runbook's indicators in the gateway's access log, per client address: the 401/403 rate,
             SQL-injection patterns, the top talkers. The attacker's address is found, not told.
    Respond: deny-list the source at the gateway (`deny <ip>;` + `nginx -s reload`, not the runbook's
             machine-wide `iptables`), then check it gets 403. "Steady" includes "the attack is contained"
             (`health:attack_contained`), so the RTO is the time to contain it.
    Verify:  the attacker is blocked (every request 403, none reaches a service) in time; the legitimate
             success rate held during the attack and after the block; no injection succeeded; the record
             names the source; core_platform's log shows the failed logins with the attacker's address.

Controls: no response, and a deny-list edit without `nginx -s reload` (attacker blocked and RTO must fail).

Analysis: docs/scenarios/6.1-suspicious-activity.md
"""

from __future__ import annotations

import time

import httpx
import pytest

from checks.verdict import Check, at_least, at_most
from checks.windows import in_window, success_rate
from fixtures.detect.attack import attack_reaching_services
from fixtures.diagnose.attack import (access_log, is_injection, log_size, parse_line, read_access_log,
                                      runbook_grep_matches, runbook_ip_counts, scan, suspects, top_talkers)
from fixtures.faults.attack import LOGIN, SCRAPE, SQLI, AttackTraffic
from fixtures.recover.attack import block_source
from fixtures.plugin import expect_scenario_failure
from fixtures.detect.probes import ConditionProbe
from fixtures.scenario import IN_FLIGHT_GRACE_S, SKIP_RECOVERY, ScenarioRun, Targets
from scenarios.common import CONTROL_WAIT_S, make_canary
from stack.drivers.base import Capability
from stack.waits import wait_until

SUSPICIOUS_ACTIVITY = Targets(mttd_s=30.0, rto_s=60.0, rpo_s=0.0, lost_acknowledged_writes=0)
CONTAIN_WITHIN_S = 60.0          # from the first attack request to the block in place
LEGIT_SUCCESS = 0.95             # the shop's own traffic during the attack and after the block
ATTACK_AFTER_BLOCK = 40          # attack requests to watch after the block, to see it hold (not just start)
BLOCK_GRACE_S = 1.0              # requests already in flight on the old nginx workers at the reload
VOLLEY = (("POST", "/auth/login", {"json": {"email": "victim@example.test", "password": "123456"}}),
          ("GET", "/search", {"params": {"q": "' OR 1=1--"}}),
          ("GET", "/products", {"params": {"limit": 100, "offset": 0}}))
RUNBOOK_GREP = 'grep -i "sql\\|union\\|select\\|drop"'
RUNBOOK_NOTES = [
    "runbook: `grep -oE \"[0-9]{1,3}\\.[0-9]{1,3}...\" | uniq -c` over whole lines also counts the upstream "
    "address every proxied line carries (upstream=127.0.0.1:<port>), the attacker's lines included, so it "
    "inflates the upstream's address (127.0.0.1, 2 per proxied line); counted the first field "
    "($remote_addr) of each line instead",
    "runbook: `iptables -A INPUT -s IP -j DROP` is machine-wide and needs root; used the gateway's deny-list "
    "(`deny <ip>;` + `nginx -s reload`), which answers a defined 403 and logs it",
    "runbook: `docker logs aarya_api_gateway --tail=1000`: the local gateway writes its access log to "
    "<run_dir>/nginx/logs/access.log, read here from the scenario's steady state on (the attack and the load "
    "write 1000 lines in about 10 s, so a fixed tail can miss the start of an attack)",
    "runbook: `grep \"authentication\\|login\\|failed\"` on core_platform also counts successful logins "
    "(`login succeeded`) and says nothing of who; counted `authentication failed` lines and their `ip=`",
]


# -- detection ------------------------------------------------------------------------------------------------

def suspicious_source(run: ScenarioRun, offset: int):
    """Runbook 6.1 detection over the gateway's access log from `offset` on; remembers what it found."""
    path = access_log(run.stack)

    def signal() -> str | None:
        lines = read_access_log(path, offset)
        found = suspects(scan(lines))
        if not found:
            return None
        top = found[0]
        run.measured["attack_source"] = top.addr
        talkers = ", ".join(f"{addr} {n}" for addr, n in top_talkers(lines, 3))
        return f"{top.addr}: {'; '.join(top.reasons())}; top talkers: {talkers}"

    return signal


def runbook_grep_comparison(run: ScenarioRun, offset: int, source: str) -> None:
    """What the runbook's greps would have shown over the same lines (for the record)."""
    raw = access_log(run.stack).read_bytes()[offset:].decode(errors="replace").splitlines()
    attack_lines = [line for line in raw if line.startswith(source + " ")]
    injected = [line for line in attack_lines if '"GET ' in line and _decoded_injection(line)]
    caught = [line for line in injected if runbook_grep_matches(line)]
    run.measured["runbook_grep"] = {"injection_requests": len(injected), "caught_by_runbook_grep": len(caught)}
    by_runbook = ", ".join(f"{addr} {n}" for addr, n in runbook_ip_counts(raw, 3))
    by_first_field = ", ".join(f"{addr} {n}" for addr, n in top_talkers(read_access_log(access_log(run.stack), offset), 3))
    run.notes.append(f"top talkers over the scenario's log: the runbook's IP grep says {by_runbook}; the first "
                     f"field says {by_first_field}")
    if len(caught) < len(injected):
        missed = next(line for line in injected if line not in caught).split('"')[1][:90]
        run.notes.append(
            f"runbook: `{RUNBOOK_GREP}` over the raw access log caught {len(caught)} of {len(injected)} injection "
            f"requests: the log holds the request URL-encoded, a tautology like `' OR 1=1--` has no keyword, and "
            f"letters may be percent-encoded (%55NION); e.g. missed {missed!r}. Decoded the request "
            f"(unquote_plus) and matched injection patterns instead")


def _decoded_injection(raw_line: str) -> bool:
    parsed = parse_line(raw_line)
    return parsed is not None and is_injection(parsed)


# -- verification -----------------------------------------------------------------------------------------

def fingerprint(run: ScenarioRun) -> dict[str, object]:
    """The catalogue exactly (count and checksum), and the users table's size."""
    products = run.stack.sql("SELECT count(*), md5(string_agg(id || sku || name || price_cents, ',' ORDER BY id)) "
                             "FROM products")[0]
    users = run.stack.sql("SELECT count(*), max(id) FROM users")[0]
    return {"products": products[0], "products_md5": products[1], "users": users[0], "max_user_id": users[1]}


def tables_intact(run: ScenarioRun, before: dict[str, object]) -> Check:
    after = fingerprint(run)
    ok = (after["products"] == before["products"] and after["products_md5"] == before["products_md5"]
          and after["users"] >= before["users"] and after["max_user_id"] >= before["max_user_id"])
    return Check("products_and_users_tables_intact", ok, after, f"products unchanged, users >= {before['users']}")


def attack_ops(run: ScenarioRun, fs=(LOGIN, SQLI, SCRAPE)):
    return [op for op in run.ops() if op.f in fs]


def no_injection_succeeded(run: ScenarioRun) -> Check:
    """Every injection request reached a service at least once (before the block), and every answer was
    empty (0 rows) or a validation error; never rows, never a 500."""
    ops = [op for op in attack_ops(run, (SQLI,)) if op.status is not None]
    by_service = [op for op in ops if op.value.get("answered_by") != "api_gateway"]
    bad = [op for op in by_service if op.status >= 500 or (op.status == 200 and op.value.get("rows", 0) > 0)]
    tried = {op.value.get("target") for op in by_service}
    sent = {op.value.get("target") for op in ops}
    statuses = sorted({op.status for op in by_service})
    detail = ", ".join(f"{op.value.get('target')} -> {op.status} ({op.value.get('rows')} rows)" for op in bad[:4])
    return Check("no_injection_succeeded", tried == sent and bool(tried) and not bad, len(bad), 0,
                 f"{len(tried)} of {len(sent)} distinct injection requests reached a service, answered "
                 f"{statuses}; " + (detail or "no rows returned, no 5xx"))


def no_server_errors(run: ScenarioRun) -> Check:
    errors = [op for op in attack_ops(run) if op.status == 500]
    return Check("no_500_for_attack_traffic", not errors, len(errors), 0,
                 ", ".join(f"{op.f} {op.value.get('target')}" for op in errors[:4]))


def blocked_after_response(run: ScenarioRun, volley: list[tuple[int | None, str | None]]) -> Check:
    """After the response: every request from the attacker was refused by the gateway itself (403; or 429,
    since nginx's limit_req runs before its deny check), none reached a service."""
    blocked_at = run.measured.get("blocked_at_mono")
    since = blocked_at or run.timeline.recovery_started
    after = [op for op in attack_ops(run) if since is not None and op.start >= since + BLOCK_GRACE_S
             and op.status is not None]
    through = [op for op in after if not (op.status in (403, 429) and op.value.get("answered_by") == "api_gateway")]
    statuses = sorted({op.status for op in after})
    if 429 in statuses and not through:
        run.notes.append("nginx: limit_req runs in the preaccess phase, before deny (access phase): a denied "
                         "client over the rate limit gets the gateway's 429, not 403; neither reaches a service")
    refused = [status for status, by in volley if status in (403, 429) and by == "api_gateway"]
    passed = (blocked_at is not None and bool(volley) and len(refused) == len(volley) and 403 in refused
              and bool(after) and not through)
    return Check("attacker_blocked_after_response", passed,
                 {"volley": [status for status, _ in volley], "attack_requests_after": len(after),
                  "reached_a_service": len(through), "statuses": statuses},
                 "every request 403 (or the gateway's 429), none reaching a service")


def observe_attack_after(run: ScenarioRun, since: float | None) -> None:
    """Let the attack go on until ATTACK_AFTER_BLOCK of its requests were answered after `since`."""
    start = (since or time.monotonic()) + BLOCK_GRACE_S
    wait_until("attack", f"{ATTACK_AFTER_BLOCK} requests after the block",
               lambda: sum(1 for op in attack_ops(run) if op.start >= start and op.end) >= ATTACK_AFTER_BLOCK,
               timeout_s=15, interval_s=0.5)


def volley_from(run: ScenarioRun, source: str, gateway_url: str) -> list[tuple[int | None, str | None]]:
    """Each kind of request once more from the attacking address: (status, who answered)."""
    answers: list[tuple[int | None, str | None]] = []
    with httpx.Client(base_url=f"{gateway_url}/api/v1", timeout=5,
                      transport=httpx.HTTPTransport(local_address=source)) as client:
        for method, url, kwargs in VOLLEY * 2:
            try:
                response = client.request(method, url, **kwargs)
            except httpx.HTTPError:
                answers.append((None, None))
                continue
            try:
                by = response.json().get("service") or "service"
            except (ValueError, AttributeError):
                by = "service"
            answers.append((response.status_code, by))
    return answers


def legit_success(run: ScenarioRun, name: str, start: float | None, end: float | None) -> Check:
    if start is None or end is None:
        return Check(name, False, None, LEGIT_SUCCESS, "window not measured")
    ops = in_window(run.ops(), start, end)  # fs=None: the load's ops, no probes (attack, prober)
    check = at_least(name, success_rate(ops), LEGIT_SUCCESS)
    return Check(check.name, check.passed, check.measured, check.target, f"{len(ops)} ops; {check.detail}")


def failed_logins_logged(run: ScenarioRun, source: str) -> Check:
    """Runbook: `docker logs aarya_core_platform | grep "authentication\\|login\\|failed" | wc -l`."""
    lines = run.stack.grep_logs("core_platform", "authentication|login|failed", lines=50000)
    failed = [line for line in lines if "authentication failed" in line]
    from_source = [line for line in failed if f"ip={source} " in line]
    reached = [op for op in attack_ops(run, (LOGIN,))
               if op.status == 401 or (op.status == 429 and op.value.get("answered_by") != "api_gateway")]
    run.measured["core_platform_log"] = {"runbook_grep_count": len(lines), "authentication_failed": len(failed),
                                         "from_source": len(from_source), "logins_that_reached_core": len(reached)}
    return Check("failed_logins_in_core_platform_log", bool(reached) and len(from_source) >= len(reached),
                 len(from_source), f">= {len(reached)} (the attack's logins core_platform answered)",
                 f"runbook grep counts {len(lines)} lines, of which {len(failed)} `authentication failed`")


# -- the scenario -------------------------------------------------------------------------------------------

def suspicious_activity(run: ScenarioRun, *, reload: bool = True) -> None:
    run.notes += RUNBOOK_NOTES
    outside = run.stack.outside_client()  # local: 127.0.0.66; docker: an address on the stack's bridge
    run.registry.push(f"release the client address {outside.source}", lambda: run.stack.release_outside_client(outside))
    attack = AttackTraffic(run.stack, outside.source, history=run.history, gateway_url=outside.gateway_url)
    with ConditionProbe(run.history, "attack_contained", attack_reaching_services(attack)):
        run.steady_state()
        attack.victims = [make_canary(run, product_id=21 + n).email for n in range(3)]
        before = fingerprint(run)
        offset = log_size(access_log(run.stack))  # the responder reads the log from here: no hint of the source

        def respond() -> None:
            source = run.measured.get("attack_source")
            if source is None:  # nothing identified: nothing to block (the checks say so)
                return
            took = block_source(run.stack, source, gateway_url=outside.gateway_url, reload=reload)
            run.measured["block_effective_after_reload_s"] = None if took is None else round(took, 3)
            if took is not None:
                run.measured["blocked_at_mono"] = time.monotonic()

        with run.inject(attack):
            run.detect("gateway access log: 401/403 rate, SQL-injection patterns, top talkers (per $remote_addr)",
                       suspicious_source(run, offset))
            source = run.measured.get("attack_source")
            run.evidence["attack_source"] = source
            run.recover(f"deny-list {source} (`deny {source};`) and `nginx -s reload`", respond)
            observe_attack_after(run, run.measured.get("blocked_at_mono") or run.timeline.recovery_started)
            attack.stop()
            run.measured["attack_stopped_mono"] = time.monotonic()
            volley = volley_from(run, outside.source, outside.gateway_url)
            blocked_at = run.measured.get("blocked_at_mono")
            contained = None if blocked_at is None else round(blocked_at - (run.timeline.injected or blocked_at), 3)
            run.measured["contained_s"] = contained
            run.evidence["contained_s"] = contained
            run.judge_recovery(
                lambda r: blocked_after_response(r, volley),
                at_most("contained_within_target_s", contained, CONTAIN_WITHIN_S),
                lambda r: legit_success(r, "legit_success_after_block", blocked_at,
                                        time.monotonic() - IN_FLIGHT_GRACE_S),
            )
    if source is not None:
        runbook_grep_comparison(run, offset, source)
    run.verify(
        Check("attack_source_identified", source == attack.source, source, attack.source,
              "found in the access log by the detector, which is not told the address"),
        lambda r: legit_success(r, "legit_success_during_attack", r.timeline.injected,
                                r.measured.get("attack_stopped_mono")),
        no_injection_succeeded,
        no_server_errors,
        lambda r: tables_intact(r, before),
        lambda r: failed_logins_logged(r, attack.source),
    )


@pytest.mark.security
@pytest.mark.needs(Capability.GATEWAY)
def test_suspicious_activity(chaos):
    suspicious_activity(chaos.start("6.1", "Suspicious activity detection", SUSPICIOUS_ACTIVITY))


@pytest.mark.security
@pytest.mark.control
@pytest.mark.needs(Capability.GATEWAY)
def test_suspicious_activity_control_without_block(chaos):
    run = chaos.start("6.1", "Suspicious activity detection", SUSPICIOUS_ACTIVITY, control=SKIP_RECOVERY,
                      restore_timeout_s=CONTROL_WAIT_S)
    with expect_scenario_failure() as failure:
        suspicious_activity(run)
    failed = {c.name for c in failure.value.failed}
    assert {"attacker_blocked_after_response", "restored_within_rto_target", "contained_within_target_s",
            "legit_success_after_block"} <= failed, failed


@pytest.mark.security
@pytest.mark.control
@pytest.mark.needs(Capability.GATEWAY)
def test_suspicious_activity_control_deny_without_reload(chaos):
    """The mitigation broken: the deny line is written, nginx is never told (no `nginx -s reload`)."""
    run = chaos.start("6.1", "Suspicious activity detection", SUSPICIOUS_ACTIVITY, control="deny-list not reloaded",
                      restore_timeout_s=CONTROL_WAIT_S)
    with expect_scenario_failure() as failure:
        suspicious_activity(run, reload=False)
    failed = {c.name for c in failure.value.failed}
    assert {"attacker_blocked_after_response", "restored_within_rto_target", "contained_within_target_s",
            "legit_success_after_block"} <= failed, failed
