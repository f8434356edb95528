"""Runbook 3.1: Core Platform service OOM (runs out of memory and is killed).

    Targets: none in the runbook; MTTD 15 s and RTO 60 s (as 3.2), RPO 0 and no acknowledged order lost.
    Prepare: restart core_platform (a fresh deploy): the cgroup charges only memory allocated after its
             limit is set, and a fresh process has to grow to serve the burst.
    Inject:  a memory cgroup limit of 8 MiB of new memory, then a burst of 16 logins: each argon2id hash
             needs ~19 MiB, so the kernel's OOM killer SIGKILLs the service (exit 137). No bug is planted.
    Detect:  the OOM event (`docker events --filter event=oom`: the driver's `oom_killed` event).
    Recover: `docker-compose restart core_platform`, grep the logs for the OOM, and raise the limit to one the
             working set fits (512 MiB of new memory).
    Verify:  after the recovery: login and /auth/me work; a session from before the fault still validates;
             logins under the raised limit kill nothing; no request hung, every failure a defined
             502/503/504; the write ledger.

Control: the restart skipped (RTO, login, the old session and the raised-limit logins fail).

Analysis: docs/scenarios/3.1-core-platform-oom.md
"""

from __future__ import annotations

import subprocess
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from checks.verdict import Check
from fixtures.detect.memory import oom_event_seen
from fixtures.faults.memory import MemoryLimitOOM
from fixtures.plugin import expect_scenario_failure
from fixtures.scenario import SKIP_RECOVERY, ScenarioRun, Targets
from scenarios.common import (CONTROL_WAIT_S, Canary, answers_stayed_fast, failures_were_defined, gateway,
                              make_canary)
from stack.drivers.base import Capability, MemoryLimit

CORE_PLATFORM_OOM = Targets(mttd_s=15.0, rto_s=60.0, rpo_s=0.0, lost_acknowledged_writes=0)
SERVICE = "core_platform"
MiB = 1 << 20
TOO_SMALL = 8 * MiB      # less than one argon2id hash (19 MiB): the first login that needs new memory dies
# What the working set needs: glibc keeps each freed 19 MiB argon2 buffer in the malloc arena of the thread
# that hashed, up to 16 arenas (8 per core on this 2-core box): ~300 MiB, plus the interpreter's churn.
RAISED = 512 * MiB
BURST = 16               # logins at once: more than its 2 hashing slots, so fresh threads (arenas) hash
BURST_ROUNDS = 5         # the most bursts we send; the first one normally does it
MAX_ANSWER_MS = 2500.0
DEFINED_ANSWERS = {502, 503, 504}
SERVED_ANSWERS = {"200", "503"}  # a login burst is served, or refused fast by the bounded hashing queue
PASSWORD = "canary password"  # scenarios.common.make_canary's
OOM_GREP = r"out of memory|OOM|killed"  # the runbook's `grep -i "out of memory\|OOM\|killed"`


def log_in(run: ScenarioRun, canary: Canary, times: int) -> list[int | str]:
    """The canary logs in `times` times, all at once; the answers (a status, or the transport error)."""

    def one(client: httpx.Client) -> int | str:
        try:
            return client.post("/auth/login", json={"email": canary.email, "password": PASSWORD}).status_code
        except httpx.HTTPError as exc:
            return type(exc).__name__

    with gateway(run) as client, ThreadPoolExecutor(times) as pool:
        return list(pool.map(one, [client] * times))


def login_bursts(run: ScenarioRun, canary: Canary) -> list[list[int | str]]:
    """Bursts of logins until one is not all 200 (the service died), at most BURST_ROUNDS."""
    bursts = []
    for _ in range(BURST_ROUNDS):
        bursts.append(log_in(run, canary, BURST))
        if any(answer != 200 for answer in bursts[-1]):
            break
    return bursts


def runbook_log_grep(run: ScenarioRun, pid: int | None) -> None:
    """Step 2, `docker logs aarya_core_platform | grep -i "out of memory\\|OOM\\|killed"`, recorded in the notes.

    A SIGKILLed process writes no last words: the OOM kill is in the kernel's log, not the service's.
    """
    service = run.stack.grep_logs(SERVICE, OOM_GREP, lines=200)
    try:
        dmesg = subprocess.run(["dmesg"], capture_output=True, text=True, timeout=5).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        dmesg = []
    kernel = [line.strip() for line in dmesg if f"process {pid} " in line and "out of memory" in line.lower()]
    run.notes.append(f"runbook 3.1 step 2: the grep finds {len(service)} line(s) in core_platform's own log and "
                     f"{kernel[-1] if kernel else 'nothing'} in the kernel log (dmesg)")
    if not service:
        run.notes.append("runbook: `docker logs aarya_core_platform | grep -i \"out of memory\\|OOM\\|killed\"` "
                         "cannot find an OOM kill: the kernel SIGKILLs the process, which logs nothing; used "
                         "the OOM event (docker events / State.OOMKilled) and the kernel log (dmesg) instead")


