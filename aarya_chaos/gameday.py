"""`aarya-chaos gameday SCENARIO`: run one runbook scenario for the people in the room.

    aarya-chaos gameday SCENARIO [--auto] [--users N] [--config TOML] [--target PROFILE] [--scenario-dir DIR]
                        [--list] [-- PYTEST OPTIONS...]

SCENARIO is a scenario test's name (`test_commerce_unavailable` or `commerce_unavailable`), a runbook id
(`3.2`), a scenario's name as the runbook says it ("Commerce service unavailable"), or an unambiguous part
of a test name (`redis_connection`). `--list` (or an unknown SCENARIO) lists the known ones, found by
reading scenarios/test_*.py (the `def test_...` functions and their `chaos.start("<id>", "<name>", ...)`
calls), without running anything.

`--scenario-dir DIR` runs a scenario file instead (docs/scenario-files.md: a team's own scenarios, e.g.
examples/second-platform/scenarios). The known scenarios are then the files DIR/*.yaml, each known by its
file stem (`2.2-pretix-redis-failure`), its `id` (`2.2`) and its `name`, read with the files' own compiler
(scenarios/as_data/spec.py `compile_scenario`, as `aarya-chaos new-scenario --check` does: nothing runs);
`--list` lists them, and a file that does not compile with its first problem. pytest then runs
scenarios/test_scenario_files.py with `--scenario-dir DIR -k "test_scenario_file[<stem>]"`: that file's
scenario alone, not its negative controls (their ids are `<stem>-control-<name>`). Every file of DIR must
compile (pytest's collection compiles them all), so a broken one is refused before anything starts.

The scenario runs in this process through pytest (`pytest.main`): its own file under scenarios/, the test
picked with `-k`, `-s` so the terminal belongs to the game day, and the plugin
`aarya_chaos.gameday_plugin`, which

- asks before the fault is injected and before the recovery is applied (answer no: every fault is
  healed and the game day stops; `--auto` answers yes and asks nothing). On a terminal the question is
  shown inside the live view, which keeps running, and one key answers it (y or Enter = yes, n = no);
  without a terminal (a pipe) it is rich's Confirm.ask, a line per answer,
- shows a live view while the scenario runs: the load's success rate and p95 latency over the last 10 s,
  each component's process (running, pid) and health, the phase and the timeline, the elapsed time,
- writes the incident report when the scenario ends and prints where it is.

Ctrl-C at any moment heals every fault at once (the heal registry's SIGINT handler), stops the live view
and the scenario, and still writes the incident report.

The session starts its own stack, like `make chaos` does (`--config TOML` is pytest's `--stack-config`;
without it, the defaults with the tests' own run dir); stop an `aarya-chaos up` on the same ports first.
`--target PROFILE` (or `aarya-chaos --target PROFILE gameday ...`) runs it on a team's own platform: pytest
gets `--stack attach --target PROFILE`, and the attach driver puts Toxiproxy on the profile's edges.
A team's platform runs scenario files, so `--target` needs `--scenario-dir` (the reference's Python
scenarios are written against the reference stack):

    .venv/bin/python examples/second-platform/pretix_project.py up   # pretix's compose project, run.env
    . /tmp/aarya-pretix/run.env && aarya-chaos --target /tmp/aarya-pretix/pretix.toml gameday \\
        --scenario-dir examples/second-platform/scenarios 2.2

Options after `--` go to pytest as they are, e.g. `-- --stack-config /tmp/x.toml --reports-dir /tmp/r`.
Reports go to reports/gameday/<UTC time>/ unless `--reports-dir` says otherwise.

Exit status: 0 the scenario passed its checks; 1 it failed them (or errored); 2 unknown scenario or bad
usage; 3 stopped by answering no; 130 stopped by Ctrl-C.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import logging
import os
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Column, Table

from aarya_chaos.errors import ConfigError
from aarya_chaos.natural import natural_key
from stack import runs
from stack.drivers.registry import TARGET_DRIVERS

EXIT_PASSED, EXIT_FAILED, EXIT_USAGE, EXIT_DECLINED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
INTERACTIVE_TIMEOUT_S = 3600  # people talk: the scenario's hard limit (and the load's) is an hour
SCENARIO_FILES_TEST = "test_scenario_files.py"  # runs the files of --scenario-dir, parametrized by file stem
SCENARIO_FILE_FUNCTION = "test_scenario_file"
# a stem -k can name as one identifier, so that `test_scenario_file[<stem>]` is matched by that item alone
SELECTABLE_STEM = re.compile(r"[A-Za-z0-9_.:+\-/]+")
TARGET_NEEDS_FILES = ("--target runs scenario files on a team's platform: give --scenario-dir DIR (the reference's "
                      "Python scenarios are written against the reference stack)")


@dataclass(frozen=True)
class KnownScenario:
    test: str  # test_commerce_unavailable
    file: Path
    runbook_id: str | None  # "3.2"
    name: str | None  # "Commerce service unavailable"
    control: bool
    scenario_dir: Path | None = None  # a scenario file of this --scenario-dir: `test` is its stem, `file` it
    error: str | None = None  # a scenario file that does not compile: its first problem

    @property
    def short(self) -> str:
        return self.test if self.scenario_dir is not None else self.test.removeprefix("test_")


def scenarios_dir() -> Path:
    """The scenarios/ directory of this checkout (the package `scenarios`)."""
    spec = importlib.util.find_spec("scenarios")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the scenarios package is not importable (run from the aarya-chaos checkout)")
    return Path(list(spec.submodule_search_locations)[0])


def _start_call(function: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[str | None, str | None, bool]:
    """(runbook id, name, control) from the first `chaos.start(...)` call in a test function."""
    for node in ast.walk(function):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "start" \
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "chaos":
            values = [a.value if isinstance(a, ast.Constant) and isinstance(a.value, str) else None
                      for a in node.args[:2]]
            if len(node.args) >= 2 and isinstance(node.args[1], ast.JoinedStr):  # f"Network partition ({mode})"
                head = node.args[1].values[0] if node.args[1].values else None
                values[1] = head.value.rstrip(" (") if isinstance(head, ast.Constant) and isinstance(head.value, str) \
                    else None
            control = any(k.arg == "control" for k in node.keywords)
            return (values[0] if values else None), (values[1] if len(values) > 1 else None), control
    return None, None, False


def discover(directory: Path | None = None) -> list[KnownScenario]:
    """Every scenario test of scenarios/test_*.py, read with `ast` (nothing is imported or run)."""
    found: list[KnownScenario] = []
    for path in sorted((directory or scenarios_dir()).glob("test_*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except (SyntaxError, OSError, UnicodeDecodeError) as exc:
            logging.getLogger("aarya.gameday").warning("skipping %s: %s", path, exc)
            continue
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test_"):
                runbook_id, name, control = _start_call(node)
                found.append(KnownScenario(node.name, path, runbook_id, name, control or "_control_" in node.name))
    return found


def _first_problem(exc: ConfigError) -> str:
    """A scenario file's error on one line: its first problem, and how many more there are."""
    lines = str(exc).splitlines() or ["does not compile"]
    return lines[0] + (f" (+{len(lines) - 1} more)" if len(lines) > 1 else "")


