"""The quarantine file: known flaky or failing scenarios a team ships with while someone fixes them.

    # chaos-quarantine.toml
    [[quarantine]]
    scenario = "7.1"                 # the record's id (every record of it: the scenario and its controls)
    driver = "attach"                # optional: only on this driver (local, docker, attach)
    reason = "pool exhaustion flakes on the 2-CPU runners, #431"
    owner = "payments-sre@example.com"
    expires = 2026-12-31             # a TOML date; the entry holds through that day

A quarantined scenario that fails, errors, is flaky, skipped or slower than its baseline does not fail the
gate: it is listed with its owner, expiry and reason. An entry past its expiry fails the gate, whether or not
its scenario failed, naming its owner and date: a quarantine is a loan, not a waiver. Errors name the file,
the line and the key.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from reports.gate_input import EXIT_INVALID, EXIT_MISSING, GateInputError

DEFAULT_QUARANTINE = Path("chaos-quarantine.toml")
REQUIRED = ("scenario", "reason", "owner", "expires")
OPTIONAL = ("driver",)


@dataclass(frozen=True)
class Quarantine:
    scenario: str
    reason: str
    owner: str
    expires: date
    driver: str | None = None
    line: int = 0  # where the entry starts in its file

    def covers(self, scenario_id: str, driver: str) -> bool:
        return self.scenario == scenario_id and self.driver in (None, driver)

    def expired(self, today: date) -> bool:
        return today > self.expires

    def describe(self) -> str:
        where = f" on {self.driver}" if self.driver else ""
        return f"{self.scenario}{where} (owner {self.owner}, until {self.expires.isoformat()}): {self.reason}"


def _entry_lines(text: str) -> list[int]:
    """The 1-based line of each `[[quarantine]]` header."""
    return [n for n, line in enumerate(text.splitlines(), 1) if re.match(r"^\s*\[\[\s*quarantine\s*\]\]", line)]


def _key_line(text: str, start: int, key: str) -> int:
    """The line of `key = ...` in the entry starting at line `start` (the header's line if not found)."""
    lines = text.splitlines()
    for n in range(start, len(lines)):
        if n > start and re.match(r"^\s*\[", lines[n]):
            break
        if re.match(rf"^\s*{re.escape(key)}\s*=", lines[n]):
            return n + 1
    return start


def _entry(raw: Mapping[str, Any], text: str, line: int, label: str) -> Quarantine:
    def bad(key: str, problem: str) -> GateInputError:
        return GateInputError(f"{label}:{_key_line(text, line, key)}: `{key}` {problem}", EXIT_INVALID)

    for key in raw:
        if key not in REQUIRED + OPTIONAL:
            raise bad(key, f"is not a quarantine key (keys: {', '.join(REQUIRED + OPTIONAL)})")
    for key in REQUIRED:
        if key not in raw:
            raise GateInputError(f"{label}:{line}: the entry has no `{key}` (each entry needs "
                                 f"{', '.join(REQUIRED)})", EXIT_INVALID)
    for key in ("scenario", "reason", "owner") + (("driver",) if "driver" in raw else ()):
        if not isinstance(raw[key], str) or not raw[key].strip():
            raise bad(key, f"must be a non-empty string, got {raw[key]!r}")
    expires = raw["expires"]
    if not isinstance(expires, date) or hasattr(expires, "hour"):
        raise bad("expires", f"must be a TOML date such as 2026-12-31 (no quotes), got {expires!r}")
    return Quarantine(raw["scenario"].strip(), raw["reason"].strip(), raw["owner"].strip(), expires,
                      raw.get("driver"), line)


def parse_quarantine(text: str, label: str = "quarantine file") -> list[Quarantine]:
    """The entries of a quarantine file's text; GateInputError naming `label`, the line and the key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise GateInputError(f"{label}: not TOML: {exc}", EXIT_INVALID) from None
    unknown = [key for key in data if key != "quarantine"]
    if unknown:
        raise GateInputError(f"{label}: unknown table or key `{unknown[0]}` (entries are [[quarantine]] tables)",
                             EXIT_INVALID)
    entries = data.get("quarantine", [])
    if not isinstance(entries, list):
        raise GateInputError(f"{label}: `quarantine` must be an array of tables ([[quarantine]])", EXIT_INVALID)
    lines = _entry_lines(text)
    return [_entry(raw, text, lines[n] if n < len(lines) else 1, label) for n, raw in enumerate(entries)]


def load_quarantine(path: Path, *, required: bool = False) -> list[Quarantine]:
    """The file's entries; a missing file is no quarantine unless `required` (given on the command line)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if required:
            raise GateInputError(f"quarantine file {path} does not exist", EXIT_MISSING) from None
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise GateInputError(f"quarantine file {path} cannot be read: {exc}", EXIT_MISSING) from None
    return parse_quarantine(text, str(path))


def expired_problems(entries: Sequence[Quarantine], today: date) -> list[str]:
    """One gate problem per expired entry."""
    return [f"quarantine expired: {q.scenario}{f' on {q.driver}' if q.driver else ''} expired on "
            f"{q.expires.isoformat()} (owner {q.owner}, line {q.line}): fix it, or renew the entry with a new date"
            for q in entries if q.expired(today)]


def quarantined(entries: Sequence[Quarantine], scenario_id: str, driver: str, today: date) -> Quarantine | None:
    """The live (not expired) entry covering this scenario on this driver, if any."""
    return next((q for q in entries if q.covers(scenario_id, driver) and not q.expired(today)), None)
