"""stack/scripts/backup and recover against a real, throwaway PostgreSQL 15.

Each test gets its own cluster: initdb as the postgres OS user into a directory under /tmp, the
postgresql.conf rendered from our template (port 28432, socket in the directory), roles, schema
and seed applied, and a stack.env like the driver's. Teardown stops it with -m immediate.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from stack.render import render_template

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "stack" / "scripts"
PG_SQL = ROOT / "stack" / "postgres"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_OS_USER = "postgres"
PORT = 28432
TIMINGS: dict[str, float] = {}


def _can_run_postgres() -> str | None:
    if not (PG_BIN / "initdb").exists():
        return f"PostgreSQL 15 binaries not found in {PG_BIN}"
    try:
        pwd.getpwnam(PG_OS_USER)
    except KeyError:
        return f"no OS user {PG_OS_USER}"
    if os.geteuid() != 0 and pwd.getpwuid(os.geteuid()).pw_name != PG_OS_USER:
        return f"needs root or the {PG_OS_USER} user to run PostgreSQL"
    return None


def as_pg(argv: list[str]) -> list[str]:
    return ["runuser", "-u", PG_OS_USER, "--", *argv] if os.geteuid() == 0 else argv


def run(argv: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd="/")
    assert result.returncode == 0, f"{argv} failed:\n{result.stdout}\n{result.stderr}"
    return result


@dataclass
class Cluster:
    root: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def archive(self) -> Path:
        return self.root / "wal_archive"

    @property
    def backups(self) -> Path:
        return self.root / "backups"

    def psql(self, sql: str, database: str = "aarya") -> str:
        argv = as_pg([str(PG_BIN / "psql"), "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1",
                      "-h", str(self.root / "sock"), "-p", str(PORT), "-U", "postgres",
                      "-d", database, "-c", sql])
        return run(argv, timeout=30).stdout.strip()

    def apply(self, script: str, database: str) -> None:
        run(as_pg([str(PG_BIN / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
                   "-h", str(self.root / "sock"), "-p", str(PORT), "-U", "postgres",
                   "-d", database, "-f", str(PG_SQL / script)]))

    def script(self, name: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([str(SCRIPTS / name), "--run-dir", str(self.root), *args],
                                capture_output=True, text=True, timeout=300, cwd=self.root)
        if check:
            assert result.returncode == 0, f"{name} {args} failed:\n{result.stdout}\n{result.stderr}"
        return result

    def timed(self, label: str, name: str, *args: str) -> subprocess.CompletedProcess[str]:
        started = time.monotonic()
        result = self.script(name, *args)
        TIMINGS[label] = round(time.monotonic() - started, 3)
        print(f"{label}: {TIMINGS[label]} s")
        return result

    def add_user(self, email: str) -> None:
        self.psql(f"INSERT INTO users (email, password_hash) VALUES ('{email}', 'x')")

    def emails(self) -> set[str]:
        return set(self.psql("SELECT email FROM users").split())

    def archive_current_wal(self, timeout: float = 30) -> None:
        """Close the current WAL segment and wait until archive_command has copied it."""
        segment = self.psql("SELECT pg_walfile_name(pg_current_wal_lsn())")
        self.psql("SELECT pg_switch_wal()")
        deadline = time.monotonic() + timeout
        while not (self.archive / segment).exists():
            assert time.monotonic() < deadline, f"{segment} was not archived in {timeout} s"
            time.sleep(0.1)

    def running(self) -> bool:
        status = subprocess.run(as_pg([str(PG_BIN / "pg_ctl"), "status", "-D", str(self.data)]),
                                capture_output=True, text=True, timeout=30, cwd="/")
        return status.returncode == 0


def make_cluster(root: Path) -> Cluster:
    cluster = Cluster(root)
    for name in ("sock", "wal_archive", "backups"):
        (root / name).mkdir()
    (root / "pg.log").touch()
    owner = pwd.getpwnam(PG_OS_USER)
    for path in [root, *root.iterdir()]:
        os.chown(path, owner.pw_uid, owner.pw_gid)
    run(as_pg([str(PG_BIN / "initdb"), "-D", str(cluster.data), "-U", "postgres",
               "--auth-local=trust", "--auth-host=scram-sha-256", "--encoding=UTF8",
               "--locale=C", "--no-sync"]))
    conf = render_template(PG_SQL / "postgresql.conf.tmpl", {
        "port": PORT, "listen_addresses": "127.0.0.1", "socket_dir": root / "sock",
        "max_connections": 40, "archive_dir": cluster.archive, "archive_timeout_s": 60,
    })
    (cluster.data / "postgresql.conf").write_text(conf)
    shutil.copy(PG_SQL / "pg_hba.conf", cluster.data / "pg_hba.conf")
    for name in ("postgresql.conf", "pg_hba.conf"):
        os.chown(cluster.data / name, owner.pw_uid, owner.pw_gid)
    cluster.env = {
        "PG_BINDIR": str(PG_BIN), "PGDATA": str(cluster.data), "PGHOST": str(root / "sock"),
        "PGPORT": str(PORT), "PGUSER": "postgres", "PG_OS_USER": PG_OS_USER,
        "PG_LOG": str(root / "pg.log"), "WAL_ARCHIVE_DIR": str(cluster.archive),
        "BACKUP_DIR": str(cluster.backups), "PGDATABASE": "aarya",
    }
    (root / "stack.env").write_text("".join(f"{k}={v}\n" for k, v in cluster.env.items()))
    return cluster


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    reason = _can_run_postgres()
    if reason:
        pytest.skip(reason)
    root = Path(tempfile.mkdtemp(prefix="aarya-backup-", dir="/tmp"))
    try:
        cluster = make_cluster(root)
        run(as_pg([str(PG_BIN / "pg_ctl"), "start", "-D", str(cluster.data), "-w", "-t", "60",
                   "-l", str(root / "pg.log")]))
        cluster.apply("roles.sql", "postgres")
        cluster.apply("schema.sql", "aarya")
        cluster.apply("seed.sql", "aarya")
        yield cluster
    finally:
        if (root / "data" / "postmaster.pid").exists():
            subprocess.run(as_pg([str(PG_BIN / "pg_ctl"), "stop", "-D", str(root / "data"),
                                  "-m", "immediate", "-w", "-t", "30"]),
                           capture_output=True, timeout=60, cwd="/")
        shutil.rmtree(root, ignore_errors=True)


def test_recover_replays_archived_wal_written_after_the_backup(cluster: Cluster) -> None:
    cluster.add_user("before-backup@example.com")
    backup = cluster.timed("backup", "backup")
    base = Path(backup.stdout.splitlines()[0])
    assert base.parent == cluster.backups and base.name.startswith("base_")
    meta = json.loads((base / "backup.json").read_text())
    assert meta["end_lsn"] and meta["size_bytes"] > 0 and (base / "base.tar.gz").is_file()

    cluster.add_user("after-backup@example.com")
    cluster.archive_current_wal()
    recovered = cluster.timed("recover (all archived WAL)", "recover")

    assert "timeline 2" in recovered.stdout
    assert cluster.emails() == {"before-backup@example.com", "after-backup@example.com"}
    assert cluster.psql("SELECT pg_is_in_recovery()") == "f"
    cluster.add_user("written-after-recovery@example.com")  # accepts writes again
    assert cluster.psql("SELECT count(*) FROM products") == "3000"
    aside = list(cluster.root.glob("data.before-recover-*"))
    assert len(aside) == 1 and (aside[0] / "PG_VERSION").exists()
    assert not (cluster.data / "recovery.signal").exists()
    assert "restore_command" not in (cluster.data / "postgresql.auto.conf").read_text()
    assert (cluster.data.stat().st_mode & 0o777) == 0o700
    assert cluster.data.stat().st_uid == pwd.getpwnam(PG_OS_USER).pw_uid


def test_recover_to_a_target_time_leaves_out_later_transactions(cluster: Cluster) -> None:
    cluster.timed("backup (second)", "backup")
    cluster.add_user("first@example.com")
    target = cluster.psql("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', "
                          "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
    time.sleep(0.2)
    cluster.add_user("second@example.com")
    cluster.archive_current_wal()

    recovered = cluster.timed("recover (--target-time)", "recover", "--target-time", target)

    assert "up to" in recovered.stdout
    assert cluster.emails() == {"first@example.com"}
    assert cluster.psql("SELECT pg_is_in_recovery()") == "f"
    log = Path(cluster.env["PG_LOG"]).read_text()
    assert "recovery stopping before commit" in log


def test_target_time_after_the_last_commit_fails_with_the_log_tail(cluster: Cluster) -> None:
    cluster.script("backup")
    cluster.add_user("last-commit@example.com")
    target = cluster.psql("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', "
                          "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")

    failed = cluster.script("recover", "--target-time", target, check=False)

    assert failed.returncode != 0
    assert "recover: error:" in failed.stderr
    assert "no commit after --target-time" in failed.stderr
    assert "last lines of" in failed.stderr and "recovery ended before" in failed.stderr
    assert list(cluster.root.glob("data.before-recover-*"))  # the old data is still there


def test_dump_round_trip_and_pruning(cluster: Cluster) -> None:
    cluster.add_user("in-dump@example.com")
    written = cluster.timed("backup --dump", "backup", "--dump").stdout.splitlines()
    dump = Path(written[1])
    assert dump.name.startswith("postgres_") and dump.name.endswith(".sql.gz")

    cluster.add_user("after-dump@example.com")
    cluster.psql("DELETE FROM products WHERE id <= 10")
    # A bare name is looked up in BACKUP_DIR, as the runbook's recover.sh is called.
    cluster.timed("recover (dump)", "recover", dump.name)

    assert cluster.emails() == {"in-dump@example.com"}
    assert cluster.psql("SELECT count(*) FROM products") == "3000"
    assert cluster.psql("SELECT pg_get_userbyid(datdba) FROM pg_database "
                        "WHERE datname = 'aarya'") == "aarya"
    assert cluster.psql("SELECT has_table_privilege('aarya', 'orders', 'INSERT')") == "t"

    cluster.script("backup", "--dump", "--keep", "1")
    assert len(list(cluster.backups.glob("base_*"))) == 1
    assert len(list(cluster.backups.glob("postgres_*.sql.gz"))) == 1


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch to the postgres user")
def test_scripts_run_as_the_postgres_user_when_pg_os_user_is_empty(cluster: Cluster) -> None:
    """What the driver writes when it does not run as root: PG_OS_USER= (no user switch)."""
    run_dir = cluster.root / "as-postgres"
    run_dir.mkdir()
    (run_dir / "stack.env").write_text(
        "".join(f"{k}={'' if k == 'PG_OS_USER' else v}\n" for k, v in cluster.env.items()))
    os.chown(run_dir, pwd.getpwnam(PG_OS_USER).pw_uid, -1)
    as_postgres = ["runuser", "-u", PG_OS_USER, "--"]

    cluster.add_user("before@example.com")
    run(as_postgres + [str(SCRIPTS / "backup"), "--run-dir", str(run_dir)])
    cluster.add_user("after@example.com")
    cluster.archive_current_wal()
    run(as_postgres + [str(SCRIPTS / "recover"), "--run-dir", str(run_dir)])

    assert cluster.emails() == {"before@example.com", "after@example.com"}


def test_clear_errors_without_backups_or_server(tmp_path: Path) -> None:
    missing = subprocess.run([str(SCRIPTS / "recover"), "--run-dir", str(tmp_path)],
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 1 and "stack.env not found" in missing.stderr

    data = tmp_path / "data"
    (tmp_path / "stack.env").write_text(
        f"PG_BINDIR={PG_BIN}\nPGDATA={data}\nPGHOST={tmp_path}\nPGPORT={PORT}\nPGUSER=postgres\n"
        f"PG_OS_USER={PG_OS_USER}\nPG_LOG={tmp_path}/pg.log\nWAL_ARCHIVE_DIR={tmp_path}/wal\n"
        f"BACKUP_DIR={tmp_path}/backups\nPGDATABASE=aarya\n"
    )
    env = {**os.environ, "AARYA_RUN_DIR": str(tmp_path)}
    none = subprocess.run([str(SCRIPTS / "recover")], capture_output=True, text=True,
                          timeout=60, env=env)
    assert none.returncode == 1
    assert f"looked for {tmp_path}/backups/base_*/base.tar.gz" in none.stderr

    unknown = subprocess.run([str(SCRIPTS / "recover"), "postgres_nope.sql.gz"],
                             capture_output=True, text=True, timeout=60, env=env)
    assert unknown.returncode == 1 and "not found (looked at" in unknown.stderr

    stopped = subprocess.run([str(SCRIPTS / "backup")], capture_output=True, text=True,
                             timeout=60, env=env)
    assert stopped.returncode == 1 and "PostgreSQL is not running" in stopped.stderr
    assert not data.exists()
