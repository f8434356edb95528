"""Runbook 2.1: Redis OOM (Redis uses all its memory and starts evicting keys).

    Targets: none in the runbook; MTTD 15 s and RTO 60 s (as 2.2), RPO 0 and no acknowledged order lost.
    Inject:  under load, fill Redis with non-essential bulk keys (`cache:bulk:<n>`, 4 KB, EX 300) past
             `maxmemory`, lowered for the fault to the memory in use + 8 MB (restored afterwards).
    Detect:  the runbook's `INFO memory`, `CONFIG GET maxmemory-policy`, `INFO stats | grep evicted`, read as
             "evicted_keys rose since before the fault while used_memory is at maxmemory".
    Measure: which keys eviction took, exactly (keyspace notifications, checked against INFO's count).
    Recover: the runbook's clean-up and limit change, corrected: `--bigkeys`, then the non-essential
             namespaces it names (here `cache:`) deleted with SCAN MATCH + UNLINK, never FLUSHDB; maxmemory
             back with CONFIG SET. Step 5 (EVAL over KEYS session:*) is not run: see the notes.
    Verify:  volatile-ttl kept every session and cart while non-essential data remained, and every login
             lockout counter; no shopper logged out; after the recovery: the canaries' sessions and carts
             intact, memory headroom back (used_memory under the 90% alert); the standard checks.

Controls: the same fill under `allkeys-lru` (sessions kept fails), and the recovery skipped (RTO missed).

Analysis: docs/scenarios/2.1-redis-oom.md
"""

from __future__ import annotations

import re

import pytest

from checks.verdict import Check
from checks.windows import in_window
from fixtures.detect.cache import memory_headroom, redis_evicting
from fixtures.diagnose.cache import memory_state
from fixtures.faults.cache import STREAM_KEYS, EvictionLoss, RedisMemoryFill
from fixtures.recover.cache import unlink_matching
from fixtures.plugin import expect_scenario_failure
from fixtures.detect.probes import ConditionProbe
from fixtures.scenario import SKIP_RECOVERY, ScenarioRun, Targets
from scenarios.common import CONTROL_WAIT_S, Canary, gateway, make_canary
from stack.services.core_platform.sessions import RATELIMIT_PREFIX

REDIS_OOM = Targets(mttd_s=15.0, rto_s=60.0, rpo_s=0.0, lost_acknowledged_writes=0)
MEMORY_ALERT_RATIO = 0.90  # used_memory / maxmemory at which memory is "not healthy" (the runbook's alert)
HEADROOM_MB = 8.0          # maxmemory is lowered to in-use + this for the fault
CANARIES = 3
FAILED_LOGINS = 2          # per lockout canary: below the lockout (5), so only the counter says it happened
ESSENTIAL = ("session:", "cart:", "ratelimit:")  # and the streams: what eviction must never take
BIGKEYS_LINE = re.compile(r"^Biggest\s+(\w+) found '\"?(.+?)\"?' has")


def canaries_kept(run: ScenarioRun, canaries: list[Canary]) -> Check:
    lost = []
    with gateway(run) as client:
        for canary in canaries:
            me = client.get("/auth/me", headers=canary.auth)
            cart = client.get("/cart", headers=canary.auth)
            items = cart.json().get("items", []) if cart.status_code == 200 else []
            if me.status_code != 200 or not any(i["product_id"] == canary.product_id for i in items):
                lost.append({"email": canary.email, "session": me.status_code, "cart": cart.status_code})
    return Check("canary_sessions_and_carts_kept", not lost, len(lost), 0,
                 f"{len(canaries)} canaries; lost: {lost[:3]}" if lost else f"{len(canaries)} canaries intact")


def policy_kept_sessions(loss: EvictionLoss, during: EvictionLoss) -> Check:
    lost = {"sessions": len(loss.sessions_lost), "carts": len(loss.carts_lost)}
    kept = loss.complete and not loss.sessions_lost and not loss.carts_lost
    detail = (f"evicted {loss.evicted_total} keys {loss.by_namespace}, while {during.bulk_remaining} bulk keys "
              "were left to evict" + ("" if loss.complete else "; eviction notifications do not account for "
                                      "every eviction INFO counted"))
    return Check("policy_kept_sessions_and_carts", kept, lost, {"sessions": 0, "carts": 0}, detail)


def eviction_took_non_essential(loss: EvictionLoss) -> Check:
    """The fill really made Redis choose: it evicted non-essential keys while some were left to evict."""
    ok = loss.non_essential_evicted > 0 and loss.bulk_remaining > 0
    return Check("eviction_took_non_essential_data_with_some_left", ok,
                 {"non_essential_evicted": loss.non_essential_evicted, "bulk_remaining": loss.bulk_remaining},
                 "both > 0")


