"""`aarya-chaos runbook-check`'s arguments and exit status."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from rich.console import Console
from rich.markup import escape

from aarya_chaos.errors import ChaosError
from aarya_chaos.runbook_check.engine import check_runbook
from aarya_chaos.runbook_check.render import render
from stack.drivers.registry import DRIVERS

EXIT_OK, EXIT_FAILS, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aarya-chaos runbook-check",
                                     description="Check the commands of a markdown runbook against the live stack.")
    parser.add_argument("runbook", type=Path, help="the runbook, a markdown file")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--live", action="store_true", help="require the stack started by `aarya-chaos up`")
    mode.add_argument("--dry-run", action="store_true", help="static checks only; run nothing")
    parser.add_argument("--stack", choices=DRIVERS, default=None,
                        help="the stack's driver (default: the one that started the stack in the run dir)")
    parser.add_argument("--config", type=Path, help="TOML config of the stack (default: $AARYA_CONFIG or "
                                                     "./aarya-chaos.toml)")
    parser.add_argument("--target", type=Path, metavar="PROFILE",
                        help="a target profile: check against the team's platform it describes, as attached by "
                             "`aarya-chaos --target PROFILE up` (the attach driver)")
    parser.add_argument("--all", action="store_true", help="also list shell commands with nothing to report")
    parser.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = Console() if sys.stdout.isatty() else Console(width=200)
    err = Console(stderr=True)
    from stack.config import load_config

    from aarya_chaos.cli import check_target_usage, target_config

    try:
        check_target_usage("runbook-check", args.stack, args.target)
        config, driver, profile = target_config(load_config(args.config), args.stack, args.target)
        mode: Literal["auto", "live", "static"] = "live" if args.live else "static" if args.dry_run else "auto"
        report = check_runbook(args.runbook, mode, config, driver, profile)
    except ChaosError as exc:
        err.print(f"[red]runbook-check:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        return EXIT_USAGE
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        render(report, out, args.all)
    return EXIT_FAILS if report.failed else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
