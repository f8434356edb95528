"""`aarya-chaos target check PROFILE [--live]`: is a target profile (docs/target-profiles.md) usable?

Without --live only the file is read (and the locustfile and compose file it names looked up). With --live
the preflight also asks the platform, read-only: each edge's variable in the compose file, each store's
connection, the ledger query, each container, each health URL. One problem per line; exit 1 if any.
Notes (what could not be checked) are printed and do not fail the check.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TextIO

from stack.target.load import ProfileError, load_profile
from stack.target.preflight import Finding, errors, run_preflight
from stack.target.profile import TargetProfile

Preflight = Callable[[TargetProfile, Mapping[str, str] | None], list[Finding]]


def add_target_command(sub: Any) -> None:
    """Adds `target check` to the sub-commands of aarya_chaos/cli.py; dispatch with `cmd_target`."""
    target = sub.add_parser("target", help="check a target profile: a team's own platform", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = target.add_subparsers(dest="target_command", required=True)
    check = actions.add_parser("check", help="validate a profile; with --live, run the preflight against the platform")
    check.add_argument("profile", type=Path, help="the profile's TOML file (e.g. stack/target/profiles/aarya.toml)")
    check.add_argument("--live", action="store_true",
                       help="also check the platform, read-only: compose variables, stores, containers, health")


def cmd_target(config: object, args: argparse.Namespace) -> int:
    """The `COMMANDS` entry of aarya_chaos/cli.py (the stack config is not used: the profile says it all)."""
    return check_profile(args.profile, live=args.live)


def check_profile(path: Path, *, live: bool, environ: Mapping[str, str] | None = None,
                  preflight: Preflight = run_preflight, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        profile = load_profile(path)
    except ProfileError as exc:
        for issue in exc.issues:
            print(f"error: {issue}", file=out)
        return 1
    summary = (f"profile {profile.name!r} ({path}): {len(profile.components)} components, "
               f"{len(profile.stores)} stores, {len(profile.edges)} edges")
    if not live:
        print(f"ok: {summary}; not checked against the platform (add --live)", file=out)
        return 0
    findings = preflight(profile, environ)
    for finding in findings:
        print(finding, file=out)
    failed = errors(findings)
    if failed:
        print(f"failed: {summary}: {len(failed)} problem(s) found before anything was injected", file=out)
        return 1
    print(f"ok: {summary}; the platform answers", file=out)
    return 0
