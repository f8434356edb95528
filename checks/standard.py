"""The checks every scenario has, as pure functions of what a run recorded (`RunFacts`).

    not_detected / detected_within_mttd_target   the runbook's signal showed the fault, in time
    fault_broke_the_steady_state                 there was something to recover from
    restored_only_after_the_recovery_started     the recovery, not the platform by itself, brought it back
    recovery_judged_before_the_heal              restoration and the recovery claims were judged after
                                                 the runbook's procedure and before the fault's own undo
    restored_within_rto_target
    baseline_has_enough_operations               the steady state before the fault is evidence
    the write ledger (checks.ledger):            no_lost_acknowledged_orders, rpo_within_target,
                                                 no_duplicate_orders_for_one_intent, no_order_charged_twice,
                                                 no_phantom_orders, acknowledged_orders_stored_as_answered,
                                                 no_refused_write_happened, enough_writes_judged
    failed_requests_within_target                (only where a scenario sets that target)

A scenario may opt out of one of them only with a written reason (`ScenarioRun.opt_out`); the reason goes
into the record. Each function is unit-tested on literal histories (tests/unit/test_standard_checks.py),
where it fails as well as where it passes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from checks.ledger import Reconciliation
from checks.timing import SteadyState, steady_broken_at
from checks.verdict import NOT_MEASURED, Check, at_least, at_most
from load.history import Op

RECOVERY = "after the recovery, before the heal"
AFTER_HEAL = "after the heal"
STANDARD = "standard"


@dataclass
class Timeline:
    """Monotonic times of a run's phases (None until they happen). A run fills it in as it goes; the checks
    get a copy."""

    steady: float | None = None
    injected: float | None = None
    landed: float | None = None
    detected: float | None = None
    recovery_started: float | None = None
    restored: float | None = None
    healed: float | None = None


@dataclass(frozen=True)
class JudgedClaim:
    """A claim about the recovery and when it was judged."""

    name: str
    at: float


@dataclass(frozen=True)
class Limits:
    """The targets the standard checks judge against (None: not judged)."""

    mttd_s: float | None = None
    rto_s: float | None = None
    rpo_s: float | None = 0.0
    lost_acknowledged_writes: int | None = 0
    failed_requests: int | None = None
    min_writes_judged: int | None = 150  # acknowledged writes the ledger must judge: less is not evidence
    baseline_min_ops: int = 50           # load ops in the steady hold before the fault
    detect_timeout_s: float = 60.0
    exposure_allowed: bool = False       # writes acknowledged after the failure may be lost (8.2's rollback)


@dataclass(frozen=True)
class RunFacts:
    moments: Timeline
    ops: Sequence[Op]
    steady: SteadyState
    limits: Limits
    detection_signal: str | None = None
    recovery_claims: Sequence[JudgedClaim] = ()
    ledger: Reconciliation | None = None
    ledger_error: str | None = None
    baseline_ops: int | None = None
    failed_requests: int | None = None
    opt_outs: Mapping[str, str] = field(default_factory=dict)


def detection(facts: RunFacts) -> Check:
    m, limit = facts.moments, facts.limits.mttd_s
    signal = facts.detection_signal or "the detection signal"
    if m.injected is None:
        return Check("not_detected", False, None, limit, "nothing was injected")
    if m.detected is None:
        return Check("not_detected", False, None, f"<= {limit} s" if limit is not None else "detected",
                     f"{signal} never showed within {facts.limits.detect_timeout_s:g} s")
    mttd = round(m.detected - m.injected, 3)
    if limit is None:
        return Check("detected", True, mttd, "detected", f"{signal} after {mttd} s")
    return at_most("detected_within_mttd_target", mttd, limit)


def fault_broke_steady_state(facts: RunFacts) -> Check:
    m = facts.moments
    name = "fault_broke_the_steady_state"
    if m.injected is None:
        return Check(name, False, None, "broken", "nothing was injected")
    end = m.restored or m.healed
    if end is None:
        end = max((op.start for op in facts.ops), default=m.injected) + 1e-6
    broken = steady_broken_at(facts.ops, start=m.injected, end=end, steady=facts.steady)
    if broken is None:
        return Check(name, False, None, "a failed probe or the load below its threshold",
                     f"steady from the injection to {'the restoration' if m.restored else 'the heal'}: "
                     "the fault changed nothing the steady state sees")
    return Check(name, True, round(broken - m.injected, 3), "broken",
                 f"broken {broken - m.injected:.2f} s after the injection")


def restored_after_recovery(facts: RunFacts) -> Check:
    m = facts.moments
    name = "restored_only_after_the_recovery_started"
    if m.restored is None:
        return Check(name, True, None, "restored >= recovery started", "not restored at all")
    if m.recovery_started is None:
        return Check(name, False, None, "restored >= recovery started", "the recovery never started")
    early = m.recovery_started - m.restored
    if early > 0:
        return Check(name, False, round(-early, 3), ">= 0 s after the recovery started",
                     f"restored {early:.2f} s before the recovery started: the platform healed by itself or "
                     "the fault stopped biting")
    return Check(name, True, round(-early, 3), ">= 0 s after the recovery started")


def recovery_judged_before_heal(facts: RunFacts) -> Check:
    m = facts.moments
    name = "recovery_judged_before_the_heal"
    if m.recovery_started is None:
        return Check(name, False, None, "judged before the heal", "the recovery never started")
    late = [c.name for c in facts.recovery_claims
            if c.at < m.recovery_started or (m.healed is not None and c.at > m.healed)]
    if m.restored is not None and m.healed is not None and m.restored > m.healed:
        late.append("restored")
    judged = ["restored", *(c.name for c in facts.recovery_claims)]
    if late:
        return Check(name, False, late, "every recovery claim between the recovery and the heal",
                     f"judged outside it: {', '.join(late)}")
    return Check(name, True, judged, "every recovery claim between the recovery and the heal")


def rto(facts: RunFacts) -> Check | None:
    m, limit = facts.moments, facts.limits.rto_s
    if limit is None:
        return None
    measured = None if m.restored is None or m.injected is None else round(m.restored - m.injected, 3)
    return at_most("restored_within_rto_target", measured, limit)


def baseline(facts: RunFacts) -> Check:
    return at_least("baseline_has_enough_operations", facts.baseline_ops, facts.limits.baseline_min_ops)


def ledger_checks(facts: RunFacts) -> list[Check]:
    limits, ledger = facts.limits, facts.ledger
    names = ["no_lost_acknowledged_orders", "rpo_within_target", "no_duplicate_orders_for_one_intent",
             "no_order_charged_twice", "no_phantom_orders", "acknowledged_orders_stored_as_answered",
             "no_refused_write_happened", "enough_writes_judged"]
    if ledger is None:
        reason = facts.ledger_error or "the ledger was not reconciled"
        return [Check(name, False, None, 0, f"{NOT_MEASURED}: {reason}") for name in names]
    checks = []
    if limits.lost_acknowledged_writes is not None:
        lost = [i for i, _ in (ledger.lost_before_failure if limits.exposure_allowed else ledger.lost)]
        scope = " before the failure" if limits.exposure_allowed else ""
        checks.append(Check(names[0], len(lost) <= limits.lost_acknowledged_writes, len(lost),
                            limits.lost_acknowledged_writes,
                            f"{ledger.judged} acknowledged; lost{scope}: {', '.join(lost[:5]) or 'none'}"))
    if limits.rpo_s is not None:
        checks.append(Check(names[1], ledger.rpo_s <= limits.rpo_s, round(ledger.rpo_s, 3), limits.rpo_s,
                            f"{len(ledger.lost_before_failure)} acknowledged before the failure lost; "
                            f"exposure after it: {len(ledger.exposure)} over {ledger.exposure_s:.1f} s"))
    mismatched = [(i, why) for i, why in ledger.mismatched
                  if not (limits.exposure_allowed and i in ledger.mismatched_after_failure)]
    duplicates = ", ".join(f"{k}: {len(v)} orders" for k, v in list(ledger.duplicates.items())[:3])
    charged = ", ".join(f"{k}: {v}" for k, v in list(ledger.charged_twice.items())[:3])
    checks += [
        Check(names[2], not ledger.duplicates, len(ledger.duplicates), 0, duplicates or f"{ledger.stored} orders"),
        Check(names[3], not ledger.charged_twice, len(ledger.charged_twice), 0, charged or "one charge at most"),
        Check(names[4], not ledger.phantoms, len(ledger.phantoms), 0, ", ".join(ledger.phantoms[:5])),
        Check(names[5], not mismatched, len(mismatched), 0, "; ".join(f"{i}: {why}" for i, why in mismatched[:3])),
        Check(names[6], not ledger.failed_but_happened, len(ledger.failed_but_happened), 0,
              ", ".join(ledger.failed_but_happened[:5])),
    ]
    if limits.min_writes_judged is not None:
        checks.append(at_least(names[7], ledger.judged, limits.min_writes_judged))
    return checks


def failed_requests(facts: RunFacts) -> Check | None:
    if facts.limits.failed_requests is None:
        return None
    return at_most("failed_requests_within_target", facts.failed_requests, facts.limits.failed_requests)


def standard_checks(facts: RunFacts) -> list[Check]:
    """Every standard check not opted out of, in the order of the module docstring."""
    found: list[Check | None] = [detection(facts), fault_broke_steady_state(facts), restored_after_recovery(facts),
                                 recovery_judged_before_heal(facts), rto(facts), baseline(facts),
                                 *ledger_checks(facts), failed_requests(facts)]
    checks = [replace(c, judged=STANDARD) for c in found if c is not None]
    return [c for c in checks if c.name not in facts.opt_outs and not
            (c.name == "not_detected" and "detected_within_mttd_target" in facts.opt_outs)]
