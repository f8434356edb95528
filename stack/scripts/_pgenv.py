"""Shared helpers for the `backup` and `recover` scripts next to this file.

Standard library only (the scripts may be run with the system python3). The scripts find the
stack through `<run-dir>/stack.env`, which the driver writes: KEY=VALUE lines naming the
PostgreSQL binaries, data directory, socket, WAL archive and backup directory.

How PostgreSQL is stopped and started is PG_CONTROL:
- `pg_ctl` (the default, the local driver): the server runs on this machine as PG_OS_USER; the
  scripts use pg_ctl on PGDATA and read its log file PG_LOG.
- `docker` (the docker driver): the server runs in the container PG_CONTAINER; `docker stop`
  (a fast shutdown, which archives the last WAL segment) and `docker start`; its log is
  `docker logs` (PG_LOG may be empty). PGDATA, WAL_ARCHIVE_DIR and BACKUP_DIR are paths on this
  machine (the container's volume), SERVER_WAL_ARCHIVE_DIR is the archive as the server sees it
  (for restore_command), PG_OWNER the numeric uid:gid owning PGDATA, and the client tools (in
  PG_BINDIR, on this machine) connect over TCP with the password in PGPASSFILE.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import pwd
import re
import subprocess
import sys
import time
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
# With PG_CONTROL=docker the server runs as the container's user and logs to `docker logs`.
MAY_BE_EMPTY_DOCKER = ("PG_OS_USER", "PG_LOG")
CONTROLS = ("pg_ctl", "docker")
DOCKER_STOP_TIMEOUT_S = 30

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
    log: Path | None  # None: no log file (PG_CONTROL=docker: `docker logs`)
    wal_archive: Path
    backup_dir: Path
    database: str
    control: str = "pg_ctl"  # PG_CONTROL: pg_ctl or docker
    container: str = ""  # PG_CONTAINER (docker)
    owner: tuple[int, int] | None = None  # PG_OWNER uid:gid, owning PGDATA (by number)
    server_wal_archive: Path | None = None  # SERVER_WAL_ARCHIVE_DIR: the archive as the server sees it
    passfile: Path | None = None  # PGPASSFILE for the client tools

    @property
    def docker(self) -> bool:
        return self.control == "docker"

    @property
    def restore_archive(self) -> Path:
        """The WAL archive as the server's restore_command sees it."""
        return self.server_wal_archive or self.wal_archive

    @property
    def server(self) -> str:
        """Which server, for messages."""
        return f"container {self.container}" if self.docker else f"PGDATA={self.pgdata}"

    @property
    def log_name(self) -> str:
        return f"`docker logs {self.container}`" if self.docker else str(self.log)


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
    control = values.get("PG_CONTROL") or "pg_ctl"
    if control not in CONTROLS:
        raise ScriptError(f"{path}: PG_CONTROL={control}: expected one of {', '.join(CONTROLS)}")
    may_be_empty = MAY_BE_EMPTY_DOCKER if control == "docker" else MAY_BE_EMPTY
    required = REQUIRED_KEYS + (("PG_CONTAINER",) if control == "docker" else ())
    missing = [key for key in required
               if key not in values or (not values[key] and key not in may_be_empty)]
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
        log=Path(values["PG_LOG"]) if values["PG_LOG"] else None,
        wal_archive=Path(values["WAL_ARCHIVE_DIR"]),
        backup_dir=Path(values["BACKUP_DIR"]),
        database=values["PGDATABASE"],
        control=control,
        container=values.get("PG_CONTAINER", ""),
        owner=parse_owner(path, values.get("PG_OWNER", "")),
        server_wal_archive=Path(values["SERVER_WAL_ARCHIVE_DIR"]) if values.get("SERVER_WAL_ARCHIVE_DIR") else None,
        passfile=Path(values["PGPASSFILE"]) if values.get("PGPASSFILE") else None,
    )


def parse_owner(path: Path, text: str) -> tuple[int, int] | None:
    """PG_OWNER=uid:gid (numbers: a container's postgres user may have no name here); "" = none."""
    if not text:
        return None
    uid, sep, gid = text.partition(":")
    if not (sep and uid.isdigit() and gid.isdigit()):
        raise ScriptError(f"{path}: PG_OWNER={text}: expected numeric uid:gid, e.g. 999:999")
    return int(uid), int(gid)


# --- running PostgreSQL's tools ---------------------------------------------------------------


def current_user() -> str:
    return pwd.getpwuid(os.geteuid()).pw_name


def as_pg_user(env: PgEnv, argv: Sequence[str]) -> list[str]:
    """PostgreSQL refuses to run as root, and its files belong to PG_OS_USER: switch to it.

    With PG_CONTROL=docker no server runs here: the client tools connect over TCP as whoever runs
    the script (they write only into BACKUP_DIR and pipes), and files are given to PG_OWNER."""
    if env.docker or os.geteuid() != 0 or env.os_user == current_user():
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


def tool_environ(env: PgEnv) -> dict[str, str] | None:
    """The environment for PostgreSQL's client tools: ours, plus PGPASSFILE when stack.env names one."""
    if env.passfile is None:
        return None
    return {**os.environ, "PGPASSFILE": str(env.passfile)}


