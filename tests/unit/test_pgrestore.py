"""A restore cut off half-way is rolled back to the data directory it replaced (stack/pgrestore.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from stack.pgrestore import marker, roll_back_interrupted_restore


def cut_off_restore(root: Path, *, pid: int, moved: bool = True) -> tuple[Path, Path]:
    """What recover leaves when killed while unpacking: the marker, the old PGDATA aside, a partial one."""
    pgdata, aside = root / "pgdata", root / "pgdata.before-recover-20261207T120000Z"
    (aside if moved else pgdata).mkdir(parents=True)
    ((aside if moved else pgdata) / "PG_VERSION").write_text("15\n")
    if moved:
        pgdata.mkdir()
        (pgdata / "half-unpacked").write_text("")
    marker(pgdata).write_text(json.dumps({"aside": str(aside), "backup": "base_x", "pid": pid, "started": "t"}))
    return pgdata, aside


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_no_marker_means_no_restore_was_cut_off(tmp_path: Path) -> None:
    (tmp_path / "pgdata").mkdir()
    assert roll_back_interrupted_restore(tmp_path / "pgdata") is None


def test_the_replaced_data_directory_comes_back_and_the_partial_one_is_kept(tmp_path: Path) -> None:
    pgdata, aside = cut_off_restore(tmp_path, pid=dead_pid())
    line = roll_back_interrupted_restore(pgdata)
    assert line is not None and "rolled back" in line
    assert (pgdata / "PG_VERSION").read_text() == "15\n" and not aside.exists()
    partial = [p for p in tmp_path.iterdir() if ".incomplete-restore-" in p.name]
    assert len(partial) == 1 and (partial[0] / "half-unpacked").exists()
    assert not marker(pgdata).exists()
    assert roll_back_interrupted_restore(pgdata) is None  # once


def test_a_restore_still_running_is_left_alone(tmp_path: Path) -> None:
    pgdata, aside = cut_off_restore(tmp_path, pid=os.getpid())
    line = roll_back_interrupted_restore(pgdata)
    assert line is not None and "still restoring" in line
    assert aside.exists() and marker(pgdata).exists() and (pgdata / "half-unpacked").exists()


def test_killed_before_the_move_keeps_the_data_directory_as_it_is(tmp_path: Path) -> None:
    pgdata, aside = cut_off_restore(tmp_path, pid=dead_pid(), moved=False)
    line = roll_back_interrupted_restore(pgdata)
    assert line is not None and "never moved aside" in line
    assert (pgdata / "PG_VERSION").exists() and not marker(pgdata).exists()


def test_an_unreadable_marker_is_reported_and_nothing_moves(tmp_path: Path) -> None:
    pgdata = tmp_path / "pgdata"
    pgdata.mkdir()
    marker(pgdata).write_text("{torn")
    line = roll_back_interrupted_restore(pgdata)
    assert line is not None and "unreadable" in line and pgdata.exists() and marker(pgdata).exists()
