"""Running the suite against each mutant, one at a time, and classifying what the suite said.

For each mutant: copy the project and apply the mutant (mutate.prepare), run its `caught_by` tests in the copy
with the mutant's stack config, read the copy's summary.json and classify:

    killed     a scenario failed a check (the goal)
    error      the harness could not judge (caught only as an error), or no summary / no record at all
    skipped    the scenario could not run here: the mutant was not verified
    survived   every scenario passed
    not-run    the run was interrupted before (or while) this mutant ran

The child pytest runs in the copy, with PYTHONPATH on it: its services (started with `sys.executable -m
uvicorn`, inheriting the environment and the working directory) run the mutated code. On Ctrl-C or SIGTERM
the child is stopped (child.run_pytest: SIGINT to its group, SIGKILL after a grace), then `aarya-chaos heal`
and `down` run for the mutant's config. The project tree is never written.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from aarya_chaos.bite.catalogue import Mutant
from aarya_chaos.bite.child import (PytestCall, RunCommand, RunPytest, Terminated, run_command, run_pytest,
                                    sigterm_as_interrupt, signals_deferred)
from aarya_chaos.bite.mutate import MutantPaths, StaleMutant, prepare
from stack.drivers.registry import DEFAULT_DRIVER

__all__ = ["BiteOptions", "BiteRun", "Hooks", "MutantResult", "Outcome", "PytestCall", "Terminated", "child_env",
           "classify", "cleanup_commands", "fmt_duration", "pytest_call", "pytest_command", "run_bite",
           "run_pytest"]

KILLED, ERROR, SKIPPED, SURVIVED, NOT_RUN = "killed", "error", "skipped", "survived", "not-run"
RESULTS = (KILLED, ERROR, SKIPPED, SURVIVED, NOT_RUN)
DEFAULT_TIMEOUT_S = 900.0
WORK_ROOT = Path("/tmp/aarya-chaos/bite")
REASON_CHARS = 300


# -- the commands ------------------------------------------------------------------------------------------


def pytest_command(mutant: Mutant, paths: MutantPaths, python: str = sys.executable) -> list[str]:
    return [python, "-m", "pytest", *mutant.caught_by, "--stack", DEFAULT_DRIVER, "--stack-config", str(paths.config),
            "--reports-dir", str(paths.reports), "-p", "no:cacheprovider", "-q"]


def child_env(paths: MutantPaths, base: Mapping[str, str]) -> dict[str, str]:
    """The environment of everything run in the copy: its code first on the path, its config and run dir."""
    env = {k: v for k, v in base.items() if k not in ("PYTHONPATH", "AARYA_CONFIG", "AARYA_RUN_DIR")}
    env.update(PYTHONPATH=str(paths.src), AARYA_CONFIG=str(paths.config), AARYA_RUN_DIR=str(paths.run_dir),
               AARYA_RUN_KIND="bite")
    return env


def pytest_call(mutant: Mutant, paths: MutantPaths, options: BiteOptions) -> PytestCall:
    return PytestCall(tuple(pytest_command(mutant, paths, options.python)), paths.src,
                      child_env(paths, options.environ), paths.log, options.timeout_s)


def cleanup_commands(paths: MutantPaths, python: str = sys.executable) -> list[list[str]]:
    """`aarya-chaos heal`, then `down`, for the mutant's config (its run dir, its ports)."""
    return [[python, "-m", "aarya_chaos.cli", "--config", str(paths.config), command] for command in ("heal", "down")]


# -- classification ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    result: str
    failed_checks: tuple[str, ...] = ()
    reason: str = ""


