"""aarya_chaos.bite.matrix: the kill rate, bite.json (schema 1), bite.md and bite.html of a literal run."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from aarya_chaos.bite.catalogue import Edit, Mutant
from aarya_chaos.bite.matrix import bite_json, console_table, counts, kill_rate_line, markdown, write_reports
from aarya_chaos.bite.runner import BiteRun, MutantResult

POOL = "scenarios/test_pool_exhaustion.py::test_pool_exhaustion"
PARTITION = "scenarios/test_network_partition.py::test_network_partition[black_hole]"


def mutant(mid: str, *, expect: tuple[str, ...] = ("no_request_hung_during_the_fault",)) -> Mutant:
    return Mutant(mid, f"title of {mid}", f"why {mid} | ships <b>", "code", (POOL, PARTITION), expect,
                  edits=(Edit("stack/a.py", "x = 1", "x = 2"),), settings={"commerce": {"HTTP_TIMEOUT_S": "30"}})


def sample_run(tmp_path: Path) -> BiteRun:
    return BiteRun("20261203T100000Z", "2026-12-03T10:00:00+00:00", "2026-12-03T11:00:00+00:00", results=[
        MutantResult(mutant("killed-one"), "killed", ("no_request_hung_during_the_fault", "b", "c", "d"),
                     "1.2: missed 4 checks", 184.2, tmp_path / "mutants/killed-one/pytest.log"),
        MutantResult(mutant("killed-otherwise"), "killed", ("restored_within_rto_target",), "1.2: missed 1", 90.0),
        MutantResult(mutant("survivor"), "survived", (), "every scenario passed", 200.0),
        MutantResult(mutant("erred"), "error", (), "1.2: the stack was not steady", 30.0),
        MutantResult(mutant("skip"), "skipped", (), "1.2: Skipped: needs root", 1.0),
    ])


def test_counts_and_the_kill_rate(tmp_path: Path) -> None:
    run = sample_run(tmp_path)
    assert counts(run) == {"killed": 2, "error": 1, "skipped": 1, "survived": 1}
    assert kill_rate_line(run) == "kill rate 2/5 (40%): killed 2, error 1, skipped 1, survived 1"
    run.results.append(MutantResult(mutant("later"), "not-run", (), "not started (interrupted)"))
    assert counts(run)["not-run"] == 1 and kill_rate_line(run).startswith("kill rate 2/6 ")


def test_bite_json_has_every_field_of_each_mutant(tmp_path: Path) -> None:
    data = bite_json(sample_run(tmp_path))
    assert data["schema"] == 1
    assert data["run"]["started"] == "2026-12-03T10:00:00+00:00" and data["run"]["finished"].startswith("2026-12-03T11")
    assert data["kill_rate"] == {"killed": 2, "total": 5, "rate": 0.4}
    first = data["mutants"][0]
    assert first["id"] == "killed-one" and first["kind"] == "code" and first["title"] == "title of killed-one"
    assert first["edits"] == [{"path": "stack/a.py", "old": "x = 1", "new": "x = 2"}]
    assert first["settings"] == {"commerce": {"HTTP_TIMEOUT_S": "30"}} and first["stack"] == {}
    assert first["caught_by"] == [POOL, PARTITION]
    assert first["result"] == "killed" and first["failed_checks"][0] == "no_request_hung_during_the_fault"
    assert first["duration_s"] == 184.2 and first["log"].endswith("mutants/killed-one/pytest.log")
    assert first["expected_not_failed"] == []
    assert data["mutants"][1]["expected_not_failed"] == ["no_request_hung_during_the_fault"]
    json.dumps(data)  # JSON-ready


def test_the_markdown_matrix(tmp_path: Path) -> None:
    text = markdown(sample_run(tmp_path))
    lines = text.splitlines()
    header = lines.index("| mutant | kind | regression | must be caught by | result | failed checks / reason | time |")
    rows = lines[header + 2: header + 7]
    assert rows[0] == ("| `killed-one` | code | why killed-one \\| ships <b> | test_pool_exhaustion, "
                       "test_network_partition[black_hole] | **killed** | no_request_hung_during_the_fault, b, c (+1) "
                       "| 3m04s |")
    assert "**survived** | every scenario passed | 3m20s |" in rows[2]
    assert "kill rate 2/5 (40%)" in text
    assert "- `killed-otherwise`: no_request_hung_during_the_fault did not fail" in text


def test_the_html_page_and_the_files(tmp_path: Path) -> None:
    paths = write_reports(sample_run(tmp_path), tmp_path / "bite")
    assert sorted(p.name for p in paths.values()) == ["bite.html", "bite.json", "bite.md"]
    page = paths["html"].read_text()
    assert page.startswith("<!doctype html>") and "<style>" in page
    assert 'class="badge v-pass">killed' in page and 'class="badge v-fail">survived' in page
    assert 'class="badge v-error">error' in page and 'class="badge v-skipped">skipped' in page
    assert "ships &lt;b&gt;" in page and "<b>" not in page.split("<body>")[1].replace("<br>", "")
    assert "3 of 5 mutants not killed" in page
    assert json.loads(paths["json"].read_text())["counts"]["survived"] == 1


def test_the_console_table_renders(tmp_path: Path) -> None:
    console = Console(width=200, record=True)
    console.print(console_table(sample_run(tmp_path)))
    out = console.export_text()
    assert "killed-one" in out and "survived" in out and "test_pool_exhaustion" in out and "3m04s" in out
