"""reports.formatting: how the reports write a figure."""

from __future__ import annotations

from reports.formatting import fmt_s


def test_figures_get_fewer_decimals_as_they_grow() -> None:
    assert fmt_s(0) == "0 s" and fmt_s(0.0) == "0 s"
    assert fmt_s(0.0764) == "0.08 s"
    assert fmt_s(5.171) == "5.17 s"
    assert fmt_s(27.24) == "27.2 s"
    assert fmt_s(60) == "60 s" and fmt_s(60.0) == "60 s"
    assert fmt_s(120.6) == "121 s"
    assert fmt_s(-3.5) == "-3.50 s"
    assert fmt_s(25.0, " ms") == "25 ms" and fmt_s(4.006, "/s") == "4.01/s"


def test_what_is_not_a_number_is_a_dash() -> None:
    assert fmt_s(None) == "—" and fmt_s("12") == "—" and fmt_s(True) == "—"
