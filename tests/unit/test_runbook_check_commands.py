"""runbook-check's reading of markdown, shell, SQL, redis-cli, curl and python commands, without servers."""

from __future__ import annotations

from pathlib import Path

import pytest

from aarya_chaos.runbook_check.context import Context
from aarya_chaos.runbook_check.curl import CurlCall, check_curl, parse_curl
from aarya_chaos.runbook_check.engine import check_python
from aarya_chaos.runbook_check.markdown import CodeBlock, parse_markdown
from aarya_chaos.runbook_check.redis_check import parse_redis_cli
from aarya_chaos.runbook_check.redis_grammar import check_redis_grammar
from aarya_chaos.runbook_check.redis_table import recorded_spec
from aarya_chaos.runbook_check.report import CommandCheck, Finding
from aarya_chaos.runbook_check.shell import lex, split_commands, unwrap
from aarya_chaos.runbook_check.sql import classify_sql, parse_psql, split_sql, sql_functions
from aarya_chaos.runbook_check.sql_static import static_sql_problems
from stack.config import load_config
from tests.helpers.runbook_check import dry_run_check


# -- reading markdown and shell -----------------------------------------------------------------------


def test_sections_and_fences() -> None:
    text = "# Runbook\n## 1. Database\n### 1.2 Pool\n```bash\nls\n```\n### ---\n## 44.1 Streams\n~~~sql\nSELECT 1;\n~~~\n"
    blocks, structure = parse_markdown(text)
    assert [(b.section, b.lang, b.first_line, b.lines) for b in blocks] == [
        ("1.2", "bash", 5, ("ls",)), ("44.1", "sql", 10, ("SELECT 1;",))]
    assert structure[0] == "line 7: heading '### ---' has no title"
    assert "section 44.1" in structure[1] and "does not follow section 1" in structure[1]



def test_markdown_is_read_as_commonmark_reads_it() -> None:
    """Fences in a blockquote or a nested list are blocks, one in an HTML comment is not; lines stay as written."""
    text = ("# 1. Steps\n<!--\n```bash\nhidden\n```\n-->\n> ```bash\n> redis-cli ping\n> ```\n"
            "- a\n    - b\n        ```bash\n        ls\n        ```\n```sql\nSELECT 1;\n    ```\n```\n")
    blocks, structure = parse_markdown(text)
    assert [(b.section, b.lang, b.first_line, b.lines) for b in blocks] == [
        ("1", "bash", 8, ("redis-cli ping",)), ("1", "bash", 13, ("        ls",)),
        ("1", "sql", 16, ("SELECT 1;", "    ```"))]
    assert structure == []


def test_unclosed_blocks_and_headings_without_titles() -> None:
    blocks, structure = parse_markdown("## 2. A\n### \n```bash\nls\n\n")
    assert [(b.section, b.first_line, b.lines) for b in blocks] == [("2", 4, ("ls", ""))]
    assert structure == ["line 2: heading '###' has no title", "line 3: code block never closed"]

def test_split_commands_joins_continuations_quotes_and_heredocs() -> None:
    lines = (
        "# count them",
        'psql -c "',
        "SELECT 1;",
        '"',
        "",
        "curl -X POST \\",
        "    -d '{}' \\",
        "    $URL",
        "cat > /tmp/x << EOF",
        "Date: $(date)",
        "not a command | grep x",
        "EOF",
        "docker logs c --tail=5 |",
        "  grep -i error  # trailing comment",
    )
    commands = split_commands(CodeBlock("9.9", "bash", 100, lines))
    assert [(c.line, c.comment) for c in commands] == [(101, "count them"), (105, ""), (108, ""), (112, "")]
    assert commands[0].text == 'psql -c "\nSELECT 1;\n"'
    assert commands[1].text == "curl -X POST -d '{}' $URL"
    assert commands[2].heredoc == "Date: $(date)\nnot a command | grep x"
    assert commands[3].text == "docker logs c --tail=5 | grep -i error"


def test_lex_keeps_command_substitutions_in_one_word() -> None:
    pipelines = lex("./recover.sh /d/p_$(ls -t /d/p*.gz | head -1) && echo 'a | b' \"c\" 2>&1 | grep -c x")
    assert len(pipelines) == 2
    assert pipelines[0][0].argv == ["./recover.sh", "/d/p_$(ls -t /d/p*.gz | head -1)"]
    assert pipelines[1][0].argv == ["echo", "a | b", "c"]
    assert pipelines[1][1].argv == ["grep", "-c", "x"]


def test_unwrap_docker_exec() -> None:
    assert unwrap(["docker", "exec", "-it", "aarya_redis", "redis-cli", "ping"]) == (["redis-cli", "ping"], "aarya_redis")
    assert unwrap(["docker", "exec", "-e", "A=1", "-u", "root", "c", "ps"]) == (["ps"], "c")
    assert unwrap(["docker-compose", "exec", "-T", "commerce", "python", "-c", "1"]) == (["python", "-c", "1"], "commerce")
    assert unwrap(["sudo", "iptables", "-L"]) == (["iptables", "-L"], None)


