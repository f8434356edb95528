"""`aarya-chaos new-scenario`: write a commented scenario file to start from, list the blocks a file may
use, or check a file (every problem with its line) without running anything."""

from __future__ import annotations

import argparse
from pathlib import Path

from aarya_chaos.errors import ConfigError

SKELETON = """\
# A scenario file: one runbook section as data (docs/scenario-files.md). Run it with
#     pytest scenarios/test_scenario_files.py            (files in scenarios/data/)
# Check it without running anything: aarya-chaos new-scenario --check {path}
# The blocks each section may use, with their parameters: aarya-chaos new-scenario --blocks

id: "{id}"                       # the runbook section
name: {name}
marker: service                  # database, cache, service, events, infrastructure, security, cascade, rollback

# What the runbook promises: MTTD and RTO in seconds, RPO 0 (no acknowledged write may be lost).
targets: {{mttd_s: 15, rto_s: 60, rpo_s: 0, lost_acknowledged_writes: 0}}

# Steps before the fault (after the steady state); `as: name` keeps a value for later blocks ($name).
prepare:
  - remember_pid: {{component: commerce, as: commerce_pid}}

# One fault (or `together: [...]`); the run proves it landed before anything is judged.
inject:
  process_kill: {{component: commerce, signal: SIGKILL}}

# The runbook's detection: name says what a person would run; signal is how it is polled
# (several under `all_of: [...]` must all show the fault).
detect:
  name: curl -f http://localhost:8010/health fails
  signal:
    health_fails: {{component: commerce}}

# The runbook's recovery procedure, as steps (a `command:` runs a runbook command where the component runs).
recover:
  procedure: docker-compose restart commerce
  steps:
    - restart: {{component: commerce}}

# Claims about the recovery: judged after the procedure, before the fault's own undo.
judge_recovery:
  - checkout_works: {{product_id: 7}}

# Claims judged over the whole history after the fault is healed (besides the standard checks:
# MTTD, RTO, RPO, the write ledger).
verify:
  - failures_were_defined: {{statuses: [502, 503, 504]}}

# Negative controls: the same scenario with the recovery skipped (or a broken release deployed) must fail.
controls:
  - name: without_restart
    skip_recovery: true
    must_fail: [restored_within_rto_target, checkout_works_after_recovery]
"""


def add_new_scenario_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("new-scenario", help="write a commented scenario file, list blocks, check a file")
    parser.add_argument("path", type=Path, nargs="?", help="the file to write (never overwritten)")
    parser.add_argument("--id", default="3.2", help="the runbook section (default 3.2)")
    parser.add_argument("--name", default="Commerce service unavailable")
    parser.add_argument("--blocks", action="store_true", help="list the blocks a file may use")
    parser.add_argument("--check", type=Path, metavar="FILE", help="check a file; print every problem")


def describe_blocks() -> str:
    from scenarios.as_data.blocks import BLOCKS
    from scenarios.as_data.spec import block_parameters

    lines: list[str] = []
    for kind, blocks in BLOCKS.items():
        lines.append(f"{kind}s:")
        for name, block in sorted(blocks.items()):
            params = ", ".join(f"{key}{'' if required else '?'}" for key, (_, required)
                               in block_parameters(block).items())
            lines.append(f"  {name}({params}): {block.doc}")
    return "\n".join(lines)


def cmd_new_scenario(_config: object, args: argparse.Namespace) -> int:
    if args.blocks:
        print(describe_blocks())
        return 0
    if args.check is not None:
        from scenarios.as_data.spec import compile_scenario

        spec = compile_scenario(args.check)  # a ScenarioFileError lists the problems; main prints it
        print(f"{args.check}: ok ({spec.id} {spec.name}: {len(spec.controls)} control(s))")
        return 0
    if args.path is None:
        raise ConfigError("new-scenario: give the file to write (or --blocks, or --check FILE)")
    if args.path.exists():
        raise ConfigError(f"{args.path} exists; new-scenario never overwrites a file")
    args.path.parent.mkdir(parents=True, exist_ok=True)
    args.path.write_text(SKELETON.format(id=args.id, name=args.name, path=args.path))
    print(f"wrote {args.path}; check it with: aarya-chaos new-scenario --check {args.path}")
    return 0
