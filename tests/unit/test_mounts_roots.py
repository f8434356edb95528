"""The safety rule of stack/mounts.py without root: MOUNT_ROOTS, plus the extra roots a caller
names for one call (the driver-reported PGDATA of a docker run), and what heal finds below docker volumes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from aarya_chaos.errors import FaultError
from fixtures.faults.disk import WalDiskFull, WalOnSmallDisk
from stack import mounts
from stack.drivers.fake import FakeDriver

VOLUME = Path("/var/lib/docker/volumes/aarya-chaos-stack-1a2b3c4d_pgdata/_data")
PGDATA = VOLUME / "pgdata"


def test_paths_outside_mount_roots_are_refused_without_an_extra_root(tmp_path: Path) -> None:
    with pytest.raises(FaultError, match="refusing to touch"):
        mounts._inside_roots(tmp_path / "pgdata" / "pg_wal")
    with pytest.raises(FaultError, match="refusing to touch"):
        mounts._inside_roots(PGDATA / "pg_wal")


def test_an_extra_root_allows_only_what_lies_strictly_below_it(tmp_path: Path) -> None:
    pgdata = tmp_path / "volume" / "pgdata"
    pgdata.mkdir(parents=True)
    assert mounts._inside_roots(pgdata / "pg_wal", [pgdata]) == pgdata / "pg_wal"
    for outside in (pgdata, pgdata.parent, pgdata.parent / "wal_archive", pgdata / ".." / "elsewhere"):
        with pytest.raises(FaultError, match="refusing to touch"):
            mounts._inside_roots(outside, [pgdata])
    assert mounts._inside_roots(Path("/tmp/aarya-chaos/x/pg_wal"), [pgdata]) == Path("/tmp/aarya-chaos/x/pg_wal")


def test_a_symlink_does_not_escape_an_extra_root(tmp_path: Path) -> None:
    pgdata, elsewhere = tmp_path / "pgdata", tmp_path / "elsewhere"
    pgdata.mkdir()
    elsewhere.mkdir()
    (pgdata / "pg_wal").symlink_to(elsewhere)
    with pytest.raises(FaultError, match="refusing to touch"):
        mounts._inside_roots(pgdata / "pg_wal", [pgdata])


@pytest.mark.parametrize("broad", [Path("/"), Path("/var"), Path("/var/lib"), Path("relative/pgdata")])
def test_a_broad_or_relative_extra_root_is_refused(broad: Path) -> None:
    with pytest.raises(FaultError, match="too broad|absolute"):
        mounts._inside_roots(Path("/var/lib/docker/volumes/x/_data/pgdata/pg_wal"), [broad])
    with pytest.raises(FaultError, match="too broad|absolute"):
        mounts.leftover_mounts(allowed_roots=[broad])


def test_fill_below_an_extra_root_writes_only_into_a_tmpfs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pgdata = tmp_path / "pgdata"
    (pgdata / "pg_wal").mkdir(parents=True)
    monkeypatch.setattr(mounts, "filesystem_type", lambda path: "ext4")  # the mount did not happen
    with pytest.raises(FaultError, match="not on a tmpfs"):
        mounts.fill(pgdata / "pg_wal", allowed_roots=[pgdata])
    assert list((pgdata / "pg_wal").iterdir()) == []
    with pytest.raises(FaultError, match="refusing to touch"):
        mounts.fill(pgdata / "pg_wal")  # no extra root: refused as before


def test_mount_tmpfs_takes_a_numeric_owner_and_refuses_outside_the_roots(monkeypatch: pytest.MonkeyPatch,
                                                                          tmp_path: Path) -> None:
    pgdata = tmp_path / "pgdata"
    pgdata.mkdir()
    calls: list[list[str]] = []
    mounted: set[Path] = set()

    def run(args: list[str]) -> subprocess.CompletedProcess[str]:
        calls.append(args)
        mounted.add(Path(args[-1]))
        return subprocess.CompletedProcess(args, 0, "", "")

    monkeypatch.setattr(mounts, "mount_support", lambda: None)
    monkeypatch.setattr(mounts, "_run", run)
    monkeypatch.setattr(mounts, "is_mountpoint", lambda path: Path(path) in mounted)
    mounts.mount_tmpfs(pgdata / "pg_wal", 1 << 20, owner=(999, 998), allowed_roots=[pgdata])
    assert calls[0][:3] == ["mount", "-t", "tmpfs"] and "uid=999,gid=998" in calls[0][4]
    assert calls[0][-1] == str(pgdata / "pg_wal")
    with pytest.raises(FaultError, match="refusing to touch"):
        mounts.mount_tmpfs(tmp_path / "other" / "pg_wal", 1 << 20, owner=(999, 998), allowed_roots=[pgdata])
    with pytest.raises(FaultError, match="bad owner"):
        mounts.mount_tmpfs(pgdata / "sub", 1 << 20, owner=(-1, 0), allowed_roots=[pgdata])
    assert len(calls) == 1


def test_heal_finds_a_tmpfs_below_an_aarya_chaos_volume_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mounts, "_mountinfo", lambda: [
        (Path("/"), "ext4"),
        (Path("/var/lib/docker/volumes/other-project_pgdata/_data/pgdata/pg_wal"), "tmpfs"),
        (PGDATA / "pg_wal", "tmpfs"),
        (Path("/var/lib/docker/volumes/aarya-chaos-x_redisdata/_data"), "ext4"),
        (Path("/srv/docker/volumes/aarya-chaos-y_pgdata/_data"), "tmpfs"),  # the volume itself: not below it
    ])
    roots = mounts.aarya_volume_roots()
    assert roots == [VOLUME]
    assert mounts.leftover_mounts(allowed_roots=roots) == [PGDATA / "pg_wal"]
    assert mounts.leftover_mounts() == []


def test_the_disk_fault_allows_exactly_the_pgdata_it_was_given(tmp_path: Path) -> None:
    setup = WalOnSmallDisk(FakeDriver(("postgres",)), PGDATA, 128 << 20, owner=(999, 999))
    assert setup.allowed_roots == (PGDATA,) and setup.pg_wal == PGDATA / "pg_wal"
    fault = WalDiskFull(FakeDriver(("postgres",)), setup.pg_wal, allowed_roots=setup.allowed_roots)
    assert mounts._inside_roots(fault.wal_dir, fault.allowed_roots) == PGDATA / "pg_wal"