def no_stream_evicted(loss: EvictionLoss) -> Check:
    """Streams have no TTL: under volatile-ttl they can never be evicted (with them go unconsumed events and
    the consumer group)."""
    streams = loss.by_namespace.get("stream", 0)
    return Check("no_stream_evicted", streams == 0, streams, 0, str(loss.by_namespace))


def no_shopper_logged_out(run: ScenarioRun) -> Check:
    """No load request answered 401 from the injection on (a lost session shows at the shopper's next call)."""
    ops = run.ops()
    end = max((op.start for op in ops), default=0.0) + 1
    logged_out = [op for op in in_window(ops, run.timeline.injected or 0.0, end) if op.status == 401]
    return Check("no_shopper_logged_out", not logged_out, len(logged_out), 0,
                 ", ".join(f"{op.f} {op.process}" for op in logged_out[:5]))


def biggest_keys(output: str) -> list[tuple[str, str]]:
    """`redis-cli --bigkeys` output: (type, key) of each "Biggest <type> found '<key>' has ..." line."""
    found = []
    for line in output.splitlines():
        match = BIGKEYS_LINE.match(line.strip())
        if match:
            found.append((match.group(1), match.group(2)))
    return found


def non_essential_namespaces(biggest: list[tuple[str, str]]) -> list[str]:
    """The top-level namespaces (`cache:` of `cache:products:all:20:0`) of the biggest keys that may be
    deleted: not a session, cart, lockout counter or stream. A namespace, not the key: --bigkeys names one
    key per type, and what fills memory is the many keys like it."""
    spaces = []
    for kind, key in biggest:
        space = key.split(":", 1)[0] + ":" if ":" in key else key
        if kind == "stream" or key in STREAM_KEYS or space.startswith(ESSENTIAL) or space in spaces:
            continue
        spaces.append(space)
    return spaces


def clear_non_essential_and_raise_limit(run: ScenarioRun) -> None:
    r = run.stack.redis()
    # 1./2. what fills memory: --bigkeys (SCAN-based, does not block); --stat only shows counts, the keyspace
    # notifications recorded by the fault say which keys were evicted.
    code, bigkeys = run.stack.redis_cli("--bigkeys")
    biggest = biggest_keys(bigkeys)
    spaces = non_essential_namespaces(biggest)
    run.event("bigkeys", exit=code, biggest=[f"{kind} {key}" for kind, key in biggest], to_clear=spaces)
    # 3. clear non-essential data only: the namespaces --bigkeys named (never FLUSHDB: it takes sessions
    # and carts too)
    for space in spaces:
        unlinked = unlink_matching(r, f"{space}*")
        run.event("non_essential_cleared", pattern=f"{space}*", unlinked=unlinked)
    if not spaces:
        run.notes.append("runbook 2.1 step 3: --bigkeys named no non-essential key to clear")
    # 4. the limit back to the configured one at runtime (CONFIG SET; a restart would drop every connection)
    r.config_set("maxmemory", str(configured_maxmemory(run)))


def configured_maxmemory(run: ScenarioRun) -> int:
    return run.stack.config.redis.maxmemory_mb * 1024 * 1024


def lockout_canaries(run: ScenarioRun) -> list[str]:
    """Accounts with a few failed logins each: their lockout counters must survive the eviction."""
    emails = []
    with gateway(run) as client:
        for n in range(CANARIES):
            email = make_canary(run, product_id=60 + n).email
            for _ in range(FAILED_LOGINS):
                client.post("/auth/login", json={"email": email, "password": "not the password"})
            emails.append(email)
    return emails


def lockouts_kept(run: ScenarioRun, emails: list[str]) -> Check:
    r = run.stack.redis()
    counts = {email: str(r.get(RATELIMIT_PREFIX + email) or "0").split(":")[0] for email in emails}
    lost = [email for email, count in counts.items() if not count.isdigit() or int(count) < FAILED_LOGINS]
    return Check("login_lockout_counters_kept", not lost, len(lost), 0,
                 f"{len(emails)} counters of {FAILED_LOGINS} failed logins each; gone: {lost[:3]}" if lost
                 else f"{len(emails)} counters intact")


def no_lockout_evicted(loss: EvictionLoss) -> Check:
    evicted = loss.by_namespace.get("ratelimit", 0)
    return Check("no_login_lockout_counter_evicted", evicted == 0, evicted, 0,
                 "an evicted counter resets the lockout of an account under a password-guessing attack")


def headroom_after_recovery(run: ScenarioRun) -> Check:
    state = memory_state(run.stack.redis())
    configured = configured_maxmemory(run)
    ok = state.maxmemory == configured and state.ratio is not None and state.ratio < MEMORY_ALERT_RATIO
    return Check("memory_headroom_restored", ok,
                 {"maxmemory": state.maxmemory, "ratio": None if state.ratio is None else round(state.ratio, 3)},
                 {"maxmemory": configured, "ratio": f"< {MEMORY_ALERT_RATIO}"}, state.describe())


