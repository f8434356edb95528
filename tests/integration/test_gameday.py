"""`aarya-chaos gameday` end to end, as a subprocess with its own stack.

The game day's pytest session starts its own stack, so it must not share ports or run dir with this
session's: it gets a config with shifted ports (or the file in $AARYA_GAMEDAY_TEST_CONFIG).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stack.config import load_config
from tests.helpers.config import write_toml

pytestmark = [pytest.mark.integration, pytest.mark.slow]
OFFSET = 700
TIMEOUT_S = 420


@pytest.fixture(scope="module")
def stack_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get("AARYA_GAMEDAY_TEST_CONFIG")
    if given:
        return Path(given)
    config = load_config().with_port_offset(OFFSET, run_dir=Path("/tmp/aarya-chaos/pytest/gameday"))
    return write_toml(config, tmp_path_factory.mktemp("gameday") / "aarya-chaos.toml")


def gameday_command(stack_config: Path, reports: Path, *options: str) -> list[str]:
    return [sys.executable, "-m", "aarya_chaos.gameday", "commerce_unavailable", *options, "--",
            "--stack-config", str(stack_config), "--reports-dir", str(reports)]


def incident(reports: Path) -> str:
    reports_found = sorted((reports / "gameday").glob("*.md"))
    assert reports_found, f"no incident report in {reports}"
    return reports_found[0].read_text()


def test_auto_game_day_passes_and_writes_the_incident_report(stack_config: Path, tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    result = subprocess.run(gameday_command(stack_config, reports, "--auto", "--users", "4"), capture_output=True,
                            text=True, timeout=TIMEOUT_S, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "3.2 Commerce service unavailable: pass" in result.stdout
    assert "game day over: 3.2 pass" in result.stdout
    assert f"incident report: {reports / 'gameday'}" in result.stdout
    assert "Commerce service unavailable" in incident(reports)
    assert "auto: recover: docker-compose restart commerce" in result.stdout  # the view's last frame


def test_answering_no_before_the_recovery_heals_and_stops(stack_config: Path, tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    result = subprocess.run(gameday_command(stack_config, reports, "--users", "4"), input="y\nn\n",
                            capture_output=True, text=True, timeout=TIMEOUT_S)
    assert result.returncode == 3, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Inject the fault now?" in result.stdout and "Apply the recovery now?" in result.stdout
    assert "stopping: healed kill commerce with SIGKILL" in result.stdout
    assert "aborted: every fault healed" in result.stdout
    assert "verdict **aborted**" in incident(reports) or "aborted" in incident(reports)


def test_ctrl_c_at_a_question_heals_everything(stack_config: Path, tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    out = tmp_path / "out.txt"
    with out.open("w") as sink:
        process = subprocess.Popen(gameday_command(stack_config, reports, "--users", "4"), stdin=subprocess.PIPE,
                                   stdout=sink, stderr=subprocess.STDOUT, text=True)
        try:
            assert process.stdin is not None
            process.stdin.write("y\n")  # inject; then leave the recovery question unanswered
            process.stdin.flush()
            deadline = time.monotonic() + TIMEOUT_S
            while "Apply the recovery now?" not in out.read_text() and time.monotonic() < deadline:
                assert process.poll() is None, out.read_text()[-3000:]
                time.sleep(0.5)
            process.send_signal(signal.SIGINT)
            code = process.wait(timeout=120)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            if process.stdin is not None:
                process.stdin.close()
    text = out.read_text()
    assert code == 130, text[-3000:]
    assert "aborted: every fault healed" in text and "(Ctrl-C)" in text
    assert "aborted" in incident(reports)
