"""stack/scripts' stack.env in both modes (pg_ctl for the local driver, docker for the docker driver), and
how the scripts stop, start and read the log of a PostgreSQL in a container, with a fake `docker` CLI."""

from __future__ import annotations

import datetime as dt
import importlib.machinery
import importlib.util
import os
import stat
import sys
from pathlib import Path, PurePosixPath
from types import ModuleType

import pytest

from stack.config import load_config
from stack.drivers.base import PostgresFiles
from stack.drivers.docker import stack_env as docker_stack_env

SCRIPTS = Path(__file__).resolve().parents[2] / "stack" / "scripts"
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))

import _pgenv  # noqa: E402


def _load_script(name: str) -> ModuleType:
    loader = importlib.machinery.SourceFileLoader(f"aarya_script_{name}", str(SCRIPTS / name))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


recover = _load_script("recover")

LOCAL = {
    "PG_BINDIR": "/usr/lib/postgresql/15/bin", "PGDATA": "/run/x/pgdata", "PGHOST": "/run/x/sock",
    "PGPORT": "15432", "PGUSER": "postgres", "PG_OS_USER": "postgres", "PG_LOG": "/run/x/logs/postgres.log",
    "WAL_ARCHIVE_DIR": "/run/x/wal_archive", "BACKUP_DIR": "/run/x/backups", "PGDATABASE": "aarya",
}


def _docker_values(tmp_path: Path) -> dict[str, str]:
    config = load_config(run_dir=str(tmp_path)).with_port_offset(600)
    files = PostgresFiles(Path("/var/lib/docker/volumes/v_pgdata/_data/pgdata"),
                          Path("/var/lib/docker/volumes/v_pgdata/_data/wal_archive"), tmp_path / "backups", 100, 102,
                          PurePosixPath("/var/lib/postgresql/data/pgdata"))
    return docker_stack_env.stack_env_values(
        config, files, container="h82_postgres", server_archive="/var/lib/postgresql/data/wal_archive",
        bindir=Path("/usr/lib/postgresql/15/bin"), passfile=tmp_path / "pgpass")


def _write(run_dir: Path, values: dict[str, str]) -> Path:
    path = run_dir / "stack.env"
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return path


# -- stack.env ---------------------------------------------------------------------------------------


def test_the_local_stack_env_is_read_as_before(tmp_path: Path) -> None:
    _write(tmp_path, LOCAL)
    env = _pgenv.load_env(tmp_path)
    assert env.control == "pg_ctl" and not env.docker and env.container == ""
    assert env.log == Path("/run/x/logs/postgres.log") and env.owner is None and env.passfile is None
    assert env.restore_archive == env.wal_archive == Path("/run/x/wal_archive")
    assert env.server == "PGDATA=/run/x/pgdata"
    assert _pgenv.tool_environ(env) is None


def test_a_local_stack_env_still_needs_its_log(tmp_path: Path) -> None:
    _write(tmp_path, {**LOCAL, "PG_LOG": ""})
    with pytest.raises(_pgenv.ScriptError, match="lacks PG_LOG"):
        _pgenv.load_env(tmp_path)


def test_the_docker_driver_writes_a_stack_env_the_scripts_read(tmp_path: Path) -> None:
    values = _docker_values(tmp_path)
    assert values["PG_CONTROL"] == "docker" and values["PGHOST"] == "127.0.0.1" and values["PGPORT"] == "16032"
    _write(tmp_path, values)
    env = _pgenv.load_env(tmp_path)
    assert env.docker and env.container == "h82_postgres" and env.server == "container h82_postgres"
    assert env.log is None and env.log_name == "`docker logs h82_postgres`"
    assert env.owner == (100, 102) and env.os_user == ""
    assert env.pgdata == Path("/var/lib/docker/volumes/v_pgdata/_data/pgdata")
    assert env.wal_archive == Path("/var/lib/docker/volumes/v_pgdata/_data/wal_archive")
    assert env.restore_archive == Path("/var/lib/postgresql/data/wal_archive")  # as the server sees it
    assert env.backup_dir == tmp_path / "backups"
    assert (_pgenv.tool_environ(env) or {})["PGPASSFILE"] == str(tmp_path / "pgpass")


