"""Controls for every claim class: each check the scenarios judge, and what shows it able to fail.

A check that cannot fail proves nothing. Each row of CLAIMS (reports/claim_rows.py) names one check (`checks.verdict.Check.name`), the
runbook sections that judge it ("all": the standard checks of checks/standard.py and the engine's), what it
claims, and what shows it failing:

    controls     negative-control scenario tests (`scenarios/test_x.py::test_x_control_y`): the recovery
                 skipped or a mitigation broken; the scenario must miss its checks
    mutants      bite mutants (aarya_chaos/bite/catalogue.py): a realistic regression the suite must catch
    unit_tests   unit tests over a literal history or literal inputs where the check fails (tests/unit/)

    markdown()                     docs/claims.md: `python -m reports.claims > docs/claims.md`
    html_section(summary, bite)    the report's section: the same rows, with whether each control bit in that
                                   run's summary and each mutant's result in a bite.json (aarya_chaos/bite/matrix.py)

A control names the checks it asserts; one listed here that does not assert the row's check is marked (its
run is expected to fail the check too, but the control bites on the others), and so is a mutant whose
`expect_failed` does not list it.
"""

from __future__ import annotations

import ast
import functools
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from reports.claim_rows import CLAIMS, Claim

__all__ = ["CLAIMS", "Claim", "bite_path", "control_asserts", "function_source", "html_section", "load_bite",
           "markdown", "mutant_declares"]

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BITE = Path("reports/bite/bite.json")  # aarya-chaos bite's default --reports-dir, from the project root
REGENERATE = "python -m reports.claims > docs/claims.md"


# -- what the evidence says ------------------------------------------------------------------------------------


def asserted(claim: Claim) -> bool:
    """Shown failing by a unit test, a control that asserts it, or a mutant that declares it."""
    return bool(claim.unit_tests or any(control_asserts(c, claim.check) for c in claim.controls)
                or any(mutant_declares(m, claim.check) for m in claim.mutants))


@functools.cache
def function_source(node: str) -> str | None:
    """The source of the test function a node id (`path.py::name`, relative to the project) names; None when
    the file or the function is not there."""
    path, _, name = node.partition("::")
    try:
        text = (ROOT / path).read_text(encoding="utf-8")
        tree = ast.parse(text)
    except (OSError, SyntaxError):
        return None
    found = (ast.get_source_segment(text, item) for item in tree.body
             if isinstance(item, ast.FunctionDef) and item.name == name)
    return next(found, None)


def control_asserts(control: str, check: str) -> bool:
    """Whether the control test names the check (the checks it asserts the scenario fails)."""
    return f'"{check}"' in (function_source(control) or "")


def mutant_declares(mutant: str, check: str) -> bool:
    """Whether the mutant's `expect_failed` lists the check."""
    from aarya_chaos.bite.catalogue import by_id  # when needed: the report does not load the bite package

    found = by_id().get(mutant)
    return found is not None and check in found.expect_failed


def _test_name(node: str) -> str:
    return node.partition("::")[2]


def _unit_label(node: str) -> str:
    return node.removeprefix("tests/unit/")


# -- docs/claims.md ----------------------------------------------------------------------------------------------

INTRO = """A check that cannot fail proves nothing. Every claim the scenarios judge is one check (a
`checks.verdict.Check`, by its name in the report), and each row below says what shows it able to fail:
a **negative control**, a scenario test that skips the recovery or breaks a mitigation and must miss its checks
(`scenarios/<file>.py`, named `test_<scenario>_control_<what>`); a **bite mutant**, a realistic regression of the
stack that a scenario must catch (`aarya_chaos/bite/catalogue.py`, run by `aarya-chaos bite`); or a **unit test**
over a literal history or literal inputs where the check fails (`tests/unit/`). The scenarios column gives the
runbook sections that judge the check ("all": the standard checks every scenario has). A control marked † does
not assert that check: its run is expected to fail it too, but the control bites on the checks it does assert;
a mutant marked ‡ does not list the check in its `expect_failed`. The HTML report (reports/html.py) shows the
same rows with whether each control bit in that run and each mutant's result in the last `reports/bite/bite.json`."""


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_list(items: Sequence[str]) -> str:
    return ", ".join(items) or "—"


def _md_row(c: Claim) -> str:
    controls = [f"`{_test_name(n)}`" + ("" if control_asserts(n, c.check) else "†") for n in c.controls]
    mutants = [f"`{m}`" + ("" if mutant_declares(m, c.check) else "‡") for m in c.mutants]
    units = [f"`{_unit_label(n)}`" for n in c.unit_tests]
    cells = (f"`{c.check}`", ", ".join(c.scenarios), _md(c.claims), _md_list(controls), _md_list(mutants),
             _md_list(units))
    return "| " + " | ".join(cells) + " |"


def _md_items(claims: Sequence[Claim]) -> list[str]:
    return [f"- `{c.check}` ({', '.join(c.scenarios)}): {c.claims}" for c in claims] or ["- none"]


