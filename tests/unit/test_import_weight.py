"""The lower layers load light: the checkers and the history format never pull in the load runner (and
through it locust), matplotlib or psycopg. Each import is checked in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("load.runner", "locust", "matplotlib", "psycopg")


def loaded_after(module: str) -> set[str]:
    code = f"import json, sys; import {module}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         check=True).stdout
    return set(json.loads(out))


@pytest.mark.parametrize("module", ["checks.timing", "checks.ledger", "checks.windows", "checks.standard",
                                    "load.history", "aarya_chaos.natural"])
def test_importing_loads_nothing_heavy(module: str) -> None:
    loaded = loaded_after(module)
    assert module in loaded
    heavy = sorted(m for m in loaded if any(m == h or m.startswith(h + ".") for h in HEAVY))
    assert heavy == [], f"import {module} loaded {heavy}"


def test_the_packages_import_nothing() -> None:
    loaded = loaded_after("load, checks, reports")
    ours = sorted(m for m in loaded if m.split(".")[0] in {"load", "checks", "reports"})
    assert ours == ["checks", "load", "reports"]
