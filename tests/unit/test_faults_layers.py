"""fixtures' own layers, as their package docstrings say: detection may read a fault's record, a fault's heal
may reuse a recovery procedure, and all of them read through the diagnostics, never the other way round;
the packages' __init__ import nothing."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
PACKAGES = ("detect", "faults", "recover", "diagnose")  # top to bottom


def test_detection_faults_recovery_and_diagnostics_keep_their_order(tmp_path: Path) -> None:
    config = tmp_path / "fixtures-layers.toml"
    config.write_text(textwrap.dedent(f"""
        [tool.importlinter]
        root_packages = ["fixtures"]

        [[tool.importlinter.contracts]]
        name = "fixtures layers"
        type = "layers"
        layers = {[f"fixtures.{package}" for package in PACKAGES]!r}
    """).replace("'", '"'))
    done = subprocess.run([str(LINT_IMPORTS), "--no-cache", str(config)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]


@pytest.mark.parametrize("package", PACKAGES)
def test_the_package_init_imports_nothing(package: str) -> None:
    tree = ast.parse((ROOT / "fixtures" / package / "__init__.py").read_text())
    assert ast.get_docstring(tree)
    assert [node for node in tree.body if not isinstance(node, ast.Expr)] == []