def markdown() -> str:
    """The page docs/claims.md (regenerate it with `python -m reports.claims > docs/claims.md`)."""
    lines = ["# Claims, and what shows each one failing", "",
             f"<!-- generated by reports/claims.py: `{REGENERATE}`; tests/unit/test_claims.py fails when stale -->",
             "", INTRO, "",
             "| check | scenarios | claims | shown failing by: control | bite mutant | unit test |",
             "|---|---|---|---|---|---|", *(_md_row(c) for c in CLAIMS), "",
             "## Not yet shown failing", "",
             "No control, mutant or unit test shows these failing yet (SQL over the live stores, or a comparison "
             "written inline in its scenario):",
             "", *_md_items([c for c in CLAIMS if not c.shown]), "",
             "## Shown failing only where it is not asserted", "",
             "Only a control that does not assert them (†) or a mutant that does not declare them (‡) stands for "
             "these: those runs are expected to fail them, but nothing requires it.", "",
             *_md_items([c for c in CLAIMS if c.shown and not asserted(c)])]
    return "\n".join(lines) + "\n"


# -- the HTML report's section ---------------------------------------------------------------------------------

BADGE = {"killed": "v-pass", "survived": "v-fail", "error": "v-error", "skipped": "v-skipped"}


def bite_path(summary_path: Path) -> Path | None:
    """The bite.json beside the reports directory (`<reports>/../bite/bite.json`), else the default one."""
    for candidate in (summary_path.resolve().parent.parent / "bite" / "bite.json", DEFAULT_BITE.resolve()):
        if candidate.is_file():
            return candidate
    return None


def load_bite(path: Path | None) -> Mapping[str, Any] | None:
    """bite.json as written by aarya_chaos/bite/matrix.py; None when missing or unreadable."""
    if path is None:
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _control_records(summary: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """This run's control records by test name (the last directory of their `artifacts`)."""
    return {Path(str(r.get("artifacts") or "")).name: r for r in summary.get("scenarios") or []
            if r.get("control") is not None}


def _judged(record: Mapping[str, Any], check: str) -> str:
    passed = {c.get("name"): c.get("passed") for c in record.get("checks") or []}
    if check not in passed:
        return ' <span class="muted">(this check not judged)</span>'
    return ' <span class="muted">(this check held)</span>' if passed[check] else ""


Escape = Callable[[object], str]


def _control_cell(claim: Claim, records: Mapping[str, Mapping[str, Any]], esc: Escape) -> str:
    parts = []
    for node in claim.controls:
        name = _test_name(node)
        mark = "" if control_asserts(node, claim.check) else "†"
        record = records.get(name)
        if record is None:
            state = '<span class="muted">– not run</span>'
        elif record.get("verdict") == "pass":
            state = '<span class="ok">✓ bit</span>' + _judged(record, claim.check)
        else:
            state = f'<span class="bad">✗ did not bite ({esc(record.get("verdict"))})</span>'
        parts.append(f"<code>{esc(name)}</code>{mark} {state}")
    return "<br>".join(parts) or "—"


def _mutant_cell(claim: Claim, results: Mapping[str, Mapping[str, Any]] | None, esc: Escape) -> str:
    parts = []
    for mutant in claim.mutants:
        mark = "" if mutant_declares(mutant, claim.check) else "‡"
        found = None if results is None else results.get(mutant)
        if found is None:
            state = '<span class="muted">–</span>' if results is None else '<span class="muted">– not run</span>'
        else:
            result = str(found.get("result"))
            other = result == "killed" and claim.check not in (found.get("failed_checks") or [])
            state = (f'<span class="badge {BADGE.get(result, "v-error")}">{esc(result)}</span>'
                     + (' <span class="muted">(by other checks)</span>' if other else ""))
        parts.append(f"<code>{esc(mutant)}</code>{mark} {state}")
    return "<br>".join(parts) or "—"


def html_section(summary: Mapping[str, Any], bite: Mapping[str, Any] | None) -> str:
    """The claims table for the HTML report: per control whether it bit in `summary` (a control record whose
    verdict is pass bit), per mutant its result in `bite` (a bite.json) when given."""
    from reports.html import esc  # the report's escaping (reports.html imports this module)

    records = _control_records(summary)
    results = None if bite is None else {str(m.get("id")): m for m in bite.get("mutants") or []}
    source = ("no bite.json found: mutants not shown" if bite is None else
              f"mutants from bite.json of run {esc((bite.get('run') or {}).get('id'))}")
    rows = "".join(
        f"<tr><td><code>{esc(c.check)}</code></td><td>{esc(', '.join(c.scenarios))}</td><td>{esc(c.claims)}</td>"
        f"<td>{_control_cell(c, records, esc)}</td><td>{_mutant_cell(c, results, esc)}</td>"
        f"<td>{'<br>'.join(f'<code>{esc(_unit_label(n))}</code>' for n in c.unit_tests) or '—'}</td></tr>"
        for c in CLAIMS)
    missing = [c.check for c in CLAIMS if not c.shown]
    return (f'<p class="muted">Each claim (check) and what shows it able to fail (docs/claims.md): the controls of '
            f"this run (✓ bit, ✗ did not bite, – not run; † the control does not assert this check), {source} "
            f"(‡ not in its expect_failed), and unit tests over literal histories. {len(CLAIMS)} claims; "
            f"{len(missing)} not yet shown failing: {esc(', '.join(missing) or 'none')}.</p>"
            "<table><tr><th>check</th><th>scenarios</th><th>claims</th><th>control (this run)</th>"
            f"<th>bite mutant</th><th>unit test</th></tr>{rows}</table>")


def main() -> None:
    sys.stdout.write(markdown())


if __name__ == "__main__":
    main()
