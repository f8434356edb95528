"""The rows of the claims table (reports/claims.py renders them): each check the scenarios judge, the
runbook sections that judge it ("all": the standard checks of checks/standard.py and the engine's), what it
claims, and what shows it able to fail (negative controls, bite mutants, unit tests over literal histories).
"""

from __future__ import annotations

from dataclasses import dataclass

@dataclass(frozen=True)
class Claim:
    """One claim class: a check, the runbook sections that judge it, what it says, and the controls (pytest node
    ids), bite mutants (ids) and unit tests (node ids) that show it failing."""

    check: str
    scenarios: tuple[str, ...]
    claims: str
    controls: tuple[str, ...] = ()
    mutants: tuple[str, ...] = ()
    unit_tests: tuple[str, ...] = ()

    @property
    def shown(self) -> bool:
        return bool(self.controls or self.mutants or self.unit_tests)


def _control(scenario: str, control: str) -> str:
    return f"scenarios/test_{scenario}.py::test_{scenario}_control_{control}"


def _units(module: str, *tests: str) -> tuple[str, ...]:
    return tuple(f"tests/unit/{module}.py::{test}" for test in tests)


PG_CRASH = _control("postgres_crash", "without_restart")
POOL_NOT_TERMINATED = _control("pool_exhaustion", "without_termination")
POOL_WAITS = _control("pool_exhaustion", "pool_waits")
OOM_LRU = _control("redis_oom", "allkeys_lru")
OOM_NOT_CLEANED = _control("redis_oom", "without_cleanup")
REDIS_NOT_RESTARTED = _control("redis_connection_failure", "without_restart")
BREAKER_NEVER_OPENS = _control("redis_connection_failure", "breaker_never_opens")
CORE_NOT_RESTARTED = _control("core_platform_oom", "without_restart")
COMMERCE_NOT_RESTARTED = _control("commerce_unavailable", "without_restart")
BACKLOG_NOT_RECOVERED = _control("stream_backlog", "without_recovery")
DISK_NOT_RECOVERED = _control("disk_exhaustion", "without_recovery")
PARTITION_NOT_HEALED = _control("network_partition", "without_heal")
NO_CLIENT_DEADLINE = _control("network_partition", "without_client_deadline")
NOT_BLOCKED = _control("suspicious_activity", "without_block")
DENY_NOT_RELOADED = _control("suspicious_activity", "deny_without_reload")
BLOCKER_STAYS = _control("slow_database_cascade", "blocker_stays")
NOT_ROLLED_BACK = _control("application_rollback", "without_rollback")
DUMP_WITHOUT_WAL = _control("database_rollback", "dump_without_wal")
SKIP_RECOVERY = (PG_CRASH, POOL_NOT_TERMINATED, OOM_NOT_CLEANED, REDIS_NOT_RESTARTED, CORE_NOT_RESTARTED,
                 COMMERCE_NOT_RESTARTED, BACKLOG_NOT_RECOVERED, DISK_NOT_RECOVERED, PARTITION_NOT_HEALED,
                 NOT_BLOCKED, DENY_NOT_RELOADED, BLOCKER_STAYS, NOT_ROLLED_BACK)

STANDARD = ("all",)
ANSWER_TIMES = ("1.2", "2.2", "3.1", "3.2", "7.1")  # the scenarios judging scenarios.common's answer checks
DETECTION = _units("test_standard_checks", "test_detection_in_time_late_and_never")
REFUSED_HAPPENED = _units("test_checks_ledger",
                          "test_a_refused_checkout_the_database_holds_happened_and_its_retry_is_a_duplicate")

