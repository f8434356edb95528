"""The runbook 8.x faults on a fake driver: a bad release and a destructive migration land, prove it, heal."""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from aarya_chaos.errors import FaultError
from fixtures.detect.probes import ConditionProbe
from fixtures.detect.release import error_rate_above
from fixtures.detect.restore import orders_present
from fixtures.faults import release as release_module
from fixtures.faults.base import applied
from fixtures.faults.release import BadRelease
from fixtures.faults.restore import DestructiveMigration
from fixtures.heal import HealRegistry
from fixtures.recover.restore import backup_dir, hand_back_postgres, runbook_dump_path
from load.history import HistoryWriter, Op, pair_ops, read_records
from stack.config import load_config
from stack.drivers.base import PostgresFiles
from stack.drivers.fake import FakeDriver

DAMAGE = dt.datetime(2026, 11, 28, 15, 0, 0, tzinfo=dt.timezone.utc)


class ReleaseDriver(FakeDriver):
    def __init__(self) -> None:
        super().__init__(("postgres", "redis", "core_platform", "payment", "commerce"))
        self.releases = {"commerce": "v1"}

    def deploy(self, name: str, release: str) -> None:
        self.calls.append(("deploy", f"{name}={release}"))
        self.releases[name] = release

    def release_of(self, name: str) -> str:
        return self.releases.get(name, "v1")


def test_a_bad_release_lands_on_health_and_errors_and_heals_to_the_previous(monkeypatch: pytest.MonkeyPatch) -> None:
    stack = ReleaseDriver()
    monkeypatch.setattr(release_module, "release_on_health", lambda s, name: s.release_of(name))
    monkeypatch.setattr(release_module, "gateway_answers",
                        lambda s, path, n: {"ok": 12, "bad_release": n - 12, "other": 0})
    with applied(BadRelease(stack, "commerce"), registry=HealRegistry()) as evidence:
        assert stack.release_of("commerce") == "v2-bad"
        assert evidence.facts["previous_release"] == "v1"
        assert evidence.facts["gateway_answers"]["bad_release"] == 18
    assert stack.release_of("commerce") == "v1"
    assert stack.calls == [("deploy", "commerce=v2-bad"), ("deploy", "commerce=v1")]


def test_a_bad_release_without_bad_answers_has_not_landed(monkeypatch: pytest.MonkeyPatch) -> None:
    stack = ReleaseDriver()
    monkeypatch.setattr(release_module, "release_on_health", lambda s, name: s.release_of(name))
    monkeypatch.setattr(release_module, "gateway_answers", lambda s, path, n: {"ok": n, "bad_release": 0, "other": 0})
    with pytest.raises(FaultError, match="did not land"):
        with applied(BadRelease(stack, "commerce"), registry=HealRegistry(), landed_timeout_s=0.3):
            pytest.fail("the body must not run when the fault did not land")
    assert stack.release_of("commerce") == "v1"


def test_the_heal_after_a_rollback_deploys_nothing() -> None:
    stack = ReleaseDriver()
    fault = BadRelease(stack, "commerce")
    fault.inject()
    stack.deploy("commerce", "v1")  # the runbook's rollback
    fault.heal()
    assert stack.calls.count(("deploy", "commerce=v1")) == 1


def _op(t: float, outcome: str, f: str = "browse", error: str | None = None, status: int | None = None) -> Op:
    return Op(f"o{t}", f, "p", t, t + 0.01, 1000.0 + t, outcome, 10.0, status, error)  # type: ignore[arg-type]


def test_the_error_rate_alert_counts_only_load_ops_since_the_landing() -> None:
    bad = "HTTP 500: {\"error\":\"bad_release\"}"
    ops = [_op(t / 10, "fail", error="HTTP 502", status=502) for t in range(0, 50)]          # the deploy's restart
    ops += [_op(5 + t / 10, "ok" if t % 2 else "fail", error=None if t % 2 else bad, status=None if t % 2 else 500)
            for t in range(0, 50)]
    ops += [_op(5 + t / 10, "fail", f="health:commerce") for t in range(0, 50)]             # probes are not load
    signal = error_rate_above(lambda: ops, threshold=0.2, window_s=5.0, since=5.0, now=lambda: 12.0, min_ops=20)
    seen = signal()
    assert seen is not None and "50%" in seen and "25 answered 5xx, 25 of them bad_release" in seen
    quiet = error_rate_above(lambda: ops, threshold=0.6, window_s=5.0, since=5.0, now=lambda: 12.0)
    assert quiet() is None
    too_early = error_rate_above(lambda: ops, threshold=0.2, window_s=5.0, since=5.0, now=lambda: 8.0, min_ops=20)
    assert too_early() is None  # only 10 completed load ops since the landing


