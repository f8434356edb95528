"""`aarya-chaos bite`: the command line of the mutation test (see aarya_chaos/bite/__init__.py).

    aarya-chaos bite [--list] [--check] [--only ID ...] [--reports-dir DIR] [--timeout S] [--keep]

Exit status: 0 every mutant run was killed by a failed check (or --list, or --check found nothing stale);
1 a mutant survived, erred or was skipped (or --check found stale mutants); 2 bad usage (an unknown --only
id, an invalid catalogue, the stack's ports taken); 130 interrupted (Ctrl-C, SIGTERM).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from aarya_chaos.bite import runner
from aarya_chaos.bite.catalogue import CATALOGUE, Mutant, scenario_label, validate_catalogue
from aarya_chaos.bite.matrix import console_table, kill_rate_line, write_reports
from aarya_chaos.bite.mutate import stale_edits
from aarya_chaos.bite.runner import KILLED, NOT_RUN, BiteOptions, BiteRun, Hooks, run_bite
from aarya_chaos.errors import ChaosError, ConfigError
from stack.drivers.registry import DEFAULT_DRIVER

__all__ = ["PROJECT_ROOT", "add_arguments", "add_bite_command", "check_catalogue", "cmd_bite", "exit_code", "main",
           "select_mutants"]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_REPORTS_DIR = Path("reports/bite")
WORK_ROOT = runner.WORK_ROOT
EXIT_OK, EXIT_NOT_KILLED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--list", action="store_true", help="print the catalogue and exit")
    parser.add_argument("--check", action="store_true",
                        help="check that every mutant still applies to the tree (runs nothing); exit 1 if stale")
    parser.add_argument("--only", nargs="+", action="extend", metavar="ID", default=None,
                        help="run only these mutants (ids as in --list)")
    parser.add_argument("--reports-dir", type=Path, default=DEFAULT_REPORTS_DIR,
                        help="where bite.json, bite.md, bite.html and each mutant's log go (default reports/bite)")
    parser.add_argument("--timeout", type=float, default=900.0, metavar="S", help="per mutant (default 900)")
    parser.add_argument("--keep", action="store_true",
                        help="keep each mutant's copy, run dir and reports under /tmp/aarya-chaos/bite/<run>/")


def add_bite_command(subparsers: Any) -> argparse.ArgumentParser:
    """Adds `bite` to an argparse sub-command set (aarya_chaos/cli.py); dispatch with `cmd_bite`."""
    from aarya_chaos import bite

    parser: argparse.ArgumentParser = subparsers.add_parser(
        "bite", help="mutation-test the suite: run scenarios against sabotaged stacks",
        description=bite.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return parser


def select_mutants(only: Sequence[str] | None, catalogue: Sequence[Mutant] = CATALOGUE) -> list[Mutant]:
    """The catalogue, or the `only` ones in catalogue order. ConfigError naming the known ids for an unknown one."""
    if not only:
        return list(catalogue)
    known = [m.id for m in catalogue]
    unknown = [i for i in dict.fromkeys(only) if i not in known]
    if unknown:
        raise ConfigError(f"unknown mutant id(s): {', '.join(unknown)}; known: {', '.join(known)}")
    return [m for m in catalogue if m.id in set(only)]


def check_catalogue(root: Path = PROJECT_ROOT, catalogue: Sequence[Mutant] = CATALOGUE) -> list[str]:
    """Every reason a mutant of the catalogue could not run against the tree at `root`: invalid entries and
    stale edits (an `old` text that does not occur exactly once). Nothing is written."""
    return validate_catalogue(catalogue) + [s.message() for m in catalogue for s in stale_edits(m, root)]


def _list(console: Console, mutants: Sequence[Mutant]) -> int:
    table = Table("id", "kind", "caught by", "regression", title=f"{len(mutants)} mutants")
    for m in mutants:
        table.add_row(escape(m.id), m.kind, escape(", ".join(scenario_label(n) for n in m.caught_by)),
                      escape(m.regression))
    console.print(table)
    return EXIT_OK


def _check(console: Console, mutants: Sequence[Mutant]) -> int:
    problems = check_catalogue(PROJECT_ROOT, mutants)
    if problems:
        console.print(f"[red]{len(problems)} problem(s):[/red]")
        for line in problems:
            console.print(f"- {line}", markup=False, highlight=False)
        return EXIT_NOT_KILLED
    edits = sum(len(m.edits) for m in mutants)
    console.print(f"[green]ok[/green]: {len(mutants)} mutants; all {edits} edits apply exactly once to {PROJECT_ROOT}")
    return EXIT_OK


def preflight() -> None:
    """The mutants' stacks use the default ports: refuse to start when they are taken (PortInUse)."""
    from stack.config import StackConfig
    from stack.drivers.common import check_ports_free

    check_ports_free(StackConfig())


