"""Runbook 5.1: Disk space exhaustion (the disk fills up, writes fail).

    Targets: none in the runbook; MTTD 30 s, RTO 120 s (1.1's), RPO 0 and no acknowledged order lost.
    Prepare: before the steady state, PostgreSQL's `pg_wal` is moved onto a small tmpfs (128 MiB, or the WAL
             present plus 64 MiB), PostgreSQL stopped and started around the move.
    Inject:  fill that filesystem to ENOSPC and force a WAL switch (`pg_switch_wal()`): PostgreSQL PANICs with
             "No space left on device" and shuts down. Checkouts fail.
    Detect:  `df -h` shows the filesystem full, and PostgreSQL's log shows ENOSPC / PANIC.
    Recover: the runbook's steps where they apply: `du -sh ... | sort -h`, remove from the top what is not
             PostgreSQL's (WAL is never deleted by hand), clear old backups (a corrected command, see the
             notes), then restart PostgreSQL, which the runbook's 5.1 forgets.
    Verify:  checkouts failed while the disk was full; after the recovery: PostgreSQL accepts connections,
             checkout works, WAL archiving works; the write ledger (after pg_wal is back on the real disk).

Control: the recovery skipped (RTO, PostgreSQL up, checkout and WAL archiving fail).

Analysis: docs/scenarios/5.1-disk-exhaustion.md
"""

from __future__ import annotations

import os
import re
import time
import uuid
from pathlib import Path

import httpx
import pytest

from aarya_chaos.errors import FaultError, NotReady
from checks.verdict import Check
from fixtures.detect.disk import disk_full_seen
from fixtures.faults.disk import WalDiskFull, WalOnSmallDisk, wal_on_small_disk
from fixtures.recover.disk import ensure_postgres_up
from fixtures.plugin import expect_scenario_failure
from fixtures.scenario import SKIP_RECOVERY, ScenarioRun, Targets
from fixtures.detect.probes import health_endpoints
from scenarios.common import CONTROL_WAIT_S, Canary, checkout_works, gateway, make_canary
from stack.drivers.base import Capability
from stack import mounts
from stack.waits import wait_until

DISK_FULL = Targets(mttd_s=30.0, rto_s=120.0, rpo_s=0.0, lost_acknowledged_writes=0)
WAL_DISK_BYTES = 128 << 20
KEEP_BACKUPS = 7          # "clear old backups": keep the newest week of daily dumps, whatever else happens
ARCHIVE_WAIT_S = 10.0     # a healthy archiver copies a 16 MB segment in well under a second
RUNBOOK_BACKUP_LINE = "rm -f /data/backups/$(ls -t /data/backups/*.sql.gz | tail -20)"


def checkout(run: ScenarioRun, canary: Canary) -> int | str:
    with gateway(run) as client:
        try:
            return client.post("/checkout", headers={**canary.auth, "Idempotency-Key": str(uuid.uuid4())}).status_code
        except httpx.HTTPError as exc:
            return type(exc).__name__


# What PostgreSQL keeps in pg_wal: segments (24 hex digits, maybe .partial), timeline histories, backup
# labels, archive_status/ and summaries/ (PostgreSQL 17). Anything else there is not PostgreSQL's.
POSTGRES_WAL_FILE = re.compile(r"^([0-9A-F]{24}(\.partial|\.[0-9A-F]{8}\.backup)?|[0-9A-F]{8}\.history|"
                               r"archive_status|summaries|xlogtemp\.\d+)$")


def largest_consumers(directory: Path) -> list[tuple[Path, int]]:
    """`du -sh <dir>/* | sort -h`, largest first."""
    def size(path: Path) -> int:
        if path.is_file() or path.is_symlink():
            return path.lstat().st_size
        return sum(p.lstat().st_size for p in path.rglob("*"))

    return sorted(((p, size(p)) for p in directory.iterdir()), key=lambda item: item[1], reverse=True)