# -- SQL -------------------------------------------------------------------------------------------


def test_split_sql_respects_strings_dollar_quotes_and_comments() -> None:
    text = "SELECT ';' AS x; -- a; comment\nDO $$ BEGIN PERFORM 1; END $$; SELECT 'it''s';"
    assert split_sql(text) == ["SELECT ';' AS x", "-- a; comment\nDO $$ BEGIN PERFORM 1; END $$", "SELECT 'it''s'"]


@pytest.mark.parametrize("sql, category, effects", [
    ("SELECT count(*) FROM pg_stat_activity", "read", ()),
    ("SHOW max_connections", "read", ()),
    ("SELECT pg_cancel_backend(42)", "read", ("pg_cancel_backend(): cancels running queries",)),
    ("SELECT pg_reload_conf()", "read", ("pg_reload_conf(): reloads the server configuration",)),
    ("SELECT * FROM orders FOR UPDATE", "write", ()),
    ("SELECT * INTO copy FROM orders", "write", ()),
    ("WITH gone AS (DELETE FROM outbox RETURNING id) SELECT count(*) FROM gone", "write", ()),
    ("EXPLAIN ANALYZE DELETE FROM orders", "write", ()),
    ("EXPLAIN DELETE FROM orders", "read", ()),
    ("DELETE FROM orders", "write", ()),
    ("VACUUM ANALYZE orders", "utility", ()),
    ("ALTER SYSTEM SET max_connections = 200", "utility", ()),
    ("\\dt", "meta", ()),
])
def test_classify_sql(sql: str, category: str, effects: tuple[str, ...]) -> None:
    statement = classify_sql(sql)
    assert (statement.category, statement.side_effects) == (category, effects)


def test_functions_found_are_calls_not_keywords_or_tables() -> None:
    sql = ("SELECT pid, now() - query_start AS d, coalesce(x, 1) FROM pg_stat_activity "
           "WHERE pid IN (SELECT unnest(pg_blocking_pids(42))) AND query_start > interval '5 minutes'")
    assert sql_functions(sql) == ["now", "unnest", "pg_blocking_pids"]
    assert sql_functions("INSERT INTO t (a, b) VALUES (1, 2)") == []


def test_placeholders_become_parameters() -> None:
    statement = classify_sql("SELECT pg_terminate_backend(<blocking_pid>) WHERE <blocking_pid> > <min pid>")
    assert statement.placeholders == ("<blocking_pid>", "<min pid>")
    assert statement.parameterised() == ("SELECT pg_terminate_backend($1) WHERE $1 > $2", 2)


def test_static_sql_problems() -> None:
    assert static_sql_problems(classify_sql("SELECT cancel_backend(1)")) == [
        "function cancel_backend() does not exist in PostgreSQL; did you mean pg_cancel_backend()?"]
    assert static_sql_problems(classify_sql("SELECT (1")) == ["unbalanced parentheses"]
    assert static_sql_problems(classify_sql("SELECT 'x")) == ["unterminated string literal"]
    assert static_sql_problems(classify_sql("SELECT my_function(1)")) == []  # unknown: not judged statically


def test_psql_arguments() -> None:
    call = parse_psql(["psql", "-U", "postgres", "-d", "aarya", "-c", "SELECT 1", "--command=SELECT 2"])
    assert (call.commands, call.database, call.user) == (["SELECT 1", "SELECT 2"], "aarya", "postgres")
    assert parse_psql(["psql", "shop", "admin", "-f", "x.sql"]).database == "shop"


# -- Redis -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [
    "PING", "INFO memory", "INFO", "XLEN user_events", "XPENDING user_events content_services",
    "XPENDING user_events content_services - + 10", "XPENDING user_events g IDLE 9000 - + 10 consumer-1",
    "XREADGROUP GROUP g c COUNT 1000 STREAMS user_events >", "XREADGROUP GROUP g c STREAMS a b > >",
    "XTRIM user_events MAXLEN 50000", "XTRIM user_events MAXLEN ~ 50000 LIMIT 100", "XTRIM s MINID = 0-1",
    "CONFIG GET maxmemory-policy", "CONFIG GET maxmemory maxmemory-policy", "CONFIG SET maxmemory 1gb",
    "FLUSHDB", "FLUSHDB async", "DEL a b c", "EVAL return 1 0", "XINFO GROUPS user_events",
    "SCAN 0 MATCH cache:* COUNT 100", "MEMORY USAGE k SAMPLES 0", "SLOWLOG GET 10",
])
def test_valid_redis_commands(command: str) -> None:
    words = command.split()
    spec, used = recorded_spec(words)
    assert spec is not None
    assert check_redis_grammar(spec, words[used:]) == []


