"""The report's write-ledger block: figures, findings in red, unknowns resolved, the baseline."""

from __future__ import annotations

from reports.ledger_view import ledger_block


def test_the_ledger_block_shows_findings_and_the_baseline() -> None:
    record = {"ledger": {"writes_judged": 300, "lost": 2, "rpo_s": 1.5, "phantoms": 0,
                         "unknown_resolved": {"happened": 4, "did_not_happen": 1},
                         "examples": {"lost": ["o1", "o2"], "phantoms": []}},
              "baseline": {"ops": 12, "min_ops": 50, "thin": True}}
    page = ledger_block(record)
    assert '<span class="over">2</span>' in page and '<span class="">0</span>' in page
    assert "4 happened, 1 did not" in page and "12 load operations (too thin to compare with)" in page
    assert "o1" in page and "phantoms</strong>" not in page


def test_a_record_without_a_ledger_says_so() -> None:
    assert "no write ledger" in ledger_block({})
