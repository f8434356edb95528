"""What a check found: one finding, the checks of one command, the report of a whole runbook."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from aarya_chaos.errors import ChaosError

Result = Literal["ok", "fails", "warning", "dry-run", "not runnable"]
SEVERITY: dict[str, int] = {"fails": 4, "warning": 3, "dry-run": 2, "not runnable": 1, "ok": 0}


class InputError(ChaosError):
    """The runbook cannot be checked: missing, not text, or without commands."""


# ---------------------------------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    result: Result
    why: str


@dataclass
class CommandCheck:
    section: str
    line: int
    command: str
    kind: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def result(self) -> Result:
        if not self.findings:
            return "ok"
        return max(self.findings, key=lambda f: SEVERITY[f.result]).result

    @property
    def why(self) -> str:
        ordered = sorted(self.findings, key=lambda f: -SEVERITY[f.result])
        return "; ".join(f.why for f in ordered if f.why)

    def add(self, result: Result, why: str) -> None:
        self.findings.append(Finding(result, why))

    def to_dict(self) -> dict[str, Any]:
        return {"section": self.section, "line": self.line, "command": self.command, "kind": self.kind,
                "result": self.result, "why": self.why,
                "findings": [{"result": f.result, "why": f.why} for f in self.findings]}


@dataclass
class Report:
    path: Path
    mode: str  # "live" or "static"
    checks: list[CommandCheck] = field(default_factory=list)
    quiet_shell: list[CommandCheck] = field(default_factory=list)  # shell commands with nothing to say
    notes: list[str] = field(default_factory=list)  # what could not be checked, and why
    structure: list[str] = field(default_factory=list)  # headings that look broken
    skipped_blocks: dict[str, int] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return any(c.result == "fails" for c in self.checks)

    def counts(self) -> dict[str, int]:
        counts = {r: 0 for r in SEVERITY}
        for check in self.checks:
            counts[check.result] += 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "mode": self.mode, "counts": self.counts(),
                "checks": [c.to_dict() for c in self.checks],
                "other_shell_commands": len(self.quiet_shell), "notes": self.notes,
                "structure": self.structure, "skipped_blocks": self.skipped_blocks}
