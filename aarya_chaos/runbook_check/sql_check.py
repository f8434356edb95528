"""Checking SQL: static problems, then against the live PostgreSQL (read-only, or only PREPAREd)."""

from __future__ import annotations

import re
from typing import Any

from aarya_chaos.runbook_check.context import Context
from aarya_chaos.runbook_check.report import CommandCheck
from aarya_chaos.runbook_check.shell import shorten
from aarya_chaos.runbook_check.sql import (SAFE_VOLATILE, SIDE_EFFECT_FUNCTIONS, SqlStatement, classify_sql,
                                           pg_prefix_hint, split_sql)
from aarya_chaos.runbook_check.sql_static import static_sql_problems

SQL_TIMEOUT_MS = 5000


def rows_summary(names: list[str], rows: list[tuple[Any, ...]], total: int) -> str:
    if total == 0:
        return "0 rows"
    first = ", ".join(f"{n}={shorten(str(v), 40)}" for n, v in zip(names, rows[0]))
    return f"{total} row{'s' if total != 1 else ''}: {first}" if total == 1 else f"{total} rows; first: {first}"


def check_sql(check: CommandCheck, sql_text: str, database: str | None, ctx: Context) -> None:
    statements = split_sql(sql_text)
    if not statements:
        check.add("fails", "psql -c with no SQL in it")
        return
    for text in statements:
        st = classify_sql(text)
        label = f"`{shorten(text, 40)}`: " if len(statements) > 1 else ""
        suspicious = [f for f in st.functions if f"pg_{f}" in SIDE_EFFECT_FUNCTIONS]
        if st.category == "meta":
            check.add("not runnable", f"{label}psql meta-command, not SQL")
            continue
        problems = static_sql_problems(st)
        needs = f"needs a value for {', '.join(st.placeholders)}" if st.placeholders else ""
        if ctx.live is None or not ctx.live.running.get("postgres"):
            for problem in problems:
                check.add("fails", label + problem)
            if problems:
                continue
            why = ctx.static_reason() if ctx.live is None else "PostgreSQL is not running"
            ctx.missed("SQL statements not run or validated against PostgreSQL")
            if st.category == "read" and not st.side_effects and not suspicious:
                check.add("dry-run", f"{label}read-only {st.verb}; not run ({why})" + (f"; {needs}" if needs else ""))
            else:
                what = "; ".join(st.side_effects) or f"{st.verb} ({st.category})"
                check.add("dry-run", f"{label}side effects: {what}; not validated ({why})" + (f"; {needs}" if needs else ""))
            continue
        check_sql_live(check, st, label, database, ctx, problems, suspicious, needs)


def check_sql_live(check: CommandCheck, st: SqlStatement, label: str, database: str | None, ctx: Context,
                    problems: list[str], suspicious: list[str], needs: str) -> None:
    import psycopg

    assert ctx.live is not None
    db = database or ctx.config.postgres.database
    where = f" (database {db})" if database else ""
    try:
        conn = psycopg.connect(ctx.live.pg_conninfo(db), autocommit=True)
    except psycopg.Error as exc:
        check.add("fails", f"{label}cannot connect to database {db!r}: {str(exc).strip().splitlines()[0]}")
        return
    try:
        volatile: list[str] = []
        if st.functions:
            rows = conn.execute(b"SELECT DISTINCT proname FROM pg_proc WHERE provolatile = 'v' "
                                b"AND proname = ANY(%s)", (list(st.functions),)).fetchall()
            volatile = [r[0] for r in rows if r[0] not in SAFE_VOLATILE and r[0] not in SIDE_EFFECT_FUNCTIONS]
        effects = list(st.side_effects) + [f"{f}(): volatile, may change state" for f in volatile]
        runnable = st.category == "read" and not effects and not suspicious and not st.placeholders
        conn.execute(b"BEGIN READ ONLY")
        conn.execute(f"SET LOCAL statement_timeout = {SQL_TIMEOUT_MS}".encode())
        conn.execute(b"SET LOCAL lock_timeout = 1000")
        try:
            if runnable:
                cursor = conn.execute(st.text.encode())
                names = [c.name for c in cursor.description or []]
                rows_all = cursor.fetchmany(1000) if cursor.description else []
                check.add("ok", f"{label}ran read-only{where}, statement_timeout {SQL_TIMEOUT_MS // 1000}s: "
                                f"{rows_summary(names, rows_all[:1], len(rows_all))}")
            elif st.verb in ("SELECT", "WITH", "VALUES", "TABLE", "INSERT", "UPDATE", "DELETE", "MERGE"):
                text, _ = st.parameterised()
                conn.execute(f"PREPARE aarya_runbook_check AS {text}".encode())
                conn.execute(b"DEALLOCATE aarya_runbook_check")
                what = "; ".join(effects) or f"{st.verb} writes ({st.category})"
                if st.category == "read" and not effects:
                    what = f"read-only {st.verb}"
                check.add("dry-run", f"{label}validated with PREPARE{where}, not executed: {what}"
                                     + (f"; {needs}" if needs else ""))
            else:
                for problem in problems:  # the server only judges what runs or PREPAREs
                    check.add("fails", label + problem)
                check.add("dry-run", f"{label}{st.verb} is a utility statement: not validated, not run")
        except psycopg.Error as exc:
            check.add("fails", label + postgres_error_text(exc, st, conn))
        finally:
            conn.execute(b"ROLLBACK")
    finally:
        conn.close()


def postgres_error_text(exc: Exception, st: SqlStatement, conn: Any) -> str:
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) or str(exc).strip().splitlines()[0]
    text = f"PostgreSQL: {primary}"
    match = re.search(r"function (\w+)\(", primary)
    if match:
        conn.execute(b"ROLLBACK")
        conn.execute(b"BEGIN READ ONLY")
        names = {r[0] for r in conn.execute(b"SELECT DISTINCT proname FROM pg_proc").fetchall()}
        hint = pg_prefix_hint(match.group(1), names)
        if hint:
            text += f" ({hint})"
    elif getattr(diag, "message_hint", None):
        text += f" (hint: {diag.message_hint})"  # type: ignore[union-attr]
    return text