def run(argv: Sequence[str], timeout_s: float, what: str | None = None,
        environ: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command to completion; a non-zero exit becomes a ScriptError with its stderr."""
    label = what or Path(argv[0]).name
    try:
        # cwd=/ because PG_OS_USER may not be allowed into the caller's directory.
        result = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout_s, cwd="/",
            stdin=subprocess.DEVNULL, env=environ,
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
    return run(as_pg_user(env, [tool(env, name), *args]), timeout_s, what=name, environ=tool_environ(env))


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


def docker(*args: str, timeout_s: float = 30.0) -> subprocess.CompletedProcess[str]:
    """`docker ARGS` (the engine's CLI); a non-zero exit is a ScriptError with its stderr."""
    return run(["docker", *args], timeout_s, what=" ".join(["docker", *args[:1], *args[-1:]]))


def container_running(env: PgEnv) -> bool:
    """PG_CONTAINER's state (a container that does not exist is an error, not "stopped")."""
    result = docker("inspect", "--format", "{{.State.Running}}", env.container)
    return result.stdout.strip() == "true"


def server_running(env: PgEnv) -> bool:
    """True when a postmaster is alive for PGDATA (pg_ctl checks the pid, not just the file);
    with PG_CONTROL=docker, when PG_CONTAINER runs."""
    if env.docker:
        return container_running(env)
    if not (env.pgdata / "PG_VERSION").exists():
        return False
    argv = as_pg_user(env, [tool(env, "pg_ctl"), "status", "-D", str(env.pgdata)])
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30, cwd="/",
                            stdin=subprocess.DEVNULL)
    return result.returncode == 0


def log_size(env: PgEnv) -> int:
    """A position in the server's log to read from later (log_end's `since`): PG_LOG's size in
    bytes, or with PG_CONTROL=docker the time now in nanoseconds (for `docker logs --since`)."""
    if env.docker:
        return time.time_ns()
    if env.log is None:
        return 0
    try:
        return env.log.stat().st_size
    except OSError:
        return 0


def docker_since(since_ns: int) -> str:
    """A time in nanoseconds as `docker logs --since` takes it (Unix seconds with a fraction)."""
    return f"{since_ns // 1_000_000_000}.{since_ns % 1_000_000_000:09d}"


def log_end(env: PgEnv, since: int = 0, size: int = 64 * 1024) -> str:
    """PG_LOG from byte offset `since`, at most its last `size` bytes (the log may be large).

    With PG_CONTROL=docker: `docker logs` (stdout and stderr) of PG_CONTAINER since the time
    `since` (nanoseconds; 0: all of it), at most its last `size` bytes."""
    if env.docker:
        args = ["logs", *(["--since", docker_since(since)] if since else []), env.container]
        try:
            result = subprocess.run(["docker", *args], capture_output=True, timeout=30,
                                    stdin=subprocess.DEVNULL)
        except (FileNotFoundError, subprocess.TimeoutExpired) as error:
            raise OSError(f"docker logs {env.container}: {error}") from None
        if result.returncode != 0:
            raise OSError(f"docker logs {env.container} failed: "
                          f"{result.stderr.decode('utf-8', 'replace').strip()}")
        # The CLI splits the two streams: the entrypoint's lines (stdout) first, then the
        # server's (PostgreSQL logs to stderr).
        text = (result.stdout + result.stderr)[-size:]
        return text.decode("utf-8", "replace")
    if env.log is None:
        raise OSError(f"no PG_LOG in {env.stack_env}")
    with open(env.log, "rb") as handle:
        end = handle.seek(0, os.SEEK_END)
        handle.seek(max(since, end - size) if since <= end else max(0, end - size))
        return handle.read().decode("utf-8", "replace")


def log_tail(env: PgEnv, since: int = 0, lines: int = 30) -> str:
    try:
        text = log_end(env, since)
    except OSError as error:
        reason = error.strerror or str(error)
        return f"(cannot read {'the log' if env.docker else 'PG_LOG'} {env.log_name}: {reason})"
    return f"last lines of {env.log_name}:\n{tail(text, lines) or '(nothing new)'}"


def pg_owner(env: PgEnv) -> tuple[int, int] | None:
    """(uid, gid) PostgreSQL's files belong to: PG_OWNER, else PG_OS_USER's; None = leave as is."""
    if env.owner is not None:
        return env.owner
    if not env.os_user:
        return None
    try:
        entry = pwd.getpwnam(env.os_user)
    except KeyError:
        raise ScriptError(f"PG_OS_USER={env.os_user} is not a user on this machine") from None
    return entry.pw_uid, entry.pw_gid


def chown_to_pg_user(env: PgEnv, path: Path, recursive: bool = False) -> None:
    """Give a path (and, if asked, everything below it) to PG_OWNER or PG_OS_USER; a no-op
    unless root."""
    if os.geteuid() != 0:
        return
    owner = pg_owner(env)
    if owner is None:
        return
    uid, gid = owner
    os.chown(path, uid, gid, follow_symlinks=False)
    if recursive and path.is_dir() and not path.is_symlink():
        for root, dirs, files in os.walk(path):
            for name in dirs + files:
                os.chown(os.path.join(root, name), uid, gid, follow_symlinks=False)


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