def record_runbook_mistakes(run: ScenarioRun) -> None:
    run.notes += [
        "runbook: `INFO stats | grep evicted` shows evicted_keys, a counter since Redis started; detection is "
        "its rise since before the fault while used_memory is at maxmemory",
        "runbook: `redis-cli --stat` shows key and memory counts, not which keys are evicted; used keyspace "
        "notifications (notify-keyspace-events Ee, __keyevent@0__:evicted) to see them",
        "runbook: step 3 `FLUSHDB async` is wrong because it deletes the whole database, sessions and carts "
        "included (it cannot select 'non-critical data'); used SCAN MATCH cache:bulk:* + UNLINK instead",
        "runbook: step 4 `docker restart aarya_redis` is wrong because a restart does not raise the limit by "
        "itself and drops every client (breakers open, AOF reload); used CONFIG SET maxmemory (persist it in "
        "redis.conf or with CONFIG REWRITE)",
        "runbook: step 5 EVAL is wrong because KEYS session:* inside a script blocks Redis over the whole "
        "keyspace, and deleting sessions logs users out, which is the loss this section tries to avoid "
        "(volatile-ttl already evicts the keys closest to expiry first); not run",
    ]


def redis_oom(run: ScenarioRun, policy: str | None = None) -> None:
    with ConditionProbe(run.history, "redis_memory", memory_headroom(run.stack, MEMORY_ALERT_RATIO)) as alert:
        run.steady_state()
        canaries = [make_canary(run, product_id=40 + i) for i in range(CANARIES)]
        lockouts = lockout_canaries(run)
        baseline = memory_state(run.stack.redis())
        fill = RedisMemoryFill(run.stack, headroom_mb=HEADROOM_MB, policy=policy)
        with run.inject(fill):
            run.detect("INFO memory; CONFIG GET maxmemory-policy; INFO stats | grep evicted (evicted_keys rising)",
                       redis_evicting(run.stack, baseline.evicted_keys))
            alert.sample()  # the memory alert's record shows the fault, however briefly it lasts
            during = fill.loss()  # before the clean-up: was there non-essential data left to evict?
            run.event("eviction_measured", **during.as_dict())
            run.recover("--bigkeys; clear the non-essential namespaces it names (SCAN+UNLINK); CONFIG SET "
                        "maxmemory to the configured limit", lambda: clear_non_essential_and_raise_limit(run))
            loss = fill.loss()  # evictions until the memory was freed
            run.judge_recovery(headroom_after_recovery, lambda r: canaries_kept(r, canaries),
                               lambda r: lockouts_kept(r, lockouts))
        run.event("eviction_total", **loss.as_dict())
        run.notes.append(
            f"eviction: {loss.evicted_total} keys evicted {loss.by_namespace} (attribution complete: "
            f"{loss.complete}); sessions lost {len(loss.sessions_lost)}, carts lost {len(loss.carts_lost)}; "
            f"{during.bulk_remaining} bulk keys were left when the clean-up began; {loss.gone_not_evicted} of "
            f"{loss.essential_before} sessions/carts went away without eviction (a checkout empties a cart)")
        record_runbook_mistakes(run)
        run.verify(
            policy_kept_sessions(loss, during),
            eviction_took_non_essential(during),
            no_stream_evicted(loss),
            no_lockout_evicted(loss),
            no_shopper_logged_out,
        )


@pytest.mark.cache
def test_redis_oom(chaos):
    redis_oom(chaos.start("2.1", "Redis OOM", REDIS_OOM))


@pytest.mark.cache
@pytest.mark.control
def test_redis_oom_control_allkeys_lru(chaos):
    """The mitigation broken: an eviction policy that may take any key evicts sessions and carts."""
    run = chaos.start("2.1", "Redis OOM", REDIS_OOM, control="policy allkeys-lru")
    with expect_scenario_failure() as failure:
        redis_oom(run, policy="allkeys-lru")
    assert "policy_kept_sessions_and_carts" in {c.name for c in failure.value.failed}


@pytest.mark.cache
@pytest.mark.control
def test_redis_oom_control_without_cleanup(chaos):
    run = chaos.start("2.1", "Redis OOM", REDIS_OOM, control=SKIP_RECOVERY, restore_timeout_s=CONTROL_WAIT_S)
    with expect_scenario_failure() as failure:
        redis_oom(run)
    failed = {c.name for c in failure.value.failed}
    assert {"restored_within_rto_target", "memory_headroom_restored"} <= failed
