"""reports.claims: the claims table names only evidence that exists, covers every claim, and renders."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

from aarya_chaos.bite.catalogue import CATALOGUE, by_id
from checks.standard import Limits, RunFacts, Timeline, ledger_checks
from checks.timing import SteadyState
from reports.claims import CLAIMS, REGENERATE, ROOT, control_asserts, html_section, markdown, mutant_declares
from reports.html import write_html_report
from tests.data.sample import install_sample, sample_summary, write_json

DOC = ROOT / "docs" / "claims.md"
CONTROL = "scenarios/test_postgres_crash.py::test_postgres_crash_control_without_restart"
# Checks built that are no claim of any scenario: 5.1's preparation undo (a miss is a harness error), the name
# detection takes without an MTTD target (it passes by definition), and a target no scenario sets.
NOT_CLAIMS = {"pg_wal_back_on_the_real_disk_and_postgres_up", "detected", "failed_requests_within_target"}
SOURCES = [*sorted((ROOT / "scenarios").rglob("*.py")), ROOT / "fixtures" / "scenario.py",
           ROOT / "checks" / "standard.py"]
NAMED = re.compile(r'(?:Check|at_most|at_least|equals|expect)\(\s*"(\w+)"'
                   r'|(?:answers_within|legit_success)\(\w+, "(\w+)"|\bname(?:, target)? = "(\w+)"')
BITE: dict[str, Any] = {
    "schema": 1, "run": {"id": "<b>20261201T100000</b>"},
    "mutants": [
        {"id": "redis-aof-off", "result": "killed", "failed_checks": ["persisted_session_and_cart_came_back"]},
        {"id": "commerce-breaker-never-opens", "result": "survived", "failed_checks": []},
        {"id": "payment-key-per-attempt", "result": "killed", "failed_checks": ["no_lost_acknowledged_orders"]}]}


def function_of(node: str) -> Any:
    path, _, name = node.partition("::")
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    return getattr(module, name, None)


def test_the_doc_is_the_generated_table() -> None:
    assert DOC.read_text(encoding="utf-8") == markdown(), f"docs/claims.md is stale: run `{REGENERATE}`"


def test_every_control_is_a_control_test_of_its_scenario_file() -> None:
    for claim in CLAIMS:
        for node in claim.controls:
            path, _, name = node.partition("::")
            assert path.startswith("scenarios/test_") and "_control_" in name, f"{claim.check}: {node}"
            assert callable(function_of(node)), f"{claim.check}: no test {name} in {path}"
    assert control_asserts(CONTROL, "restored_within_rto_target")
    assert not control_asserts(CONTROL, "no_lost_acknowledged_orders")


def test_every_mutant_is_in_the_catalogue() -> None:
    known = by_id()
    assert {m for c in CLAIMS for m in c.mutants} <= set(known), "a mutant the catalogue does not have"
    assert mutant_declares("redis-aof-off", "persisted_session_and_cart_came_back")


def test_every_unit_test_exists() -> None:
    for claim in CLAIMS:
        for node in claim.unit_tests:
            assert node.startswith("tests/unit/test_") and node.partition("::")[2].startswith("test_"), node
            assert callable(function_of(node)), f"{claim.check}: no unit test {node}"


def test_every_check_a_mutant_expects_to_fail_is_a_claim() -> None:
    claims = {c.check for c in CLAIMS}
    for mutant in CATALOGUE:
        assert set(mutant.expect_failed) <= claims, f"{mutant.id}: {set(mutant.expect_failed) - claims}"


def test_the_claims_are_the_checks_the_scenarios_build_one_row_each() -> None:
    checks = [c.check for c in CLAIMS]
    assert len(checks) == len(set(checks)), "a check in two rows"
    named = {next(filter(None, m)) for path in SOURCES for m in NAMED.findall(path.read_text(encoding="utf-8"))}
    named |= {c.name for c in ledger_checks(RunFacts(Timeline(), [], SteadyState(), Limits()))}  # a list of names
    assert named - NOT_CLAIMS - set(checks) == set(), "a check the table does not have"
    assert set(checks) - named == set(), "a row for a check nothing builds any more"
    assert all(c.scenarios and c.claims for c in CLAIMS)


def row(page: str, check: str) -> str:
    found = re.search(rf"<tr><td><code>{check}</code></td>.*?</tr>", page)
    assert found, check
    return found.group(0)


def test_the_html_section_shows_this_runs_controls_and_the_bite_results() -> None:
    summary = sample_summary()
    page = html_section(summary, BITE)
    rto = row(page, "restored_within_rto_target")
    assert rto.count('<span class="ok">✓ bit</span>') == 3 and rto.count("– not run") == 10
    assert ('test_commerce_unavailable_control_without_restart</code> <span class="ok">✓ bit</span> '
            '<span class="muted">(this check held)</span>') in row(page, "checkout_works_after_recovery")
    assert 'redis-aof-off</code> <span class="badge v-pass">killed</span><' in row(
        page, "persisted_session_and_cart_came_back")
    assert "killed</span> <span class=\"muted\">(by other checks)</span>" in row(page, "no_order_charged_twice")
    assert '<span class="badge v-fail">survived</span>' in row(page, "breaker_opened_during_the_outage")
    assert "– not run" in row(page, "no_injection_succeeded")
    assert "&lt;b&gt;20261201T100000&lt;/b&gt;" in page and "<b>" not in page
    summary["scenarios"][3]["verdict"] = "fail"  # 1.1's control
    assert "✗ did not bite (fail)" in row(html_section(summary, None), "restored_within_rto_target")
    assert "no bite.json found" in html_section(summary, None)


def test_the_report_reads_the_bite_json_beside_the_reports(tmp_path: Path) -> None:
    summary_path = install_sample(tmp_path, earlier=False)
    write_json(tmp_path / "reports" / "bite" / "bite.json", BITE)
    page = write_html_report(summary_path, tmp_path / "report.html").read_text(encoding="utf-8")
    assert "<h2>Claims and what shows them failing</h2>" in page
    assert 'redis-aof-off</code> <span class="badge v-pass">killed</span>' in page
