"""Runbook 4.1: Redis stream backlog buildup (consumers lag behind producers, messages accumulate).

    Targets: none in the runbook; MTTD 30 s, RTO 90 s (the backlog probe green included), RPO 0: no event
             lost, and no acknowledged order.
    Inject:  slow content_services down to 250 ms per message (`POST /admin/cost`) while the load keeps
             producing, plus a burst of 1500 events on analytics_events.
    Detect:  XLEN of the three streams, and the consumer group's backlog (undelivered + XPENDING) above 500.
    Recover: the runbook's steps, corrected: find the slow consumer; add a second consumer to the group (the
             runbook's `--scale ...=2`) and wait for the backlog to fall under the threshold; run the
             compactor, archiving then trimming only what the group has consumed. Steps 4-5 (XREADGROUP
             STREAM ..., XTRIM MAXLEN 50000) are replaced by that: see the notes.
    Verify:  the backlog back under the threshold; every event the producers were told was added was
             consumed or archived, none lost (counted from their acknowledgements, never read back);
             duplicate deliveries reported, not judged; the standard checks.

Control: the recovery skipped: the backlog stays above the threshold (RTO and backlog check fail).

Analysis: docs/scenarios/4.1-stream-backlog.md
"""

from __future__ import annotations

import httpx
import pytest

from aarya_chaos.errors import NotReady
from checks.verdict import Check, at_most
from fixtures.detect.streams import backlog_above, backlog_within
from fixtures.diagnose.streams import (GROUP, STREAMS, Accounting, account, admin_url, consumer_stats, drained_up_to,
                                       ids_since, last_generated, streams_state, total_backlog, within_cutoff)
from fixtures.faults.streams import SlowConsumer
from fixtures.recover.streams import ExtraConsumer
from checks.ledger import writes
from fixtures.event_ledger import EventProducer, OrderEvents, acknowledged_events, order_events_of
from fixtures.plugin import expect_scenario_failure
from fixtures.detect.probes import ConditionProbe
from fixtures.scenario import SKIP_RECOVERY, ScenarioRun, Targets
from scenarios.common import CONTROL_WAIT_S
from stack.drivers.base import Capability
from stack.waits import wait_until

STREAM_BACKLOG = Targets(mttd_s=30.0, rto_s=90.0, rpo_s=0.0, lost_acknowledged_writes=0)
BACKLOG_THRESHOLD = 500   # entries the group has not processed, over the three streams: the lag alert
SLOW_COST_MS = 250.0      # the consumer's per-message cost during the fault (4 messages/s; the load makes ~13/s)
EXTRA_EVENTS = 1500       # the suite's own burst on analytics_events (bounded)
DRAIN_TIMEOUT_S = 30.0


def recover_backlog(run: ScenarioRun, fault: SlowConsumer, extra: ExtraConsumer, seen: dict) -> None:
    r = run.stack.redis()
    # 1. identify the slow consumer: its log, and its own stats
    lines = run.stack.grep_logs("content_services", "slow|lag|behind", 300)
    stats = consumer_stats(fault.base_url)
    run.event("slow_consumer_identified", consumer=stats["consumer"], cost_ms=stats["cost_ms"],
              log_lines=len(lines), last_line=lines[-1][:300] if lines else None)
    # 2. more throughput: a second consumer in the group (the slow one stays as it is: its cost is the fault)
    extra.start()
    try:
        wait_until("content_services group", "backlog under the threshold",
                   lambda: total_backlog(streams_state(r)) <= BACKLOG_THRESHOLD, timeout_s=DRAIN_TIMEOUT_S)
    except NotReady as exc:  # "if still lagging": compact anyway; the backlog check will say what is left
        run.notes.append(f"two consumers did not bring the backlog under {BACKLOG_THRESHOLD}: {exc}"[:300])
    # 3. the compactor: archive to PostgreSQL, then trim, only what the group has consumed
    seen["before_compaction"] = ids_since(r, fault.start_id)
    xlen_before = {s: st.length for s, st in streams_state(r).items()}
    compactor = admin_url(run.stack, service="event_compactor")
    response = httpx.post(f"{compactor}/compact", params={"min_age_s": 0, "keep_unconsumed": "true"}, timeout=30)
    response.raise_for_status()
    report = response.json()
    compaction = {s: {"xlen_before": xlen_before[s], "archived": v["archived"], "trimmed": v["trimmed"],
                      "xlen_after": v["length_after"]} for s, v in report.items()}
    run.event("compacted", **compaction)
    run.notes.append(f"compaction (archive, then trim what the group consumed): {compaction}")


