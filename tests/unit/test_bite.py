"""aarya_chaos.bite: the catalogue, applying a mutant (exactly-once edits, the copy), the TOML it writes, and the
command line (--check over the real catalogue, --list, unknown --only)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from aarya_chaos import cli
from aarya_chaos.bite import command
from aarya_chaos.bite.catalogue import CATALOGUE, Edit, Mutant, by_id, scenario_label, validate_catalogue
from aarya_chaos.bite.mutate import (MutantPaths, StaleMutant, apply_mutant, copy_tree, edited_texts, prepare,
                                     stale_edits, toml_text, write_mutant_config)
from stack.config import _default_services, load_config

ROOT = Path(__file__).resolve().parents[2]
NODE = "scenarios/test_fake.py::test_fake"


def mutant(*edits: Edit, id: str = "fake-mutant", **fields: Any) -> Mutant:
    return Mutant(id, "a fake", "a fake regression", "code", (NODE,), edits=edits, **fields)


# ---- the catalogue ---------------------------------------------------------------------------------------


def test_the_catalogue_is_valid_and_has_at_least_15_mutants() -> None:
    assert validate_catalogue() == []
    assert len(CATALOGUE) >= 15
    assert len(by_id()) == len(CATALOGUE)


def test_validation_finds_duplicate_ids_and_bad_entries() -> None:
    good = mutant(Edit("a.py", "x", "y"))
    bad = Mutant("Bad Id", "t", "r", "code", ("scenarios/test_x.py::test_x_control_without_restart",),
                 settings={"nosuch": {"lower": "1"}}, stack={"run_dir": "/x", "colour": "red"})
    problems = validate_catalogue([good, good, bad])
    text = "\n".join(problems)
    assert "fake-mutant: id used twice" in text
    assert "Bad Id: id must be a short lower-case slug" in text
    assert "a code mutant needs edits" in text
    assert "not a non-control scenario test id" in text
    assert "unknown service 'nosuch'" in text and "not an environment variable name" in text
    assert "'colour' is not a StackConfig field" in text and "'run_dir' is set by bite itself" in text


def test_every_caught_by_names_a_scenario_test_of_the_tree() -> None:
    for m in CATALOGUE:
        for node in m.caught_by:
            path, _, test = node.partition("::")
            source = (ROOT / path).read_text()
            assert re.search(rf"^def {re.escape(test.split('[')[0])}\(", source, re.M), node
            if "[" in test:
                assert test.split("[")[1].rstrip("]") in {"refused", "black_hole"}, node


def test_every_expected_check_is_a_check_the_suite_produces() -> None:
    sources = "\n".join(p.read_text() for folder in ("scenarios", "checks", "fixtures")
                        for p in (ROOT / folder).rglob("*.py"))
    for m in CATALOGUE:
        for name in m.expect_failed:
            assert f'"{name}"' in sources, f"{m.id}: no check named {name}"


def test_scenario_labels_keep_the_parameter() -> None:
    assert scenario_label("scenarios/test_network_partition.py::test_network_partition[black_hole]") == \
        "test_network_partition[black_hole]"
    assert scenario_label("scenarios/test_redis_oom.py::test_redis_oom") == "test_redis_oom"


def test_a_mutant_is_read_only() -> None:
    m = by_id()["commerce-pool-waits-30s"]
    with pytest.raises(TypeError):
        m.settings["commerce"]["DB_POOL_TIMEOUT_S"] = "1"


# ---- edits: exactly once ---------------------------------------------------------------------------------


def test_edits_apply_in_order_to_the_copy(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("TIMEOUT = 2\nRETRIES = 3\n")
    m = mutant(Edit("a.py", "TIMEOUT = 2", "TIMEOUT = 30"), Edit("a.py", "TIMEOUT = 30\n", "TIMEOUT = 30  # x\n"))
    assert apply_mutant(m, tmp_path) == ["a.py"]
    assert (tmp_path / "a.py").read_text() == "TIMEOUT = 30  # x\nRETRIES = 3\n"


@pytest.mark.parametrize("text, count", [("nothing here\n", 0), ("x = 1\nx = 1\n", 2)])
def test_an_edit_that_does_not_occur_exactly_once_is_a_stale_mutant(tmp_path: Path, text: str, count: int) -> None:
    (tmp_path / "stack").mkdir()
    (tmp_path / "stack" / "b.py").write_text(text)
    m = mutant(Edit("stack/b.py", "x = 1", "x = 2"), id="moved-code")
    with pytest.raises(StaleMutant) as caught:
        edited_texts(m, tmp_path)
    message = str(caught.value)
    assert "moved-code" in message and "stack/b.py" in message and f"occurs {count} times" in message
    assert (tmp_path / "stack" / "b.py").read_text() == text  # nothing written
    assert [s.count for s in stale_edits(m, tmp_path)] == [count]


def test_an_edit_of_a_missing_file_is_stale(tmp_path: Path) -> None:
    stale = stale_edits(mutant(Edit("gone.py", "a", "b")), tmp_path)
    assert len(stale) == 1 and "gone.py does not exist" in stale[0].message()


def test_every_mutant_of_the_catalogue_applies_to_the_tree() -> None:
    """`bite --check` over the real catalogue: a code change that makes a mutant stale fails `make test`."""
    assert command.check_catalogue(ROOT) == []
    assert command.main(["--check"]) == 0


# ---- the copy ------------------------------------------------------------------------------------------------


def fake_project(root: Path) -> Path:
    for path, text in {"stack/svc.py": "TIMEOUT = 2\n", "reports/__init__.py": "", "reports/html.py": "X = 1\n",
                       "reports/latest/summary.json": "{}", "reports/junit-test.xml": "<x/>",
                       "reports/bite/bite.json": "{}", ".venv/bin/python": "", ".git/HEAD": "ref",
                       "stack/__pycache__/svc.cpython-311.pyc": "", "aarya_chaos.egg-info/PKG-INFO": "",
                       "out/elsewhere.txt": "mine"}.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    return root


def test_the_copy_leaves_out_vcs_caches_and_generated_reports_but_keeps_the_reports_package(tmp_path: Path) -> None:
    project = fake_project(tmp_path / "project")
    copy_tree(project, tmp_path / "copy", exclude=(project / "out",))
    copied = sorted(str(p.relative_to(tmp_path / "copy")) for p in (tmp_path / "copy").rglob("*") if p.is_file())
    assert copied == ["reports/__init__.py", "reports/html.py", "stack/svc.py"]


def test_prepare_copies_applies_and_writes_the_config(tmp_path: Path) -> None:
    project = fake_project(tmp_path / "project")
    m = mutant(Edit("stack/svc.py", "TIMEOUT = 2", "TIMEOUT = 30"), settings={"commerce": {"HTTP_TIMEOUT_S": "30"}})
    paths = MutantPaths(tmp_path / "work" / m.id)
    assert prepare(m, project, paths) == ["stack/svc.py"]
    assert (paths.src / "stack/svc.py").read_text() == "TIMEOUT = 30\n"
    assert (project / "stack/svc.py").read_text() == "TIMEOUT = 2\n"
    assert load_config(paths.config).run_dir == paths.run_dir


def test_prepare_refuses_a_stale_mutant_before_copying(tmp_path: Path) -> None:
    project = fake_project(tmp_path / "project")
    paths = MutantPaths(tmp_path / "work" / "x")
    with pytest.raises(StaleMutant):
        prepare(mutant(Edit("stack/svc.py", "TIMEOUT = 5", "TIMEOUT = 50")), project, paths)
    assert not paths.src.exists()


# ---- the stack config it writes ----------------------------------------------------------------------------


def test_the_mutant_config_round_trips_through_load_config_with_the_default_env_merged(tmp_path: Path) -> None:
    m = mutant(Edit("a", "b", "c"), settings={"commerce": {"DB_POOL_TIMEOUT_S": "30"},
                                              "payment": {"DB_POOL_TIMEOUT_S": "9"}},
               stack={"redis": {"maxmemory_policy": "allkeys-lru"}, "ready_timeout_s": 90.0})
    paths = MutantPaths(tmp_path / "m")
    paths.root.mkdir()
    config = load_config(write_mutant_config(m, paths))
    defaults = _default_services()
    assert config.run_dir == tmp_path / "m" / "run"
    assert config.services["commerce"].env == {**defaults["commerce"].env, "DB_POOL_TIMEOUT_S": "30"}
    assert config.services["payment"].env == {**defaults["payment"].env, "DB_POOL_TIMEOUT_S": "9"}
    assert config.services["payment"].env["DB_POOL_MAX_SIZE"] == defaults["payment"].env["DB_POOL_MAX_SIZE"]
    assert config.services["commerce"].port == defaults["commerce"].port
    assert config.services["core_platform"] == defaults["core_platform"]
    assert config.redis.maxmemory_policy == "allkeys-lru" and config.redis.port == 16379
    assert config.ready_timeout_s == 90.0


def test_every_catalogue_config_loads(tmp_path: Path) -> None:
    for m in CATALOGUE:
        paths = MutantPaths(tmp_path / m.id)
        paths.root.mkdir()
        config = load_config(write_mutant_config(m, paths))
        for service, env in m.settings.items():
            assert config.services[service].env == {**_default_services()[service].env, **env}


def test_toml_text_writes_the_shapes_it_needs() -> None:
    data = {"run_dir": "/tmp/a \"b\" \\ c\n", "flag": True, "n": 3, "x": 0.5, "names": ["a", "b"],
            "services": {"commerce": {"env": {"A_B": "1"}}, "with space": {"port": 1}}, "empty": {}}
    assert tomllib.loads(toml_text(data)) == data
    with pytest.raises(TypeError):
        toml_text({"bad": object()})


# ---- the command line ----------------------------------------------------------------------------------------


def test_unknown_only_ids_are_a_usage_error_naming_the_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["bite", "--only", "commerce-pool-waits-30s", "no-such-mutant"]) == 2
    err = capsys.readouterr().err
    assert "no-such-mutant" in err and "commerce-pool-waits-30s" in err and "redis-aof-off" in err


def test_only_keeps_catalogue_order() -> None:
    picked = command.select_mutants(["redis-aof-off", "commerce-pool-waits-30s"])
    assert [m.id for m in picked] == ["commerce-pool-waits-30s", "redis-aof-off"]


def test_list_prints_the_catalogue(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["bite", "--list"]) == 0
    out = capsys.readouterr().out
    for m in CATALOGUE:
        assert m.id in out


def test_check_lists_stale_mutants_and_exits_1(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(command, "PROJECT_ROOT", tmp_path)
    assert command.main(["--check", "--only", "redis-aof-off"]) == 1
    assert "stale mutant redis-aof-off" in capsys.readouterr().out


def test_bite_refuses_the_docker_driver(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--stack", "docker", "bite", "--check"]) == 2
    assert "local driver only" in capsys.readouterr().err
