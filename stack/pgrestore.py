"""A restore that was cut off half-way, and the way back to the data directory it replaced.

stack/scripts/recover writes `<PGDATA>.restore-in-progress` (JSON: where the previous PGDATA went, the
backup, its own pid) before it moves PGDATA aside, and removes it once the restored server is up. A marker
still there when nothing runs the restore means the run died in between: PGDATA may be half unpacked, or
unpacked and never replayed. Rolling back puts the previous data directory in place, which held everything
committed up to the moment the restore began, and keeps the partial one beside it (nothing is deleted).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import psutil

MARKER_SUFFIX = ".restore-in-progress"


def marker(pgdata: Path) -> Path:
    return pgdata.with_name(f"{pgdata.name}{MARKER_SUFFIX}")


def roll_back_interrupted_restore(pgdata: Path) -> str | None:
    """Undo a restore cut off in `pgdata`; None when there is none. Refuses (one line saying why) while the
    restore's own process or a server on that directory still runs."""
    path = marker(pgdata)
    if not path.exists():
        return None
    try:
        facts = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return f"restore: {path} is unreadable ({exc}); look at {pgdata} and its .before-recover-* by hand"
    pid = facts.get("pid")
    if isinstance(pid, int) and psutil.pid_exists(pid) and _status(pid) != psutil.STATUS_ZOMBIE:
        return f"restore: pid {pid} is still restoring {pgdata}; stop it first"
    if (pgdata / "postmaster.pid").exists() and _postmaster_alive(pgdata):
        return f"restore: a server still runs on {pgdata}; stop the stack first"
    aside = Path(facts["aside"]) if facts.get("aside") else None
    if aside is None or not aside.exists():
        path.unlink()
        where = "there was no previous data directory" if aside is None else "it was never moved aside"
        return f"restore: an interrupted restore of {pgdata} found ({where}); kept {pgdata} as it is"
    if pgdata.exists():
        partial = pgdata.with_name(f"{pgdata.name}.incomplete-restore-{time.strftime('%Y%m%dT%H%M%S')}")
        pgdata.rename(partial)
        kept = f"; the partial one is kept at {partial}"
    else:
        kept = ""
    aside.rename(pgdata)
    path.unlink()
    return f"restore: an interrupted restore of {pgdata} rolled back to the data directory it replaced{kept}"


def _status(pid: int) -> str:
    try:
        return str(psutil.Process(pid).status())
    except psutil.Error:
        return psutil.STATUS_ZOMBIE


def _postmaster_alive(pgdata: Path) -> bool:
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return False
    try:
        proc = psutil.Process(pid)
        return proc.name().startswith("postgres") and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:  # gone: a pid file left by a crash
        return False
