"""Size-limited tmpfs mounts for the disk-full scenario, and a filler that uses up their space.

Safety: we only ever mount, unmount or fill below MOUNT_ROOTS (``fill`` elsewhere needs
``allow_outside=True``), so a bug cannot unmount or fill a real filesystem. A caller may name extra roots
for one call (``allowed_roots``): the one directory of its own run that must be touched outside
MOUNT_ROOTS, e.g. the PGDATA a docker driver reports (the host side of the run's volume). Extra roots are
never broad: an extra root must be an absolute directory at least three levels deep (never ``/``,
``/var``, ``/var/lib``), and below an extra root ``fill`` only writes into a tmpfs. A tmpfs lives in RAM (and
is charged to the memory cgroup of whoever writes to it), so keep sizes small. Mounting needs root
(CAP_SYS_ADMIN) and the ``mount``/``umount`` binaries; every call to them has a timeout.
"""

from __future__ import annotations

import errno
import logging
import os
import pwd
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path

from aarya_chaos.errors import FaultError

log = logging.getLogger("aarya.mounts")

MOUNT_ROOTS: tuple[Path, ...] = (Path("/tmp/aarya-chaos"),)
COMMAND_TIMEOUT_S = 15.0
FILLER_PREFIX = ".aarya-chaos-filler-"
MIN_EXTRA_ROOT_DEPTH = 3  # /var/lib/docker is the shallowest extra root allowed; never / or /var/lib
#: The host side of a docker volume of an aarya-chaos run (its Compose project is `aarya-chaos-<run id>`).
AARYA_VOLUME_DATA = re.compile(r"^(/(?:[^/]+/)+volumes/aarya-chaos-[^/]+/_data)/")
#: The owner of a tmpfs: a user name on this machine, or a numeric (uid, gid), e.g. a container's user.
Owner = str | tuple[int, int]


class MountsUnavailable(FaultError):
    """Mounting is not possible here (not root, or no mount binary)."""


def mount_support() -> str | None:
    """None when mount_tmpfs() can be used here, else the reason (suitable for a pytest skip message)."""
    if os.geteuid() != 0:
        return f"mounting a tmpfs needs root (euid is {os.geteuid()})"
    for binary in ("mount", "umount"):
        if shutil.which(binary) is None:
            return f"the `{binary}` binary is not on PATH (install util-linux / mount)"
    if not Path("/proc/self/mountinfo").is_file():
        return "/proc/self/mountinfo is not readable (is /proc mounted?)"
    return None


def _extra_roots(allowed_roots: Iterable[Path]) -> list[Path]:
    """The caller's extra roots, resolved; FaultError for one that is too broad to be a run's own directory."""
    roots = []
    for root in allowed_roots:
        if not Path(root).is_absolute():
            raise FaultError(f"an allowed root must be absolute, got {root}")
        resolved = Path(os.path.realpath(root))
        if len(resolved.parts) - 1 < MIN_EXTRA_ROOT_DEPTH:
            raise FaultError(f"refusing {root} (resolves to {resolved}) as an allowed root: too broad; name the "
                             "run's own directory (e.g. its PGDATA), at least "
                             f"{MIN_EXTRA_ROOT_DEPTH} levels deep")
        roots.append(resolved)
    return roots


def _root_of(path: Path, allowed_roots: Iterable[Path] = ()) -> tuple[Path, Path] | None:
    """(resolved path, the root it lies strictly below), MOUNT_ROOTS first, or None."""
    resolved = Path(os.path.realpath(path))
    for root in [*(Path(os.path.realpath(r)) for r in MOUNT_ROOTS), *_extra_roots(allowed_roots)]:
        if resolved != root and resolved.is_relative_to(root):
            return resolved, root
    return None


def _inside_roots(path: Path, allowed_roots: Iterable[Path] = ()) -> Path:
    """The absolute, symlink-resolved path if it lies strictly below one of MOUNT_ROOTS or of the caller's
    `allowed_roots`, else FaultError."""
    extra = list(allowed_roots)
    found = _root_of(path, extra)
    if found is not None:
        return found[0]
    roots = ", ".join(str(r) for r in [*MOUNT_ROOTS, *extra])
    resolved = Path(os.path.realpath(path))
    raise FaultError(f"refusing to touch {path} (resolves to {resolved}): only paths below {roots} are allowed")


