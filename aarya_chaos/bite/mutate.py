"""Applying a mutant: a copy of the project with the mutant's edits, and a stack config with its settings.

The project tree itself is never written: the working tree (as it is on disk, uncommitted changes included)
is copied to `<work>/<mutant-id>/src`, the edits are applied to the copy, and `<work>/<mutant-id>/mutant.toml`
is the stack config the mutant's pytest run uses (its own run dir, the mutant's service env and overrides).

    paths = MutantPaths(work / mutant.id)
    prepare(mutant, project_root, paths)      # raises StaleMutant when an edit no longer applies
"""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aarya_chaos.bite.catalogue import Edit, Mutant
from aarya_chaos.errors import ConfigError

__all__ = ["MutantPaths", "Stale", "StaleMutant", "apply_mutant", "copy_tree", "edited_texts", "mutant_config",
           "prepare", "stale_edits", "toml_text", "write_mutant_config"]

# Never copied, wherever they are: VCS, virtualenv, caches, build metadata.
EXCLUDED_NAMES = (".git", ".venv", "__pycache__", ".mypy_cache", ".pytest_cache", ".benchmarks", ".aarya-run")
EXCLUDED_PATTERNS = ("*.egg-info", "*.pyc")
# `reports/` is a Python package (the summary writer, the HTML report...): only its generated output is left out.
REPORTS_OUTPUT = ("latest", "runs", "history", "docker", "bite", "gameday", "allure-results", "allure-report",
                  "junit-*.xml")


class StaleMutant(ConfigError):
    """An edit's `old` text does not occur exactly once in its file: the code moved since the mutant was written."""

    def __init__(self, stale: Stale) -> None:
        super().__init__(stale.message())
        self.stale = stale


@dataclass(frozen=True)
class Stale:
    mutant: str
    path: str
    count: int
    old: str
    missing_file: bool = False

    def message(self) -> str:
        first = self.old.strip().splitlines()[0] if self.old.strip() else self.old
        if self.missing_file:
            return f"stale mutant {self.mutant}: {self.path} does not exist"
        return (f"stale mutant {self.mutant}: in {self.path} the text to replace occurs {self.count} times "
                f"(expected exactly once): {first[:100]!r}")


@dataclass(frozen=True)
class MutantPaths:
    """Where one mutant's run lives: the copy, its config, its stack's run dir, its reports and log."""

    root: Path

    @property
    def src(self) -> Path:
        return self.root / "src"

    @property
    def config(self) -> Path:
        return self.root / "mutant.toml"

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def summary(self) -> Path:
        return self.reports / "summary.json"

    @property
    def log(self) -> Path:
        return self.root / "pytest.log"


# -- edits -----------------------------------------------------------------------------------------------------


def _by_file(edits: Iterable[Edit]) -> dict[str, list[Edit]]:
    files: dict[str, list[Edit]] = {}
    for edit in edits:
        files.setdefault(edit.path, []).append(edit)
    return files


def _apply_to_text(mutant: Mutant, path: str, text: str, edits: Sequence[Edit]) -> tuple[str, list[Stale]]:
    """The file's text with its edits applied in order; the ones that did not occur exactly once."""
    stale = []
    for edit in edits:
        count = text.count(edit.old)
        if count != 1:
            stale.append(Stale(mutant.id, path, count, edit.old))
            continue
        text = text.replace(edit.old, edit.new, 1)
    return text, stale


def _edit_all(mutant: Mutant, root: Path) -> tuple[dict[str, str], list[Stale]]:
    texts: dict[str, str] = {}
    stale: list[Stale] = []
    for path, edits in _by_file(mutant.edits).items():
        file = root / path
        if not file.is_file():
            stale.append(Stale(mutant.id, path, 0, edits[0].old, missing_file=True))
            continue
        texts[path], problems = _apply_to_text(mutant, path, file.read_text(encoding="utf-8"), edits)
        stale += problems
    return texts, stale


def stale_edits(mutant: Mutant, root: Path) -> list[Stale]:
    """Every edit of `mutant` that would not apply to the tree at `root` (nothing is written)."""
    return _edit_all(mutant, root)[1]


def edited_texts(mutant: Mutant, root: Path) -> dict[str, str]:
    """The new text of every file the mutant edits, read from `root`. Raises StaleMutant (the first problem)."""
    texts, stale = _edit_all(mutant, root)
    if stale:
        raise StaleMutant(stale[0])
    return texts