def backlog_check(run: ScenarioRun) -> Check:
    states = streams_state(run.stack.redis())
    backlog = total_backlog(states)
    run.event("backlog_after_recovery", **{s: st.as_dict() for s, st in states.items()})
    return at_most("backlog_back_under_threshold", backlog, BACKLOG_THRESHOLD)


def every_event_accounted(run: ScenarioRun, fault: SlowConsumer, seen: dict) -> Accounting | None:
    """Wait until the group has processed everything produced up to now, then look each event the
    producers were acknowledged up; the stream's own entries since the injection are shown beside."""
    r = run.stack.redis()
    cutoff = last_generated(r)
    try:
        wait_until("content_services group", "every entry delivered and acknowledged",
                   lambda: drained_up_to(r, cutoff), timeout_s=DRAIN_TIMEOUT_S)
    except NotReady as exc:
        run.notes.append(f"the group did not drain up to {cutoff} in {DRAIN_TIMEOUT_S:g} s: {exc}"[:300])
    acked = acknowledged_events(run.ops())
    for stream, ids in fault.added.items():
        acked.setdefault(stream, set()).update(ids)
    accounting = account(run.stack, within_cutoff(acked, cutoff))
    read_back = ids_since(r, fault.start_id)
    for stream, ids in seen.get("before_compaction", {}).items():
        read_back.setdefault(stream, set()).update(ids)
    run.measured["stream_read_back_since_injection"] = {s: len(ids) for s, ids in read_back.items()}
    run.event("events_accounted", **accounting.as_dict())
    run.notes.append(f"events the producers were acknowledged: {accounting.produced}; {accounting.consumed} consumed, "
                     f"{accounting.archived_only} archived without being consumed, {accounting.lost} lost; "
                     f"{len(accounting.duplicates)} delivered more than once (at-least-once delivery, idempotent "
                     f"effects){': ' + str(list(accounting.duplicates.items())[:5]) if accounting.duplicates else ''}; "
                     f"the streams themselves show {sum(len(v) for v in read_back.values())} entries since the "
                     "injection (not judged: a stream only shows what it kept)")
    return accounting


def none_lost(accounting: Accounting | None) -> Check:
    if accounting is None:
        return Check("every_event_consumed_or_archived", False, None, 0, "not measured")
    detail = (f"{accounting.produced} acknowledged by XADD: {accounting.consumed} consumed, {accounting.archived_only} "
              f"archived only; lost: {accounting.as_dict()['lost_examples']}")
    return Check("every_event_consumed_or_archived", accounting.lost == 0 and accounting.produced > 0,
                 accounting.lost, 0, detail)


def orders_during_the_fault(run: ScenarioRun) -> list[str]:
    """Orders acknowledged to the load from the injection to the restoration (the backlog's whole life; the
    heal if it never came back), every one of them long published when the events are accounted."""
    tl = run.timeline
    start, end = tl.injected or 0.0, tl.restored or tl.healed or 0.0
    return sorted({w.order_id for w in writes(run.ops()) if w.acknowledged and w.order_id
                   and start <= w.start and w.end is not None and w.end <= end})


def order_events_processed(found: OrderEvents) -> Check:
    return Check("every_acknowledged_orders_event_processed", found.orders > 0 and not found.missing,
                 len(found.missing), 0, f"{found.orders} orders acknowledged from the injection to the restoration, "
                 f"{found.accounted} with their order_placed event processed or archived; missing: "
                 f"{list(found.missing[:5])}")


