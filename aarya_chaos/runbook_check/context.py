"""What every checker gets: the config, the live stack (or why there is none), and what went unchecked."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aarya_chaos.runbook_check.live import LiveStack

if TYPE_CHECKING:
    from stack.config import StackConfig


@dataclass
class Context:
    config: StackConfig
    live: LiveStack | None
    why_static: str = ""  # why there is no live stack ("--dry-run", "no stack recorded ...")
    not_checked: dict[str, int] = field(default_factory=dict)

    def missed(self, what: str) -> None:
        self.not_checked[what] = self.not_checked.get(what, 0) + 1

    def static_reason(self) -> str:
        return "dry run" if self.why_static == "--dry-run" else "no live stack"
