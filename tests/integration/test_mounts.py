"""Real size-limited tmpfs mounts: fill to ENOSPC, free, unmount, find leftovers."""

from __future__ import annotations

import errno
import os
import pwd
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from aarya_chaos.errors import FaultError
from stack.mounts import (
    MOUNT_ROOTS,
    fill,
    free_bytes,
    is_mountpoint,
    leftover_mounts,
    mount_support,
    mount_tmpfs,
    unmount,
)

pytestmark = pytest.mark.integration

MB = 1 << 20
BASE = MOUNT_ROOTS[0] / "pytest-mounts"

_REASON = mount_support()
needs_mount = pytest.mark.skipif(_REASON is not None, reason=_REASON or "")


@pytest.fixture
def mount_dir() -> Iterator[Path]:
    """A fresh directory below MOUNT_ROOTS; whatever gets mounted there is unmounted at teardown."""
    path = BASE / f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    path.mkdir(parents=True)
    yield path
    try:
        unmount(path)
    finally:
        assert not is_mountpoint(path)
        for leftover in path.iterdir():
            leftover.unlink()
        path.rmdir()


@needs_mount
def test_fill_to_enospc_then_free(mount_dir: Path) -> None:
    mount_tmpfs(mount_dir, 16 * MB)
    assert is_mountpoint(mount_dir)
    assert mount_dir in leftover_mounts()
    assert 15 * MB <= free_bytes(mount_dir) <= 16 * MB
    assert (os.stat(mount_dir).st_mode & 0o777) == 0o700

    filler = fill(mount_dir)
    assert filler.parent == mount_dir and filler.exists()
    assert filler.stat().st_size >= 15 * MB
    assert free_bytes(mount_dir) < 64 * 1024

    with pytest.raises(OSError) as caught:
        with open(mount_dir / "one-more", "wb") as f:
            f.write(b"x" * 65536)
            f.flush()
    assert caught.value.errno == errno.ENOSPC

    (mount_dir / "one-more").unlink(missing_ok=True)
    filler.unlink()
    assert free_bytes(mount_dir) >= 15 * MB
    (mount_dir / "after").write_bytes(b"y" * MB)  # writes work again

    unmount(mount_dir)
    assert not is_mountpoint(mount_dir)
    assert not (mount_dir / "after").exists()  # it lived on the tmpfs
    unmount(mount_dir)  # idempotent


@needs_mount
def test_fill_leaves_requested_space(mount_dir: Path) -> None:
    mount_tmpfs(mount_dir, 16 * MB)
    fill(mount_dir, leave_bytes=4 * MB, chunk=256 * 1024)
    left = free_bytes(mount_dir)
    assert 4 * MB - 64 * 1024 <= left <= 4 * MB + 64 * 1024, left
    second = fill(mount_dir)  # then the rest
    assert free_bytes(mount_dir) < 64 * 1024
    assert second.exists()


@needs_mount
def test_owner_and_mode(mount_dir: Path) -> None:
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user 'nobody'")
    mount_tmpfs(mount_dir, 4 * MB, owner="nobody", mode=0o750)
    st = os.stat(mount_dir)
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (nobody.pw_uid, nobody.pw_gid, 0o750)
    with pytest.raises(FaultError, match="already a mount point"):
        mount_tmpfs(mount_dir, 4 * MB)
    with pytest.raises(FaultError, match="no such user"):
        mount_tmpfs(mount_dir / "sub", 4 * MB, owner="no-such-user-aarya")


def test_paths_outside_the_roots_are_refused(tmp_path: Path) -> None:
    for bad in (Path("/mnt/aarya-test"), tmp_path, MOUNT_ROOTS[0], MOUNT_ROOTS[0] / ".." / "elsewhere",
                Path("/tmp/aarya-chaos-evil/x")):
        with pytest.raises(FaultError, match="refusing"):
            mount_tmpfs(bad, MB)
        with pytest.raises(FaultError, match="refusing"):
            unmount(bad)
    with pytest.raises(FaultError, match="refusing"):
        fill(tmp_path)
    assert not Path("/mnt/aarya-test").exists()


@needs_mount
def test_symlink_escaping_the_roots_is_refused(mount_dir: Path, tmp_path: Path) -> None:
    link = mount_dir / "escape"
    link.symlink_to(tmp_path)
    with pytest.raises(FaultError, match="refusing"):
        mount_tmpfs(link, MB)
    assert not is_mountpoint(tmp_path)


@needs_mount
def test_leftover_mounts_finds_and_unmount_heals(mount_dir: Path) -> None:
    nested = mount_dir / "data"
    mount_tmpfs(mount_dir, 4 * MB)
    mount_tmpfs(nested, 2 * MB)
    # As `aarya-chaos heal` would after a crash; other runs may have their own mounts, touch only ours.
    ours = [p for p in leftover_mounts() if p == mount_dir or mount_dir in p.parents]
    assert ours == [nested, mount_dir]  # deepest first
    for path in ours:
        unmount(path)
    assert not any(p == mount_dir or mount_dir in p.parents for p in leftover_mounts())


@needs_mount
def test_busy_mount_is_detached_lazily(mount_dir: Path) -> None:
    mount_tmpfs(mount_dir, 4 * MB)
    with open(mount_dir / "held-open", "wb") as held:
        held.write(b"z")
        unmount(mount_dir)  # umount fails with EBUSY, umount -l detaches
        assert not is_mountpoint(mount_dir)


def test_support_reason_when_not_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    reason = mount_support()
    assert reason is not None and "root" in reason


@needs_mount
def test_heal_copies_the_wal_of_a_killed_disk_scenario_back_before_unmounting(mount_dir: Path) -> None:
    """A 5.1 run SIGKILLed with pg_wal on its tmpfs: the tmpfs holds the newest WAL, the real disk's copy
    moved aside is older. Heal puts the tmpfs's WAL back in pg_wal, unmounts, and drops the old copy."""
    from stack.pgwal import rescue_wal_from_tmpfs

    pg_wal = mount_dir / "pgdata" / "pg_wal"
    aside = mount_dir / "pg_wal-moves" / "pg_wal.before"
    pg_wal.mkdir(parents=True)
    aside.mkdir(parents=True)
    (aside / "000000010000000000000001").write_bytes(b"old")
    mount_tmpfs(pg_wal, 4 * MB)
    (pg_wal / "000000010000000000000001").write_bytes(b"old+new")
    (pg_wal / "000000010000000000000002").write_bytes(b"newest")
    (pg_wal / "archive_status").mkdir()
    (pg_wal / ".aarya-chaos-filler-x").write_bytes(b"\0" * MB)
    with (pg_wal / "000000010000000000000002").open("rb"):  # PostgreSQL still running: refused
        assert "still in use" in rescue_wal_from_tmpfs(pg_wal)
    assert is_mountpoint(pg_wal)
    assert "copied back" in rescue_wal_from_tmpfs(pg_wal)
    assert not is_mountpoint(pg_wal)
    assert sorted(p.name for p in pg_wal.iterdir()) == ["000000010000000000000001", "000000010000000000000002",
                                                         "archive_status"]
    assert (pg_wal / "000000010000000000000001").read_bytes() == b"old+new"
    assert not (mount_dir / "pg_wal-moves").exists()
    shutil.rmtree(mount_dir / "pgdata")
