"""The runbook's ``python compact_analytics.py``: the one-shot compaction, analytics_events by default.

    python -m stack.services.event_compactor.compact_analytics [--min-age-s N] [--stream S ...]

Same options and exit status as ``compact``; archive first, trim only what was archived.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from .compact import main as compact_main


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not any(a == "--stream" or a.startswith("--stream=") for a in args):
        args += ["--stream", "analytics_events"]
    return compact_main(args)


if __name__ == "__main__":
    sys.exit(main())
