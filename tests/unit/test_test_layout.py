"""The self-tests' own layout: a test module imports its helpers from tests/helpers/ (or tests/data/), never from
another test module or from a conftest.py (whose fixtures pytest provides without an import)."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
FORBIDDEN = ("tests.unit", "tests.integration", "tests.services", "tests.conftest")


def imported_modules(path: Path) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found.extend((node.lineno, f"{node.module}.{alias.name}") for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            found.append((node.lineno, "." * node.level + (node.module or "")))
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
    return found


def forbidden(module: str) -> bool:
    if module.startswith("."):
        return True  # a relative import reaches a sibling test module or the conftest
    return any(module == prefix or module.startswith(f"{prefix}.") for prefix in FORBIDDEN)


def test_no_test_module_imports_from_another_test_module_or_a_conftest() -> None:
    offending = sorted({f"{path.relative_to(TESTS.parent)}:{line}: {module}" for path in TESTS.rglob("*.py")
                        for line, module in imported_modules(path) if forbidden(module)})
    assert not offending, "move the shared helper to tests/helpers/:\n" + "\n".join(offending)


def test_the_layout_check_sees_each_kind_of_import(tmp_path: Path) -> None:
    module = tmp_path / "test_example.py"
    module.write_text("import tests.unit.test_a\nfrom tests.integration.test_b import f\nfrom tests import conftest\n"
                      "from tests.conftest import g\nfrom .test_c import h\nfrom tests.helpers.runs import FakeRun\n"
                      "from tests.data.sample import record\n")
    assert sorted({line for line, module in imported_modules(module) if forbidden(module)}) == [1, 2, 3, 4, 5]