def _known_file(path: Path, directory: Path) -> KnownScenario:
    from scenarios.as_data.spec import compile_scenario

    try:
        spec = compile_scenario(path)
    except ConfigError as exc:  # a ScenarioFileError: every problem with its line
        return KnownScenario(path.stem, path, None, None, False, directory, _first_problem(exc))
    return KnownScenario(path.stem, path, spec.id, spec.name, False, directory)


def discover_files(directory: Path) -> list[KnownScenario]:
    """Every scenario file DIR/*.yaml (what test_scenario_files.py collects), compiled without a stack."""
    if not directory.is_dir():
        raise FileNotFoundError(f"--scenario-dir {directory} is not a directory")
    found = [_known_file(path, directory) for path in sorted(directory.glob("*.yaml"))]
    if not found:
        raise FileNotFoundError(f"--scenario-dir {directory} has no scenario files (*.yaml)")
    return found


def _normal(text: str) -> str:
    return text.strip().lower().replace(" ", "_").replace("-", "_")


def resolve(query: str, known: Sequence[KnownScenario]) -> tuple[KnownScenario | None, list[KnownScenario]]:
    """The scenario `query` names, or (None, the candidates when it is ambiguous)."""
    q = query.strip()
    lowered = _normal(q)
    for scenario in known:
        if lowered in (_normal(scenario.test), _normal(scenario.short)):
            return scenario, []
    main = [s for s in known if not s.control]
    by_id = [s for s in main if s.runbook_id == q]
    by_name = [s for s in main if s.name and _normal(s.name) == lowered]
    for matches in (by_id, by_name):
        if len(matches) == 1:
            return matches[0], []
        if len(matches) > 1:
            return None, matches
    partial = [s for s in main if lowered and lowered in _normal(s.test)]
    if len(partial) == 1:
        return partial[0], []
    return None, partial