def test_the_runbook_dump_path_doubles_the_prefix(tmp_path: Path) -> None:
    for i, name in enumerate(("postgres_20261128T150000Z.sql.gz", "postgres_20261128T160000Z.sql.gz")):
        (tmp_path / name).write_bytes(b"")
        os.utime(tmp_path / name, (1000 + i, 1000 + i))
    assert runbook_dump_path(tmp_path) == tmp_path / "postgres_postgres_20261128T160000Z.sql.gz"


class SqlDriver(FakeDriver):
    def __init__(self, run_dir: Path, rows: list[list[tuple[Any, ...]]], pgdata: Path | None = None) -> None:
        super().__init__(("postgres", "redis", "core_platform", "payment", "commerce"))
        self.config = load_config(run_dir=run_dir)
        self.rows = rows
        self.queries: list[str] = []
        self.pgdata = pgdata or run_dir / "pgdata"

    def postgres_files(self) -> PostgresFiles:
        return PostgresFiles(self.pgdata, self.pgdata.parent / "wal_archive", self.config.run_dir / "backups", 0, 0,
                             PurePosixPath(self.pgdata))

    def sql(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        self.queries.append(query)
        return self.rows.pop(0) if self.rows else [(0,)]


def test_a_destructive_migration_lands_when_the_orders_are_gone_and_heal_restarts_what_is_down(tmp_path: Path) -> None:
    stack = SqlDriver(tmp_path, [[(DAMAGE, ["a", "b"])], [(0,)]])
    fault = DestructiveMigration(stack)
    with applied(fault, registry=HealRegistry()) as evidence:
        assert evidence.facts["deleted"] == 2 and fault.damaged_at == DAMAGE
        assert "DELETE FROM orders" in stack.queries[0]
        stack.stop_component("commerce")                         # a recovery that failed half-way
        (tmp_path / "pgdata.before-recover-20261128T150001Z").mkdir()  # recover moved the data dir aside
    assert stack.running["commerce"]
    assert not list(tmp_path.glob("pgdata.before-recover-*"))


def test_heal_removes_the_data_directories_recover_moved_aside_in_a_containers_volume(tmp_path: Path) -> None:
    volume = tmp_path / "volumes" / "run_pgdata" / "_data"          # the docker driver's PGDATA lives here
    (volume / "pgdata").mkdir(parents=True)
    (volume / "pgdata.before-recover-20261128T140000Z").mkdir()     # an earlier recovery's: not this fault's
    stack = SqlDriver(tmp_path / "run", [[(DAMAGE, ["a"])], [(0,)]], pgdata=volume / "pgdata")
    with applied(DestructiveMigration(stack), registry=HealRegistry()):
        (volume / "pgdata.before-recover-20261128T150001Z").mkdir()
    assert sorted(p.name for p in volume.iterdir()) == ["pgdata", "pgdata.before-recover-20261128T140000Z"]


def test_hand_back_postgres_asks_the_driver_to_adopt_it(tmp_path: Path) -> None:
    stack = SqlDriver(tmp_path, [])
    (tmp_path / "stack.env").write_text(f"BACKUP_DIR={tmp_path}/backups\n")
    stack.calls.clear()
    assert hand_back_postgres(stack) == stack.pids["postgres"]
    assert [c for c in stack.calls if c[0] in ("adopt", "restart", "stop", "start")] == [("adopt", "postgres")]
    assert backup_dir(stack) == tmp_path / "backups"


def test_a_migration_that_deleted_nothing_has_not_landed(tmp_path: Path) -> None:
    stack = SqlDriver(tmp_path, [[(DAMAGE, [])]])
    with pytest.raises(FaultError, match="did not land"):
        with applied(DestructiveMigration(stack), registry=HealRegistry(), landed_timeout_s=0.3):
            pytest.fail("nothing was deleted")


def test_the_orders_probe_records_health_ops(tmp_path: Path) -> None:
    class Flaky(SqlDriver):
        def sql(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
            answers = [(2,), (1,)]
            self.queries.append(query)
            if len(self.queries) == 3:
                raise ConnectionError("database down")
            return [answers[min(len(self.queries) - 1, 1)]]

    stack = Flaky(tmp_path, [])
    history = HistoryWriter(tmp_path / "history" / "scenario.jsonl", process="scenario")
    with ConditionProbe(history, "orders_present", orders_present(stack, ["a", "b"]), interval_s=0.01):
        deadline = time.monotonic() + 5
        while len(stack.queries) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
    history.close()
    ops = pair_ops(read_records([tmp_path / "history" / "scenario.jsonl"]))
    assert [op.outcome for op in ops[:3]] == ["ok", "fail", "fail"]
    assert {op.f for op in ops} == {"health:orders_present"}
    assert "1 of 2 orders missing" in (ops[1].error or "") and "database down" in (ops[2].error or "")
