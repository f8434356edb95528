"""Read the end of a log file without loading all of it."""

from __future__ import annotations

from pathlib import Path


def tail(path: Path, lines: int = 40, max_bytes: int = 64_000) -> str:
    if not path.exists():
        return f"(no log at {path})"
    with path.open("rb") as handle:
        handle.seek(0, 2)
        size = handle.tell()
        handle.seek(max(0, size - max_bytes))
        data = handle.read().decode("utf-8", errors="replace")
    return "\n".join(data.splitlines()[-lines:])
