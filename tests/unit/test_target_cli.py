"""`aarya-chaos target check PROFILE [--live]` (aarya_chaos/target_cli.py): one line per problem, exit 1 on any."""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path

import pytest

from aarya_chaos import cli
from aarya_chaos.target_cli import Preflight, check_profile
from stack.target.preflight import Finding
from stack.target.profile import TargetProfile

REFERENCE = Path(__file__).resolve().parents[2] / "stack" / "target" / "profiles" / "aarya.toml"


@pytest.fixture(autouse=True)
def no_stack_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`main` reads the stack config first: none here, so a stray aarya-chaos.toml cannot interfere."""
    monkeypatch.delenv("AARYA_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)


def test_the_reference_profile_checks_out(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["target", "check", str(REFERENCE)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ok: profile 'aarya'") and "19 edges" in out and "--live" in out


def test_a_bad_profile_prints_each_problem_on_its_own_line_and_exits_1(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "shop"\n[components.api]\nkind = "service"\nhelth = "http://x/health"\n')
    assert cli.main(["target", "check", str(bad)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert f"error: {bad}:4: components.api.helth: unknown key 'helth' in [components.api]; did you mean 'health'?" \
        in lines
    assert any(line.startswith(f"error: {bad}:") and "missing key 'ledger'" in line for line in lines)
    assert all(line.startswith("error: ") for line in lines)


def test_live_runs_the_preflight_and_fails_on_an_error_but_not_on_a_note() -> None:
    def preflight_with(*found: Finding) -> Preflight:
        def preflight(profile: TargetProfile, environ: Mapping[str, str] | None) -> list[Finding]:
            return list(found)
        return preflight

    note = Finding("compose", "edge commerce__postgres", "DATABASE_URL may be set by its env_file", level="note")
    error = Finding("stores", "store postgres", "postgresql://postgres@127.0.0.1:15432/aarya does not answer")
    out = io.StringIO()
    assert check_profile(REFERENCE, live=True, preflight=preflight_with(note, error), out=out) == 1
    lines = out.getvalue().splitlines()
    assert lines[:2] == [str(note), str(error)] and lines[2].startswith("failed: profile 'aarya'")
    out = io.StringIO()
    assert check_profile(REFERENCE, live=True, preflight=preflight_with(note), out=out) == 0
    assert out.getvalue().splitlines()[-1].startswith("ok: profile 'aarya'")


def test_the_command_needs_a_profile(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["target", "check"])
    assert exited.value.code == 2 and "profile" in capsys.readouterr().err
