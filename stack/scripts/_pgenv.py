"""Shared helpers for the `backup` and `recover` scripts next to this file.

Standard library only (the scripts may be run with the system python3). The scripts find the
stack through `<run-dir>/stack.env`, which the driver writes: KEY=VALUE lines naming the
PostgreSQL binaries, data directory, socket, WAL archive and backup directory.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import pwd
import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

DEFAULT_RUN_DIR = Path("/tmp/aarya-chaos/run")
RUN_DIR_VARIABLE = "AARYA_RUN_DIR"
REQUIRED_KEYS = (
    "PG_BINDIR", "PGDATA", "PGHOST", "PGPORT", "PGUSER", "PG_OS_USER", "PG_LOG",
    "WAL_ARCHIVE_DIR", "BACKUP_DIR", "PGDATABASE",
)
# Present but empty when the driver does not run as root: PostgreSQL runs as the current user.
MAY_BE_EMPTY = ("PG_OS_USER",)

STAMP_FORMAT = "%Y%m%dT%H%M%SZ"
# base_20261128T151500Z/ and postgres_20261128T151500Z.sql.gz; a -N suffix only when two
# backups are taken within the same second.
BASE_PATTERN = re.compile(r"^base_(\d{8}T\d{6}Z)(?:-(\d+))?$")
DUMP_PATTERN = re.compile(r"^postgres_(\d{8}T\d{6}Z)(?:-(\d+))?\.sql\.gz$")
BACKUP_META = "backup.json"


class ScriptError(Exception):
    """A failure whose message is meant for the person running the script."""


@dataclass(frozen=True)
class PgEnv:
    """Where the stack's PostgreSQL lives, as read from stack.env."""

    stack_env: Path
    bindir: Path
    pgdata: Path
    host: str
    port: str
    user: str
    os_user: str  # "" = the user running the script
    log: Path
    wal_archive: Path
    backup_dir: Path
    database: str


# --- configuration -------------------------------------------------------------------------


def add_run_dir_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--run-dir", type=Path, default=None,
        help=f"the stack's run directory holding stack.env (default: ${RUN_DIR_VARIABLE}, "
             f"else {DEFAULT_RUN_DIR})",
    )


def resolve_run_dir(given: Path | None) -> Path:
    if given is not None:
        return given
    from_env = os.environ.get(RUN_DIR_VARIABLE)
    return Path(from_env) if from_env else DEFAULT_RUN_DIR


def parse_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines; blank lines, `#` comments, `export ` and surrounding quotes allowed."""
    values: dict[str, str] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ScriptError(f"{path}:{number}: expected KEY=VALUE, got {raw!r}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def load_env(run_dir: Path) -> PgEnv:
    path = run_dir / "stack.env"
    try:
        values = parse_env_file(path)
    except FileNotFoundError:
        raise ScriptError(
            f"{path} not found: is the stack running? Pass --run-dir or set "
            f"{RUN_DIR_VARIABLE} to the run directory the driver uses."
        ) from None
    missing = [key for key in REQUIRED_KEYS
               if key not in values or (not values[key] and key not in MAY_BE_EMPTY)]
    if missing:
        raise ScriptError(f"{path} lacks {', '.join(missing)}")
    return PgEnv(
        stack_env=path,
        bindir=Path(values["PG_BINDIR"]),
        pgdata=Path(values["PGDATA"]),
        host=values["PGHOST"],
        port=values["PGPORT"],
        user=values["PGUSER"],
        os_user=values["PG_OS_USER"],
        log=Path(values["PG_LOG"]),
        wal_archive=Path(values["WAL_ARCHIVE_DIR"]),
        backup_dir=Path(values["BACKUP_DIR"]),
        database=values["PGDATABASE"],
    )


# --- running PostgreSQL's tools ---------------------------------------------------------------


def current_user() -> str:
    return pwd.getpwuid(os.geteuid()).pw_name


def as_pg_user(env: PgEnv, argv: Sequence[str]) -> list[str]:
    """PostgreSQL refuses to run as root, and its files belong to PG_OS_USER: switch to it."""
    if os.geteuid() != 0 or env.os_user == current_user():
        return list(argv)
    if not env.os_user:
        raise ScriptError(f"running as root but PG_OS_USER is empty in {env.stack_env}: "
                          f"PostgreSQL's tools refuse to run as root; set PG_OS_USER")
    return ["runuser", "-u", env.os_user, "--", *argv]


def tool(env: PgEnv, name: str) -> str:
    path = env.bindir / name
    if not path.is_file():
        raise ScriptError(f"{name} not found in PG_BINDIR={env.bindir} (from {env.stack_env})")
    return str(path)


def tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def run(argv: Sequence[str], timeout_s: float, what: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command to completion; a non-zero exit becomes a ScriptError with its stderr."""
    label = what or Path(argv[0]).name
    try:
        # cwd=/ because PG_OS_USER may not be allowed into the caller's directory.
        result = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout_s, cwd="/",
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError as error:
        raise ScriptError(f"{label}: cannot run {argv[0]}: {error.strerror}") from None
    except subprocess.TimeoutExpired:
        raise ScriptError(f"{label} did not finish within {timeout_s:.0f} s") from None
    if result.returncode != 0:
        output = tail(result.stderr or result.stdout) or "(no output)"
        raise ScriptError(f"{label} failed (exit {result.returncode}):\n{output}")
    return result


