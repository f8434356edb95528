"""`aarya-chaos gameday` end to end, as a subprocess with its own stack.

The game day's pytest session starts its own stack, so it must not share ports or run dir with this
session's: it gets a config with shifted ports (or the file in $AARYA_GAMEDAY_TEST_CONFIG).
"""

from __future__ import annotations

import os
import shlex
import shutil
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


class Tmux:
    """A real terminal: a tmux server of the test's own (its own socket, this process's environment), one
    session running `command`; keys are sent and the pane is read as the room would see it."""

    def __init__(self, command: list[str]) -> None:
        self.socket = f"aarya-gameday-{os.getpid()}-{time.monotonic_ns()}"
        # 80x24, the smallest usual terminal; COLUMNS/LINES unset so the game day reads the pane's real size
        line = f"env -u COLUMNS -u LINES {shlex.join(command)}; echo GAMEDAY-EXIT=$?; sleep 600"
        self._tmux("new-session", "-d", "-s", "gd", "-x", "80", "-y", "24", line)

    def _tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=True,
                              timeout=30).stdout

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "gd", "-S", "-2000")

    def wait_for(self, text: str, timeout_s: float = TIMEOUT_S) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.3)
        raise AssertionError(f"{text!r} never appeared on the game day's screen:\n{self.screen()[-4000:]}")

    def press(self, key: str) -> None:
        self._tmux("send-keys", "-t", "gd", key)

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=30, check=False)


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (apt-get install tmux)")
def test_in_a_terminal_the_room_says_detected_with_d_then_no_heals_and_stops(stack_config: Path,
                                                                              tmp_path: Path) -> None:
    """The screen in tmux, 80x24: y injects; `d` records the room's detection (human MTTD, beside the runbook
    signal's); n before the recovery heals everything and stops (exit 3), one key each, no Enter. The
    questions and the hint are at the top of the view: on 24 lines its bottom is cropped."""
    reports = tmp_path / "reports"
    terminal = Tmux(gameday_command(stack_config, reports, "--users", "4"))
    try:
        terminal.wait_for("Inject the fault now?")
        terminal.press("y")
        terminal.wait_for("press d when you have detected the incident")
        terminal.press("d")
        terminal.wait_for("detected by the room after")
        terminal.wait_for("Apply the recovery now?")
        terminal.press("n")
        screen = terminal.wait_for("GAMEDAY-EXIT=")
    finally:
        terminal.close()
    assert "GAMEDAY-EXIT=3" in screen, screen[-4000:]
    assert "stopping: healed kill commerce with SIGKILL" in screen and "aborted: every fault healed" in screen
    assert "the room (d) " in screen and "the room (d) not pressed" not in screen, screen[-4000:]
    report = incident(reports)
    assert "aborted" in report and "the room" in report, report


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