def _run(console: Console, mutants: Sequence[Mutant], args: argparse.Namespace,
         check_ports: Callable[[], None], hooks: Hooks | None) -> int:
    problems = validate_catalogue(mutants)
    if problems:
        raise ConfigError("invalid catalogue entries:\n" + "\n".join(problems))
    for stale in (s for m in mutants for s in stale_edits(m, PROJECT_ROOT)):  # run anyway: the matrix says so
        console.print(f"[yellow]warning:[/yellow] {escape(stale.message())} (it will count as an error)")
    check_ports()
    options = BiteOptions(project=PROJECT_ROOT, reports_dir=args.reports_dir.resolve(), timeout_s=args.timeout,
                          keep=args.keep, work_root=WORK_ROOT)
    console.print(f"bite {options.run_id}: {len(mutants)} mutants, one at a time, work dir {options.work_dir}")
    hooks = hooks or Hooks(progress=lambda line: console.print(line, markup=False, highlight=False))
    run = run_bite(mutants, options, hooks)
    _report(console, run, options.reports_dir)
    if options.keep:
        console.print(f"kept: {options.work_dir}", markup=False)
    return exit_code(run)


def _report(console: Console, run: BiteRun, reports_dir: Path) -> None:
    """The matrix, the kill rate, what was not killed and why, what was not run, and the files written."""
    console.print(console_table(run))
    console.print(kill_rate_line(run))
    for r in run.results:
        if r.result not in (KILLED, NOT_RUN):
            console.print(f"- {r.mutant.id}: {r.result}: {r.reason}", markup=False, highlight=False)
    not_run = [m.id for m in run.not_run()]
    if not_run:
        console.print(f"[yellow]not run[/yellow] ({len(not_run)}): {', '.join(not_run)}")
    for warning in run.warnings:
        console.print(f"[yellow]warning:[/yellow] {escape(warning)}")
    for kind, path in write_reports(run, reports_dir).items():
        console.print(f"{kind:4} {path}", markup=False, highlight=False)


def exit_code(run: BiteRun) -> int:
    """130 interrupted; 0 every mutant killed by a failed check; 1 otherwise."""
    if run.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_OK if run.results and all(r.result == KILLED for r in run.results) else EXIT_NOT_KILLED


def run(args: argparse.Namespace, console: Console | None = None, err: Console | None = None,
        check_ports: Callable[[], None] = preflight, hooks: Hooks | None = None) -> int:
    """The command; `check_ports` and `hooks` (the child pytest, the clean-up commands) are seams for tests."""
    console = console or Console(width=None if sys.stdout.isatty() else 160)
    err = err or Console(stderr=True)
    try:
        if getattr(args, "stack", None) not in (None, DEFAULT_DRIVER):
            raise ConfigError(f"bite runs the mutants on the {DEFAULT_DRIVER} driver only (its edits are to the "
                              f"local stack's files); leave out --stack {args.stack}")
        mutants = select_mutants(args.only, CATALOGUE)
        if args.list:
            return _list(console, mutants)
        if args.check:
            return _check(console, mutants)
        return _run(console, mutants, args, check_ports, hooks)
    except ChaosError as exc:
        err.print(f"[red]bite error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        return EXIT_USAGE


def cmd_bite(config: object, args: argparse.Namespace) -> int:
    """The `COMMANDS` entry of aarya_chaos/cli.py (the mutants' stack configs are bite's own)."""
    return run(args)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="aarya-chaos bite")
    add_arguments(parser)
    return run(parser.parse_args(argv))
