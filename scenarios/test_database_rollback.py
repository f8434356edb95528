"""Runbook 8.2: Database rollback (a bad migration destroys data; restore the database from backup).

    Targets: none in 8.2; MTTD 30 s, RTO 120 s (1.1's), RPO 1 s against the damage, no acknowledged order
             lost before the damage (those acknowledged after it are the exposure, reported apart).
    Setup:   under load, canary orders, then a backup (`stack/scripts/backup --dump`: a base backup and a
             pg_dump), then more orders after the backup.
    Inject:  a bad migration: `DELETE FROM orders` while the shop keeps taking orders.
    Detect:  the canary's `GET /api/v1/orders/<id>` answers 404 (the runbook has no detection step for 8.2).
    Recover: the runbook's order: stop the applications, restore, start them, `curl -f .../api/v1/health`;
             the restore is a point-in-time recovery to just before the damage (`stack/scripts/recover
             --target-time <damage time>`). The runbook's own command is run as written (it fails, recorded).
    Verify:  every order acknowledged before the damage is back (by id), including those written after the
             backup, every deleted order is back, checkout works, the driver sees the restored PostgreSQL;
             the write ledger, judged against the moment of damage.

Control: the runbook's intent (the newest pg_dump, no WAL replay) loses the orders after the backup.

Analysis: docs/scenarios/8.2-database-rollback.md
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import httpx
import pytest

from checks.verdict import Check, at_least, equals
from fixtures.detect.restore import orders_present
from fixtures.faults.restore import DestructiveMigration
from fixtures.recover.restore import (
    APPLICATION_SERVICES,
    Backup,
    backup_dir,
    hand_back_postgres,
    recover,
    runbook_dump_path,
    take_backup,
)
from fixtures.plugin import expect_scenario_failure
from fixtures.detect.probes import ConditionProbe
from fixtures.scenario import ScenarioRun, Targets
from load.history import Op
from scenarios.common import Canary, checkout_works, gateway, make_canary
from stack.drivers.base import Capability
from stack.waits import wait_until

DATABASE_ROLLBACK = Targets(mttd_s=30.0, rto_s=120.0, rpo_s=1.0, lost_acknowledged_writes=0, exposure_allowed=True)
CANARY_ORDERS = 2
MIN_ORDERS_AFTER_BACKUP = 3     # acknowledged orders that only WAL replay can bring back...
AFTER_BACKUP_S = 3.0            # ...acknowledged at least this long after the backup finished
ORDERS_WAIT_S = 40.0
RUNBOOK_DUMP_RESTORE = "runbook-dump-restore"  # the control: restore the newest pg_dump, no WAL replay


# -- the history, in wall-clock time (the database's clock) --------------------------------------------


def acked_orders(run: ScenarioRun) -> dict[str, dt.datetime]:
    """Order id -> when the load saw its checkout acknowledged (wall clock, UTC)."""
    acked: dict[str, dt.datetime] = {}
    for op in run.ops():
        if op.f == "checkout" and op.outcome == "ok" and op.value.get("order_id") and op.end is not None:
            acked.setdefault(str(op.value["order_id"]), _ack_time(op))
    return acked


def _ack_time(op: Op) -> dt.datetime:
    assert op.end is not None
    return dt.datetime.fromtimestamp(op.start_time + (op.end - op.start), dt.timezone.utc)


def present(run: ScenarioRun, ids: list[str]) -> set[str]:
    if not ids:
        return set()
    return {row[0] for row in run.stack.sql("SELECT id::text FROM orders WHERE id::text = ANY(%s)", (ids,))}


# -- setup --------------------------------------------------------------------------------------------


def place_order(run: ScenarioRun, canary: Canary) -> str:
    with gateway(run) as client:
        client.post("/cart/items", json={"product_id": canary.product_id, "quantity": 1},
                    headers=canary.auth).raise_for_status()
        response = client.post("/checkout", headers={**canary.auth, "Idempotency-Key": str(uuid.uuid4())})
        response.raise_for_status()
    return str(response.json()["order_id"])


def wait_for_orders_after(run: ScenarioRun, moment: dt.datetime, count: int) -> int:
    later = moment + dt.timedelta(seconds=AFTER_BACKUP_S)

    def enough() -> int | None:
        n = sum(1 for at in acked_orders(run).values() if at > later)
        return n if n >= count else None

    return wait_until("load", f"{count} orders acknowledged {AFTER_BACKUP_S:g} s after the backup", enough,
                      timeout_s=ORDERS_WAIT_S, interval_s=0.5)


# -- detection ---------------------------------------------------------------------------------------


def canary_order_gone(run: ScenarioRun, canary: Canary, order_ids: list[str]):
    """A customer looks at their orders: `GET /api/v1/orders/<id>` answers 404 for one of them."""

    def signal() -> str | None:
        with gateway(run) as client:
            for order_id in order_ids:
                try:
                    response = client.get(f"/orders/{order_id}", headers=canary.auth)
                except httpx.HTTPError:
                    continue
                if response.status_code == 404:
                    return f"GET /api/v1/orders/{order_id} (the canary's order): 404 {response.text[:120]}"
        return None

    return signal


# -- recovery ----------------------------------------------------------------------------------------


def runbook_command_as_written(run: ScenarioRun, point_in_time: bool) -> None:
    """`./scripts/recover.sh /data/backups/postgres_$(ls -t .../postgres*.sql.gz | head -1 | xargs basename)`."""
    path = runbook_dump_path(backup_dir(run.stack))
    result = recover(run.stack, path, check=False)
    run.event("runbook_recover_command", path=str(path), exit=result.code, output=result.output[-300:])
    run.notes.append(
        f"runbook: `./scripts/recover.sh /data/backups/postgres_$(ls -t /data/backups/postgres*.sql.gz | head -1 "
        f"| xargs basename)` doubles the prefix (basename already starts with postgres_): it asks for {path.name}, "
        f"and recover exits {result.code} ({result.output.splitlines()[-1][:160] if result.output else ''}); "
        f"it also restores a pg_dump, which loses everything written after the dump: "
        + ("used a point-in-time recovery (base backup + archived WAL up to just before the damage) instead"
           if point_in_time else "control: restored that newest dump (the path corrected), as the runbook means"))


def rollback_database(run: ScenarioRun, fault: DestructiveMigration, backup: Backup, *, point_in_time: bool) -> None:
    # If a step fails the fault's heal starts PostgreSQL and the applications again.
    for name in APPLICATION_SERVICES:                           # docker-compose stop core_platform commerce payment
        run.stack.stop_component(name)
    run.event("applications_stopped", services=list(APPLICATION_SERVICES))
    runbook_command_as_written(run, point_in_time)
    if point_in_time:
        assert fault.damaged_at is not None
        result = recover(run.stack, target_time=fault.damaged_at)
        pid = hand_back_postgres(run.stack)
        run.event("database_restored", how="base backup + WAL to the damage", duration_s=result.duration_s,
                  postgres_pid=pid)
    else:
        assert backup.dump is not None
        result = recover(run.stack, backup.dump)
        run.event("database_restored", how=f"pg_dump {backup.dump.name}", duration_s=result.duration_s)
    run.notes.append(f"recover ({result.duration_s} s): " + " | ".join(result.stdout.strip().splitlines())[-600:])
    for name in APPLICATION_SERVICES:                           # docker-compose start core_platform commerce payment
        run.stack.start_component(name)
    with gateway(run) as client:                                # curl -f https://api.yourdomain.com/api/v1/health
        client.get("/health").raise_for_status()


# -- verification -------------------------------------------------------------------------------------


def acknowledged_before_damage_back(fault: DestructiveMigration):
    def check(run: ScenarioRun) -> Check:
        assert fault.damaged_at is not None
        before = sorted(i for i, at in acked_orders(run).items() if at < fault.damaged_at)
        missing = sorted(set(before) - present(run, before))
        return Check("orders_acknowledged_before_the_damage_are_back", not missing, len(missing), 0,
                     f"{len(before) - len(missing)} of {len(before)} back; missing: {', '.join(missing[:10])}")

    return check


def written_after_backup_replayed(fault: DestructiveMigration, backup: Backup):
    """The orders acknowledged between the backup and the damage: only WAL replay brings them back."""

    def check(run: ScenarioRun) -> Check:
        assert fault.damaged_at is not None
        between = sorted(i for i, at in acked_orders(run).items() if backup.finished_at < at < fault.damaged_at)
        back = present(run, between)
        if len(between) < MIN_ORDERS_AFTER_BACKUP:
            return at_least("orders_after_the_backup_replayed", len(between), MIN_ORDERS_AFTER_BACKUP)
        return equals("orders_after_the_backup_replayed", f"{len(back)} of {len(between)}",
                      f"{len(between)} of {len(between)}")

    return check


def deleted_orders_back(fault: DestructiveMigration):
    def check(run: ScenarioRun) -> Check:
        missing = sorted(set(fault.deleted_ids) - present(run, fault.deleted_ids))
        return Check("deleted_orders_are_back", not missing, len(missing), 0,
                     f"{len(fault.deleted_ids) - len(missing)} of {len(fault.deleted_ids)} deleted orders back")

    return check


def pid_in_its_namespace(pid: int | None) -> int | None:
    """The pid as the process sees itself (the last NSpid of /proc/<pid>/status): a container's main
    process is pid 1 inside, and that is what its postmaster.pid holds; outside a container, the pid."""
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("NSpid:"):
                return int(line.split()[-1])
    except (OSError, ValueError, IndexError):
        return None
    return pid


def driver_sees_postgres(run: ScenarioRun) -> Check:
    """driver.status() finds the restored PostgreSQL (the pid in postmaster.pid) and it answers."""
    status = {s.name: s for s in run.stack.status(probe=True)}["postgres"]
    try:
        on_file = int((run.stack.postgres_files().pgdata / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        on_file = None
    seen = pid_in_its_namespace(status.pid)
    ok = bool(status.running and status.ready and seen is not None and seen == on_file)
    inside = f" ({seen} in its namespace)" if seen != status.pid else ""
    return Check("driver_sees_restored_postgres", ok,
                 f"running={status.running} ready={status.ready} pid={status.pid}{inside}",
                 f"running, ready, pid {on_file} (postmaster.pid)", status.detail)


def record_expected_loss(run: ScenarioRun, fault: DestructiveMigration, backup: Backup) -> None:
    assert fault.damaged_at is not None
    acked = acked_orders(run)
    after_backup = sorted((at, i) for i, at in acked.items() if at > backup.finished_at)
    back = present(run, [i for _, i in after_backup])
    lost = [(at, i) for at, i in after_backup if i not in back]
    damage = fault.damaged_at.astimezone(dt.timezone.utc).isoformat(timespec="milliseconds")
    run.notes.append(
        f"backup finished {backup.finished_at.isoformat(timespec='milliseconds')}, damage (recovery target) at "
        f"{damage}; {len(after_backup)} orders acknowledged after the backup, {len(after_backup) - len(lost)} back, "
        f"{len(lost)} lost")
    before = [i for at, i in lost if at < fault.damaged_at]
    after = [f"{i} (acked {at.isoformat(timespec='milliseconds')})" for at, i in lost if at >= fault.damaged_at]
    run.notes.append(f"lost orders acknowledged BEFORE the damage (must be none): {', '.join(before) or 'none'}")
    run.notes.append("lost orders acknowledged after the damage, before the applications stopped (the expected loss "
                     f"of a rollback to before the damage): {', '.join(after) or 'none'}")


# -- the scenario --------------------------------------------------------------------------------------


def database_rollback(run: ScenarioRun, *, point_in_time: bool = True) -> None:
    run.steady_state()
    canary = make_canary(run, product_id=23)
    canary_orders = [place_order(run, canary) for _ in range(CANARY_ORDERS)]
    backup = take_backup(run.stack, dump=True)
    run.event("backup_taken", base=backup.base.name, dump=backup.dump.name if backup.dump else None,
              finished_at=backup.finished_at.isoformat())
    wait_for_orders_after(run, backup.finished_at, MIN_ORDERS_AFTER_BACKUP)
    fault = DestructiveMigration(run.stack)
    with ConditionProbe(run.history, "orders_present", orders_present(run.stack, canary_orders)):
        with run.inject(fault):
            assert fault.damaged_at is not None
            run.failure_at = run.mono_of(fault.damaged_at.timestamp())  # the RPO is judged against the damage
            run.detect("a customer's order is gone (GET /api/v1/orders/<id> answers 404)",
                       canary_order_gone(run, canary, canary_orders))
            how = ("point-in-time recovery to just before the damage" if point_in_time
                   else "the runbook's restore of the newest pg_dump (no WAL replay)")
            run.recover(f"stop core_platform commerce payment; restore the database ({how}); start them",
                        lambda: rollback_database(run, fault, backup, point_in_time=point_in_time))
            run.judge_recovery(acknowledged_before_damage_back(fault), written_after_backup_replayed(fault, backup),
                               deleted_orders_back(fault), lambda r: checkout_works(r, product_id=11),
                               driver_sees_postgres)
    record_expected_loss(run, fault, backup)
    run.verify()


@pytest.mark.rollback
@pytest.mark.needs(Capability.POSTGRES_FILES)
def test_database_rollback(chaos):
    database_rollback(chaos.start("8.2", "Database rollback", DATABASE_ROLLBACK))


@pytest.mark.rollback
@pytest.mark.control
@pytest.mark.needs(Capability.POSTGRES_FILES)
def test_database_rollback_control_dump_without_wal(chaos):
    run = chaos.start("8.2", "Database rollback", DATABASE_ROLLBACK, control=RUNBOOK_DUMP_RESTORE)
    with expect_scenario_failure() as failure:
        database_rollback(run, point_in_time=False)
    failed = {c.name for c in failure.value.failed}
    assert {"orders_acknowledged_before_the_damage_are_back", "orders_after_the_backup_replayed",
            "deleted_orders_are_back", "no_lost_acknowledged_orders", "rpo_within_target"} <= failed, failed
