"""`aarya-chaos --target PROFILE ...` (aarya_chaos/cli.py, runs_cli.py, gameday.py, runbook_check/cli.py) without
an engine: the argument handling and its errors, the driver made from the profile (a fake in its place), the
preflight before `up`, the forwarding to runbook-check and gameday, and the attach run in the machine's
registry (stack/drivers/attach/driver.py `_claim_run_dir`, kind.py's run.json fallback).

Nothing here starts a container or reaches a port: the driver is a fake wherever one would act.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from aarya_chaos import cli
from aarya_chaos.errors import ConfigError
from stack import runs
from stack.config import StackConfig
from stack.drivers.base import ComponentStatus
from stack.target.preflight import Finding
from stack.target.profile import TargetProfile

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "second-platform"


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No stray aarya-chaos.toml, a run dir and a registry of the test's own, no owner mark inherited."""
    monkeypatch.delenv("AARYA_CONFIG", raising=False)
    monkeypatch.setenv("AARYA_RUN_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("AARYA_RUNS_DIR", str(tmp_path / "runs"))
    for name in (runs.OWNER_ENV, runs.KIND_ENV):  # set first, so the end of the test restores them
        monkeypatch.setenv(name, "-")
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def profile_file(tmp_path: Path) -> Path:
    """pretix.toml with its locustfile and compose file by absolute path, under a project of its own (so
    nothing here could ever name a real project)."""
    text = (EXAMPLE / "pretix.toml").read_text()
    text = text.replace('locustfile = "locustfile.py"', f'locustfile = "{EXAMPLE / "locustfile.py"}"')
    text = text.replace('file = "docker-compose.yml"', f'file = "{EXAMPLE / "docker-compose.yml"}"')
    text = text.replace('project = "aarya-second-platform"', 'project = "aarya-cli-unit-test"')
    path = tmp_path / "pretix.toml"
    path.write_text(text)
    return path


class FakeDriver:
    """What the commands ask of a driver; records what they did."""

    def __init__(self, config: StackConfig, *, attached: bool = True) -> None:
        self.config = config
        self.attached = attached
        self.calls: list[str] = []

    def start(self) -> None:
        self.calls.append("start")

    def stop(self) -> None:
        self.calls.append("stop")

    def endpoints(self) -> Mapping[str, str]:
        return {"pretix": "http://127.0.0.1:26080/healthcheck/", "toxiproxy": "http://127.0.0.1:8474"}

    def attach(self) -> dict[str, Any] | None:
        return {"driver": "attach"} if self.attached else None

    def owner_pid(self) -> int | None:
        return None

    def status(self, probe: bool = False) -> list[ComponentStatus]:
        return [ComponentStatus("pretix", True, 42, "http://127.0.0.1:26080/healthcheck/", True, "running")]

    def heal_leftovers(self) -> list[str]:
        self.calls.append("heal_leftovers")
        return ["attach: unpaused nothing"]


class Made:
    """make_driver replaced: the calls it got, and the fake it handed out."""

    def __init__(self, *, attached: bool = True) -> None:
        self.calls: list[tuple[str | None, dict[str, Any]]] = []
        self.driver: FakeDriver | None = None
        self.attached = attached

    def __call__(self, config: StackConfig, name: str | None = None, *, profile: Any = None,
                 start_platform: bool = False, **options: Any) -> FakeDriver:
        # what the kind's create gets: make_driver passes profile= and suite_starts_platform= only when given
        options = options if profile is None else {**options, "profile": profile}
        self.calls.append((name, {**options, "suite_starts_platform": True} if start_platform else options))
        self.driver = FakeDriver(config, attached=self.attached)
        return self.driver


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> Made:
    fake = Made()
    monkeypatch.setattr("stack.drivers.registry.make_driver", fake)
    return fake


@pytest.fixture
def preflight(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """run_preflight replaced: answers what the test puts in `found`, records how it was asked."""
    asked: list[dict[str, Any]] = []

    def fake(profile: TargetProfile, environ: Any = None, *, containers: bool = True,
             live: bool = True) -> list[Finding]:
        asked.append({"profile": profile.name, "containers": containers, **({} if live else {"live": False})})
        first = asked[0]  # what the test put first: `found` always, `found_live` once the platform runs
        return [*first.get("found", []), *(first.get("found_live", []) if live else [])]

    monkeypatch.setattr("stack.target.preflight.run_preflight", fake)
    return asked


# -- the arguments and their errors ------------------------------------------------------------------------


def test_a_bad_profile_is_one_error_naming_its_file_line_and_key(
        tmp_path: Path, made: Made, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "shop"\n[components.api]\nkind = "service"\nhelth = "http://x/health"\n')
    assert cli.main(["--target", str(bad), "status"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert f"{bad}:4: components.api.helth: unknown key 'helth' in [components.api]; did you mean 'health'?" in err
    assert made.calls == []  # no driver was made


def test_a_profile_that_does_not_exist_says_so(tmp_path: Path, made: Made, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--target", str(tmp_path / "nope.toml"), "up"]) == 2
    assert f"error: {tmp_path / 'nope.toml'}: cannot read the profile" in capsys.readouterr().err
    assert made.calls == []


@pytest.mark.parametrize("stack", ["local", "docker"])
def test_a_target_with_a_driver_that_starts_the_reference_stack_is_a_usage_error(
        stack: str, profile_file: Path, made: Made, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--stack", stack, "--target", str(profile_file), "up"]) == 2
    err = capsys.readouterr().err
    assert f"--stack {stack} starts the reference stack itself and takes no target profile" in err
    assert "--stack attach" in err and made.calls == []


@pytest.mark.parametrize("command", ["up", "status", "down", "heal"])
def test_attach_without_a_target_is_a_usage_error(command: str, made: Made,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--stack", "attach", command]) == 2
    assert "error: --stack attach attaches to the platform a target profile describes: give --target PROFILE" \
        in capsys.readouterr().err
    assert made.calls == []


@pytest.mark.parametrize("command", [["runs"], ["install"], ["gate"]])
def test_a_target_on_a_command_it_does_not_apply_to_is_a_usage_error(
        command: list[str], profile_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--target", str(profile_file), *command]) == 2
    assert f"--target applies to {', '.join(cli.TARGET_COMMANDS)}; `{command[0]}` takes none" \
        in capsys.readouterr().err


def test_check_target_usage_accepts_the_pairs_that_go_together(profile_file: Path) -> None:
    cli.check_target_usage("up", None, None)
    cli.check_target_usage("up", "local", None)
    cli.check_target_usage("up", None, profile_file)
    cli.check_target_usage("heal", "attach", profile_file)
    with pytest.raises(ConfigError):
        cli.check_target_usage("up", "attach", None)


def test_target_config_maps_the_profile_into_the_configured_run_dir(tmp_path: Path, profile_file: Path) -> None:
    config, driver, profile = cli.target_config(StackConfig(run_dir=tmp_path / "run"), None, profile_file)
    assert driver == "attach" and profile is not None and profile.name == "pretix"
    assert config.run_dir == tmp_path / "run"
    assert config.gateway.port == 26080 and config.redis.port == 26079  # pretix's, from the profile
    configured = StackConfig.model_validate({"run_dir": tmp_path / "run", "toxiproxy": {"port": 26274}})
    assert cli.target_config(configured, None, profile_file)[0].toxiproxy.port == 26274
    unchanged = StackConfig(run_dir=tmp_path / "x")
    assert cli.target_config(unchanged, "docker", None) == (unchanged, "docker", None)


# -- up / status / down / heal ---------------------------------------------------------------------------


def test_up_runs_the_preflight_then_attaches_with_the_profile_and_detaches(
        profile_file: Path, made: Made, preflight: list[dict[str, Any]],
        capsys: pytest.CaptureFixture[str]) -> None:
    preflight.append({"profile": "-", "containers": None,  # a health finding is not asked before attaching
                      "found": [Finding("health", "pretix", "not 2xx")]})
    assert cli.main(["--target", str(profile_file), "up", "--detach-check"]) == 0
    assert preflight[1] == {"profile": "pretix", "containers": True}
    (name, options), = made.calls
    assert name == "attach" and options["profile"].name == "pretix"
    assert made.driver is not None and made.driver.calls == ["start", "stop"]
    assert made.driver.config.gateway.port == 26080
    out = capsys.readouterr().out
    assert "stack ready" in out and "26080/healthcheck/" in out


def test_up_start_platform_checks_the_compose_file_first_and_the_rest_once_started(
        profile_file: Path, made: Made, preflight: list[dict[str, Any]]) -> None:
    preflight.append({"profile": "-", "containers": None})
    assert cli.main(["--target", str(profile_file), "up", "--start-platform", "--detach-check"]) == 0
    assert preflight[1:] == [{"profile": "pretix", "containers": True, "live": False},  # not running yet
                             {"profile": "pretix", "containers": True}]  # started by the suite: all of it
    (name, options), = made.calls
    assert name == "attach" and options["suite_starts_platform"] is True
    assert made.driver is not None and made.driver.calls == ["start", "stop"]


def test_up_start_platform_stops_what_it_started_when_the_platform_does_not_match(
        profile_file: Path, made: Made, preflight: list[dict[str, Any]],
        capsys: pytest.CaptureFixture[str]) -> None:
    preflight.append({"profile": "-", "containers": None,
                      "found_live": [Finding("stores", "postgres", "no answer")]})
    assert cli.main(["--target", str(profile_file), "up", "--start-platform", "--detach-check"]) == 2
    assert "error: stores: postgres: no answer" in capsys.readouterr().err
    assert made.driver is not None and made.driver.calls == ["start", "stop"]  # what it started, stopped


def test_start_platform_needs_a_target(made: Made) -> None:
    assert cli.main(["up", "--start-platform", "--detach-check"]) == 2
    assert made.calls == []


def test_up_does_not_attach_when_the_platform_does_not_match(
        profile_file: Path, made: Made, preflight: list[dict[str, Any]],
        capsys: pytest.CaptureFixture[str]) -> None:
    preflight.append({"profile": "-", "containers": None,
                      "found": [Finding("containers", "pretix", "no container of compose service 'pretix'")]})
    assert cli.main(["--target", str(profile_file), "up", "--detach-check"]) == 2
    err = capsys.readouterr().err
    assert f"the target profile {profile_file} does not match the platform" in err
    assert "error: containers: pretix: no container of compose service 'pretix'" in err
    assert made.calls == []  # nothing of the team's was touched


def test_up_with_a_target_refuses_fresh(profile_file: Path, made: Made, preflight: list[dict[str, Any]],
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--target", str(profile_file), "up", "--fresh", "--detach-check"]) == 2
    assert "--fresh wipes the run directory" in capsys.readouterr().err
    assert made.calls == [] and preflight == []


def test_status_shows_the_drivers_components(profile_file: Path, made: Made,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--target", str(profile_file), "status"]) == 0
    (name, options), = made.calls
    assert name == "attach" and options["profile"].name == "pretix"
    out = capsys.readouterr().out
    assert "pretix" in out and "owner process is gone" in out


def test_status_not_attached_still_lists_the_teams_components_and_exits_3(
        profile_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("stack.drivers.registry.make_driver", Made(attached=False))
    assert cli.main(["--target", str(profile_file), "status"]) == 3
    out = capsys.readouterr().out
    assert "no stack recorded" in out and "pretix's components, not attached" in out and "42" in out


def test_heal_with_a_target_is_the_drivers_own_heal_only(
        profile_file: Path, made: Made, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    def reference_heal(*args: Any) -> list[str]:  # resets Redis's config, the gateway's deny-list: not the team's
        raise AssertionError("the reference stack's heal ran on a team's platform")

    monkeypatch.setattr("fixtures.leftovers.heal_leftovers", reference_heal)
    monkeypatch.setattr("fixtures.leftovers.heal_orphans", lambda living: [])
    assert cli.main(["--target", str(profile_file), "heal"]) == 0
    assert made.driver is not None and made.driver.calls == ["heal_leftovers"]
    assert made.calls[0][1]["profile"].name == "pretix"
    assert "attach: unpaused nothing" in capsys.readouterr().out


def test_down_with_a_target_and_nothing_attached_stops_nothing(
        profile_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    fake = Made(attached=False)
    monkeypatch.setattr("stack.drivers.registry.make_driver", fake)
    monkeypatch.setattr("stack.drivers.attach.kind.engine_reason", lambda: "no engine here")  # no leftovers
    monkeypatch.setattr("stack.reaper.reap_dead_runs", lambda: [])
    assert cli.main(["--target", str(profile_file), "down"]) == 0
    assert "nothing to stop" in capsys.readouterr().out
    assert all(name == "attach" and options["profile"].name == "pretix" for name, options in fake.calls)
    assert fake.driver is not None and "stop" not in fake.driver.calls


# -- runbook-check and gameday ---------------------------------------------------------------------------


def test_runbook_check_gets_the_target_and_the_attach_driver(
        profile_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    got: list[list[str]] = []
    monkeypatch.setattr("aarya_chaos.runbook_check.main", lambda argv: got.append(list(argv)) or 0)
    assert cli.main(["--target", str(profile_file), "runbook-check", "book.md", "--live"]) == 0
    argv, = got
    assert argv[argv.index("--target") + 1] == str(profile_file)
    assert argv[argv.index("--stack") + 1] == "attach"
    assert argv[-2:] == ["book.md", "--live"]


def test_runbook_check_live_with_a_target_and_no_attach_run_says_so(
        profile_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from aarya_chaos.runbook_check.cli import main

    book = tmp_path / "book.md"
    book.write_text("# runbook\n\n```sh\nredis-cli PING\n```\n")
    assert main([str(book), "--live", "--target", str(profile_file)]) == 2
    err = capsys.readouterr().err
    assert f"no attach run recorded in {tmp_path / 'run'}" in " ".join(err.split())


def test_runbook_check_refuses_a_target_with_the_local_driver(
        profile_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from aarya_chaos.runbook_check.cli import main

    assert main([str(tmp_path / "book.md"), "--stack", "local", "--target", str(profile_file)]) == 2
    assert "takes no target profile" in " ".join(capsys.readouterr().err.split())


def test_gameday_gets_the_target(profile_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    got: list[list[str]] = []
    monkeypatch.setattr("aarya_chaos.gameday.main", lambda argv: got.append(list(argv)) or 0)
    assert cli.main(["--target", str(profile_file), "gameday", "3.2", "--auto"]) == 0
    argv, = got
    assert argv[argv.index("--target") + 1] == str(profile_file) and argv[-2:] == ["3.2", "--auto"]


def test_gamedays_pytest_runs_the_attach_driver_on_the_target(tmp_path: Path) -> None:
    from aarya_chaos import gameday

    known = gameday.discover()
    scenario = known[0]
    args = gameday.pytest_arguments(scenario, known, auto=True, users=4, config=None, extra=[],
                                    reports_dir=tmp_path, profile=Path("shop.toml"))
    assert args[args.index("--stack") + 1] == "attach" and args[args.index("--target") + 1] == "shop.toml"
    without = gameday.pytest_arguments(scenario, known, auto=True, users=4, config=None, extra=[],
                                       reports_dir=tmp_path)
    assert "--target" not in without and "--stack" not in without


# -- the attach run in the registry ----------------------------------------------------------------------


def test_the_attach_driver_registers_its_run_and_unregisters_at_a_clean_stop(
        profile_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from stack.drivers.attach import driver as attach_driver
    from stack.target.load import load_profile

    monkeypatch.setattr("stack.reaper.reap_dead_runs", lambda: [])
    monkeypatch.setattr(attach_driver, "remove_run_objects", lambda client, run_id: None)
    driver = attach_driver.AttachDriver(load_profile(profile_file), tmp_path / "run", api_port=26174, environ={})
    driver._client = object()  # no engine: stop's removal by label is the fake above
    driver._claim_run_dir()
    driver._save_state()
    entry = runs.find(tmp_path / "run")
    assert entry is not None and entry.driver == "attach" and entry.alive()
    assert entry.config.toxiproxy.port == 26174 and entry.config.gateway.port == 26080
    state = json.loads((tmp_path / "run" / "run.json").read_text())
    assert state["profile"] == str(profile_file.resolve()) and state["api_port"] == 26174
    driver.stop()
    assert runs.find(tmp_path / "run") is None and not (tmp_path / "run" / "run.json").exists()


def test_a_second_attach_run_on_the_same_run_dir_is_refused(
        profile_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from aarya_chaos.errors import StackAlreadyRunning
    from stack.drivers.attach.driver import AttachDriver
    from stack.target.load import load_profile

    other = runs.Owner(1, runs.Owner.me().create_time)  # pid 1 is alive; its start time is not pid 1's
    monkeypatch.setattr(runs.Owner, "alive", lambda self: True)
    monkeypatch.setattr("stack.reaper.reap_dead_runs", lambda: [])
    config = StackConfig(run_dir=tmp_path / "run")
    runs._write(runs.RunEntry(config.run_dir, runs.run_id_for(config.run_dir), "up", "attach", other, 0.0, (), config))
    driver = AttachDriver(load_profile(profile_file), tmp_path / "run", environ={})
    with pytest.raises(StackAlreadyRunning, match="already owns"):
        driver._claim_run_dir()


def test_the_kind_adopts_the_run_recorded_in_the_run_dir(profile_file: Path, tmp_path: Path) -> None:
    from stack.drivers.attach.driver import AttachDriver
    from stack.drivers.attach.kind import KIND
    from stack.target.load import load_profile

    run_dir = tmp_path / "run"
    with pytest.raises(ConfigError, match=f"no attach run is recorded in {run_dir}"):
        KIND.create(StackConfig(run_dir=run_dir))
    run_dir.mkdir()
    (run_dir / "run.json").write_text(json.dumps({"driver": "attach", "profile": str(profile_file),
                                                  "project": "aarya-cli-unit-other", "api_port": 26174}))
    made = KIND.create(StackConfig.model_validate({"run_dir": run_dir, "toxiproxy": {"port": 26274}}),
                       profile=load_profile(profile_file), environ={})
    assert isinstance(made, AttachDriver) and made.config.toxiproxy.port == 26274  # the config's API port
    driver = KIND.create(StackConfig(run_dir=run_dir))
    assert isinstance(driver, AttachDriver)
    assert driver.project == "aarya-cli-unit-other" and driver.config.toxiproxy.port == 26174
    assert driver.profile.name == "pretix"


def test_a_dead_attach_run_is_healed_by_its_driver_from_its_run_json(
        profile_file: Path, tmp_path: Path, made: Made, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    def reference_heal(*args: Any) -> list[str]:
        raise AssertionError("the reference stack's heal ran on a team's platform")

    monkeypatch.setattr("fixtures.leftovers.heal_leftovers", reference_heal)
    run_dir = tmp_path / "dead-run"
    config = StackConfig(run_dir=run_dir)
    dead = runs.Owner(1, 0.0)  # pid 1, but not started at time 0: not this owner
    runs._write(runs.RunEntry(run_dir, runs.run_id_for(run_dir), "up", "attach", dead, 0.0, (), config))
    assert cli.main(["heal", "--run", str(run_dir)]) == 0
    (name, options), = made.calls
    assert name == "attach" and options == {"install": False}  # the kind takes the profile from run.json
    out = capsys.readouterr().out
    assert "(attach; owner pid 1, dead)" in out and "attach: unpaused nothing" in out
