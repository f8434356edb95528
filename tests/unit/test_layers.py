"""The import layers of pyproject.toml's [tool.importlinter] contract hold (a low layer never imports a high one),
and the check does fail on a tree that breaks them."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(config: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", str(config)], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env={"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin"})


def test_the_project_keeps_its_layers() -> None:
    done = lint_imports(ROOT / "pyproject.toml", ROOT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]


def test_a_low_layer_importing_a_high_one_breaks_the_contract(tmp_path: Path) -> None:
    for package, body in (("high", ""), ("low", "import high\n")):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text(body)
    config = tmp_path / "layers.toml"
    config.write_text(textwrap.dedent("""
        [tool.importlinter]
        root_packages = ["high", "low"]

        [[tool.importlinter.contracts]]
        name = "layers"
        type = "layers"
        layers = ["high", "low"]
    """))
    done = lint_imports(config, tmp_path)
    assert done.returncode != 0 and "low -> high" in done.stdout, done.stdout[-2000:]