def pg_tool(env: PgEnv, name: str, *args: str, timeout_s: float = 60.0) -> subprocess.CompletedProcess[str]:
    return run(as_pg_user(env, [tool(env, name), *args]), timeout_s, what=name)


def connection_args(env: PgEnv, database: str | None = None) -> list[str]:
    return ["-h", env.host, "-p", env.port, "-U", env.user, "-d", database or env.database,
            "--no-password"]


def psql(env: PgEnv, *commands: str, database: str | None = None, timeout_s: float = 30.0) -> str:
    """Run each command as its own statement (so ALTER SYSTEM, DROP DATABASE work); stdout."""
    args = ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", *connection_args(env, database)]
    for command in commands:
        args += ["-c", command]
    return pg_tool(env, "psql", *args, timeout_s=timeout_s).stdout.strip()


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def server_running(env: PgEnv) -> bool:
    """True when a postmaster is alive for PGDATA (pg_ctl checks the pid, not just the file)."""
    if not (env.pgdata / "PG_VERSION").exists():
        return False
    argv = as_pg_user(env, [tool(env, "pg_ctl"), "status", "-D", str(env.pgdata)])
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30, cwd="/",
                            stdin=subprocess.DEVNULL)
    return result.returncode == 0


def log_size(env: PgEnv) -> int:
    try:
        return env.log.stat().st_size
    except OSError:
        return 0


def log_end(env: PgEnv, since: int = 0, size: int = 64 * 1024) -> str:
    """PG_LOG from byte offset `since`, at most its last `size` bytes (the log may be large)."""
    with open(env.log, "rb") as handle:
        end = handle.seek(0, os.SEEK_END)
        handle.seek(max(since, end - size) if since <= end else max(0, end - size))
        return handle.read().decode("utf-8", "replace")


def log_tail(env: PgEnv, since: int = 0, lines: int = 30) -> str:
    try:
        text = log_end(env, since)
    except OSError as error:
        return f"(cannot read PG_LOG {env.log}: {error.strerror})"
    return f"last lines of {env.log}:\n{tail(text, lines) or '(nothing new)'}"


def chown_to_pg_user(env: PgEnv, path: Path, recursive: bool = False) -> None:
    """Give a path (and, if asked, everything below it) to PG_OS_USER; a no-op unless root."""
    if os.geteuid() != 0 or not env.os_user:
        return
    try:
        entry = pwd.getpwnam(env.os_user)
    except KeyError:
        raise ScriptError(f"PG_OS_USER={env.os_user} is not a user on this machine") from None
    os.chown(path, entry.pw_uid, entry.pw_gid, follow_symlinks=False)
    if recursive and path.is_dir() and not path.is_symlink():
        for root, dirs, files in os.walk(path):
            for name in dirs + files:
                os.chown(os.path.join(root, name), entry.pw_uid, entry.pw_gid,
                         follow_symlinks=False)


# --- backups on disk --------------------------------------------------------------------------


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).strftime(STAMP_FORMAT)


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(text: str) -> dt.datetime:
    """An ISO 8601 time; `Z` or an offset allowed, a time without one is taken as UTC."""
    try:
        moment = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ScriptError(
            f"cannot read time {text!r}: use ISO 8601, e.g. 2026-01-31T14:05:00Z"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment


def _sort_key(pattern: re.Pattern[str], path: Path) -> tuple[str, int]:
    match = pattern.match(path.name)
    assert match is not None
    return match.group(1), int(match.group(2) or 0)


def base_backups(backup_dir: Path) -> list[Path]:
    """Complete base backups, oldest first."""
    if not backup_dir.is_dir():
        return []
    found = [p for p in backup_dir.iterdir()
             if BASE_PATTERN.match(p.name) and (p / "base.tar.gz").is_file()]
    return sorted(found, key=lambda p: _sort_key(BASE_PATTERN, p))


def dumps(backup_dir: Path) -> list[Path]:
    """pg_dump files, oldest first."""
    if not backup_dir.is_dir():
        return []
    found = [p for p in backup_dir.iterdir() if DUMP_PATTERN.match(p.name) and p.is_file()]
    return sorted(found, key=lambda p: _sort_key(DUMP_PATTERN, p))


def size_of(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


# --- entry point -------------------------------------------------------------------------------


def run_main(program: str, body: Callable[[], int]) -> int:
    """Run a script body; a ScriptError is printed as `program: error: ...` and exits 1."""
    try:
        return body()
    except ScriptError as error:
        print(f"{program}: error: {error}", file=sys.stderr)
        return 1
    except OSError as error:  # disk full, permissions: the message names the file
        print(f"{program}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{program}: interrupted", file=sys.stderr)
        return 130
