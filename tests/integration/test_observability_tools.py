"""The pinned Prometheus, promtool and actionlint (stack/observability_tools.py), when they are built in the
tools dir: Prometheus on 127.0.0.1 scraping itself answers /-/ready and `up` through the HTTP API, promtool
passes a good rules file and fails a broken one, actionlint flags a broken workflow.

Needs no stack: Prometheus listens on a free port the OS picks, everything else is a file in tmp_path.
Skips with the build commands when the binaries are not built (nothing is built here).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from aarya_chaos.errors import MissingBinary
from stack.config import load_config
from stack.observability_tools import (
    PROMETHEUS_RELEASE,
    ObservabilityTools,
    find_observability_tools,
)
from stack.ports import free_port
from stack.waits import wait_until

pytestmark = pytest.mark.integration

HOST = "127.0.0.1"
READY_DEADLINE_S = 30.0
SCRAPE_DEADLINE_S = 30.0

GOOD_RULES = """\
groups:
  - name: aarya-smoke
    rules:
      - alert: TargetDown
        expr: up == 0
        for: 1m
        labels:
          severity: page
        annotations:
          summary: "{{ $labels.job }} on {{ $labels.instance }} is down"
"""

BROKEN_RULES = GOOD_RULES.replace("expr: up == 0", "expr: rate(up[5m) == 0")

GOOD_WORKFLOW = """\
name: ci
on: [push]
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: make test
"""

BROKEN_WORKFLOW = GOOD_WORKFLOW.replace("on: [push]", "on: [pushh]").replace(
    "runs-on: ubuntu-latest", "runs-on: ubuntu-latest\n    timeout-minutes: ${{ github.nope.nope }}")


@pytest.fixture(scope="module")
def tools() -> ObservabilityTools:
    try:
        return find_observability_tools(load_config().tools_dir, install=False)
    except MissingBinary as exc:
        pytest.skip(f"Prometheus/promtool/actionlint are not built: {exc}")


@pytest.fixture
def prometheus(tools: ObservabilityTools, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    config = tmp_path / "prometheus.yml"
    (tmp_path / "rules.yml").write_text(GOOD_RULES)
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "rule_files: [rules.yml]\n"
        f"scrape_configs:\n  - job_name: self\n    static_configs:\n      - targets: ['{HOST}:{port}']\n")
    log = (tmp_path / "prometheus.log").open("w")
    process = subprocess.Popen(
        [str(tools.prometheus), f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address={HOST}:{port}"],
        stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        yield f"http://{HOST}:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()
        if process.returncode not in (0, -15):
            print((tmp_path / "prometheus.log").read_text()[-3000:])


def test_prometheus_is_ready_and_answers_up_through_the_api(prometheus: str) -> None:
    with httpx.Client(base_url=prometheus, timeout=2) as client:
        wait_until("prometheus", f"{prometheus}/-/ready",
                   lambda: client.get("/-/ready").status_code == 200 or None, timeout_s=READY_DEADLINE_S)

        def up() -> dict[str, Any] | None:
            """The query's answer once it failed or has a sample (None: no scrape yet)."""
            body: dict[str, Any] = client.get("/api/v1/query", params={"query": "up"}).json()
            return body if body["status"] != "success" or body["data"]["result"] else None

        body = wait_until("prometheus", f"{prometheus}/api/v1/query?query=up (a scrape of itself)", up,
                          timeout_s=SCRAPE_DEADLINE_S)
        assert body["status"] == "success", body
        result = body["data"]["result"]
        assert result[0]["metric"]["job"] == "self"
        assert result[0]["value"][1] == "1"
        assert client.get("/api/v1/status/buildinfo").json()["data"]["version"] == PROMETHEUS_RELEASE
        rules = client.get("/api/v1/rules").json()
        assert [r["name"] for g in rules["data"]["groups"] for r in g["rules"]] == ["TargetDown"]


def run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def test_promtool_passes_a_good_rules_file_and_fails_a_broken_one(tools: ObservabilityTools,
                                                                  tmp_path: Path) -> None:
    good, broken = tmp_path / "good.yml", tmp_path / "broken.yml"
    good.write_text(GOOD_RULES)
    broken.write_text(BROKEN_RULES)
    passed = run([str(tools.promtool), "check", "rules", str(good)])
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "SUCCESS: 1 rules found" in passed.stdout + passed.stderr
    failed = run([str(tools.promtool), "check", "rules", str(broken)])
    assert failed.returncode != 0
    assert "FAILED" in failed.stdout + failed.stderr


def test_actionlint_passes_a_good_workflow_and_flags_a_broken_one(tools: ObservabilityTools,
                                                                  tmp_path: Path) -> None:
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "good.yml").write_text(GOOD_WORKFLOW)
    (workflows / "broken.yml").write_text(BROKEN_WORKFLOW)
    # -shellcheck= and -pyflakes= : only actionlint's own checks, whatever else is on PATH.
    passed = run([str(tools.actionlint), "-shellcheck=", "-pyflakes=", str(workflows / "good.yml")])
    assert passed.returncode == 0, passed.stdout + passed.stderr
    failed = run([str(tools.actionlint), "-shellcheck=", "-pyflakes=", str(workflows / "broken.yml")])
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert '"pushh"' in failed.stdout
    assert "nope" in failed.stdout