@pytest.mark.parametrize("command, message", [
    ("XREADGROUP STREAM user_events COUNT 1000", "expected GROUP at argument 1, got 'STREAM'"),
    ("XREADGROUP GROUP g c STREAMS a b >", "expected as many ids as keys"),
    ("XPENDING user_events - +", "the group is missing"),
    ("XPENDING user_events g - + ten", "expected count (an integer) at argument 5, got 'ten'"),
    ("XTRIM user_events 50000", "expected MAXLEN or MINID at argument 2"),
    ("XLEN a b", "XLEN takes exactly 1 argument(s), got 2"),
    ("FLUSHDB now", "expected ASYNC or SYNC at argument 1, got 'now'"),
    ("CONFIG GET", "needs at least 1 argument(s), got 0"),
    ("XINFO GROUPS", "XINFO GROUPS takes exactly 1 argument(s), got 0"),
])
def test_invalid_redis_commands(command: str, message: str) -> None:
    words = command.split()
    spec, used = recorded_spec(words)
    assert spec is not None
    problems = check_redis_grammar(spec, words[used:])
    assert any(message in p for p in problems), problems


def test_redis_cli_options_and_modes() -> None:
    assert parse_redis_cli(["redis-cli", "-h", "x", "-p", "1", "--raw", "INFO", "stats"]).words == ["INFO", "stats"]
    assert parse_redis_cli(["redis-cli", "--bigkeys"]).mode == "--bigkeys"
    assert parse_redis_cli(["redis-cli", "-n", "2", "--scan", "--pattern", "cache:*"]).mode == "--scan"


# -- curl, python, shell ---------------------------------------------------------------------------------


def test_curl_parsing() -> None:
    assert parse_curl(["curl", "-f", "http://localhost:8010/health"]) == CurlCall(
        "http://localhost:8010/health", "GET", True, [])
    call = parse_curl(["curl", "-X", "POST", "-H", "a: b", "-d", "{}", "$HOOK"])
    assert (call.url, call.method, call.fail) == ("$HOOK", "POST", False)
    assert parse_curl(["curl", "-sfI", "https://x/y"]).method == "HEAD"
    assert parse_curl(["curl", "-sf", "http://a"]).fail


def test_curl_ports_are_mapped_through_the_config(tmp_path: Path) -> None:
    shifted = load_config().with_port_offset(1200, run_dir=tmp_path)
    ctx = Context(shifted, None, "--dry-run")
    check = CommandCheck("3.2", 1, "curl", "curl")
    check_curl(check, ["curl", "-f", "http://localhost:8010/health"], ctx)
    assert check.findings == [Finding("dry-run", "GET http://127.0.0.1:9210/health (commerce at :9210 "
                                                    "(the runbook's :8010)); not sent (dry run)")]
    away = CommandCheck("8.1", 1, "curl", "curl")
    check_curl(away, ["curl", "-f", "https://api.yourdomain.com/health"], ctx)
    assert away.result == "not runnable" and "never contacted" in away.why
    nowhere = CommandCheck("8.1", 1, "curl", "curl")
    check_curl(nowhere, ["curl", "http://localhost:9999/"], ctx)
    assert nowhere.result == "fails" and "nothing of the stack listens on port 9999" in nowhere.why


def test_python_inline_code() -> None:
    check = CommandCheck("3.2", 1, "python", "python")
    check_python(check, ["python", "-c", "import os\nimport no_such_module_here\nprint(os.sep)"], "aarya_commerce")
    assert check.result == "warning" and "no_such_module_here" in check.why
    broken = CommandCheck("3.2", 1, "python", "python")
    check_python(broken, ["python", "-c", "print('x'"], None)
    assert broken.result == "fails" and "does not compile" in broken.why


def test_doubled_paths() -> None:
    full = dry_run_check("./scripts/recover.sh /data/backups/postgres_$(ls -t /data/backups/postgres*.sql.gz | head -1)")
    assert full.result == "fails" and "/data/backups/postgres_/data/backups/postgres_20240101_0300.sql.gz" in full.why
    base = dry_run_check("./r.sh /data/backups/postgres_$(ls -t /data/backups/postgres*.sql.gz | head -1 | xargs basename)")
    assert base.result == "fails" and "/data/backups/postgres_postgres_20240101_0300.sql.gz" in base.why
    fine = dry_run_check("./r.sh /data/backups/$(ls -t /data/backups | head -1)")
    assert fine.findings == []
    fine_base = dry_run_check("./r.sh /data/backups/$(ls -t /data/backups/*.gz | head -1 | xargs basename)")
    assert fine_base.findings == []


def test_compose_and_docker_hazards() -> None:
    assert dry_run_check("docker-compose up -d --scale commerce=2").result == "warning"
    assert dry_run_check("docker-compose up -d --scale commerce=1").findings == []
    assert "volume" in dry_run_check("docker system prune -af --volumes").why
    assert dry_run_check("docker system prune -af").findings == []
    assert dry_run_check("docker network rm net", later=("docker-compose down",)).result == "warning"
    assert dry_run_check("docker network rm net").findings == []


def test_grep_on_a_file_is_checked_but_not_run() -> None:
    check = dry_run_check('grep -i "a|b" /var/log/syslog')
    assert check.kind == "grep" and check.result == "fails"