def apply_mutant(mutant: Mutant, src: Path) -> list[str]:
    """Apply the edits to the copy at `src` (never to the project); returns the files changed."""
    texts = edited_texts(mutant, src)
    for path, text in texts.items():
        (src / path).write_text(text, encoding="utf-8")  # an existing file keeps its mode (scripts stay executable)
    return sorted(texts)


# -- the copy ------------------------------------------------------------------------------------------------


def _ignore(root: Path, extra: Sequence[Path]) -> Callable[[str, list[str]], set[str]]:
    skipped = {p.resolve() for p in extra}

    def ignore(directory: str, names: list[str]) -> set[str]:
        here = Path(directory).resolve()
        out = {n for n in names if n in EXCLUDED_NAMES or any(fnmatch.fnmatch(n, p) for p in EXCLUDED_PATTERNS)}
        if here == root / "reports":
            out |= {n for n in names if any(fnmatch.fnmatch(n, p) for p in REPORTS_OUTPUT)}
        return out | {n for n in names if (here / n) in skipped}

    return ignore


def copy_tree(project: Path, dest: Path, exclude: Sequence[Path] = ()) -> None:
    """Copy the working tree as it is on disk to `dest`, without VCS data, caches, the virtualenv and the
    reports' generated output (and without `exclude`, e.g. bite's own reports directory)."""
    root = project.resolve()
    shutil.copytree(root, dest, symlinks=True, ignore=_ignore(root, exclude))


# -- the stack config ----------------------------------------------------------------------------------------


def mutant_config(mutant: Mutant, run_dir: Path) -> dict[str, Any]:
    """The stack config of the mutant's run, as data: its run dir, its stack overrides, and for each service it
    sets env for, that service's default env merged with the mutant's (load_config replaces a service's fields
    whole, so the defaults must be written out too)."""
    from stack.config import _default_services

    defaults = _default_services()
    data: dict[str, Any] = {"run_dir": str(run_dir), **{k: _plain(v) for k, v in mutant.stack.items()}}
    if mutant.settings:
        data["services"] = {name: {"env": {**defaults[name].env, **env}} for name, env in mutant.settings.items()}
    return data


def _plain(value: Any) -> Any:
    return {str(k): _plain(v) for k, v in value.items()} if isinstance(value, Mapping) else value


# tomli_w is not installed and the config holds only strings, numbers, booleans, lists of those and nested
# tables: a writer of exactly those shapes is smaller than a new dependency. load_config reads it back.
BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def toml_text(data: Mapping[str, Any]) -> str:
    """`data` as TOML: scalars (str, bool, int, float), lists of scalars, and nested tables."""
    lines: list[str] = []
    _table(lines, (), data)
    return "\n".join(lines).lstrip("\n") + "\n"


def _table(lines: list[str], path: tuple[str, ...], data: Mapping[str, Any]) -> None:
    tables = {k: v for k, v in data.items() if isinstance(v, Mapping)}
    scalars = {k: v for k, v in data.items() if k not in tables}
    if path and (scalars or not tables):
        lines += ["", "[" + ".".join(_key(p) for p in path) + "]"]
    lines += [f"{_key(k)} = {_value(v)}" for k, v in scalars.items()]
    for key, table in tables.items():
        _table(lines, (*path, str(key)), table)


def _key(key: str) -> str:
    return key if BARE_KEY.match(key) else json.dumps(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string (\" \\ \n \uXXXX escapes) is a valid TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} {value!r} as TOML")


def write_mutant_config(mutant: Mutant, paths: MutantPaths) -> Path:
    paths.config.write_text(toml_text(mutant_config(mutant, paths.run_dir)), encoding="utf-8")
    return paths.config


def prepare(mutant: Mutant, project: Path, paths: MutantPaths, exclude: Sequence[Path] = ()) -> list[str]:
    """Copy the project to `paths.src`, apply the mutant there, write its stack config; the files changed."""
    edited_texts(mutant, project)  # fail on a stale mutant before copying anything
    paths.root.mkdir(parents=True, exist_ok=True)
    copy_tree(project, paths.src, exclude)
    changed = apply_mutant(mutant, paths.src)
    write_mutant_config(mutant, paths)
    return changed
