"""A stack config written where a CLI or a subprocess can find it."""

from __future__ import annotations

from pathlib import Path

from stack.config import StackConfig


def write_toml(config: StackConfig, path: Path) -> Path:
    """`config` as TOML at `path` (what `--config` / `--stack-config` read); returns the path."""
    path.write_text(config.to_toml())
    return path
