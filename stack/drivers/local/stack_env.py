"""`<run_dir>/stack.env`: where this run's PostgreSQL lives, for scripts/backup and scripts/recover."""

from __future__ import annotations

import os

from stack.binaries import Binaries
from stack.config import StackConfig

from .components import RunLayout


def write_stack_env(config: StackConfig, layout: RunLayout, binaries: Binaries) -> None:
    pg = config.postgres
    values = {
        "PG_BINDIR": binaries.pg_bindir,
        "PGDATA": layout.pgdata,
        "PGHOST": layout.pg_socket,
        "PGPORT": pg.port,
        "PGUSER": pg.superuser,
        "PGDATABASE": pg.database,
        "PG_OS_USER": pg.os_user if os.geteuid() == 0 else "",
        "PG_LOG": layout.log("postgres"),
        "WAL_ARCHIVE_DIR": layout.wal_archive,
        "BACKUP_DIR": layout.backups,
    }
    layout.stack_env.write_text("".join(f"{key}={value}\n" for key, value in values.items()))