CLAIMS: tuple[Claim, ...] = (
    # -- the standard checks, every scenario ---------------------------------------------------------------------
    Claim("not_detected", STANDARD, "The runbook's detection signal showed the fault before its timeout.",
          unit_tests=DETECTION),
    Claim("detected_within_mttd_target", STANDARD, "The detection signal showed the fault within the MTTD target "
          "of the injection.", unit_tests=DETECTION),
    Claim("fault_broke_the_steady_state", STANDARD, "The fault broke the steady state (a failed health probe or "
          "the load below its threshold): there was something to recover from.",
          unit_tests=_units("test_standard_checks", "test_a_fault_that_changed_nothing_fails_broke_the_steady_state")),
    Claim("restored_only_after_the_recovery_started", STANDARD, "The steady state came back only after the "
          "recovery started: the recovery, not the platform by itself, restored it.",
          unit_tests=_units("test_standard_checks", "test_restored_before_the_recovery_started_fails")),
    Claim("recovery_judged_before_the_heal", STANDARD, "The restoration and every recovery claim were judged "
          "between the recovery and the fault's own undo.",
          unit_tests=_units("test_standard_checks", "test_recovery_claims_judged_after_the_heal_fail")),
    Claim("restored_within_rto_target", STANDARD, "The steady state (load success and every health probe green) "
          "came back within the RTO target of the injection.", controls=SKIP_RECOVERY),
    Claim("baseline_has_enough_operations", STANDARD, "The steady hold before the fault had enough load operations "
          "to be evidence.", unit_tests=_units("test_standard_checks", "test_a_thin_baseline_fails")),
    Claim("no_lost_acknowledged_orders", STANDARD, "Every order acknowledged to a shopper is in PostgreSQL (after a "
          "rollback: every one acknowledged before the failure).", controls=(DUMP_WITHOUT_WAL,),
          unit_tests=_units("test_checks_ledger",
                            "test_an_acknowledged_order_missing_is_lost_and_its_age_at_the_failure_is_the_rpo")
          + _units("test_standard_checks",
                   "test_a_rollback_may_drop_what_came_after_the_failure_never_what_came_before")),
    Claim("rpo_within_target", STANDARD, "The oldest lost acknowledged order was no older at the failure than the "
          "RPO target.", controls=(DUMP_WITHOUT_WAL,),
          unit_tests=_units("test_checks_ledger", "test_one_lost_order_is_not_an_rpo_of_zero",
                            "test_rpo_is_the_age_at_the_failure_of_the_oldest_lost_acknowledged_write")),
    Claim("no_duplicate_orders_for_one_intent", STANDARD, "One shopper intent (a cart and its retries) became at "
          "most one order.", mutants=("checkout-ignores-idempotency-key", "payment-outage-answered-400"),
          unit_tests=REFUSED_HAPPENED),
    Claim("no_order_charged_twice", STANDARD, "No order was charged more than once.",
          mutants=("payment-key-per-attempt",), unit_tests=_units("test_checks_ledger", "test_an_order_charged_twice")),
    Claim("no_phantom_orders", STANDARD, "Every stored order of the load's shoppers comes from a write the history "
          "sent.", mutants=("checkout-ignores-idempotency-key",),
          unit_tests=_units("test_checks_ledger", "test_an_order_under_a_key_nobody_sent_is_a_phantom")),
    Claim("acknowledged_orders_stored_as_answered", STANDARD, "Each acknowledged order is stored with the status, "
          "total and items the shopper was answered and asked for.", mutants=("order-total-ignores-quantity",),
          unit_tests=_units("test_checks_ledger", "test_orders_stored_otherwise_than_answered_or_asked")),
    Claim("no_refused_write_happened", STANDARD, "No checkout answered as refused exists in the database.",
          mutants=("payment-outage-answered-400",), unit_tests=REFUSED_HAPPENED),
    Claim("enough_writes_judged", STANDARD, "The ledger judged at least its minimum of acknowledged writes: fewer "
          "is not evidence.", unit_tests=_units("test_standard_checks", "test_ledger_checks_fail_on_each_finding")),
    Claim("recovery_procedure_completed", STANDARD, "The runbook's recovery procedure ran to its end without "
          "raising.", unit_tests=_units("test_scenario_checks", "test_recovery_procedure_completed_fails")),
    # -- 1.1, and the checkout after the recovery of 3.2, 5.1, 7.1 and 8.2 --------------------------------------------
    Claim("checkout_works_after_recovery", ("1.1", "3.2", "5.1", "7.1", "8.2"), "After the recovery, before the "
          "fault's own undo, a shopper can fill a cart and check out.",
          controls=(PG_CRASH, COMMERCE_NOT_RESTARTED, DISK_NOT_RECOVERED, BLOCKER_STAYS)),
    # -- 1.2 -----------------------------------------------------------------------------------------------------
    Claim("exhaustion_bit_the_load", ("1.2",), "Load requests failed during the fault: the exhaustion reached the "
          "shoppers.", unit_tests=_units("test_scenario_checks_database", "test_exhaustion_bit_the_load_fails")),
    Claim("no_request_hung_during_the_fault", ANSWER_TIMES, "During the fault every load request completed within "
          "its bound (a checkout within its own): fast answers, never a hang.", controls=(POOL_WAITS, BLOCKER_STAYS),
          mutants=("commerce-pool-waits-30s", "commerce-no-lock-timeout", "checkout-retries-on-timeout"),
          unit_tests=_units("test_scenario_checks", "test_no_request_hung_during_the_fault_fails",
                            "test_no_request_hung_during_the_fault_fails_past_its_checkout_bound")),
    Claim("failures_were_defined_answers", ANSWER_TIMES, "Every load request that failed during the fault got a "
          "defined answer (a 503, say), not a 500 or a dropped connection.", controls=(POOL_WAITS,),
          unit_tests=_units("test_scenario_checks", "test_failures_were_defined_answers_fails")),
    Claim("services_came_back_without_a_restart", ("1.2",), "The recovery restarted no service: the pools "
          "reconnected by themselves (pids unchanged).",
          unit_tests=_units("test_scenario_checks_database", "test_services_came_back_without_a_restart_fails")),
    Claim("no_holder_connection_left", ("1.2",), "After the recovery no connection of the fault's holders remains.",
          controls=(POOL_NOT_TERMINATED,)),
    # -- 2.1 -----------------------------------------------------------------------------------------------------
    Claim("policy_kept_sessions_and_carts", ("2.1",), "While non-essential data remained to evict, eviction took no "
          "session and no cart (and the eviction notifications account for every eviction).", controls=(OOM_LRU,),
          mutants=("redis-allkeys-lru", "short-session-ttl"),
          unit_tests=_units("test_scenario_checks_stores", "test_policy_kept_sessions_and_carts_fails")),
    Claim("canary_sessions_and_carts_kept", ("2.1",), "The canary shoppers' sessions and carts are intact after the "
          "recovery.", controls=(OOM_LRU,)),
    Claim("eviction_took_non_essential_data_with_some_left", ("2.1",), "The fill made Redis choose: it evicted "
          "non-essential keys while some were left to evict.",
          unit_tests=_units("test_scenario_checks_stores",
                            "test_eviction_took_non_essential_data_with_some_left_fails")),
    Claim("no_stream_evicted", ("2.1",), "No stream was evicted (its unconsumed events and the consumer group would "
          "go with it).", controls=(OOM_LRU,), unit_tests=_units("test_scenario_checks_stores",
                                                                 "test_no_stream_evicted_fails")),
    Claim("no_login_lockout_counter_evicted", ("2.1",), "No failed-login counter was evicted (an evicted counter "
          "resets a lockout).", controls=(OOM_LRU,), mutants=("lockout-counters-expire-in-redis",),
          unit_tests=_units("test_scenario_checks_stores", "test_no_login_lockout_counter_evicted_fails")),
    Claim("login_lockout_counters_kept", ("2.1",), "The lockout canaries' failed-login counters are intact after "
          "the recovery.", mutants=("lockout-counters-expire-in-redis",)),
    Claim("memory_headroom_restored", ("2.1",), "After the recovery maxmemory is the configured limit and used "
          "memory is under the 90% alert.", controls=(OOM_NOT_CLEANED,)),
    Claim("no_shopper_logged_out", ("2.1",), "No load request was answered 401 from the injection on.",
          controls=(OOM_LRU,), unit_tests=_units("test_scenario_checks_stores", "test_no_shopper_logged_out_fails")),
    # -- 2.2 -----------------------------------------------------------------------------------------------------
    Claim("breaker_opened_during_the_outage", ("2.2",), "commerce's Redis circuit breaker opened during the outage.",
          controls=(BREAKER_NEVER_OPENS,), mutants=("commerce-breaker-never-opens",)),
    Claim("breaker_closed_after_recovery", ("2.2",), "The breaker closed again after the recovery.",
          controls=(REDIS_NOT_RESTARTED,)),
    Claim("persisted_session_and_cart_came_back", ("2.2",), "A session and a cart persisted (AOF) before the kill "
          "came back with Redis.", controls=(REDIS_NOT_RESTARTED,), mutants=("redis-aof-off",)),
    # -- 3.1 -----------------------------------------------------------------------------------------------------
    Claim("login_and_me_work_after_recovery", ("3.1",), "After the recovery a login and /auth/me answer 200.",
          controls=(CORE_NOT_RESTARTED,)),
    Claim("session_from_before_the_oom_still_valid", ("3.1",), "A session created before the OOM kill still "
          "validates (sessions live in Redis, not in the process).", controls=(CORE_NOT_RESTARTED,)),
    Claim("logins_fit_under_the_raised_limit", ("3.1",), "Bursts of logins under the raised memory limit are served "
          "and kill nothing.", controls=(CORE_NOT_RESTARTED,)),
    # -- 4.1 -----------------------------------------------------------------------------------------------------
    Claim("backlog_back_under_threshold", ("4.1",), "After the recovery the consumer group's backlog is under the "
          "alert threshold.", controls=(BACKLOG_NOT_RECOVERED,), mutants=("consumer-forgets-xack",)),
    Claim("every_event_consumed_or_archived", ("4.1",), "Every event the producers were acknowledged (by XADD) was "
          "consumed or archived, none lost.", mutants=("stream-capped-at-produce", "compactor-trims-unconsumed"),
          unit_tests=_units("test_scenario_checks_stores", "test_every_event_consumed_or_archived_fails")),
    Claim("every_acknowledged_orders_event_processed", ("4.1",), "Every order acknowledged during the fault had its "
          "order_placed event processed or archived.", controls=(BACKLOG_NOT_RECOVERED,),
          mutants=("order-events-renamed",),
          unit_tests=_units("test_scenario_checks_stores", "test_every_acknowledged_orders_event_processed_fails")),
    # -- 5.1 -----------------------------------------------------------------------------------------------------
    Claim("postgres_accepts_connections_after_recovery", ("5.1",), "After the recovery pg_isready succeeds.",
          controls=(DISK_NOT_RECOVERED,)),
    Claim("wal_archiving_works_after_recovery", ("5.1",), "After the recovery the next WAL segment reaches the "
          "archive.", controls=(DISK_NOT_RECOVERED,)),
    Claim("checkout_failed_while_the_disk_was_full", ("5.1",), "A checkout while the disk was full did not succeed: "
          "the fault bit.",
          unit_tests=_units("test_scenario_checks_stores", "test_checkout_failed_while_the_disk_was_full_fails")),
    # -- 5.2 -----------------------------------------------------------------------------------------------------
    Claim("no_search_hung", ("5.2",), "Every witness search during the partition answered within the services' own "
          "timeout budget.", controls=(NO_CLIENT_DEADLINE,),
          unit_tests=_units("test_scenario_checks_network", "test_no_search_hung_fails")),
    Claim("no_checkout_hung", ("5.2",), "Every witness checkout answered within its budget (payment's timeouts and "
          "retries).", mutants=("commerce-payment-timeout-30s",),
          unit_tests=_units("test_scenario_checks_network", "test_no_checkout_hung_fails")),
    Claim("no_load_request_hung", ("5.2",), "No load request (checkouts aside) ran into the load's own timeout "
          "during the partition.", controls=(NO_CLIENT_DEADLINE,), mutants=("commerce-payment-timeout-30s",),
          unit_tests=_units("test_scenario_checks_network", "test_no_load_request_hung_fails")),
    Claim("no_readiness_probe_hung", ("5.2",), "Every readiness call of an isolated service answered within the "
          "budget.", controls=(NO_CLIENT_DEADLINE,), mutants=("search-redis-timeout-10s",),
          unit_tests=_units("test_scenario_checks_network", "test_no_readiness_probe_hung_fails")),
    Claim("witness_saw_the_fault", ("5.2",), "The witness completed at least two of each of its requests during "
          "the partition.", unit_tests=_units("test_scenario_checks_network", "test_witness_saw_the_fault_fails")),
    Claim("checkout_took_orders_as_pending_payment", ("5.2",), "While payment was cut off every witness checkout "
          "took the order and answered 202 pending_payment.", mutants=("payment-outage-answered-400",),
          unit_tests=_units("test_scenario_checks_network", "test_checkout_took_orders_as_pending_payment_fails")),
    Claim("pending_orders_reconciled_after_heal", ("5.2",), "Every order the partition left pending_payment was paid "
          "within 30 s of the heal.", controls=(PARTITION_NOT_HEALED,), mutants=("reconciler-off",)),
    Claim("every_edge_answers_after_recovery", ("5.2",), "After the heal every dependency edge answers a protocol "
          "round trip.", controls=(PARTITION_NOT_HEALED,)),
    Claim("no_payment_without_its_order", ("5.2",), "No payment of the scenario lacks its order."),
    Claim("no_paid_order_without_its_payment", ("5.2",), "No order marked paid lacks a payment of its amount.",
          mutants=("payment-rounds-amount",)),
    Claim("no_acknowledged_paid_order_missing", ("5.2",), "Every order acknowledged as paid is still paid."),
    # -- 6.1 -----------------------------------------------------------------------------------------------------
    Claim("attack_source_identified", ("6.1",), "The detector, not told the address, found the attacking address in "
          "the gateway's access log.",
          unit_tests=_units("test_scenario_checks_security", "test_attack_source_identified_fails")),
    Claim("attacker_blocked_after_response", ("6.1",), "After the response every request from the attacker was "
          "refused by the gateway itself (403, or its 429), none reached a service.",
          controls=(NOT_BLOCKED, DENY_NOT_RELOADED), mutants=("gateway-deny-list-not-included",),
          unit_tests=_units("test_scenario_checks_security", "test_attacker_blocked_after_response_fails")),
    Claim("contained_within_target_s", ("6.1",), "The block was in place within the containment target of the "
          "injection.", controls=(NOT_BLOCKED, DENY_NOT_RELOADED)),
    Claim("legit_success_after_block", ("6.1",), "The shop's own traffic succeeded at its target rate after the "
          "block.", controls=(NOT_BLOCKED, DENY_NOT_RELOADED),
          unit_tests=_units("test_scenario_checks_security", "test_legit_success_after_block_fails")),
    Claim("legit_success_during_attack", ("6.1",), "The shop's own traffic succeeded at its target rate during the "
          "attack.", unit_tests=_units("test_scenario_checks_security", "test_legit_success_during_attack_fails")),
    Claim("no_injection_succeeded", ("6.1",), "Every injection payload reached a service and was answered with no "
          "rows or a validation error: never rows, never a 5xx.", mutants=("search-sql-string-formatting",),
          unit_tests=_units("test_scenario_checks_security", "test_no_injection_succeeded_fails")),
    Claim("no_500_for_attack_traffic", ("6.1",), "No attack request was answered 500.",
          unit_tests=_units("test_scenario_checks_security", "test_no_500_for_attack_traffic_fails")),
    Claim("products_and_users_tables_intact", ("6.1",), "The products table is unchanged and no user row is gone.",
          unit_tests=_units("test_scenario_checks_security", "test_products_and_users_tables_intact_fails")),
    Claim("failed_logins_in_core_platform_log", ("6.1",), "core_platform's log records the attack's failed logins "
          "with the attacker's address.",
          unit_tests=_units("test_scenario_checks_security", "test_failed_logins_in_core_platform_log_fails")),
    # -- 7.1 -----------------------------------------------------------------------------------------------------
    Claim("writes_failed_during_the_fault", ("7.1",), "A scenario file's fault bit: some of the named writes did "
          "not succeed during the fault (a fault nobody felt proves nothing about the recovery).",
          unit_tests=_units("test_scenario_files", "test_writes_failed_during_the_fault_fails_when_the_fault_bit_nothing")),
    Claim("lock_bit_checkout", ("7.1",), "Checkouts (the load's or the synthetic shoppers') failed during the fault: "
          "the lock bit.", unit_tests=_units("test_scenario_checks_database", "test_lock_bit_checkout_fails")),
    Claim("unlocked_endpoints_stayed_up", ("7.1",), "The endpoints that do not write the locked rows kept their "
          "success rate during the fault.",
          unit_tests=_units("test_scenario_checks_database", "test_unlocked_endpoints_stayed_up_fails")),
    Claim("lock_waits_at_most_one_per_checkout_sent", ("7.1",), "The statements seen waiting on the lock number at "
          "most the checkouts sent: retries did not multiply the queue.",
          unit_tests=_units("test_scenario_checks_database", "test_lock_waits_at_most_one_per_checkout_sent_fails")),
    Claim("no_blocker_left_after_recovery", ("7.1",), "After the recovery no blocker backend remains.",
          controls=(BLOCKER_STAYS,)),
    Claim("commerce_not_restarted", ("7.1",), "The recovery did not restart commerce (pid unchanged).",
          unit_tests=_units("test_scenario_checks_database", "test_commerce_not_restarted_fails")),
    # -- 8.1 -----------------------------------------------------------------------------------------------------
    Claim("release_rolled_back", ("8.1",), "After the recovery commerce runs the previous release, by the driver and "
          "by its own /health.", controls=(NOT_ROLLED_BACK,),
          unit_tests=_units("test_scenario_checks_rollback", "test_release_rolled_back_fails")),
    Claim("no_bad_release_answer_after_rollback", ("8.1",), "No load request invoked after the rollback got the bad "
          "build's answer.", controls=(NOT_ROLLED_BACK,),
          unit_tests=_units("test_scenario_checks_rollback", "test_no_bad_release_answer_after_rollback_fails")),
    Claim("success_rate_back_above_threshold", ("8.1",), "The load's success rate after the restoration is at the "
          "steady-state threshold or above.", controls=(NOT_ROLLED_BACK,),
          unit_tests=_units("test_scenario_checks_rollback", "test_success_rate_back_above_threshold_fails")),
    Claim("outage_was_measured", ("8.1",), "The bad release really hurt: success below the threshold from the "
          "landing to the restoration, with the bad build's answers among the failures.",
          unit_tests=_units("test_scenario_checks_rollback", "test_outage_was_measured_fails")),
    # -- 8.2 -----------------------------------------------------------------------------------------------------
    Claim("orders_acknowledged_before_the_damage_are_back", ("8.2",), "Every order acknowledged before the damage "
          "is back after the restore.", controls=(DUMP_WITHOUT_WAL,), mutants=("recover-without-wal",)),
    Claim("orders_after_the_backup_replayed", ("8.2",), "The orders acknowledged between the backup and the damage "
          "are back: the archived WAL was replayed.", controls=(DUMP_WITHOUT_WAL,), mutants=("recover-without-wal",)),
    Claim("deleted_orders_are_back", ("8.2",), "Every order the destructive migration deleted is back.",
          controls=(DUMP_WITHOUT_WAL,), mutants=("recover-replays-to-the-end",)),
    Claim("driver_sees_restored_postgres", ("8.2",), "After the restore the driver finds PostgreSQL running and "
          "ready, with the pid of its postmaster.pid.",
          unit_tests=_units("test_scenario_checks_rollback", "test_driver_sees_restored_postgres_fails")),
)
