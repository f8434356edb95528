"""What is wrong with a SQL statement without asking a server: balance, misspelt functions, and names of
settings and catalog relations that PostgreSQL 15 does not have (the lists in pg_catalog.json)."""

from __future__ import annotations

import difflib
import re

from aarya_chaos.runbook_check.pg_catalog import known_relations, known_settings, postgres_version
from aarya_chaos.runbook_check.sql import KNOWN_PG_FUNCTIONS, SqlStatement, code_without_literals

_NAME = r"([A-Za-z_][\w$]*(?:\.[A-Za-z_][\w$]*)?)"
# Where a statement names a setting; the words after SHOW/SET that are syntax, not settings, are skipped.
_SETTING_PLACES = [
    re.compile(rf"^\s*SHOW\s+{_NAME}", re.I),
    re.compile(rf"^\s*(?:SET|RESET)\s+(?:SESSION\s+|LOCAL\s+)?{_NAME}", re.I),
    re.compile(rf"\bALTER\s+SYSTEM\s+(?:SET|RESET)\s+{_NAME}", re.I),
    re.compile(rf"\bALTER\s+(?:DATABASE|ROLE|USER)\s+\S+(?:\s+IN\s+DATABASE\s+\S+)?\s+(?:SET|RESET)\s+{_NAME}", re.I),
]
_SETTING_CALL = re.compile(r"\b(?:current_setting|set_config)\s*\(\s*'([^']+)'", re.I)
_NOT_SETTINGS = {"all", "time", "transaction", "session", "schema", "names", "role", "constraints", "xml", "local",
                 "authorization", "characteristics"}
# A relation in a FROM list or after JOIN (not a function call: `FROM pg_stat_get_activity(NULL)`).
_RELATION = re.compile(r"(?:\bFROM|\bJOIN|,)\s*((?:pg_catalog\.|information_schema\.)?[A-Za-z_]\w*)(?=\s*(?:$|[\s,;)]))",
                       re.I)


def static_sql_problems(statement: SqlStatement) -> list[str]:
    code = code_without_literals(statement.text)
    problems: list[str] = []
    if code.count("(") != code.count(")"):
        problems.append("unbalanced parentheses")
    if code.count("'") % 2:
        problems.append("unterminated string literal")
    for name in statement.functions:
        if name not in KNOWN_PG_FUNCTIONS and f"pg_{name}" in KNOWN_PG_FUNCTIONS:
            problems.append(f"function {name}() does not exist in PostgreSQL; did you mean pg_{name}()?")
    major = postgres_version().split(".")[0]
    problems += [f'unrecognized configuration parameter "{name}" in PostgreSQL {major}'
                 f"{_did_you_mean(name, known_settings())}" for name in unknown_settings(statement.text)]
    problems += [f'relation "{name}" does not exist in PostgreSQL {major}\'s catalog'
                 f"{_did_you_mean(name, known_relations())}" for name in unknown_catalog_relations(statement.text)]
    return problems


def setting_names(sql: str) -> list[str]:
    """The settings a statement shows, sets, resets or reads with current_setting(), in order, once each."""
    code = code_without_literals(sql)
    found = [m.group(1) for place in _SETTING_PLACES for m in place.finditer(code)]
    found += [m.group(1) for m in _SETTING_CALL.finditer(sql)]
    return list(dict.fromkeys(n.lower() for n in found if n.lower() not in _NOT_SETTINGS))


def unknown_settings(sql: str) -> list[str]:
    """Setting names PostgreSQL 15 does not have; dotted names (an extension's, or custom) are not judged."""
    known = known_settings()
    return [name for name in setting_names(sql) if "." not in name and name not in known]


def unknown_catalog_relations(sql: str) -> list[str]:
    """pg_* relations, and relations of pg_catalog or information_schema, that PostgreSQL 15 does not have."""
    known = known_relations()
    names = dict.fromkeys(m.group(1).lower() for m in _RELATION.finditer(code_without_literals(sql)))
    catalog = [n for n in names if n.startswith(("pg_", "pg_catalog.", "information_schema."))]
    return [n for n in catalog if n not in known]


def _did_you_mean(name: str, known: frozenset[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.8)
    return f" (did you mean {close[0]}?)" if close else ""
