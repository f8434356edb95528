"""`<run_dir>/stack.env` for the docker stack: what stack/scripts/backup and recover need to act on the
PostgreSQL in its container (the local driver writes the same file for its own PostgreSQL).

    PG_CONTROL=docker              stop/start with `docker stop -t 30` / `docker start` of PG_CONTAINER
    PG_CONTAINER=aarya_postgres
    PGDATA, WAL_ARCHIVE_DIR        the host side of the container's volume (DockerDriver.postgres_files)
    SERVER_WAL_ARCHIVE_DIR         the archive as the server sees it, for restore_command
    BACKUP_DIR                     <run_dir>/backups on the host
    PG_OWNER=uid:gid               who owns PGDATA, by number (the container's postgres user)
    PG_BINDIR                      this machine's client tools (pg_basebackup, pg_dump, psql): they
                                   connect over TCP to the published port, password in PGPASSFILE
    PG_LOG=                        empty: the server logs to `docker logs`
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from stack.config import StackConfig
from stack.drivers.base import PostgresFiles

log = logging.getLogger("aarya.docker.stack_env")

CLIENT_TOOLS = ("pg_basebackup", "pg_dump", "psql")
CLIENT_VERSIONS = ("15", "16", "17")


def client_bindir(server_major: int, roots: tuple[Path, ...] = (Path("/usr/lib/postgresql"),)) -> Path | None:
    """A directory of PostgreSQL client tools on this machine that can back up a `server_major` server:
    pg_basebackup and pg_dump refuse a server of a newer major version, so the same major version is
    preferred, else the oldest newer one. AARYA_PG_BINDIR, if set, wins."""
    override = os.environ.get("AARYA_PG_BINDIR")
    candidates = [Path(override)] if override else []
    versions = sorted({int(v) for v in CLIENT_VERSIONS} | {server_major})
    candidates += [root / str(v) / "bin" for v in versions if v >= server_major for root in roots]
    return next((c for c in candidates if all((c / tool).is_file() for tool in CLIENT_TOOLS)), None)


def pgpass_line(host: str, port: int, user: str, password: str) -> str:
    """One ~/.pgpass line (`:` and `\\` escaped)."""
    def esc(value: str) -> str:
        return value.replace("\\", "\\\\").replace(":", "\\:")

    return f"{esc(host)}:{port}:*:{esc(user)}:{esc(password)}\n"


def stack_env_values(config: StackConfig, files: PostgresFiles, *, container: str, server_archive: str,
                     bindir: Path | None, passfile: Path) -> dict[str, str]:
    pg = config.postgres
    return {
        "PG_CONTROL": "docker",
        "PG_CONTAINER": container,
        "PG_BINDIR": str(bindir) if bindir is not None else "",
        "PGDATA": str(files.pgdata),
        "PGHOST": config.host,
        "PGPORT": str(pg.port),
        "PGUSER": pg.superuser,
        "PGDATABASE": pg.database,
        "PGPASSFILE": str(passfile),
        "PG_OS_USER": "",
        "PG_OWNER": f"{files.uid}:{files.gid}",
        "PG_LOG": "",
        "WAL_ARCHIVE_DIR": str(files.wal_archive),
        "SERVER_WAL_ARCHIVE_DIR": server_archive,
        "BACKUP_DIR": str(files.backups),
    }


def write_stack_env(config: StackConfig, files: PostgresFiles, *, container: str, server_archive: str,
                    server_major: int) -> Path:
    """Write <run_dir>/pgpass (0600) and <run_dir>/stack.env; returns the latter."""
    pg = config.postgres
    passfile = config.run_dir / "pgpass"
    fd = os.open(passfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(pgpass_line(config.host, pg.port, pg.superuser, pg.superuser_password))
    passfile.chmod(0o600)  # an older file keeps its mode through O_TRUNC; libpq ignores a readable one
    bindir = client_bindir(server_major)
    values = stack_env_values(config, files, container=container, server_archive=server_archive, bindir=bindir,
                              passfile=passfile)
    lines = [f"{key}={value}\n" for key, value in values.items()]
    if bindir is None:
        message = (f"no PostgreSQL client tools ({', '.join(CLIENT_TOOLS)}) of version {server_major} or newer on "
                   f"this machine (apt-get install postgresql-client-{server_major}): the backup and recover "
                   "scripts cannot run against the docker stack")
        log.warning("%s", message)
        lines.insert(0, f"# {message}\n")
    path = config.run_dir / "stack.env"
    path.write_text("".join(lines))
    return path