def one_line(text: object, limit: int = REASON_CHARS) -> str:
    line = " ".join(str(text or "").split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _reasons(records: Sequence[Mapping[str, Any]]) -> str:
    return one_line("; ".join(f"{r.get('id')}: {one_line(r.get('reason')) or r.get('verdict')}" for r in records))


def _failed_checks(records: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    names = [str(c.get("name")) for r in records for c in (r.get("checks") or []) if c.get("passed") is False]
    return tuple(dict.fromkeys(names))


def classify(summary: Mapping[str, Any] | None, expected_records: int, log_tail: str = "") -> Outcome:
    """The mutant's result from its run's summary.json (None when there is none); controls are ignored."""
    if summary is None:
        return Outcome(ERROR, reason=one_line(f"no summary.json; pytest.log ends: {log_tail}"))
    records = [r for r in summary.get("scenarios") or [] if isinstance(r, Mapping) and r.get("control") is None]
    by_verdict = {v: [r for r in records if r.get("verdict") == v] for v in ("fail", "error", "skipped")}
    if by_verdict["fail"]:
        return Outcome(KILLED, _failed_checks(by_verdict["fail"]), _reasons(by_verdict["fail"]))
    if by_verdict["error"]:
        return Outcome(ERROR, reason=_reasons(by_verdict["error"]))
    if by_verdict["skipped"]:
        return Outcome(SKIPPED, reason=_reasons(by_verdict["skipped"]))
    if len(records) < max(expected_records, 1):
        return Outcome(ERROR, reason=one_line(f"{len(records)} of {expected_records} scenario records in "
                                              f"summary.json; pytest.log ends: {log_tail}"))
    return Outcome(SURVIVED, reason="every scenario passed")


def read_summary(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def log_tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    kept = [line.strip() for line in text.splitlines() if line.strip()]
    return " | ".join(kept[-lines:]) or "(empty log)"


# -- the run -------------------------------------------------------------------------------------------------


def new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class BiteOptions:
    project: Path
    reports_dir: Path
    timeout_s: float = DEFAULT_TIMEOUT_S
    keep: bool = False
    work_root: Path = WORK_ROOT
    run_id: str = field(default_factory=new_run_id)
    python: str = sys.executable
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))

    @property
    def work_dir(self) -> Path:
        return self.work_root / self.run_id


@dataclass(frozen=True)
class Hooks:
    """What a run does to the outside world; unit tests replace `run_pytest` and `run_command` with fakes."""

    run_pytest: RunPytest = run_pytest
    run_command: RunCommand = run_command
    progress: Callable[[str], None] = print


@dataclass(frozen=True)
class MutantResult:
    mutant: Mutant
    result: str
    failed_checks: tuple[str, ...] = ()
    reason: str = ""
    duration_s: float = 0.0
    log: Path | None = None


@dataclass
class BiteRun:
    run_id: str
    started: str
    finished: str | None = None
    results: list[MutantResult] = field(default_factory=list)
    interrupted: bool = False
    work_dir: Path | None = None
    warnings: list[str] = field(default_factory=list)
    kept: set[Path] = field(default_factory=set)
    """Work dirs not removed because their stack may still run."""

    def not_run(self) -> list[Mutant]:
        return [r.mutant for r in self.results if r.result == NOT_RUN]


class _Interrupted(BaseException):
    def __init__(self, result: MutantResult) -> None:
        super().__init__(result.mutant.id)
        self.result = result


def fmt_duration(seconds: float) -> str:
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def run_bite(mutants: Sequence[Mutant], options: BiteOptions, hooks: Hooks = Hooks()) -> BiteRun:
    """Run every mutant in turn. Ctrl-C or SIGTERM: the current mutant's stack is stopped and cleaned up, the
    rest is marked not-run, and the run returns with `interrupted` set (nothing is re-raised)."""
    bite = BiteRun(options.run_id, _now(), work_dir=options.work_dir)
    clock = time.monotonic()
    try:
        with sigterm_as_interrupt():
            for index, mutant in enumerate(mutants, 1):
                bite.results.append(_run_one(mutant, (index, len(mutants)), options, hooks, clock, bite))
    except _Interrupted as stop:
        bite.interrupted = True
        bite.results.append(stop.result)
    except (KeyboardInterrupt, Terminated):
        bite.interrupted = True
    finally:
        done = {r.mutant.id for r in bite.results}
        bite.results += [MutantResult(m, NOT_RUN, reason="not started (interrupted)") for m in mutants
                         if m.id not in done]
        bite.finished = _now()
        if not options.keep:
            _remove(options.work_dir, options.work_root, bite)
    return bite


def _run_one(mutant: Mutant, position: tuple[int, int], options: BiteOptions, hooks: Hooks, clock: float,
             bite: BiteRun) -> MutantResult:
    paths = MutantPaths(options.work_dir / mutant.id)
    tag = f"[{position[0]}/{position[1]}] {mutant.id}"
    hooks.progress(f"{tag}: pytest {' '.join(mutant.caught_by)} (elapsed {fmt_duration(time.monotonic() - clock)})")
    started = time.monotonic()
    try:
        outcome = _prepared_run(mutant, paths, options, hooks, bite)
    except (KeyboardInterrupt, Terminated):
        hooks.progress(f"{tag}: interrupted; stopping its stack and cleaning up")
        with signals_deferred():
            _clean_up_stack(paths, options, hooks, bite)
            log = _keep_artifacts(mutant, paths, options.reports_dir)
        raise _Interrupted(MutantResult(mutant, NOT_RUN, reason="interrupted while it ran",
                                        duration_s=time.monotonic() - started, log=log)) from None
    log = _keep_artifacts(mutant, paths, options.reports_dir)
    if not options.keep:
        _remove(paths.root, options.work_root, bite)
    result = MutantResult(mutant, outcome.result, outcome.failed_checks, outcome.reason,
                          time.monotonic() - started, log)
    detail = ", ".join(result.failed_checks[:3]) or result.reason
    hooks.progress(f"{tag}: {result.result} ({one_line(detail, 160)}) in {fmt_duration(result.duration_s)}")
    return result


def _prepared_run(mutant: Mutant, paths: MutantPaths, options: BiteOptions, hooks: Hooks, bite: BiteRun) -> Outcome:
    try:
        prepare(mutant, options.project, paths, exclude=(options.reports_dir,))
    except StaleMutant as exc:
        return Outcome(ERROR, reason=one_line(exc))
    code = hooks.run_pytest(pytest_call(mutant, paths, options))
    _clean_up_stack(paths, options, hooks, bite)  # only if the child left its stack recorded (stopped, crashed)
    if code is None:
        return Outcome(ERROR, reason=one_line(f"timed out after {fmt_duration(options.timeout_s)} and was stopped; "
                                              f"pytest.log ends: {log_tail(paths.log)}"))
    return classify(read_summary(paths.summary), len(mutant.caught_by), log_tail(paths.log))


def _clean_up_stack(paths: MutantPaths, options: BiteOptions, hooks: Hooks, bite: BiteRun) -> None:
    """`heal` and `down` for the mutant's config while its stack is still recorded (run.json, which a clean stop
    removes): heal works by port, so when the mutant's stack never started it must not touch whoever owns them.
    If the stack is still recorded afterwards, its work dir is kept (removing it under a live stack would only
    make things worse) and the run warns."""
    state = paths.run_dir / "run.json"
    if not state.exists():
        return
    env = child_env(paths, options.environ)
    codes = [hooks.run_command(argv, paths.src, env, paths.log) for argv in cleanup_commands(paths, options.python)]
    if state.exists() or any(codes):
        bite.kept.add(paths.root)
        bite.warnings.append(f"{paths.root.name}: its stack may still run (heal/down exited {codes}); kept "
                             f"{paths.root}; see {paths.log}, then `aarya-chaos --config {paths.config} down`")


def _keep_artifacts(mutant: Mutant, paths: MutantPaths, reports_dir: Path) -> Path | None:
    """Copy the mutant's pytest.log and summary.json to `<reports_dir>/mutants/<id>/` (replacing an earlier
    run's); the kept log's path, None when there was no log."""
    target = reports_dir / "mutants" / mutant.id
    if target.is_dir():
        shutil.rmtree(target)
    for source in (paths.log, paths.summary):
        if source.is_file():
            target.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target / source.name)
    log = target / paths.log.name
    return log if log.is_file() else None


def _remove(path: Path, root: Path, bite: BiteRun) -> None:
    """Remove a work directory, only ever one inside the bite work root, and none whose stack may still run."""
    if not path.exists() or not path.resolve().is_relative_to(root.resolve()):
        return
    if any(kept == path or kept.is_relative_to(path) for kept in bite.kept):
        return
    try:
        shutil.rmtree(path)
    except OSError as exc:
        bite.warnings.append(f"could not remove {path}: {exc}")
