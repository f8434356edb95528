"""The project's pytest plugins in small inner pytest sessions (pytester), with no stack: fixtures.plugin (options,
markers, the scenario hooks, the `scenario` marker), reports.report_plugin (end-of-run reports),
reports.allure_plugin (inert without --alluredir) and aarya_chaos.gameday_plugin (--gameday-auto).

The inner sessions run in pytester's directory, outside the rootdir, so the root conftest.py does not load the
plugins there: each run names the ones it needs with `-p`. They run in-process (fast); `-p no:locust` as in the
project's addopts (locust's plugin must not be imported in-process).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from load.writer import WRITERS
from stack.drivers.registry import DEFAULT_DRIVER, DRIVERS

pytest_plugins = ["pytester"]

ENGINE = ("-p", "no:locust", "-p", "no:cacheprovider", "-p", "fixtures.plugin")
SCENARIO_HOOKS = ("pytest_aarya_scenario_started", "pytest_aarya_before_step", "pytest_aarya_scenario_finished")


def run(pytester: pytest.Pytester, *args: str | Path) -> pytest.RunResult:
    return pytester.runpytest_inprocess(*ENGINE, *args)


# -- fixtures.plugin ---------------------------------------------------------------------------------------


def test_the_engine_options_have_their_defaults(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(f"""
        from pathlib import Path

        def test_defaults(pytestconfig):
            option = pytestconfig.getoption
            assert option("--stack") == {DEFAULT_DRIVER!r}
            assert option("--stack-config") is None
            assert (option("--users"), option("--writers"), option("--load-workers")) == (8, {WRITERS}, 0)
            assert option("--scenario-timeout") == 600.0
            assert option("--reports-dir") == Path("reports/latest")
    """)
    run(pytester).assert_outcomes(passed=1)


def test_the_engine_options_parse_their_types(pytester: pytest.Pytester) -> None:
    config = pytester.parseconfig(*ENGINE, "--stack", DRIVERS[-1], "--stack-config", "x.toml", "--users", "3",
                                  "--writers", "2", "--load-workers", "4", "--scenario-timeout", "12.5",
                                  "--reports-dir", "out")
    assert config.getoption("--stack") == DRIVERS[-1]
    assert config.getoption("--stack-config") == Path("x.toml")
    assert [config.getoption(o) for o in ("--users", "--writers", "--load-workers")] == [3, 2, 4]
    assert config.getoption("--scenario-timeout") == 12.5 and config.getoption("--reports-dir") == Path("out")


def test_an_unknown_stack_driver_is_a_usage_error_naming_the_drivers(pytester: pytest.Pytester) -> None:
    assert DRIVERS and "nope" not in DRIVERS
    result = run(pytester, "--stack", "nope")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    error = result.stderr.str()
    assert "--stack" in error and "invalid choice: 'nope'" in error
    assert all(repr(name) in error or name in error for name in DRIVERS), error


def test_the_options_are_listed_in_their_group(pytester: pytest.Pytester) -> None:
    result = run(pytester, "--help")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["aarya-chaos:", f"  --stack={{{','.join(DRIVERS)}}}", "*stack driver"])
    for option in ("--stack-config", "--users", "--writers", "--load-workers", "--scenario-timeout"):
        assert option in result.stdout.str()


def test_the_markers_are_registered_for_strict_markers(pytester: pytest.Pytester) -> None:
    """In subprocesses: in-process, pytest.mark remembers the markers an earlier session registered."""
    from fixtures.plugin import RUNBOOK_AREAS

    marks = "".join(f"@pytest.mark.{name}\n" for name in [*RUNBOOK_AREAS, "control", "scenario"])
    pytester.makepyfile(f"import pytest\n\n{marks}def test_marked():\n    pass\n")
    pytester.runpytest_subprocess(*ENGINE, "--strict-markers").assert_outcomes(passed=1)
    without = pytester.runpytest_subprocess("-p", "no:locust", "-p", "no:cacheprovider", "--strict-markers")
    assert without.ret == pytest.ExitCode.INTERRUPTED  # a collection error: the markers come from the plugin
    assert "'database' not found in `markers` configuration option" in without.stdout.str()


def test_the_markers_are_listed_with_their_runbook_sections(pytester: pytest.Pytester) -> None:
    listed = run(pytester, "--markers").stdout
    listed.fnmatch_lines(["@pytest.mark.database: runbook section 1: PostgreSQL",
                          "@pytest.mark.rollback: runbook section 8: rollbacks",
                          "@pytest.mark.control: a negative control*", "@pytest.mark.scenario: *"])


def test_a_test_using_chaos_is_marked_a_scenario_with_the_scenario_timeout(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest

        @pytest.fixture
        def chaos():  # stands for the plugin's: no stack here
            return None

        def test_a_scenario(chaos, request):
            assert request.node.get_closest_marker("scenario") is not None
            assert request.node.get_closest_marker("timeout").args == (12.5,)

        def test_not_a_scenario(request):
            assert request.node.get_closest_marker("scenario") is None
    """)
    run(pytester, "--scenario-timeout", "12.5").assert_outcomes(passed=2)
    selected = run(pytester, "-m", "scenario", "--collect-only", "-q")
    selected.stdout.fnmatch_lines(["*::test_a_scenario", "1/2 tests collected (1 deselected)*"])