def k_expression(target: KnownScenario, known: Sequence[KnownScenario]) -> str:
    """A -k expression selecting exactly `target` (-k matches substrings: exclude longer names)."""
    others = sorted({s.test for s in known if s.test != target.test and target.test in s.test})
    return " and ".join([target.test] + [f"not {name}" for name in others])


def file_k_expression(target: KnownScenario) -> str:
    """The -k expression selecting the scenario file's own item, `test_scenario_file[<stem>]` (its controls
    are `test_scenario_file[<stem>-control-<name>]`: -k matches substrings, and the `]` ends the match)."""
    return f"{SCENARIO_FILE_FUNCTION}[{target.test}]"


def file_problem(target: KnownScenario, known: Sequence[KnownScenario]) -> str | None:
    """Why the scenario file `target` cannot be run from its directory (one line), or None."""
    if target.error is not None:
        return f"{target.file} does not compile: {target.error}"
    broken = [s for s in known if s.error is not None]
    if broken:
        return (f"{broken[0].file} does not compile (pytest compiles every file of --scenario-dir): "
                f"{broken[0].error}")
    if not SELECTABLE_STEM.fullmatch(target.test):
        return f"{target.file.name}: pytest -k cannot select this file name; use only letters, digits and _ . - + :"
    twins = [s.file.name for s in known if s is not target and s.test.lower() == target.test.lower()]
    if twins:
        return f"{target.file.name}: -k ignores case and cannot tell it from {twins[0]}; rename one"
    return None


def _kind(s: KnownScenario) -> str:
    if s.error is not None:
        return f"[red]does not compile[/red]: {escape(s.error)}"
    if s.scenario_dir is not None:
        return "scenario file"
    return "negative control" if s.control else "scenario"


def known_table(known: Sequence[KnownScenario]) -> Table:
    # the scenario column is what people type: folded on a narrow terminal, never cut short with an ellipsis
    table = Table("runbook", Column("scenario", overflow="fold"), "name", "kind",
                  title="known scenarios", title_justify="left")
    for s in sorted(known, key=lambda s: (natural_key(s.runbook_id or "999"), s.control, s.test)):
        table.add_row(s.runbook_id or "-", escape(s.short), escape(s.name or "-"), _kind(s))
    return table


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aarya-chaos gameday", description="Run one runbook scenario for the people in the room.",
        epilog="Options after `--` go to pytest, e.g. `-- --stack-config /tmp/x.toml --reports-dir /tmp/r`.")
    parser.add_argument("scenario", nargs="?", help="test name, runbook id (1.1) or scenario name")
    parser.add_argument("--auto", action="store_true", help="ask nothing: inject and recover on their own")
    parser.add_argument("--users", type=int, default=8, help="locust users of the load (default 8)")
    parser.add_argument("--config", type=Path, help="TOML config of the stack (pytest's --stack-config)")
    parser.add_argument("--target", type=Path, metavar="PROFILE",
                        help="a target profile: run on the team's platform it describes (pytest's --stack attach "
                             "--target PROFILE)")
    parser.add_argument("--scenario-dir", type=Path, metavar="DIR",
                        help="run a scenario file of DIR (*.yaml: its stem, id or name) instead of a Python "
                             "scenario (test_scenario_files.py --scenario-dir DIR); needed with --target")
    parser.add_argument("--list", action="store_true", help="list the known scenarios and exit")
    return parser


def selection(target: KnownScenario, known: Sequence[KnownScenario]) -> list[str]:
    """pytest's arguments naming the one test to run: its file and its -k expression."""
    if target.scenario_dir is None:
        return [str(target.file), "-k", k_expression(target, known)]
    return [str(scenarios_dir() / SCENARIO_FILES_TEST), "--scenario-dir", str(target.scenario_dir),
            "-k", file_k_expression(target)]


