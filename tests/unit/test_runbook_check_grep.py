"""grep patterns as GNU grep reads them: the translation to Python's re agrees with the real grep."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from aarya_chaos.runbook_check.grep import alternatives, compile_grep, parse_grep, translate
from tests.helpers.runbook_check import dry_run_check

LINES = [
    "timeout", "timed out", "timeout|timed out", "a|b", "a", "b", "slow consumer", "lagging", "behind",
    "127.0.0.1 - - upstream=10.0.0.7:21010", "x+y", "xxy", "x?y", "xy", "ab{2}", "abb", "(a)", "a.b", "axb",
    "ERROR: out of memory", "OOM killer", "Killed process 42", "word", "words", "sword", "^caret", "end$",
    "tab\there", "dollar$sign", "back\\slash", "[bracket]", "*star", "a*", "",
]
PATTERNS = [
    ("-i", "timeout|timed out"), ("-iE", "timeout|timed out"), ("", "slow\\|lag\\|behind"),
    ("-E", "slow\\|lag"), ("", "x+y"), ("-E", "x+y"), ("", "x\\+y"), ("", "x?y"), ("-E", "x?y"),
    ("", "ab{2}"), ("-E", "ab{2}"), ("", "ab\\{2\\}"), ("", "(a)"), ("-E", "(a)"), ("", "\\(a\\)"),
    ("", "a.b"), ("", "a\\.b"), ("-i", "out of memory\\|OOM\\|killed"),
    ("-E", "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}"), ("", "[[:digit:]]\\{1,3\\}\\."),
    ("-w", "word"), ("-x", "word"), ("", "^caret"), ("", "end$"), ("", "d$s"), ("", "a^b"), ("-E", "^\\^"),
    ("", "[[:space:]]"), ("", "[]]"), ("", "[^a-z]"), ("", "\\[bracket\\]"), ("", "*star"), ("-E", "a\\*"),
    ("", "back\\\\slash"), ("-F", "a|b"), ("", "\\<word\\>"), ("-E", "^(a|b)$"), ("", "^\\(a\\|b\\)$"),
    ("-E", "a{,2}b"), ("", "[.]"), ("-E", "[\\]"),
]


@pytest.mark.skipif(shutil.which("grep") is None, reason="needs GNU grep")
@pytest.mark.parametrize("flags, pattern", PATTERNS)
def test_translation_agrees_with_gnu_grep(flags: str, pattern: str) -> None:
    argv = ["grep", *([flags] if flags else []), pattern]
    regex, _ = compile_grep(parse_grep(argv))
    for line in LINES:
        real = subprocess.run([*argv[:1], "-q", *argv[1:]], input=line + "\n", text=True,
                              capture_output=True).returncode == 0
        assert bool(regex.search(line)) == real, f"grep {flags} {pattern!r} on {line!r}: grep says {real}"


def test_notes_name_operators_grep_reads_literally() -> None:
    assert translate("timeout|timed out", "bre")[1] == [
        "`|` is a literal character in a basic regex (grep without -E)"]
    assert translate("slow\\|lag\\|behind", "bre")[1] == []
    assert "literal `|` in an extended regex" in translate("a\\|b", "ere")[1][0]
    assert "`+` is a literal" in translate("[0-9]+", "bre")[1][0]
    assert translate("timeout|timed out", "ere")[1] == []


def test_grep_options() -> None:
    call = parse_grep(["grep", "-oE", "-e", "a", "--regexp=b", "-A3", "file"])
    assert (call.patterns, call.syntax, call.only_matching, call.files) == (["a", "b"], "ere", True, ["file"])
    assert parse_grep(["egrep", "x"]).syntax == "ere"
    assert parse_grep(["grep", "-ic", "x"]).count
    assert alternatives("sql\\|union\\|[|]\\|\\(a\\|b\\)", "bre") == ["sql", "union", "[|]", "\\(a\\|b\\)"]


def test_bad_patterns_are_rejected_like_grep_does() -> None:
    for argv in (["grep", "\\(a"], ["grep", "-E", "(a"], ["grep", "[a"], ["grep", "[[:nope:]]"]):
        with pytest.raises(re.error):
            compile_grep(parse_grep(argv))


def test_only_matching_ip_grep_counts_upstream_addresses_too() -> None:
    check = dry_run_check('docker logs aarya_api_gateway --tail=1000 | grep -oE '
                        '"[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}" | sort | uniq -c')
    assert check.result == "warning" and "awk '{print $1}'" in check.why


def test_failure_greps_that_match_successes() -> None:
    check = dry_run_check('docker logs aarya_core_platform --tail=1000 | grep "authentication\\|login\\|failed" | wc -l',
                        comment="Check authentication failures")
    assert check.result == "warning" and "'login' (1)" in check.why
    precise = dry_run_check('docker logs aarya_core_platform --tail=1000 | grep "authentication failed" | wc -l',
                          comment="Check authentication failures")
    assert precise.result == "dry-run"


def test_grep_fed_by_docker_ps_is_not_runnable_but_checked() -> None:
    check = dry_run_check("docker ps | grep postgres")
    assert check.result == "not runnable" and "compiles as a basic regex" in check.why
