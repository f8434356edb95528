"""`aarya-chaos gameday --scenario-dir DIR`: a team's scenario files as the game day's scenarios (known by
stem, id and name; a broken file listed with its error), the pytest arguments that run one file's scenario
and not its controls, and `--target` without `--scenario-dir` refused. Nothing runs: no stack, no pytest
session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from _pytest.mark.expression import Expression

from aarya_chaos import cli, gameday
from stack import runs

PRETIX = Path(__file__).resolve().parents[2] / "examples" / "second-platform" / "scenarios"
POSTGRES, UNAVAILABLE = "1.1-pretix-postgres-crash", "3.2-pretix-unavailable"


def copy(directory: Path, stem: str, as_stem: str | None = None) -> Path:
    return Path(shutil.copy(PRETIX / f"{stem}.yaml", directory / f"{as_stem or stem}.yaml"))


@pytest.fixture
def valid_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "valid"
    directory.mkdir()
    copy(directory, POSTGRES)
    copy(directory, UNAVAILABLE)
    return directory


@pytest.fixture
def with_broken(valid_dir: Path) -> Path:
    (valid_dir / "9.9-broken.yaml").write_text('id: "9.9"\nname: Broken\ninject: {no_such_fault: {}}\n')
    return valid_dir


def item_names(directory: Path) -> list[str]:
    """The items test_scenario_files.py collects from `directory`, by name (its own parametrization)."""
    from scenarios.test_scenario_files import _cases

    return [f"test_scenario_file[{case.id}]" for case in _cases(directory)]


def selected(expression: str, names: list[str]) -> list[str]:
    """The item names a -k expression keeps, matched as pytest's KeywordMatcher does (case-insensitive
    substrings of the item's name, its parents' names and its markers)."""
    others = ["test_scenario_files.py", "scenarios", "main", "scenario_file", "scenario", "control", "needs",
              "database", "service", "timeout"]

    def keeps(name: str) -> bool:
        keywords = [name, *others]
        return Expression.compile(expression).evaluate(
            lambda sub, /, **_: any(sub.lower() in k.lower() for k in keywords))

    return [name for name in names if keeps(name)]


def test_known_scenarios_are_the_files_by_stem_id_and_name(with_broken: Path) -> None:
    known = {s.test: s for s in gameday.discover_files(with_broken)}
    assert sorted(known) == ["1.1-pretix-postgres-crash", "3.2-pretix-unavailable", "9.9-broken"]
    postgres = known[POSTGRES]
    assert (postgres.runbook_id, postgres.name, postgres.error, postgres.control) == \
        ("1.1", "PostgreSQL crash under pretix (scenario file)", None, False)
    assert postgres.file == with_broken / f"{POSTGRES}.yaml" and postgres.scenario_dir == with_broken
    broken = known["9.9-broken"]
    assert broken.runbook_id is None and broken.error is not None and "9.9-broken.yaml:" in broken.error
    assert "\n" not in broken.error


@pytest.mark.parametrize("query", ["3.2", UNAVAILABLE, "3.2-pretix-unavailable", "pretix unavailable (scenario file)",
                                   "pretix_unavailable"])
def test_resolve_a_file_by_id_stem_name_or_part(valid_dir: Path, query: str) -> None:
    target, candidates = gameday.resolve(query, gameday.discover_files(valid_dir))
    assert target is not None and target.test == UNAVAILABLE and candidates == []


def test_a_missing_or_empty_directory_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert gameday.main(["--scenario-dir", str(tmp_path / "nowhere"), "1.1"]) == 2
    assert "is not a directory" in capsys.readouterr().err
    assert gameday.main(["--scenario-dir", str(tmp_path), "1.1"]) == 2
    assert "has no scenario files" in capsys.readouterr().err


def test_list_shows_the_files_and_the_broken_one(with_broken: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert gameday.main(["--list", "--scenario-dir", str(with_broken)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "scenario file" in out and "does not compile" in out
    assert "test_commerce_unavailable" not in out and "commerce_unavailable" not in out  # not the Python ones


def test_pytest_arguments_run_the_files_test_with_the_directory(valid_dir: Path) -> None:
    known = gameday.discover_files(valid_dir)
    target, _ = gameday.resolve("1.1", known)
    assert target is not None
    args = gameday.pytest_arguments(target, known, auto=True, users=3, config=None, extra=[],
                                    reports_dir=Path("r"), profile=Path("pretix.toml"))
    assert args[:5] == [str(gameday.scenarios_dir() / "test_scenario_files.py"), "--scenario-dir", str(valid_dir),
                        "-k", f"test_scenario_file[{POSTGRES}]"]
    for expected in (["-p", "aarya_chaos.gameday_plugin"], ["--gameday-auto"], ["--stack", "attach"],
                     ["--target", "pretix.toml"]):
        assert any(args[i:i + len(expected)] == expected for i in range(len(args)))


def test_k_selects_the_files_scenario_not_its_controls_nor_a_longer_stem(valid_dir: Path) -> None:
    copy(valid_dir, POSTGRES, f"{POSTGRES}-again")  # a stem that starts with another's
    copy(valid_dir, POSTGRES, f"x{POSTGRES}")  # and one that ends with it
    names = item_names(valid_dir)
    assert f"test_scenario_file[{POSTGRES}-control-without_restart]" in names  # the control is collected too
    known = gameday.discover_files(valid_dir)
    for scenario in known:
        expression = gameday.pytest_arguments(scenario, known, auto=True, users=1, config=None, extra=[],
                                              reports_dir=Path("r"))[4]
        assert selected(expression, names) == [f"test_scenario_file[{scenario.test}]"]


def test_a_broken_file_in_the_directory_refuses_the_run(with_broken: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(gameday, "run", lambda *a: pytest.fail("nothing may run"))
    assert gameday.main(["--scenario-dir", str(with_broken), "--auto", "1.1"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "9.9-broken.yaml does not compile (pytest compiles every file of --scenario-dir)" in err
    assert gameday.main(["--scenario-dir", str(with_broken), "--auto", "9.9-broken"]) == 2
    assert "9.9-broken.yaml does not compile:" in capsys.readouterr().err


def test_a_file_name_k_cannot_select_is_refused(valid_dir: Path) -> None:
    copy(valid_dir, UNAVAILABLE, "3.2 pretix (copy)")
    known = gameday.discover_files(valid_dir)
    spaced = next(s for s in known if s.test == "3.2 pretix (copy)")
    problem = gameday.file_problem(spaced, known)
    assert problem is not None and "pytest -k cannot select" in problem
    target, _ = gameday.resolve(POSTGRES, known)
    assert target is not None and gameday.file_problem(target, known) is None


def test_main_runs_the_file_on_the_target(valid_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(runs.KIND_ENV, "test")  # main sets it only when unset
    got: list[tuple[str, list[str]]] = []
    monkeypatch.setattr(gameday, "run", lambda target, args, *_: got.append((target.test, args)) or 0)
    assert gameday.main(["--target", "pretix.toml", "--scenario-dir", str(valid_dir), "--auto", "3.2"]) == 0
    (test, args), = got
    assert test == UNAVAILABLE and args[args.index("-k") + 1] == f"test_scenario_file[{UNAVAILABLE}]"
    assert args[args.index("--stack") + 1] == "attach" and args[args.index("--target") + 1] == "pretix.toml"


@pytest.mark.parametrize("argv", [["--target", "pretix.toml", "2.2"], ["--target", "pretix.toml", "--list"]])
def test_target_without_scenario_dir_is_a_usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert gameday.main(argv) == 2
    err = capsys.readouterr().err
    assert "give --scenario-dir DIR" in err and len(err.strip().splitlines()) == 1


def test_the_cli_passes_scenario_dir_through(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    got: list[list[str]] = []
    monkeypatch.setattr("aarya_chaos.gameday.main", lambda argv: got.append(list(argv)) or 0)
    assert cli.main(["gameday", "--scenario-dir", str(tmp_path), "2.2", "--auto"]) == 0
    assert got == [["--scenario-dir", str(tmp_path), "2.2", "--auto"]]