def auth_works_again(run: ScenarioRun, canary: Canary) -> Check:
    try:
        with gateway(run) as client:
            login = client.post("/auth/login", json={"email": canary.email, "password": PASSWORD})
            token = login.json().get("token") if login.status_code == 200 else None
            me = client.get("/auth/me", headers={"authorization": f"Bearer {token}"}) if token else None
    except httpx.HTTPError as exc:
        return Check("login_and_me_work_after_recovery", False, type(exc).__name__, {"login": 200, "me": 200})
    measured = {"login": login.status_code, "me": me.status_code if me is not None else None}
    return Check("login_and_me_work_after_recovery", measured == {"login": 200, "me": 200}, measured,
                 {"login": 200, "me": 200})


def session_survived(run: ScenarioRun, canary: Canary) -> Check:
    try:
        with gateway(run) as client:
            me = client.get("/auth/me", headers=canary.auth)
    except httpx.HTTPError as exc:
        return Check("session_from_before_the_oom_still_valid", False, type(exc).__name__, {"status": 200})
    email = me.json().get("email") if me.status_code == 200 else None
    return Check("session_from_before_the_oom_still_valid", email == canary.email,
                 {"status": me.status_code, "email": email}, {"status": 200, "email": canary.email},
                 "sessions live in Redis, so the OOM kill logged nobody out")


def logins_fit_raised_limit(run: ScenarioRun, canary: Canary, raised: list[MemoryLimit]) -> Check:
    name = "logins_fit_under_the_raised_limit"
    if not raised:
        return Check(name, False, None, f"{RAISED} bytes", "the limit was never raised (recovery skipped)")
    before = raised[0].oom_kills()
    answers = Counter(str(a) for _ in range(2) for a in log_in(run, canary, BURST))
    after, usage = raised[0].oom_kills(), raised[0].usage_bytes()
    served = answers["200"] > 0 and set(answers) <= SERVED_ANSWERS
    return Check(name, served and after == before,
                 {"answers": dict(answers), "oom_kills": after - before, "usage_bytes": usage},
                 {"answers": sorted(SERVED_ANSWERS), "oom_kills": 0},
                 f"two bursts of {BURST} logins under a {RAISED}-byte limit; 503 is the hasher's own bounded "
                 "queue saying 'overloaded', a 502 would mean the service died")


def core_platform_oom(run: ScenarioRun) -> None:
    # a kernel-enforced memory limit: the tests declare it (needs MEMORY_LIMITS), checked before they start
    run.stack.restart(SERVICE)  # preparation: a fresh process (see the docstring)
    run.notes.append("preparation: core_platform restarted before the steady state, so that its memory "
                     "growth is charged to the limit")
    run.steady_state()
    canary = make_canary(run)
    raised: list[MemoryLimit] = []

    def recover() -> None:
        run.stack.release_memory_limit(SERVICE)  # the limit that was too small...
        run.stack.restart(SERVICE)               # 1. docker-compose restart core_platform
        runbook_log_grep(run, fault.pid)         # 2. grep the logs for OOM
        raised.append(run.stack.limit_memory(SERVICE, RAISED))  # 3. a limit it fits, `docker-compose up -d`

    fault = MemoryLimitOOM(run.stack, SERVICE, TOO_SMALL, pressure=lambda: login_bursts(run, canary))
    with run.inject(fault):
        run.detect("docker events --filter event=oom (the oom_killed event)", oom_event_seen(fault))
        run.recover("docker-compose restart core_platform; raise its memory limit", recover)
        run.judge_recovery(lambda r: auth_works_again(r, canary), lambda r: session_survived(r, canary),
                           lambda r: logins_fit_raised_limit(r, canary, raised))
    run.verify(
        lambda r: answers_stayed_fast(r, MAX_ANSWER_MS),
        lambda r: failures_were_defined(r, DEFINED_ANSWERS),
    )


@pytest.mark.service
@pytest.mark.needs(Capability.MEMORY_LIMITS)
def test_core_platform_oom(chaos):
    core_platform_oom(chaos.start("3.1", "Core Platform service OOM", CORE_PLATFORM_OOM))


@pytest.mark.service
@pytest.mark.control
@pytest.mark.needs(Capability.MEMORY_LIMITS)
def test_core_platform_oom_control_without_restart(chaos):
    run = chaos.start("3.1", "Core Platform service OOM", CORE_PLATFORM_OOM, control=SKIP_RECOVERY,
                      restore_timeout_s=CONTROL_WAIT_S)
    with expect_scenario_failure() as failure:
        core_platform_oom(run)
    failed = {c.name for c in failure.value.failed}
    assert {"restored_within_rto_target", "login_and_me_work_after_recovery",
            "session_from_before_the_oom_still_valid", "logins_fit_under_the_raised_limit"} <= failed, failed