def clear_old_backups(run: ScenarioRun, backup_dir: Path, full_fs: Path) -> None:
    """Step 3, corrected: delete dumps older than the newest KEEP_BACKUPS, only if that frees the full disk."""
    run.notes.append(
        f"runbook: `{RUNBOOK_BACKUP_LINE}` is wrong: the glob makes `ls` print full paths, so the first one is "
        "prefixed twice (/data/backups//data/backups/...) and silently skipped by -f while the rest are deleted; "
        "`tail -20` picks the 20 OLDEST, so with 20 dumps or fewer it deletes all but the newest (kept only by "
        "that accident), with 25 it keeps 6; with no dump at all it runs `rm -f /data/backups/` (fails: 'Is a "
        "directory'); base backups (directories) are never considered. Used instead: "
        f"`ls -1t /data/backups/postgres_*.sql.gz | tail -n +{KEEP_BACKUPS + 1} | xargs -r rm -f --` "
        "(keep the newest), and only on the filesystem that is full")
    if not backup_dir.is_dir() or os.stat(backup_dir).st_dev != os.stat(full_fs).st_dev:
        run.notes.append(f"runbook 5.1 step 3: backups ({backup_dir}) are not on the full filesystem; deleting them "
                         "would free nothing there, none deleted")
        return
    dumps = sorted(backup_dir.glob("postgres_*.sql.gz"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in dumps[KEEP_BACKUPS:]:
        old.unlink()
    run.notes.append(f"runbook 5.1 step 3: deleted {len(dumps[KEEP_BACKUPS:])} old dump(s), kept {KEEP_BACKUPS}")


def tmpfs_seen_by_postgres(run: ScenarioRun, disk: WalOnSmallDisk) -> str:
    """`df -P <pg_wal>` where PostgreSQL runs shows the tmpfs (on docker: inside the container, which sees
    the host's mount because Docker binds volumes recursively). Returns the df line; FaultError if not."""
    inside = f"{run.stack.postgres_files().pgdata_in_component}/pg_wal"
    code, out = run.stack.exec("postgres", ["df", "-P", "-B1", inside])
    line = out.strip().splitlines()[-1] if out.strip() else ""
    fields = line.split()
    size = int(fields[1]) if len(fields) >= 6 and fields[1].isdigit() else None
    if code != 0 or fields[:1] != ["tmpfs"] or size != disk.size_bytes:
        raise FaultError(f"postgres does not see the {disk.size_bytes}-byte tmpfs at {inside} "
                         f"(df: exit {code}: {out.strip()[:300]}); the fill would not reach it")
    return line


def free_space_and_restart(run: ScenarioRun, disk: WalOnSmallDisk, backups: Path) -> None:
    full = disk.pg_wal
    consumers = largest_consumers(full)  # 1. du -sh /data/* | sort -h
    run.notes.append(f"runbook 5.1 step 1, du on {full}: " +
                     ", ".join(f"{p.name} {n / (1 << 20):.1f} MiB" for p, n in consumers[:4]))
    # From the top of du's ranking, what is not PostgreSQL's. WAL is never deleted by hand: that loses data.
    removed = [(path, size) for path, size in consumers if not POSTGRES_WAL_FILE.match(path.name) and size > 0]
    for path, _ in removed:
        path.unlink()
    run.event("largest_non_postgres_removed", files=[f"{p.name} ({n} bytes)" for p, n in removed])
    clear_old_backups(run, backups, full)  # 3. clear old backups
    run.notes.append(
        "runbook 5.1 steps 2, 4, 5 (docker log rotation, BGREWRITEAOF, docker system prune) not run: the full "
        f"filesystem is the pg_wal tmpfs (st_dev {os.stat(full).st_dev}), not where container logs, Redis's AOF "
        f"and images live ({disk.pgdata} is on st_dev {os.stat(disk.pgdata).st_dev}): rotating logs, rewriting "
        "the AOF or pruning would free nothing there, and `docker system prune` on a shared engine would also "
        "remove other runs' stopped containers and unused images")
    run.notes.append(f"df {full} after: {mounts.free_bytes(full)} bytes free")
    ensure_postgres_up(run.stack)  # restart PostgreSQL if it crashed (1.1 step 3; missing from 5.1)
    run.notes.append("runbook: 5.1's recovery frees space but never restarts PostgreSQL, which PANICked on "
                     "WAL ENOSPC and shut down after its crash recovery failed too; freeing space alone leaves "
                     f"the outage on; added `docker restart {run.stack.config.postgres.container}` (1.1 step 3)")


def wal_back_on_disk(run: ScenarioRun, disk: WalOnSmallDisk) -> Check:
    code, ready = run.stack.pg_isready()
    run_dir = disk.pgdata.parent
    leftovers = mounts.leftover_mounts(allowed_roots=disk.allowed_roots)
    measured = {"pg_wal_mounted": mounts.is_mountpoint(disk.pg_wal), "tmpfs_mounts": len(
        [m for m in leftovers if m.is_relative_to(run_dir)]), "pg_isready": code}
    return Check("pg_wal_back_on_the_real_disk_and_postgres_up", measured == {
        "pg_wal_mounted": False, "tmpfs_mounts": 0, "pg_isready": 0}, measured,
        {"pg_wal_mounted": False, "tmpfs_mounts": 0, "pg_isready": 0}, ready.strip())


def checkout_failed_while_full(status: int | str) -> Check:
    """The fault bit the shop: a checkout while the disk was full did not succeed."""
    return Check("checkout_failed_while_the_disk_was_full", status not in (200, 201, 202), status, "not 2xx")


def postgres_up(run: ScenarioRun) -> Check:
    code, ready = run.stack.pg_isready()
    return Check("postgres_accepts_connections_after_recovery", code == 0, code, 0, ready.strip()[:200])


def wal_archiving_works(run: ScenarioRun, archive_dir: Path) -> Check:
    """After the recovery the archiver keeps up: the segment we switch away from reaches the archive.

    The runbook's RPO rests on WAL archiving; an archiver stuck after the crash silently ends PITR, and its
    unarchived segments pile up in pg_wal until the disk is full again.
    """
    name, target = "wal_archiving_works_after_recovery", f"the next segment archived within {ARCHIVE_WAIT_S:g} s"
    segment = None
    try:
        run.stack.sql("SELECT txid_current()")
        segment = run.stack.sql("SELECT pg_walfile_name(pg_switch_wal())")[0][0]
        wait_until("postgres archiver", str(segment), lambda: run.stack.sql(
            "SELECT last_archived_wal FROM pg_stat_archiver WHERE last_archived_wal >= %s", (segment,)) or None,
            timeout_s=ARCHIVE_WAIT_S, interval_s=0.2)
        return Check(name, True, {"archived": segment}, target)
    except Exception as exc:  # PostgreSQL down, or the archiver stuck
        facts: dict[str, object] = {"switched": segment, "error": f"{type(exc).__name__}"}
        try:
            failed, count = run.stack.sql("SELECT last_failed_wal, failed_count FROM pg_stat_archiver")[0]
            copy = archive_dir / str(failed)
            facts.update(stuck_on=failed, failed_count=count,
                         archived_copy_bytes=copy.stat().st_size if copy.exists() else None)
        except Exception:  # noqa: BLE001 - PostgreSQL is down: the error above says so
            pass
        return Check(name, False, facts, target,
                     f"the segment was not archived within {ARCHIVE_WAIT_S:g} s: PostgreSQL down, or the "
                     "archive_command failing on it (see pg_stat_archiver's last_failed_wal and failed_count)")


def wait_healthy(run: ScenarioRun) -> None:
    """After pg_wal moved back (a planned PostgreSQL restart), wait until every service is ready again."""
    urls = health_endpoints(run.stack)

    def green() -> bool:
        with httpx.Client(timeout=1) as client:
            return all(client.get(url).status_code == 200 for url in urls.values())

    started = time.monotonic()
    try:
        wait_until("stack", "health endpoints", green, timeout_s=30, interval_s=0.2)
        run.notes.append(f"every service ready {time.monotonic() - started:.1f} s after pg_wal moved back")
    except NotReady as exc:
        run.notes.append(f"after pg_wal moved back the stack was not healthy: {exc}"[:300])


def disk_exhaustion(run: ScenarioRun) -> None:
    reason = mounts.mount_support()
    if reason is not None:
        pytest.skip(f"5.1 needs a size-limited tmpfs under PostgreSQL's data dir: {reason}")
    files = run.stack.postgres_files()  # host paths on either driver; uid/gid by number (docker)
    with wal_on_small_disk(run.stack, files.pgdata, WAL_DISK_BYTES, owner=(files.uid, files.gid),
                           registry=run.registry) as disk:
        run.notes.append(f"preparation: {disk.name} at {disk.pg_wal} (owner {files.uid}:{files.gid}; before the "
                         "steady state; the fault is the fill)")
        run.notes.append("postgres sees the tmpfs (df -P -B1 pg_wal where it runs): "
                         + tmpfs_seen_by_postgres(run, disk))
        run.steady_state()
        canary = make_canary(run)
        fault = WalDiskFull(run.stack, disk.pg_wal, archive_dir=files.wal_archive, allowed_roots=disk.allowed_roots)
        with run.inject(fault):
            run.detect("df -h: the filesystem is full; PostgreSQL log: No space left on device / PANIC",
                       disk_full_seen(fault))
            during = checkout(run, canary)
            run.recover("free the space (du; remove the largest consumer that is not PostgreSQL's; old "
                        "backups); restart PostgreSQL", lambda: free_space_and_restart(run, disk, files.backups))
            run.judge_recovery(postgres_up, lambda r: checkout_works(r, product_id=11),
                               lambda r: wal_archiving_works(r, files.wal_archive))  # before heal repairs it
        if fault.repaired:
            run.notes.append(f"heal removed the archived copies that blocked the WAL archiver: {fault.repaired}")
    run.notes.append("after the recovery pg_wal was moved back to the real disk (a planned PostgreSQL restart, "
                     "in the recovery window); the data checks ran after that")
    moved_back = wal_back_on_disk(run, disk)
    if not moved_back.passed:
        raise FaultError(f"the preparation's undo failed, pg_wal is not back on the real disk: {moved_back.measured}")
    wait_healthy(run)
    run.verify(
        checkout_failed_while_full(during),
    )


@pytest.mark.infrastructure
@pytest.mark.needs(Capability.POSTGRES_FILES)
def test_disk_exhaustion(chaos):
    disk_exhaustion(chaos.start("5.1", "Disk space exhaustion", DISK_FULL))


@pytest.mark.infrastructure
@pytest.mark.control
@pytest.mark.needs(Capability.POSTGRES_FILES)
def test_disk_exhaustion_control_without_recovery(chaos):
    run = chaos.start("5.1", "Disk space exhaustion", DISK_FULL, control=SKIP_RECOVERY,
                      restore_timeout_s=CONTROL_WAIT_S)
    with expect_scenario_failure() as failure:
        disk_exhaustion(run)
    failed = {c.name for c in failure.value.failed}
    assert {"restored_within_rto_target", "postgres_accepts_connections_after_recovery",
            "checkout_works_after_recovery", "wal_archiving_works_after_recovery"} <= failed, failed
