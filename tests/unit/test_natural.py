"""aarya_chaos.natural: one natural sort for runbook ids and load user names."""

from __future__ import annotations

from aarya_chaos.natural import natural_key


def test_runbook_ids_sort_by_their_numbers() -> None:
    ids = ["10.1", "1.10", "5.2", "1.2", "1.9", "2", "1.2.1"]
    assert sorted(ids, key=natural_key) == ["1.2", "1.2.1", "1.9", "1.10", "2", "5.2", "10.1"]


def test_names_with_numbers_sort_by_their_numbers() -> None:
    names = ["w10", "w2", "prober", "w1", "scenario", "p123-7", "p123-10"]
    assert sorted(names, key=natural_key) == ["p123-7", "p123-10", "prober", "scenario", "w1", "w2", "w10"]


def test_numbers_are_never_compared_with_text() -> None:
    mixed = ["x", "1.x", "1.2", "", "3a", "a3", "007", "7"]
    ordered = sorted(mixed, key=natural_key)  # no TypeError
    assert ordered[0] == "" and ordered.index("1.2") < ordered.index("1.x") < ordered.index("3a") < ordered.index("a3")
    assert natural_key("1.10") == ("", 1, ".", 10, "")
    assert natural_key("abc") == ("abc",)


def test_the_key_is_stable_for_equal_numbers() -> None:
    assert sorted(["07", "7"], key=natural_key) == ["07", "7"]  # equal keys keep their order
    assert sorted(["7", "07"], key=natural_key) == ["7", "07"]
