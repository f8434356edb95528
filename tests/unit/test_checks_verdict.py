"""checks.verdict: named checks, None as "not measured", and their conjunction."""

from __future__ import annotations

from checks.verdict import Check, at_least, at_most, equals, evaluate


def test_at_most() -> None:
    assert at_most("rto_s", 7.5, 120) == Check("rto_s", True, 7.5, 120, "7.5 <= 120")
    assert at_most("rto_s", 120, 120).passed
    assert at_most("rto_s", 120.5, 120) == Check("rto_s", False, 120.5, 120, "120.5 > 120")
    assert at_most("rto_s", None, 120) == Check("rto_s", False, None, 120, "not measured")
    assert not at_most("rto_s", float("nan"), 120).passed


def test_at_least() -> None:
    assert at_least("success_rate", 0.99, 0.95) == Check("success_rate", True, 0.99, 0.95, "0.99 >= 0.95")
    assert at_least("success_rate", 0.95, 0.95).passed
    assert at_least("success_rate", 0.5, 0.95) == Check("success_rate", False, 0.5, 0.95, "0.5 < 0.95")
    assert at_least("success_rate", None, 0.95).detail == "not measured"


def test_equals() -> None:
    assert equals("lost_writes", 0, 0) == Check("lost_writes", True, 0, 0, "0 == 0")
    assert equals("lost_writes", 3, 0) == Check("lost_writes", False, 3, 0, "3 != 0")
    assert equals("ids", ("a",), ("a",)).passed
    assert equals("anything", None, None) == Check("anything", False, None, None, "not measured")


def test_evaluate_returns_the_conjunction_and_the_failing_checks_in_order() -> None:
    good, slow, lost = at_most("rto_s", 7.5, 120), at_most("mttd_s", None, 30), equals("lost", 2, 0)
    assert evaluate([good, slow, lost]) == (False, [slow, lost])
    assert evaluate([good]) == (True, [])
    assert evaluate([]) == (True, [])


def test_a_hand_made_check_reads_like_the_claim() -> None:
    rto = 7.5
    check = Check("rto_under_target", rto <= 120, rto, 120)
    assert evaluate([check]) == (True, []) and check.detail == ""