@pytest.mark.parametrize(("change", "message"), [
    ({"PG_CONTAINER": ""}, "lacks PG_CONTAINER"),
    ({"PG_CONTROL": "systemd"}, "PG_CONTROL=systemd"),
    ({"PG_OWNER": "postgres"}, "numeric uid:gid"),
])
def test_a_broken_docker_stack_env_is_named(tmp_path: Path, change: dict[str, str], message: str) -> None:
    _write(tmp_path, {**_docker_values(tmp_path), **change})
    with pytest.raises(_pgenv.ScriptError, match=message):
        _pgenv.load_env(tmp_path)


def test_in_docker_mode_the_tools_run_as_the_caller_and_files_go_to_the_owner_by_number(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(tmp_path, _docker_values(tmp_path))
    env = _pgenv.load_env(tmp_path)
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert _pgenv.as_pg_user(env, ["pg_basebackup", "-D", "x"]) == ["pg_basebackup", "-D", "x"]
    chowned: list[tuple[str, int, int]] = []
    monkeypatch.setattr(os, "chown", lambda path, uid, gid, follow_symlinks=True: chowned.append((str(path), uid, gid)))
    (tmp_path / "data" / "base").mkdir(parents=True)
    (tmp_path / "data" / "base" / "1").write_text("")
    _pgenv.chown_to_pg_user(env, tmp_path / "data", recursive=True)
    assert {c[1:] for c in chowned} == {(100, 102)} and len(chowned) == 3


def test_the_local_mode_still_switches_to_pg_os_user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(tmp_path, {**LOCAL, "PG_OS_USER": "nobody"})
    env = _pgenv.load_env(tmp_path)
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(_pgenv, "current_user", lambda: "root")
    assert _pgenv.as_pg_user(env, ["psql"]) == ["runuser", "-u", "nobody", "--", "psql"]


def test_the_docker_stack_env_file_and_its_password_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_config(run_dir=str(tmp_path)).with_port_offset(600)
    files = PostgresFiles(tmp_path / "vol" / "pgdata", tmp_path / "vol" / "wal_archive", tmp_path / "backups", 100, 102,
                          PurePosixPath("/var/lib/postgresql/data/pgdata"))
    monkeypatch.setattr(docker_stack_env, "client_bindir", lambda major: None)
    path = docker_stack_env.write_stack_env(config, files, container="h82_postgres", server_archive="/a",
                                            server_major=15)
    text = path.read_text()
    assert text.startswith("# no PostgreSQL client tools") and "postgresql-client-15" in text.splitlines()[0]
    with pytest.raises(_pgenv.ScriptError, match="lacks PG_BINDIR"):
        _pgenv.load_env(tmp_path)
    passfile = tmp_path / "pgpass"
    assert stat.S_IMODE(passfile.stat().st_mode) == 0o600
    assert passfile.read_text() == f"127.0.0.1:{config.postgres.port}:*:postgres:postgres\n"
    assert docker_stack_env.pgpass_line("h", 1, "u:x", "p\\w") == "h:1:*:u\\:x:p\\\\w\n"


def test_client_tools_of_the_server_major_version_or_newer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AARYA_PG_BINDIR", raising=False)
    for version, tools in (("13", docker_stack_env.CLIENT_TOOLS), ("16", docker_stack_env.CLIENT_TOOLS),
                           ("17", docker_stack_env.CLIENT_TOOLS), ("15", ("psql",))):
        (tmp_path / version / "bin").mkdir(parents=True)
        for tool in tools:
            (tmp_path / version / "bin" / tool).write_text("")
    assert docker_stack_env.client_bindir(15, roots=(tmp_path,)) == tmp_path / "16" / "bin"  # 15 lacks pg_dump
    assert docker_stack_env.client_bindir(13, roots=(tmp_path,)) == tmp_path / "13" / "bin"
    assert docker_stack_env.client_bindir(18, roots=(tmp_path,)) is None


# -- docker mode with a fake docker CLI ----------------------------------------------------------------


FAKE_DOCKER = """#!/bin/sh
echo "$*" >> "{root}/calls"
case "$1" in
    inspect) cat "{root}/running" ;;
    stop)    echo false > "{root}/running"; echo "$3 $4" ;;
    start)   echo true > "{root}/running"; echo "$2" ;;
    logs)    echo "entrypoint line"; echo "LOG:  recovery ended before configured recovery target was reached" >&2 ;;
esac
"""


@pytest.fixture
def docker_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> _pgenv.PgEnv:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "docker"
    fake.write_text(FAKE_DOCKER.format(root=tmp_path))
    fake.chmod(0o755)
    (tmp_path / "running").write_text("true\n")
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    _write(tmp_path, _docker_values(tmp_path))
    return _pgenv.load_env(tmp_path)


def _calls(tmp_path: Path) -> list[str]:
    return (tmp_path / "calls").read_text().splitlines()


def test_docker_mode_stops_and_starts_the_container(docker_env: _pgenv.PgEnv, tmp_path: Path) -> None:
    assert _pgenv.server_running(docker_env)
    assert recover.stop_server(docker_env) is True
    assert not _pgenv.server_running(docker_env)
    assert recover.stop_server(docker_env) is False  # already stopped: nothing to do
    recover.start_server(docker_env, _pgenv.log_size(docker_env))
    assert _pgenv.server_running(docker_env)
    calls = _calls(tmp_path)
    assert "stop -t 30 h82_postgres" in calls and "start h82_postgres" in calls
    assert calls.count("stop -t 30 h82_postgres") == 1


def test_docker_mode_reads_the_log_from_docker_logs_since_a_moment(docker_env: _pgenv.PgEnv, tmp_path: Path) -> None:
    since = _pgenv.log_size(docker_env)
    assert since > 1_600_000_000 * 10**9  # a time in ns, not a byte offset
    tail = _pgenv.log_tail(docker_env, since)
    assert tail.startswith("last lines of `docker logs h82_postgres`:") and "entrypoint line" in tail
    assert _calls(tmp_path)[-1] == f"logs --since {_pgenv.docker_since(since)} h82_postgres"
    assert "no commit after --target-time" in recover.stop_hint(docker_env, since)
    assert _pgenv.docker_since(1_700_000_000_000_000_042) == "1700000000.000000042"


def test_a_missing_container_is_an_error_not_a_stopped_server(docker_env: _pgenv.PgEnv, tmp_path: Path) -> None:
    (tmp_path / "bin" / "docker").write_text("#!/bin/sh\necho 'Error: No such object: h82_postgres' >&2\nexit 1\n")
    with pytest.raises(_pgenv.ScriptError, match="No such object"):
        _pgenv.server_running(docker_env)
    assert "cannot read the log" in _pgenv.log_tail(docker_env, 0)


def test_restore_command_reads_the_archive_where_the_server_sees_it(docker_env: _pgenv.PgEnv, tmp_path: Path) -> None:
    pgdata = tmp_path / "pgdata"
    pgdata.mkdir()
    (pgdata / "postgresql.auto.conf").write_text("work_mem = '8MB'\nrestore_command = 'old'\n")
    env = _pgenv.PgEnv(**{**docker_env.__dict__, "pgdata": pgdata})
    recover.write_recovery_settings(env, dt.datetime(2026, 11, 28, 15, 0, tzinfo=dt.timezone.utc))
    auto = (pgdata / "postgresql.auto.conf").read_text()
    assert "restore_command = 'cp /var/lib/postgresql/data/wal_archive/%f %p'" in auto
    assert "old" not in auto and "work_mem = '8MB'" in auto
    assert "recovery_target_time = '2026-11-28 15:00:00+00:00'" in auto
    assert (pgdata / "recovery.signal").exists()