def test_the_scenario_hooks_are_declared_and_reach_a_conftest(pytester: pytest.Pytester) -> None:
    pytester.makeconftest("""
        CALLS = []

        def pytest_aarya_scenario_started(run):
            CALLS.append(("started", run))

        def pytest_aarya_before_step(run, step, description):
            CALLS.append((step, description))

        def pytest_aarya_scenario_finished(run, record):
            CALLS.append(("finished", record))
    """)
    pytester.makepyfile(f"""
        from conftest import CALLS

        def test_hooks(pytestconfig):
            for name in {SCENARIO_HOOKS!r}:
                assert getattr(pytestconfig.hook, name).spec is not None, name
            hook = pytestconfig.hook
            hook.pytest_aarya_scenario_started(run="run")
            hook.pytest_aarya_before_step(run="run", step="inject", description="kill postgres")
            hook.pytest_aarya_scenario_finished(run="run", record={{"verdict": "pass"}})
            assert CALLS == [("started", "run"), ("inject", "kill postgres"), ("finished", {{"verdict": "pass"}})]
    """)
    run(pytester).assert_outcomes(passed=1)
    # without the plugin nothing declares them, and pytest rejects the conftest's implementations
    without = pytester.runpytest_inprocess("-p", "no:locust", "-p", "no:cacheprovider")
    assert without.ret == pytest.ExitCode.INTERNAL_ERROR
    without.stdout.fnmatch_lines(["*PluginValidationError: unknown hook 'pytest_aarya_*' in plugin *conftest*"])


# -- reports.report_plugin ---------------------------------------------------------------------------------


def test_the_report_plugin_does_nothing_after_a_session_without_scenarios(pytester: pytest.Pytester) -> None:
    """No summary.json written: no reports section, nothing created under the reports dir or its parent."""
    reports = pytester.path / "reports"
    pytester.makepyfile("def test_unit():\n    pass\n")
    result = run(pytester, "-p", "reports.report_plugin", "--reports-dir", str(reports / "latest"))
    result.assert_outcomes(passed=1)
    assert "aarya-chaos reports" not in result.stdout.str()
    assert not reports.exists()


