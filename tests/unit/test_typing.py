"""mypy --strict over the engine and the test helpers: the drivers and the fake driver are checked against the
StackDriver protocol here (stack/drivers/*/kind.py, stack/drivers/fake.py), not only where a test calls them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STRICT = ["aarya_chaos", "stack", "fixtures", "load", "checks", "reports"]


def test_mypy_strict_passes() -> None:
    helpers = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests" / "helpers").glob("*.py"))
    done = subprocess.run([sys.executable, "-m", "mypy", *STRICT, *helpers, "tests/integration/test_driver_contract.py"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
