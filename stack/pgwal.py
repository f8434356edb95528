"""PostgreSQL's pg_wal moved between disks without ever losing a segment, and rescued from a tmpfs after a crash.

Runbook 5.1 puts pg_wal on a size-limited tmpfs (fixtures/faults/disk.py). When the run that did that dies
without healing, the WAL that counts is on the tmpfs: `rescue_wal_from_tmpfs` copies it to the real disk
(fsynced) before the unmount. It is here, below the drivers, because the next start of any run and
`aarya-chaos down` clear a dead run's mounts before anything else touches its data.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from aarya_chaos.errors import FaultError
from stack import mounts


def copy_entry(src: Path, dst: Path, *, fsync: bool) -> None:
    """Copy a file or directory tree, keeping mode, times and owner (we run as root, PostgreSQL does not)."""
    st = src.lstat()
    if src.is_dir() and not src.is_symlink():
        dst.mkdir(exist_ok=True)
        for child in sorted(src.iterdir()):
            copy_entry(child, dst / child.name, fsync=fsync)
        shutil.copystat(src, dst)
    else:
        shutil.copy2(src, dst, follow_symlinks=False)
        if fsync and not dst.is_symlink():
            fd = os.open(dst, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    os.lchown(dst, st.st_uid, st.st_gid)
    if fsync:
        fsync_dir(dst.parent)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def move_contents(src: Path, dst: Path) -> None:
    """Move every entry of src into dst (renames: both on the same filesystem)."""
    dst.mkdir(parents=True, exist_ok=True)
    for entry in sorted(src.iterdir()):
        target = dst / entry.name
        if target.exists():
            raise FaultError(f"cannot move {entry} to {target}: it exists")
        os.rename(entry, target)
    fsync_dir(dst)
    fsync_dir(src)


def fillers(directory: Path) -> list[Path]:
    try:
        return [p for p in directory.iterdir() if p.name.startswith(mounts.FILLER_PREFIX)]
    except OSError:
        return []


def users_of(filesystem: Path) -> list[int]:
    """Pids with a file (or cwd) open on the filesystem of `filesystem`, in any mount namespace."""
    device = os.stat(filesystem).st_dev
    users = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            links = [proc / "cwd", *(proc / "fd").iterdir()]
        except OSError:  # gone, or not ours to read
            continue
        for link in links:
            try:
                if os.stat(link).st_dev == device:
                    users.append(int(proc.name))
                    break
            except OSError:
                continue
    return users


def rescue_wal_from_tmpfs(pg_wal: Path, *, allowed_roots: tuple[Path, ...] = ()) -> str:
    """`aarya-chaos heal` for a pg_wal tmpfs a killed 5.1 left mounted: the WAL on it is the WAL that
    counts (PostgreSQL wrote there last), so it is copied to the real disk (fsynced) before the unmount
    and put back in pg_wal; what WalOnSmallDisk had moved aside is then dropped. Refuses while a process
    still has the tmpfs open (PostgreSQL running: stop the stack first). PostgreSQL is not started."""
    pgdata = pg_wal.parent
    workdir = pgdata.parent / "pg_wal-moves"
    aside, back = workdir / "pg_wal.before", workdir / "pg_wal.from-tmpfs"
    users = users_of(pg_wal)
    if users:
        return (f"{pg_wal}: still in use by pid {', '.join(map(str, users))} (PostgreSQL running?); stop the "
                "stack (aarya-chaos down) and heal again; not unmounted")
    for filler in fillers(pg_wal):
        filler.unlink(missing_ok=True)
    if back.exists():
        shutil.rmtree(back)
    back.mkdir(parents=True)
    for entry in sorted(pg_wal.iterdir()):
        copy_entry(entry, back / entry.name, fsync=True)
    mounts.unmount(pg_wal, allowed_roots=allowed_roots)
    if any(pg_wal.iterdir()):
        return f"{pg_wal}: unmounted, but the real disk's pg_wal is not empty; the tmpfs's WAL is kept in {back}"
    move_contents(back, pg_wal)
    for leftover in (back, aside):
        if leftover.exists():
            shutil.rmtree(leftover)
    if workdir.is_dir() and not any(workdir.iterdir()):
        workdir.rmdir()
    return f"{pg_wal}: the tmpfs's WAL copied back to the real disk, then unmounted"


def finish_interrupted_move(pgdata: Path) -> str | None:
    """A WAL move cut off with pg_wal no longer on a tmpfs, finished so that PostgreSQL finds its WAL; None when
    there is none. WalOnSmallDisk (and `rescue_wal_from_tmpfs`) copy the tmpfs's WAL to `pg_wal.from-tmpfs`
    whole before they unmount, then move it into pg_wal: a `pg_wal.from-tmpfs` beside an unmounted pg_wal is
    the newest WAL, complete, and whatever of it is not in pg_wal yet goes there. Without it, `pg_wal.before`
    is the WAL set aside before the tmpfs: put back unless pg_wal already holds the WAL put back (shared
    names: the set-aside copy is the older one, and is dropped)."""
    pg_wal = pgdata / "pg_wal"
    workdir = pgdata.parent / "pg_wal-moves"
    aside, back = workdir / "pg_wal.before", workdir / "pg_wal.from-tmpfs"
    if not workdir.is_dir() or mounts.is_mountpoint(pg_wal):
        return None
    pg_wal.mkdir(exist_ok=True)
    if back.is_dir():
        moved = _move_missing(back, pg_wal)
        line = f"{pg_wal}: a WAL move cut off after the unmount finished ({moved} entries of the tmpfs's WAL put back)"
    elif aside.is_dir() and any(aside.iterdir()):
        if {p.name for p in pg_wal.iterdir()} & {p.name for p in aside.iterdir()}:
            line = f"{pg_wal}: holds the WAL put back; the older copy set aside before the tmpfs dropped"
        else:
            moved = _move_missing(aside, pg_wal)
            line = f"{pg_wal}: a WAL move cut off before the tmpfs took over ({moved} entries set aside put back)"
    else:
        line = None
    for leftover in (back, aside):
        if leftover.exists():
            shutil.rmtree(leftover)
    if not any(workdir.iterdir()):
        workdir.rmdir()
    return line


def _move_missing(src: Path, dst: Path) -> int:
    """Move the entries of src that dst lacks (a move already half done left the others there)."""
    moved = 0
    for entry in sorted(src.iterdir()):
        if not (dst / entry.name).exists():
            os.rename(entry, dst / entry.name)
            moved += 1
    fsync_dir(dst)
    return moved