def test_the_report_plugin_leaves_an_earlier_runs_reports_alone(pytester: pytest.Pytester) -> None:
    latest = pytester.path / "reports" / "latest"
    latest.mkdir(parents=True)
    (latest / "summary.json").write_text('{"schema": 1, "scenarios": []}')
    os.utime(latest / "summary.json", (1_000_000_000, 1_000_000_000))  # an earlier run's
    pytester.makepyfile("def test_unit():\n    pass\n")
    result = run(pytester, "-p", "reports.report_plugin", "--reports-dir", str(latest))
    result.assert_outcomes(passed=1)
    assert "aarya-chaos reports" not in result.stdout.str()
    assert sorted(p.name for p in latest.iterdir()) == ["summary.json"]
    assert not (pytester.path / "reports" / "history").exists()


def test_the_report_plugin_alone_without_the_reports_dir_option(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_unit():\n    pass\n")
    result = pytester.runpytest_inprocess("-p", "no:locust", "-p", "no:cacheprovider", "-p", "reports.report_plugin")
    result.assert_outcomes(passed=1)
    assert "aarya-chaos reports" not in result.stdout.str()


# -- reports.allure_plugin ---------------------------------------------------------------------------------


def test_the_allure_plugin_is_inert_without_alluredir(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        from types import SimpleNamespace

        from reports import allure_plugin

        def test_hooks_return_at_once(pytestconfig):
            run = SimpleNamespace(out_dir="/nonexistent", stack=None)
            pytestconfig.hook.pytest_aarya_before_step(run=run, step="inject", description="kill postgres")
            assert allure_plugin._announced == {}  # nothing noted: allure is not recording
            pytestconfig.hook.pytest_aarya_scenario_finished(run=run, record={"id": "1.1"})  # reads nothing
    """)
    result = run(pytester, "-p", "reports.allure_plugin")
    result.assert_outcomes(passed=1)
    assert "allure steps" not in result.stdout.str()  # no report header line either
    assert not list(pytester.path.glob("**/*-result.json"))


# -- aarya_chaos.gameday_plugin ----------------------------------------------------------------------------


def test_the_gameday_plugin_adds_gameday_auto_and_then_asks_nothing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        from types import SimpleNamespace

        from aarya_chaos import gameday_plugin

        def test_auto(pytestconfig):
            assert pytestconfig.getoption("--gameday-auto") is True
            game_day = pytestconfig.pluginmanager.get_plugin("aarya-gameday")
            assert game_day is not None and game_day.auto
            run = SimpleNamespace(registry=None, timeline=None)  # asking would read the captured stdin (an error)
            pytestconfig.hook.pytest_aarya_before_step(run=run, step="inject", description="kill postgres")
            assert gameday_plugin.STATE.aborted is None
    """)
    run(pytester, "-p", "aarya_chaos.gameday_plugin", "--gameday-auto").assert_outcomes(passed=1)


def test_gameday_auto_is_off_by_default_and_only_the_gameday_plugin_knows_it(pytester: pytest.Pytester) -> None:
    config = pytester.parseconfig(*ENGINE, "-p", "aarya_chaos.gameday_plugin")
    assert config.getoption("--gameday-auto") is False
    unknown = run(pytester, "--gameday-auto")
    assert unknown.ret == pytest.ExitCode.USAGE_ERROR
    assert "unrecognized arguments: --gameday-auto" in unknown.stderr.str()


def test_attach_without_a_target_profile_says_to_give_one(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_a="def test_a(stack_config):\n    pass\n")
    result = run(pytester, "--stack", "attach")
    assert result.ret != pytest.ExitCode.OK
    assert "--stack attach attaches to the platform a target profile describes: give --target" in result.stdout.str()


def test_a_bad_target_profile_names_its_file_line_and_key_before_any_stack(pytester: pytest.Pytester) -> None:
    profile = pytester.path / "mine.toml"
    profile.write_text('name = "mine"\n\n[components.web]\nkind = "service"\nhelth = "http://127.0.0.1:1/"\n')
    pytester.makepyfile(test_a="def test_a(target_profile):\n    pass\n")
    result = run(pytester, "--target", str(profile))
    assert result.ret != pytest.ExitCode.OK
    out = result.stdout.str()
    assert f"{profile}:5" in out and "helth" in out and "did you mean 'health'" in out, out