def group_after_retire(run: ScenarioRun, extra: ExtraConsumer) -> str:
    r = run.stack.redis()
    consumers = {s: [c["name"] for c in r.xinfo_consumers(s, GROUP)] for s in STREAMS}
    return (f"extra consumer {extra.consumer_name}: stopped, {extra.handed_over} pending entries handed over to "
            f"the main consumer; group consumers now {consumers}")


def scale_note(run: ScenarioRun) -> str:
    """What stood in for the runbook's `--scale content_services=2` on this driver."""
    return (f"{run.stack.scaling_note()} with its own CONSUMER_NAME, retired it after handing its pending "
            "entries over (XCLAIM) and removing it from the group")


def record_runbook_mistakes(run: ScenarioRun) -> None:
    run.notes += [
        "runbook: `XPENDING user_events - +` is wrong because XPENDING needs the group name (and the extended "
        "form a count); used `XPENDING <stream> content_services` (summary) for each stream",
        "runbook: XLEN alone is not the lag (it counts consumed entries too, and shrinks when compacted); used "
        "the group's undelivered entries (after XINFO GROUPS' last-delivered-id) + pending",
        scale_note(run),
        "runbook: step 4 `XREADGROUP STREAM user_events COUNT 1000` is invalid syntax (it is XREADGROUP GROUP "
        "<group> <consumer> COUNT n STREAMS <key> <id>) and reading as a consumer does not archive anything; "
        "used the compactor, which archives to events_archive and only then trims",
        "runbook: step 5 `XTRIM user_events MAXLEN 50000` is wrong because it drops the oldest entries whether "
        "or not they were consumed or archived (events lost); used the compactor's archive-then-trim, keeping "
        "what the group has not consumed (keep_unconsumed)",
    ]


def stream_backlog(run: ScenarioRun) -> None:
    with ConditionProbe(run.history, "event_backlog", backlog_within(run.stack, BACKLOG_THRESHOLD)) as alert:
        run.steady_state()
        fault = SlowConsumer(run.stack, cost_ms=SLOW_COST_MS, extra_events=EXTRA_EVENTS,
                             threshold=BACKLOG_THRESHOLD)
        extra = ExtraConsumer(run.stack)
        main_consumer = admin_url(run.stack)
        seen: dict = {}
        retire = run.registry.push("retire the extra content_services consumer", lambda: extra.retire(main_consumer))
        with EventProducer(run.stack, run.history) as producer, run.inject(fault):
            run.detect(f"XLEN; XINFO GROUPS; XPENDING <stream> content_services: backlog > {BACKLOG_THRESHOLD}",
                       backlog_above(run.stack, BACKLOG_THRESHOLD))
            alert.sample()
            try:
                run.recover("add a second consumer, compact (archive, then trim)",
                            lambda: recover_backlog(run, fault, extra, seen))
                run.judge_recovery(backlog_check)
            finally:
                producer.stop()
                run.registry.discharge(retire)  # its pending entries go to the main consumer before the heal
                run.notes.append(group_after_retire(run, extra))
        accounting = every_event_accounted(run, fault, seen)
        order_events = order_events_of(run.stack, orders_during_the_fault(run))
        record_runbook_mistakes(run)
        run.verify(none_lost(accounting), order_events_processed(order_events))


@pytest.mark.events
@pytest.mark.needs(Capability.INSTANCES)
def test_stream_backlog(chaos):
    stream_backlog(chaos.start("4.1", "Redis stream backlog buildup", STREAM_BACKLOG))


@pytest.mark.events
@pytest.mark.control
@pytest.mark.needs(Capability.INSTANCES)
def test_stream_backlog_control_without_recovery(chaos):
    run = chaos.start("4.1", "Redis stream backlog buildup", STREAM_BACKLOG, control=SKIP_RECOVERY,
                      restore_timeout_s=CONTROL_WAIT_S)
    with expect_scenario_failure() as failure:
        stream_backlog(run)
    failed = {c.name for c in failure.value.failed}
    assert {"restored_within_rto_target", "backlog_back_under_threshold"} <= failed
