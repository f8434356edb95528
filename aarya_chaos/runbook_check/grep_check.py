"""Checking grep pipelines: each pattern as grep reads it, tried on the live logs or recorded sample lines."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass

from aarya_chaos.runbook_check.context import Context
from aarya_chaos.runbook_check.grep import GrepCall, alternatives, compile_grep, parse_grep
from aarya_chaos.runbook_check.live import container_map
from aarya_chaos.runbook_check.report import CommandCheck
from aarya_chaos.runbook_check.shell import Stage, quote_as_written, shorten

MAX_SAMPLE_LINES = 2000


# Lines recorded from the reference stack's logs, for trying grep patterns without a stack.
SAMPLE_LOGS: dict[str, list[str]] = {
    "api_gateway": [
        '127.0.0.1 - - [2026-11-28T16:00:12+00:00] "GET /api/v1/products?limit=20&offset=40 HTTP/1.1" 200 2311 '
        'rt=0.004 urt=0.004 upstream=127.0.0.1:21010 "-" "python-httpx/0.28.1" rid=f52393a548013952f5e18698fdcdba03',
        '127.0.0.1 - - [2026-11-28T16:00:12+00:00] "POST /api/v1/auth/login HTTP/1.1" 401 64 rt=0.121 urt=0.121 '
        'upstream=127.0.0.1:21004 "-" "python-httpx/0.28.1" rid=5c32dfc0ba56a193666e710c1b747cb0',
        '127.0.0.1 - - [2026-11-28T16:00:13+00:00] "GET /api/v1/cart HTTP/1.1" 502 77 rt=0.001 urt=0.001 '
        'upstream=127.0.0.1:21010 "-" "python-httpx/0.28.1" rid=d55cb727ed0cf9cec9f288a7b6364dfa',
    ],
    "commerce": [
        '{"time": "2026-11-28 15:59:58,992", "level": "INFO", "logger": "aarya.commerce", "message": "order placed", '
        '"service": "commerce", "order_id": "c18a4ba3-616b-4d84-83c8-60123076b2e5", "user_id": 114}',
        '{"time": "2026-11-28 15:59:37,726", "level": "ERROR", "logger": "aarya.db", "message": "postgres pool '
        'timeout: couldn\'t get a connection after 2.00 sec", "service": "commerce"}',
        '{"time": "2026-11-28 15:59:38,101", "level": "ERROR", "logger": "aarya.db", "message": "postgres statement '
        'timeout: canceling statement due to statement timeout", "service": "commerce"}',
    ],
    "core_platform": [
        '{"time": "2026-11-28 15:59:57,673", "level": "INFO", "logger": "aarya.core_platform", "message": '
        '"login succeeded", "service": "core_platform", "user_id": 113, "ip": "127.0.0.1"}',
        '{"time": "2026-11-28 15:59:57,901", "level": "WARNING", "logger": "aarya.core_platform", "message": '
        '"authentication failed: login failed for email=x@example.test ip=127.0.0.1 reason=bad_password", '
        '"service": "core_platform"}',
        '{"time": "2026-11-28 15:59:58,012", "level": "INFO", "logger": "aarya.core_platform", "message": '
        '"user registered", "service": "core_platform", "user_id": 117}',
    ],
    "content_services": [
        '{"time": "2026-11-28 15:59:38,482", "level": "ERROR", "logger": "aarya.content_services", "message": '
        '"consumer error: DependencyUnavailable: postgres unavailable", "service": "content_services"}',
        '{"time": "2026-11-28 15:57:01,100", "level": "INFO", "logger": "aarya.content_services", "message": '
        '"consumer vm-24489 starting on user_events, order_events, analytics_events", "service": "content_services"}',
    ],
    "redis": ["27007:M 28 Nov 2026 15:58:51.841 * Ready to accept connections",
              "27007:M 28 Nov 2026 15:58:51.841 * DB loaded from append only file: 0.001 seconds"],
    "postgres": ["2026-11-28 15:59:33.279 UTC [28801] LOG:  database system is ready to accept connections",
                 "2026-11-28 15:59:40.002 UTC [28855] FATAL:  terminating connection due to administrator command"],
}
SUCCESS_WORDS = re.compile(r"\b(succeeded|success(ful)?|registered|placed|paid)\b|\" 20\d ", re.I)
FAILURE_INTENT = re.compile(r"fail|error|denied|unauthori[sz]ed|invalid|reject", re.I)


TEXT_FILTERS = {"grep", "egrep", "fgrep", "sort", "uniq", "head", "tail", "wc", "cut", "awk", "tr", "sed"}


@dataclass
class Sample:
    lines: list[str]
    label: str  # "the last 100 lines of commerce's log"
    live: bool


def log_source(argv: list[str], ctx: Context) -> tuple[Sample | None, str]:
    """Sample lines for what feeds a grep: `docker logs CONTAINER [--tail N]`. (None, why) otherwise."""
    if argv[:2] != ["docker", "logs"]:
        return None, f"`{shorten(' '.join(argv), 40)}` is not a log source the checker can sample (only `docker logs CONTAINER` is)"
    tail_n: int | None = None
    container = None
    i = 2
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("--tail=") or arg.startswith("-n="):
            tail_n = int(arg.split("=", 1)[1]) if arg.split("=", 1)[1].isdigit() else None
        elif arg in ("--tail", "-n") and i + 1 < len(argv):
            tail_n = int(argv[i + 1]) if argv[i + 1].isdigit() else None
            i += 1
        elif arg in ("--since", "--until") and i + 1 < len(argv):
            i += 1
        elif not arg.startswith("-"):
            container = arg
        i += 1
    component = container_map(ctx.config).get(container or "")
    if component is None:
        return None, f"container {container!r} has no counterpart in the local stack"
    lines = tail_n or MAX_SAMPLE_LINES
    if ctx.live is not None:
        sample = ctx.live.log_sample(component, lines)
        which = "access log" if component == "api_gateway" else "log"
        return Sample(sample, f"the last {len(sample)} lines of {component}'s {which}", True), ""
    builtin = SAMPLE_LOGS.get(component)
    if not builtin:
        return None, f"no sample lines for {component}"
    return Sample(builtin, f"{len(builtin)} built-in sample lines of {component}'s log", False), ""


GREPS = ("grep", "egrep", "fgrep")
SYNTAX_NAMES = {"bre": "basic regex", "ere": "extended regex (-E)", "fixed": "fixed string (-F)",
                "perl": "Perl regex (-P)"}


class GrepRejected(Exception):
    """A grep that cannot run at all (the check already says why): the rest of the pipeline is not tried."""


def check_grep_pipeline(check: CommandCheck, stages: list[Stage], start: int, sample: Sample | None,
                        source_why: str, ctx: Context, comment: str) -> None:
    """Every grep stage from `start` on: its pattern as grep reads it, tried on the sample lines."""
    lines = list(sample.lines) if sample is not None else None
    for stage in stages[start:]:
        program = os.path.basename(stage.argv[0]) if stage.argv else ""
        if program not in GREPS:
            if lines is not None and program not in TEXT_FILTERS:
                lines = None
            continue
        try:
            lines = check_grep_stage(check, stage.argv, lines, sample, source_why, comment)
        except GrepRejected:
            return
    if sample is None:
        return
    if not sample.live:
        ctx.missed("greps tried on built-in sample lines instead of the live logs")
        check.add("dry-run", f"tried on built-in sample lines, not the live log ({ctx.static_reason()})")
        return
    run_pipeline_on_sample(check, stages, start, sample)


def check_grep_stage(check: CommandCheck, argv: list[str], lines: list[str] | None, sample: Sample | None,
                     source_why: str, comment: str) -> list[str] | None:
    """One grep: its findings, and the lines it passes on (None when they are not known)."""
    call, regex, notes = _compile(check, argv)
    for problem in call.problems:
        check.add("not runnable", problem)
    shown = " / ".join(quote_as_written(p) for p in call.patterns)
    literal_bar = any("literal character in a basic regex" in n and "`|`" in n for n in notes)
    label = sample.label if sample else "the sample"
    if literal_bar:
        _report_literal_bar(check, call, regex, shown, lines, label)
    for note in notes:
        if not ("`|`" in note and literal_bar):
            check.add("warning", f"grep {shown}: {note}")
    if lines is None:
        check.add("not runnable", f"pattern {shown} compiles as a {SYNTAX_NAMES[call.syntax]}; "
                                  f"not tried on data: {source_why}")
        return None
    matched = [line for line in lines if bool(regex.search(line)) != call.invert]
    if not literal_bar:
        check.add("ok", f"pattern {shown} ({SYNTAX_NAMES[call.syntax]}) matches {len(matched)} of {len(lines)} "
                        f"lines ({label})")
    if call.only_matching and not call.invert:
        _warn_several_matches(check, call, regex, matched)
    if FAILURE_INTENT.search(comment) and not call.invert and not call.only_matching:
        _warn_successes(check, call, matched, comment)
    if call.only_matching:
        return [m.group(0) for line in matched for m in regex.finditer(line)]
    return None if call.count else matched


def _compile(check: CommandCheck, argv: list[str]) -> tuple[GrepCall, re.Pattern[str], list[str]]:
    call = parse_grep(argv)
    if not call.patterns:
        check.add("fails", "grep without a pattern")
        raise GrepRejected
    try:
        regex, notes = compile_grep(call)
    except re.error as exc:
        check.add("fails", f"grep rejects the pattern {call.patterns[0]!r}: {exc}")
        raise GrepRejected from None
    return call, regex, notes


def _report_literal_bar(check: CommandCheck, call: GrepCall, regex: re.Pattern[str], shown: str,
                        lines: list[str] | None, label: str) -> None:
    """`grep "a|b"`: a basic regex matching the text a|b, never a or b."""
    would = ""
    if lines is not None:
        hits = sum(1 for line in lines if regex.search(line))
        ere, _ = compile_grep(GrepCall(call.patterns, "ere", call.ignore_case, word=call.word, line=call.line))
        meant = sum(1 for line in lines if ere.search(line))
        would = f": on {label} it matches {hits} line(s), as `grep -E` it would match {meant}"
    check.add("fails", f"grep {shown} is a basic regex, where `|` is a literal character: it only matches "
                       f"the text {quote_as_written(call.patterns[0])} itself, never the alternatives{would}; "
                       f"use grep -E (or `\\|`)")


def _warn_several_matches(check: CommandCheck, call: GrepCall, regex: re.Pattern[str], matched: list[str]) -> None:
    """`grep -o` counting more than one match a line (an IP grep also counting upstream addresses)."""
    multi = [line for line in matched if len(regex.findall(line)) > 1]
    if not multi:
        return
    example = regex.findall(multi[0])
    ip_hint = " (the access log also carries upstream=ADDRESS:PORT: count clients with awk '{print $1}')" \
        if re.search(r"\d.*\\\.", "".join(call.patterns)) else ""
    check.add("warning", f"grep -o prints every match: {len(multi)} of {len(matched)} matching lines hold "
                         f"several ({', '.join(map(str, example[:3]))}), so the count includes more "
                         f"than one address or token per line{ip_hint}")


def _warn_successes(check: CommandCheck, call: GrepCall, matched: list[str], comment: str) -> None:
    """A grep the comment says finds failures that also matches successes; which alternatives do."""
    successes = [(line, found) for line in matched if (found := SUCCESS_WORDS.search(line))]
    if not successes:
        return
    branches = []
    for alternative in alternatives(call.patterns[0], call.syntax):
        try:
            part, _ = compile_grep(GrepCall([alternative], call.syntax, call.ignore_case))
        except re.error:
            continue
        n = sum(1 for line, _ in successes if part.search(line))
        if n:
            branches.append(f"{quote_as_written(alternative)} ({n})")
    first, word = successes[0]
    check.add("warning", f"the comment says {shorten(comment, 40)!r} but {len(successes)} of the "
                         f"{len(matched)} matching lines are successes (e.g. {shorten(word.group(0), 20)!r} in "
                         f"{shorten(first, 60)!r})" + (f", matched by {', '.join(branches)}" if branches else ""))


def run_pipeline_on_sample(check: CommandCheck, stages: list[Stage], start: int, sample: Sample) -> None:
    """The rest of the pipeline, with the real tools, on the sample lines: what the operator would see."""
    rest = stages[start:]
    for stage in rest:
        argv = stage.argv
        if not argv or os.path.basename(argv[0]) not in TEXT_FILTERS or stage.redirects or \
                any("$(" in w.raw or "`" in w.raw for w in stage.words) or \
                (argv[0] == "sed" and any(a.startswith("-i") for a in argv)):
            return
    command = " | ".join(" ".join(w.raw for w in stage.words) for stage in rest)
    try:
        result = subprocess.run(["bash", "-c", command], input="\n".join(sample.lines) + "\n", capture_output=True,
                                text=True, timeout=10)
    except subprocess.TimeoutExpired:
        return
    output = [line for line in result.stdout.splitlines() if line.strip()]
    shown = shorten(" ⏎ ".join(line.strip() for line in output[:3]), 100) if output else "(nothing)"
    check.add("ok", f"on those lines the pipeline prints: {shown}")
