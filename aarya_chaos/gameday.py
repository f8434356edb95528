"""`aarya-chaos gameday SCENARIO`: run one runbook scenario for the people in the room.

    aarya-chaos gameday SCENARIO [--auto] [--users N] [--config TOML] [--target PROFILE] [--list] [-- PYTEST OPTIONS...]

SCENARIO is a scenario test's name (`test_commerce_unavailable` or `commerce_unavailable`), a runbook id
(`3.2`), a scenario's name as the runbook says it ("Commerce service unavailable"), or an unambiguous part
of a test name (`redis_connection`). `--list` (or an unknown SCENARIO) lists the known ones, found by
reading scenarios/test_*.py (the `def test_...` functions and their `chaos.start("<id>", "<name>", ...)`
calls), without running anything.

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
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from aarya_chaos.natural import natural_key
from stack import runs
from stack.drivers.registry import TARGET_DRIVERS

EXIT_PASSED, EXIT_FAILED, EXIT_USAGE, EXIT_DECLINED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
INTERACTIVE_TIMEOUT_S = 3600  # people talk: the scenario's hard limit (and the load's) is an hour


@dataclass(frozen=True)
class KnownScenario:
    test: str  # test_commerce_unavailable
    file: Path
    runbook_id: str | None  # "3.2"
    name: str | None  # "Commerce service unavailable"
    control: bool

    @property
    def short(self) -> str:
        return self.test.removeprefix("test_")


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


def resolve(query: str, known: Sequence[KnownScenario]) -> tuple[KnownScenario | None, list[KnownScenario]]:
    """The scenario `query` names, or (None, the candidates when it is ambiguous)."""
    q = query.strip()
    lowered = q.lower().replace(" ", "_").replace("-", "_")
    for scenario in known:
        if lowered in (scenario.test, scenario.short):
            return scenario, []
    main = [s for s in known if not s.control]
    by_id = [s for s in main if s.runbook_id == q]
    by_name = [s for s in main if s.name and s.name.lower().replace(" ", "_").replace("-", "_") == lowered]
    for matches in (by_id, by_name):
        if len(matches) == 1:
            return matches[0], []
        if len(matches) > 1:
            return None, matches
    partial = [s for s in main if lowered and lowered in s.test]
    if len(partial) == 1:
        return partial[0], []
    return None, partial


def k_expression(target: KnownScenario, known: Sequence[KnownScenario]) -> str:
    """A -k expression selecting exactly `target` (-k matches substrings: exclude longer names)."""
    others = sorted({s.test for s in known if s.test != target.test and target.test in s.test})
    return " and ".join([target.test] + [f"not {name}" for name in others])


def known_table(known: Sequence[KnownScenario]) -> Table:
    table = Table("runbook", "scenario", "name", "kind", title="known scenarios", title_justify="left")
    for s in sorted(known, key=lambda s: (natural_key(s.runbook_id or "999"), s.control, s.test)):
        table.add_row(s.runbook_id or "-", s.short, escape(s.name or "-"), "negative control" if s.control else "scenario")
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
    parser.add_argument("--list", action="store_true", help="list the known scenarios and exit")
    return parser


def pytest_arguments(target: KnownScenario, known: Sequence[KnownScenario], *, auto: bool, users: int,
                     config: Path | None, extra: Sequence[str], reports_dir: Path,
                     profile: Path | None = None) -> list[str]:
    args = [str(target.file), "-k", k_expression(target, known), "-s", "-p", "aarya_chaos.gameday_plugin",
            "-q", "--no-header", "-rN", "-p", "no:cacheprovider", "--users", str(users),
            "--reports-dir", str(reports_dir)]
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
    try:
        known = discover()
    except FileNotFoundError as exc:
        err.print(f"[red]gameday:[/red] {escape(str(exc))}")
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
            err.print("(negative controls run by their test name too; --list shows them)")
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

    console.print(f"[bold]game day:[/bold] {escape(target.runbook_id or '-')} {escape(target.name or target.test)} "
                  f"([dim]{escape(target.file.name)}::{escape(target.test)}[/dim])", soft_wrap=True)
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
        err.print(f"[red]gameday:[/red] pytest selected no test ({' '.join(pytest_args[:3])})")
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
