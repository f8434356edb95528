"""PostgreSQL's settings and catalog relations, known without a server: recorded from the PostgreSQL 15 the stack runs.

pg_catalog.json holds every setting name (`postgres --describe-config`, pg_settings, and the few SHOW
accepts that neither lists) and the relations of pg_catalog and information_schema (with the views of
pg_stat_statements and pg_buffercache). Regenerate it (a scratch cluster in a temporary directory,
reached over its socket only, removed at the end; run as `nobody` when we are root) with:

    .venv/bin/python -m aarya_chaos.runbook_check.pg_catalog --regenerate
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

CATALOG_PATH = Path(__file__).with_name("pg_catalog.json")
EXTENSIONS = ("pg_stat_statements", "pg_buffercache")  # views runbooks read that are not in a fresh catalog
HIDDEN_SETTINGS = ("is_superuser", "role", "session_authorization", "seed", "transaction_isolation",
                   "transaction_read_only", "transaction_deferrable", "server_version", "server_encoding")


@functools.cache
def recorded_catalog() -> dict[str, Any]:
    catalog: dict[str, Any] = json.loads(CATALOG_PATH.read_text())
    return catalog


def known_settings() -> frozenset[str]:
    return frozenset(recorded_catalog()["settings"])


def known_relations() -> frozenset[str]:
    """Relation names, bare (`pg_stat_activity`) and schema-qualified (`information_schema.tables`)."""
    return frozenset(recorded_catalog()["relations"])


def postgres_version() -> str:
    return str(recorded_catalog()["postgres"])


# -- recording -------------------------------------------------------------------------------------


def _as_user(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: drop to nobody."""
    if os.geteuid() != 0:
        return command
    return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *command]


def _start_scratch_cluster(bindir: Path, root: Path) -> subprocess.Popen[bytes]:
    if os.geteuid() == 0:
        shutil.chown(root, "nobody", "nogroup")
    subprocess.run(_as_user([str(bindir / "initdb"), "-D", str(root / "data"), "-U", "postgres", "--auth=trust",
                             "-E", "UTF8", "--locale=C"]), check=True, capture_output=True)
    server = subprocess.Popen(_as_user([str(bindir / "postgres"), "-D", str(root / "data"), "-k", str(root),
                                        "-c", "listen_addresses=", "-c", "shared_buffers=16MB"]),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while not (root / ".s.PGSQL.5432").exists():
        if time.monotonic() > deadline or server.poll() is not None:
            server.kill()
            raise RuntimeError(f"the scratch PostgreSQL in {root} did not start")
        time.sleep(0.1)
    return server


def _query_catalog(root: Path) -> tuple[list[str], list[str], str]:
    import psycopg

    with psycopg.connect(f"host={root} user=postgres dbname=postgres", autocommit=True) as conn:
        for extension in EXTENSIONS:
            conn.execute(f"CREATE EXTENSION IF NOT EXISTS {extension}".encode())
        rows = conn.execute(b"SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                            b"WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f') AND (n.nspname IN "
                            b"('pg_catalog', 'information_schema') OR c.relname LIKE 'pg\\_%')").fetchall()
        relations = {name for _, name in rows if name.startswith("pg_")}
        relations |= {f"{schema}.{name}" for schema, name in rows}
        settings = {str(r[0]) for r in conn.execute(b"SELECT name FROM pg_settings").fetchall()}
        for name in HIDDEN_SETTINGS:
            conn.execute(f"SHOW {name}".encode())  # raises if the name is not a setting after all
            settings.add(name)
        version = str(conn.execute(b"SHOW server_version").fetchone()[0])  # type: ignore[index]
    return sorted(relations), sorted(settings), version


def record(bindir: Path) -> dict[str, Any]:
    described = subprocess.run(_as_user([str(bindir / "postgres"), "--describe-config"]), capture_output=True,
                               text=True, check=True).stdout
    root = Path(tempfile.mkdtemp(prefix="aarya-pg-catalog-"))
    server = _start_scratch_cluster(bindir, root)
    try:
        relations, settings, version = _query_catalog(root)
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)
    settings = sorted(set(settings) | {line.split("\t")[0] for line in described.splitlines() if line})
    return {"postgres": version, "settings": settings, "relations": relations}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Record PostgreSQL's settings and catalog relations for runbook-check.")
    parser.add_argument("--regenerate", action="store_true", required=True)
    parser.add_argument("--pg-bindir", type=Path, help="PostgreSQL's bin directory (default: the stack's)")
    args = parser.parse_args(argv)
    bindir = args.pg_bindir
    if bindir is None:
        from stack.binaries import find_binaries
        from stack.config import load_config

        bindir = find_binaries(load_config().tools_dir, install=False).pg_bindir
    catalog = record(bindir)
    CATALOG_PATH.write_text(json.dumps(catalog, indent=0) + "\n")
    print(f"{CATALOG_PATH}: PostgreSQL {catalog['postgres']}, {len(catalog['settings'])} settings, "
          f"{len(catalog['relations'])} relation names")
    return 0


if __name__ == "__main__":
    sys.exit(main())