def pytest_arguments(target: KnownScenario, known: Sequence[KnownScenario], *, auto: bool, users: int,
                     config: Path | None, extra: Sequence[str], reports_dir: Path,
                     profile: Path | None = None) -> list[str]:
    args = selection(target, known) + [
        "-s", "-p", "aarya_chaos.gameday_plugin", "-q", "--no-header", "-rN", "-p", "no:cacheprovider",
        "--users", str(users), "--reports-dir", str(reports_dir)]
    if not auto:
        args += ["--scenario-timeout", str(INTERACTIVE_TIMEOUT_S)]
    if auto:
        args.append("--gameday-auto")
    if config is not None:
        args += ["--stack-config", str(config)]
    if profile is not None:
        args += ["--stack", TARGET_DRIVERS[0], "--target", str(profile)]
    return args + list(extra)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        extra = argv[argv.index("--") + 1:]
        argv = argv[:argv.index("--")]
    args = build_parser().parse_args(argv)
    console = Console()
    err = Console(stderr=True)
    if args.target is not None and args.scenario_dir is None:
        err.print(f"[red]gameday:[/red] {escape(TARGET_NEEDS_FILES)}", soft_wrap=True)
        return EXIT_USAGE
    try:
        known = discover() if args.scenario_dir is None else discover_files(args.scenario_dir)
    except FileNotFoundError as exc:
        err.print(f"[red]gameday:[/red] {escape(str(exc))}", soft_wrap=True)
        return EXIT_USAGE
    if args.list:
        console.print(known_table(known))
        return EXIT_PASSED
    if not args.scenario:
        err.print("[red]gameday:[/red] name a scenario (a test name, a runbook id like 3.2, or a scenario name)")
        err.print(known_table(known))
        return EXIT_USAGE
    target, candidates = resolve(args.scenario, known)
    if target is None:
        if candidates:
            err.print(f"[red]gameday:[/red] {escape(args.scenario)!s} is ambiguous: "
                      + ", ".join(s.short for s in candidates))
        else:
            err.print(f"[red]gameday:[/red] unknown scenario {escape(repr(args.scenario))}; the known ones:")
            err.print(known_table([s for s in known if not s.control]))
            if args.scenario_dir is None:
                err.print("(negative controls run by their test name too; --list shows them)")
        return EXIT_USAGE
    problem = file_problem(target, known) if target.scenario_dir is not None else None
    if problem is not None:
        err.print(f"[red]gameday:[/red] {escape(problem)}", soft_wrap=True)
        return EXIT_USAGE
    if args.users < 1:
        err.print("[red]gameday:[/red] --users must be at least 1")
        return EXIT_USAGE
    reports_dir = Path("reports") / "gameday" / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    pytest_args = pytest_arguments(target, known, auto=args.auto, users=args.users, config=args.config,
                                   extra=extra, reports_dir=reports_dir, profile=args.target)
    os.environ.setdefault(runs.KIND_ENV, "gameday")  # the registry names its stack a game day's, not pytest's
    return run(target, pytest_args, console, err)


def run(target: KnownScenario, pytest_args: list[str], console: Console, err: Console) -> int:
    import pytest

    where = str(target.file) if target.scenario_dir is not None else f"{target.file.name}::{target.test}"
    console.print(f"[bold]game day:[/bold] {escape(target.runbook_id or '-')} {escape(target.name or target.test)} "
                  f"([dim]{escape(where)}[/dim])", soft_wrap=True)
    code = int(pytest.main(pytest_args))
    # imported only now: pytest must import the plugin itself (-p) to rewrite its asserts
    from aarya_chaos import gameday_plugin

    state = gameday_plugin.STATE
    for line in state.closing_lines():
        console.print(line, soft_wrap=True)
    if state.aborted == "declined":
        return EXIT_DECLINED
    if state.aborted == "interrupted":
        return EXIT_INTERRUPTED
    if code == int(pytest.ExitCode.NO_TESTS_COLLECTED):
        chosen = pytest_args[:pytest_args.index("-k") + 2] if "-k" in pytest_args else pytest_args[:1]
        err.print(f"[red]gameday:[/red] pytest selected no test ({' '.join(chosen)})", soft_wrap=True)
        return EXIT_USAGE
    if code in (int(pytest.ExitCode.USAGE_ERROR),):
        return EXIT_USAGE
    if code == int(pytest.ExitCode.INTERRUPTED):
        return EXIT_INTERRUPTED
    if code != 0 or not state.records:
        return EXIT_FAILED
    return EXIT_PASSED if all(r.get("verdict") == "pass" for r in state.records) else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