def _below_mount_roots(path: Path) -> bool:
    return _root_of(path) is not None


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as exc:
        raise FaultError(f"`{' '.join(args)}` did not finish within {COMMAND_TIMEOUT_S:.0f}s") from exc
    except FileNotFoundError as exc:
        raise MountsUnavailable(f"`{args[0]}` is not installed: {exc}") from exc


def _unescape(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def _mountinfo() -> list[tuple[Path, str]]:
    """(mount point, filesystem type) for every mount in our mount namespace, in mount order."""
    out: list[tuple[Path, str]] = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, sep, right = line.partition(" - ")
        fields = left.split()
        if not sep or len(fields) < 5 or not right:
            continue
        out.append((Path(_unescape(fields[4])), right.split()[0]))
    return out


def is_mountpoint(path: Path) -> bool:
    """True if something is mounted exactly at path (per /proc/self/mountinfo)."""
    target = Path(os.path.realpath(path))
    return any(mountpoint == target for mountpoint, _ in _mountinfo())


def filesystem_type(path: Path) -> str | None:
    """The type of the filesystem path lies on (its deepest mount point per /proc/self/mountinfo)."""
    target = Path(os.path.realpath(path))
    best: tuple[int, str] | None = None
    for mountpoint, fstype in _mountinfo():  # in mount order: a later mount on the same point hides earlier
        if target == mountpoint or target.is_relative_to(mountpoint):
            if best is None or len(mountpoint.parts) >= best[0]:
                best = (len(mountpoint.parts), fstype)
    return best[1] if best else None


def mount_tmpfs(path: Path, size_bytes: int, *, owner: Owner | None = None, mode: int = 0o700,
                allowed_roots: Sequence[Path] = ()) -> None:
    """Mount a tmpfs of size_bytes at path (created if missing), owned by owner or root.

    `owner` is a user name on this machine or a numeric (uid, gid) (a container's postgres user has no name
    here). Refuses paths that are not strictly below MOUNT_ROOTS or `allowed_roots`, and paths that are
    already mount points.
    """
    if size_bytes <= 0:
        raise FaultError(f"tmpfs size must be positive, got {size_bytes}")
    if not 0 <= mode <= 0o7777:
        raise FaultError(f"bad mode {mode:o}")
    target = _inside_roots(path, allowed_roots)
    reason = mount_support()
    if reason is not None:
        raise MountsUnavailable(reason)
    options = [f"size={size_bytes}", f"mode={mode:04o}", "nosuid", "nodev"]
    if isinstance(owner, tuple):
        uid, gid = owner
        if uid < 0 or gid < 0:
            raise FaultError(f"bad owner {owner} for the tmpfs at {target}")
        options += [f"uid={uid}", f"gid={gid}"]
    elif owner is not None:
        try:
            entry = pwd.getpwnam(owner)
        except KeyError as exc:
            raise FaultError(f"no such user {owner!r} to own the tmpfs at {target}") from exc
        options += [f"uid={entry.pw_uid}", f"gid={entry.pw_gid}"]
    target.mkdir(parents=True, exist_ok=True)
    if is_mountpoint(target):
        raise FaultError(f"{target} is already a mount point; unmount it first")
    result = _run(["mount", "-t", "tmpfs", "-o", ",".join(options), "tmpfs", str(target)])
    if result.returncode != 0:
        raise FaultError(f"mount of a {size_bytes}-byte tmpfs at {target} failed "
                         f"(exit {result.returncode}): {result.stderr.strip() or result.stdout.strip()}")
    if not is_mountpoint(target):
        raise FaultError(f"mount reported success but {target} is not a mount point")
    log.info("mounted a %d-byte tmpfs at %s (%s)", size_bytes, target, ",".join(options))


def unmount(path: Path, *, allowed_roots: Sequence[Path] = ()) -> None:
    """Unmount whatever is mounted at path (all stacked mounts); `umount -l` if busy. Idempotent."""
    target = _inside_roots(path, allowed_roots)
    for _ in range(16):  # bounded: mounts can be stacked on the same directory
        if not is_mountpoint(target):
            return
        result = _run(["umount", str(target)])
        if result.returncode != 0:
            message = result.stderr.strip() or result.stdout.strip()
            if not is_mountpoint(target):
                return
            log.warning("umount %s failed (%s); detaching lazily", target, message)
            lazy = _run(["umount", "-l", str(target)])
            if lazy.returncode != 0 and is_mountpoint(target):
                raise FaultError(f"cannot unmount {target}: {message}; umount -l: "
                                 f"{lazy.stderr.strip() or lazy.stdout.strip()}")
        log.info("unmounted %s", target)
    if is_mountpoint(target):
        raise FaultError(f"{target} is still a mount point after 16 unmounts")


def leftover_mounts(allowed_roots: Sequence[Path] = ()) -> list[Path]:
    """tmpfs mount points below MOUNT_ROOTS or `allowed_roots` (for `aarya-chaos heal`), deepest first, so
    unmount in order."""
    _extra_roots(allowed_roots)  # a root too broad is an error, not a reason to find nothing
    found: list[Path] = []
    for mountpoint, fstype in _mountinfo():
        if fstype != "tmpfs":
            continue
        try:
            resolved = _inside_roots(mountpoint, allowed_roots)
        except FaultError:
            continue
        if resolved not in found:
            found.append(resolved)
    return sorted(found, key=lambda p: (-len(p.parts), str(p)))


def aarya_volume_roots() -> list[Path]:
    """Host directories of aarya-chaos docker volumes (`<docker root>/volumes/aarya-chaos-*/_data`) with a
    tmpfs mounted below them: where scenario 5.1 on the docker driver mounts pg_wal. Read from mountinfo,
    so `aarya-chaos heal` finds them with the engine down too; only volumes of an aarya-chaos Compose
    project (named `aarya-chaos-<run id>_<volume>`) qualify, never the rest of docker's data root."""
    roots: list[Path] = []
    for mountpoint, fstype in _mountinfo():
        match = AARYA_VOLUME_DATA.match(str(mountpoint))
        if fstype == "tmpfs" and match is not None and Path(match.group(1)) not in roots:
            roots.append(Path(match.group(1)))
    return roots


def free_bytes(path: Path) -> int:
    """Bytes an unprivileged writer can still use on path's filesystem (f_bavail * f_frsize)."""
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize


def fill(path: Path, *, leave_bytes: int = 0, chunk: int = 1 << 20, allow_outside: bool = False,
         allowed_roots: Sequence[Path] = ()) -> Path:
    """Write a filler file in directory path until ENOSPC, or until only leave_bytes remain free.

    Returns the filler's path (delete it to give the space back). ENOSPC is the expected end; any other
    error removes the filler and raises FaultError. Refuses directories outside MOUNT_ROOTS unless
    allow_outside=True (filling a real disk hurts the whole machine); below one of `allowed_roots` (and not
    below MOUNT_ROOTS) only a tmpfs is filled, so a mount that silently failed never fills the real disk
    under, say, a docker volume.
    """
    if chunk <= 0 or leave_bytes < 0:
        raise FaultError(f"bad fill parameters: chunk={chunk}, leave_bytes={leave_bytes}")
    if allow_outside:
        directory = Path(os.path.realpath(path))
    else:
        directory = _inside_roots(path, allowed_roots)
        if not _below_mount_roots(directory) and filesystem_type(directory) != "tmpfs":
            raise FaultError(f"refusing to fill {directory}: it is below an extra allowed root but not on a "
                             f"tmpfs (it is on {filesystem_type(directory)}); only a tmpfs is filled there")
    if not directory.is_dir():
        raise FaultError(f"cannot fill {directory}: not a directory")
    filler = directory / f"{FILLER_PREFIX}{uuid.uuid4().hex[:12]}"
    block = b"\xa5" * chunk
    written = 0
    try:
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return filler  # not even an inode left: already full
        raise FaultError(f"cannot create filler file {filler}: {exc}") from exc
    try:
        try:
            while True:
                want = chunk
                if leave_bytes:
                    remaining = free_bytes(directory) - leave_bytes
                    if remaining <= 0:
                        break
                    want = min(chunk, remaining)
                view = memoryview(block)[:want]
                while view:
                    n = os.write(fd, view)  # short write when the filesystem is almost full
                    written += n
                    view = view[n:]
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
        try:
            os.fsync(fd)  # a disk-backed filesystem may only report ENOSPC at writeback
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EINVAL):
                raise
    except OSError as exc:
        os.close(fd)
        filler.unlink(missing_ok=True)
        raise FaultError(f"filling {directory} failed after {written} bytes: {exc}") from exc
    os.close(fd)
    log.info("filled %s with %d bytes in %s (%d bytes free)", directory, written, filler.name,
             free_bytes(directory))
    return filler
