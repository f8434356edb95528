"""stack.pgwal.finish_interrupted_move on the states a runner killed during 5.1's WAL moves leaves (pg_wal no
longer mounted): the WAL that counts ends up in pg_wal, nothing else is mixed in."""

from __future__ import annotations

from pathlib import Path

from stack.pgwal import finish_interrupted_move


def layout(tmp_path: Path, pg_wal: list[str], aside: list[str] | None = None,
           back: list[str] | None = None) -> Path:
    pgdata = tmp_path / "pgdata"
    (pgdata / "pg_wal").mkdir(parents=True)
    for name in pg_wal:
        (pgdata / "pg_wal" / name).write_text(f"pg_wal {name}")
    for where, names in (("pg_wal.before", aside), ("pg_wal.from-tmpfs", back)):
        if names is not None:
            (tmp_path / "pg_wal-moves" / where).mkdir(parents=True)
            for name in names:
                (tmp_path / "pg_wal-moves" / where / name).write_text(f"{where} {name}")
    return pgdata


def contents(pg_wal: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(pg_wal.iterdir())}


def test_killed_after_the_unmount_the_tmpfs_copy_is_put_back(tmp_path: Path) -> None:
    """The failure the crash matrix found: pg_wal empty, the tmpfs's WAL in pg_wal.from-tmpfs."""
    pgdata = layout(tmp_path, [], aside=["000000010000000000000001"], back=["000000010000000000000002", "archive_status"])
    line = finish_interrupted_move(pgdata)
    assert line is not None and "2 entries of the tmpfs's WAL put back" in line
    assert contents(pgdata / "pg_wal") == {"000000010000000000000002": "pg_wal.from-tmpfs 000000010000000000000002",
                                          "archive_status": "pg_wal.from-tmpfs archive_status"}
    assert not (tmp_path / "pg_wal-moves").exists()


def test_killed_half_way_through_putting_it_back_the_rest_follows(tmp_path: Path) -> None:
    pgdata = layout(tmp_path, ["000000010000000000000002"], back=["000000010000000000000003"])
    finish_interrupted_move(pgdata)
    assert sorted(contents(pgdata / "pg_wal")) == ["000000010000000000000002", "000000010000000000000003"]


def test_killed_while_setting_pg_wal_aside_it_is_put_back_together(tmp_path: Path) -> None:
    pgdata = layout(tmp_path, ["000000010000000000000002"], aside=["000000010000000000000001", "archive_status"])
    line = finish_interrupted_move(pgdata)
    assert line is not None and "2 entries set aside put back" in line
    assert sorted(contents(pgdata / "pg_wal")) == ["000000010000000000000001", "000000010000000000000002",
                                                   "archive_status"]


def test_killed_after_putting_the_wal_back_the_older_copy_is_dropped(tmp_path: Path) -> None:
    pgdata = layout(tmp_path, ["000000010000000000000003", "archive_status"], aside=["archive_status"])
    line = finish_interrupted_move(pgdata)
    assert line is not None and "older copy set aside before the tmpfs dropped" in line
    assert contents(pgdata / "pg_wal") == {"000000010000000000000003": "pg_wal 000000010000000000000003",
                                          "archive_status": "pg_wal archive_status"}


def test_nothing_moved_nothing_done(tmp_path: Path) -> None:
    assert finish_interrupted_move(layout(tmp_path, ["000000010000000000000001"])) is None
