"""Disk-full pieces without root: PostgreSQL log times, the landing rule, heal, and the archive repair."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

from aarya_chaos.errors import FaultError
from fixtures.diagnose.disk import pg_log_since, pg_log_time
from fixtures.faults.disk import WalDiskFull, WalOnSmallDisk, repair_stuck_archive
from stack.mounts import FILLER_PREFIX
from stack.drivers.fake import FakeDriver

SEGMENT = "000000010000000000000002"
PANIC = ('2026-11-28 16:04:17.122 UTC [3428] postgres@aarya/[unknown] PANIC:  could not write to file '
         '"pg_wal/xlogtemp.3428": No space left on device')
PANIC_AT = datetime(2026, 11, 28, 16, 4, 17, 122000, tzinfo=timezone.utc).timestamp()


class LoggingDriver(FakeDriver):
    def __init__(self, log: list[str]) -> None:
        super().__init__(("postgres",))
        self.log = log

    def grep_logs(self, name: str, pattern: str, lines: int = 1000) -> list[str]:
        return [line for line in self.log if re.search(pattern, line, re.IGNORECASE)]


def test_pg_log_time_reads_the_m_prefix() -> None:
    assert pg_log_time(PANIC) == PANIC_AT
    assert pg_log_time("=== 2026-11-28T16:04:11 starting postgres") is None


def test_only_lines_stamped_after_the_injection_count() -> None:
    stack = LoggingDriver([PANIC])
    assert pg_log_since(stack, "No space left", PANIC_AT - 1) == [PANIC]
    assert pg_log_since(stack, "No space left", PANIC_AT + 1) == []  # an earlier run's PANIC


def test_lands_on_the_log_line_only_once_postgres_refuses_connections(tmp_path: Path) -> None:
    stack = LoggingDriver([PANIC])
    fault = WalDiskFull(stack, tmp_path)
    fault.injected_wall = PANIC_AT - 1
    assert fault.landed() is None  # the line alone: it still accepts connections
    stack.running["postgres"] = False
    evidence = fault.landed()
    assert evidence is not None and "No space left on device" in evidence.summary
    assert evidence.facts["log"] == [PANIC]
    fault.injected_wall = PANIC_AT + 1
    assert fault.landed() is None


def test_heal_removes_the_filler_and_restarts_postgres(tmp_path: Path) -> None:
    stack = LoggingDriver([])
    stack.running["postgres"] = False
    (tmp_path / f"{FILLER_PREFIX}abc").write_bytes(b"x" * 10)
    (tmp_path / SEGMENT).write_bytes(b"wal")
    WalDiskFull(stack, tmp_path).heal()
    assert sorted(p.name for p in tmp_path.iterdir()) == [SEGMENT]
    assert stack.running["postgres"] and stack.calls == [("restart", "postgres")]


def _wal(tmp_path: Path, archived: bytes | None, ready: bool = True) -> tuple[Path, Path]:
    wal, archive = tmp_path / "pg_wal", tmp_path / "wal_archive"
    (wal / "archive_status").mkdir(parents=True)
    archive.mkdir()
    (wal / SEGMENT).write_bytes(bytes(range(256)) * 64)
    if ready:
        (wal / "archive_status" / f"{SEGMENT}.ready").touch()
    if archived is not None:
        (archive / SEGMENT).write_bytes(archived)
    return wal, archive


def test_a_torn_copy_that_blocks_the_archiver_is_removed(tmp_path: Path) -> None:
    wal, archive = _wal(tmp_path, (bytes(range(256)) * 64)[:1000])
    assert repair_stuck_archive(wal, archive) == [SEGMENT]
    assert not (archive / SEGMENT).exists() and (wal / SEGMENT).exists()


def test_a_complete_copy_never_marked_done_is_removed_so_it_is_archived_again(tmp_path: Path) -> None:
    wal, archive = _wal(tmp_path, bytes(range(256)) * 64)
    assert repair_stuck_archive(wal, archive) == [SEGMENT]


def test_other_archived_files_are_left_alone(tmp_path: Path) -> None:
    wal, archive = _wal(tmp_path, b"another cluster's segment")
    assert repair_stuck_archive(wal, archive) == []
    done_wal, done_archive = _wal(tmp_path / "done", bytes(range(256)) * 64, ready=False)
    assert repair_stuck_archive(done_wal, done_archive) == []
    assert (archive / SEGMENT).exists() and (done_archive / SEGMENT).exists()


def test_restore_puts_back_wal_moved_aside_when_the_mount_never_happened(tmp_path: Path) -> None:
    stack = LoggingDriver([])
    stack.running["postgres"] = False
    setup = WalOnSmallDisk(stack, tmp_path / "pgdata", 128 << 20)
    setup.pg_wal.mkdir(parents=True)
    setup.aside.mkdir(parents=True)
    (setup.aside / SEGMENT).write_bytes(b"wal")
    setup.prepared = True  # prepare moved the WAL aside, then failed before the tmpfs was mounted
    setup.restore()
    assert (setup.pg_wal / SEGMENT).read_bytes() == b"wal"
    assert not setup.aside.exists() and stack.running["postgres"]
    setup.restore()  # idempotent
    assert stack.calls == [("restart", "postgres")]


def test_restore_never_mixes_two_wal_directories(tmp_path: Path) -> None:
    setup = WalOnSmallDisk(LoggingDriver([]), tmp_path / "pgdata", 128 << 20)
    setup.pg_wal.mkdir(parents=True)
    setup.aside.mkdir(parents=True)
    (setup.pg_wal / SEGMENT).write_bytes(b"new")
    (setup.aside / SEGMENT).write_bytes(b"old")
    setup.prepared = True
    with pytest.raises(FaultError, match="not empty"):
        setup.restore()
    assert (setup.pg_wal / SEGMENT).read_bytes() == b"new" and (setup.aside / SEGMENT).read_bytes() == b"old"
