"""runbook-check's recorded knowledge: Redis's commands and config parameters, PostgreSQL 15's settings and
catalog relations, found wrong in a dry run."""

from __future__ import annotations

import pytest

from aarya_chaos.runbook_check.pg_catalog import known_relations, known_settings
from aarya_chaos.runbook_check.redis_table import config_parameters, recorded_spec
from aarya_chaos.runbook_check.report import CommandCheck
from aarya_chaos.runbook_check.sql import classify_sql
from aarya_chaos.runbook_check.sql_static import setting_names, static_sql_problems, unknown_catalog_relations
from tests.helpers.runbook_check import dry_run_check


def test_the_recorded_lists_hold_what_runbooks_use() -> None:
    assert {"max_connections", "statement_timeout", "work_mem", "is_superuser"} <= known_settings()
    assert {"pg_stat_activity", "pg_locks", "information_schema.tables", "pg_stat_statements"} <= known_relations()
    assert {"maxmemory", "maxmemory-policy", "appendonly"} <= config_parameters()
    spec, used = recorded_spec(["XINFO", "GROUPS", "s"])
    assert spec is not None and (spec.name, used, spec.arity) == ("XINFO GROUPS", 2, 3)


@pytest.mark.parametrize("sql, message", [
    ("SELECT count(*) FROM pg_stat_activty", 'relation "pg_stat_activty" does not exist in PostgreSQL 15\'s '
                                             "catalog (did you mean pg_stat_activity?)"),
    ("SELECT * FROM pg_locks l JOIN information_schema.tabels t ON true",
     'relation "information_schema.tabels" does not exist'),
    ("SHOW max_conections", 'unrecognized configuration parameter "max_conections" in PostgreSQL 15 '
                            "(did you mean max_connections?)"),
    ("SET statment_timeout = '5s'", '"statment_timeout"'),
    ("SET LOCAL statment_timeout TO 5000", '"statment_timeout"'),
    ("ALTER SYSTEM SET shared_bufers = '1GB'", '"shared_bufers"'),
    ("ALTER DATABASE aarya SET wrok_mem = '8MB'", '"wrok_mem"'),
    ("SELECT current_setting('wrok_mem')", '"wrok_mem"'),
])
def test_unknown_settings_and_relations_are_found_without_a_server(sql: str, message: str) -> None:
    problems = static_sql_problems(classify_sql(sql))
    assert any(message in p for p in problems), problems


@pytest.mark.parametrize("sql", [
    "SELECT count(*) FROM pg_stat_activity", "SHOW max_connections", "SHOW ALL", "SHOW TIME ZONE",
    "SET TIME ZONE 'UTC'", "SET LOCAL statement_timeout = 5000", "SET SESSION AUTHORIZATION app", "RESET ALL",
    "SET myapp.tenant = '7'", "ALTER SYSTEM RESET ALL", "SELECT * FROM pg_stat_get_activity(NULL)",
    "SELECT extract(epoch FROM now() - query_start) FROM pg_stat_activity", "SELECT * FROM orders, pg_locks",
    "SELECT 'FROM pg_nothing' AS text",
])
def test_known_names_and_syntax_are_not_findings(sql: str) -> None:
    assert static_sql_problems(classify_sql(sql)) == []


def test_names_are_read_where_postgresql_reads_them() -> None:
    assert setting_names("SET LOCAL lock_timeout = 1000") == ["lock_timeout"]
    assert setting_names("SELECT set_config('search_path', 'x', true), current_setting('TimeZone')") == [
        "search_path", "timezone"]
    assert unknown_catalog_relations("SELECT * FROM pg_catalog.pg_clas c, pg_foo") == ["pg_catalog.pg_clas", "pg_foo"]


def test_redis_config_parameters_and_commands_in_a_dry_run() -> None:
    check = dry_run_check("redis-cli CONFIG GET maxmemroy")
    assert check.result == "fails" and "CONFIG GET maxmemroy: no such config parameter (did you mean maxmemory?)" \
        in check.why
    assert dry_run_check("redis-cli CONFIG GET 'maxmemory*'").result == "dry-run"
    assert dry_run_check("redis-cli CONFIG GET MAXMEMORY-policy").result == "dry-run"
    assert "Redis refuses it" in dry_run_check("redis-cli CONFIG SET maxmemroy 1gb").why
    unknown = dry_run_check("redis-cli XNOPE a")
    assert unknown.result == "fails" and "unknown command or subcommand 'XNOPE'" in unknown.why


def test_dry_run_sql_findings_in_a_runbook_command() -> None:
    check: CommandCheck = dry_run_check('docker exec -it aarya_postgres psql -U postgres -c "SHOW max_conections;"')
    assert (check.kind, check.result) == ("sql", "fails")
