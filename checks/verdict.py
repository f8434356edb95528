"""A tiny vocabulary for verdicts: each claim of a scenario is one named `Check`.

    checks = [at_most("rto_s", rto, 120), equals("lost_acknowledged_writes", loss.count, 0)]
    passed, failing = evaluate(checks)

A claim that could not be measured (None: never restored, never detected) fails with the detail
"not measured": a missing number is not evidence that the target was met.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

NOT_MEASURED = "not measured"


@dataclass(frozen=True)
class Check:
    """One claim: its name, whether it held, what was measured, what it had to be, and when it was judged
    ("standard", "after the recovery, before the heal", "after the heal"; empty when not said)."""

    name: str
    passed: bool
    measured: object
    target: object
    detail: str = ""
    judged: str = ""


def evaluate(checks: Sequence[Check]) -> tuple[bool, list[Check]]:
    """(whether every check passed, the failing ones in order). No checks at all passes."""
    failing = [check for check in checks if not check.passed]
    return not failing, failing


def at_most(name: str, measured: float | None, target: float) -> Check:
    """Passes when measured <= target."""
    if measured is None:
        return Check(name, False, None, target, NOT_MEASURED)
    passed = measured <= target
    return Check(name, passed, measured, target, f"{measured!r} {'<=' if passed else '>'} {target!r}")


def at_least(name: str, measured: float | None, target: float) -> Check:
    """Passes when measured >= target."""
    if measured is None:
        return Check(name, False, None, target, NOT_MEASURED)
    passed = measured >= target
    return Check(name, passed, measured, target, f"{measured!r} {'>=' if passed else '<'} {target!r}")


def equals(name: str, measured: object, target: object) -> Check:
    """Passes when measured == target (a None measurement fails, whatever the target)."""
    if measured is None:
        return Check(name, False, None, target, NOT_MEASURED)
    passed = bool(measured == target)
    return Check(name, passed, measured, target, f"{measured!r} {'==' if passed else '!='} {target!r}")
