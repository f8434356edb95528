"""SQL without a server: statements, what they do (read, write, side effects), placeholders, psql's options."""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal


# Functions with effects beyond the query (a READ ONLY transaction does not stop these).
SIDE_EFFECT_FUNCTIONS = {
    "pg_terminate_backend": "terminates server processes", "pg_cancel_backend": "cancels running queries",
    "pg_reload_conf": "reloads the server configuration", "pg_rotate_logfile": "rotates the server log",
    "pg_switch_wal": "switches to a new WAL file", "pg_create_restore_point": "writes a WAL restore point",
    "pg_backup_start": "starts a backup", "pg_backup_stop": "stops a backup", "pg_start_backup": "starts a backup",
    "pg_stop_backup": "stops a backup", "pg_promote": "promotes a standby", "pg_wal_replay_pause": "pauses replay",
    "pg_wal_replay_resume": "resumes replay", "pg_stat_reset": "resets statistics",
    "pg_stat_reset_shared": "resets statistics", "pg_stat_reset_single_table_counters": "resets statistics",
    "pg_stat_statements_reset": "resets statistics", "pg_drop_replication_slot": "drops a replication slot",
    "pg_create_physical_replication_slot": "creates a replication slot",
    "pg_create_logical_replication_slot": "creates a replication slot", "set_config": "changes a setting",
    "nextval": "advances a sequence", "setval": "sets a sequence", "pg_advisory_lock": "takes a lock",
    "pg_try_advisory_lock": "takes a lock", "pg_advisory_xact_lock": "takes a lock",
    "pg_advisory_unlock": "releases a lock", "pg_advisory_unlock_all": "releases locks",
    "lo_import": "writes a large object", "lo_export": "writes a server file", "lo_unlink": "deletes a large object",
    "pg_notify": "sends a notification", "pg_log_backend_memory_contexts": "writes to the server log",
    "pg_file_write": "writes a server file", "dblink": "runs SQL elsewhere", "dblink_exec": "runs SQL elsewhere",
    "txid_current": "assigns a transaction id", "pg_current_xact_id": "assigns a transaction id",
}
# Volatile but harmless: allowed in statements that run live.
SAFE_VOLATILE = {"random", "clock_timestamp", "timeofday", "gen_random_uuid", "pg_sleep", "setseed",
                 "pg_stat_get_activity", "pg_stat_get_backend_pid", "pg_ls_dir", "pg_stat_file",
                 "pg_current_wal_lsn", "pg_last_wal_replay_lsn", "pg_last_wal_receive_lsn",
                 "pg_control_checkpoint", "pg_control_system", "pg_blocking_pids", "pg_safe_snapshot_blocking_pids",
                 "pg_stat_get_numscans", "pg_stat_clear_snapshot", "pg_jit_available",
                 "pg_is_wal_replay_paused", "pg_get_wal_replay_pause_state", "pg_ls_waldir", "pg_ls_logdir",
                 "pg_ls_archive_statusdir", "pg_ls_tmpdir", "pg_read_file", "pg_read_binary_file",
                 "pg_database_size", "pg_relation_size", "pg_total_relation_size", "pg_table_size",
                 "pg_indexes_size", "pg_tablespace_size", "pg_walfile_name", "pg_wal_lsn_diff"}
# PostgreSQL functions a runbook may call, to suggest `pg_x` for a misspelt `x` without a server.
KNOWN_PG_FUNCTIONS = set(SIDE_EFFECT_FUNCTIONS) | SAFE_VOLATILE | {
    "pg_size_pretty", "pg_backend_pid", "pg_is_in_recovery", "pg_postmaster_start_time", "pg_conf_load_time",
    "pg_stat_get_db_numbackends", "pg_last_xact_replay_timestamp", "pg_get_userbyid", "pg_typeof",
    "pg_get_indexdef", "pg_get_viewdef", "pg_column_size", "pg_xact_commit_timestamp", "pg_current_logfile",
    "pg_settings_get_flags", "pg_ls_logicalsnapdir", "pg_replication_slot_advance", "pg_wal_replay_wait",
}
# Words followed by "(" that are not function calls.
_NOT_FUNCTIONS = {
    "in", "exists", "any", "all", "some", "values", "as", "over", "filter", "within", "cast", "row", "array",
    "coalesce", "nullif", "greatest", "least", "extract", "position", "substring", "trim", "overlay", "interval",
    "and", "or", "not", "on", "using", "from", "where", "select", "join", "by", "decimal", "numeric", "varchar",
    "char", "character", "timestamp", "timestamptz", "time", "bit", "varbit", "float", "into", "table", "with",
    "returning", "set", "is", "then", "else", "when", "case", "distinct", "partition", "group", "order", "limit",
    "offset", "having", "window", "lateral", "tablesample", "grouping", "cube", "rollup", "sets", "if", "only",
    "primary", "key", "unique", "check", "references", "foreign", "index", "default", "conflict", "do", "update",
    "delete", "insert", "union", "intersect", "except", "like", "ilike", "similar", "between", "escape", "to",
}
PLACEHOLDER = re.compile(r"<([A-Za-z][A-Za-z0-9_ -]*)>")


def split_sql(text: str) -> list[str]:
    """Statements of a SQL text, split at `;` outside strings, quoted names, dollar quotes and comments."""
    statements: list[str] = []
    start = 0
    i = 0
    while i < len(text):
        if text.startswith("--", i):
            end = text.find("\n", i)
            i = len(text) if end < 0 else end
            continue
        if text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = len(text) if end < 0 else end + 2
            continue
        c = text[i]
        if c in "'\"":
            end = i + 1
            while end < len(text):
                if text[end] == c and text[end + 1:end + 2] == c:
                    end += 2
                    continue
                if text[end] == c:
                    break
                end += 1
            i = end + 1
            continue
        dollar = re.match(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$", text[i:])
        if dollar:
            tag = dollar.group(0)
            end = text.find(tag, i + len(tag))
            i = len(text) if end < 0 else end + len(tag)
            continue
        if c == ";":
            statements.append(text[start:i])
            start = i + 1
        i += 1
    statements.append(text[start:])
    return [s.strip() for s in statements if code_without_literals(s).strip()]


def code_without_literals(sql: str) -> str:
    """The statement with string literals, quoted names and comments blanked (for keyword searches)."""
    sql = re.sub(r"--[^\n]*", " ", sql)
    sql = re.sub(r"/\*.*?\*/", " ", sql, flags=re.S)
    sql = re.sub(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$.*?\$\1\$", "''", sql, flags=re.S)
    sql = re.sub(r"'(?:[^']|'')*'", "''", sql)
    return sql


def sql_functions(sql: str) -> list[str]:
    """Names of the functions a statement calls (lower case, schema dropped), in order, once each."""
    code = code_without_literals(sql)
    code = re.sub(r'"(?:[^"]|"")*"', "x", code)
    code = PLACEHOLDER.sub("0", code)
    found: list[str] = []
    for match in re.finditer(r"(?<![\w.$])((?:[A-Za-z_]\w*\.)?[A-Za-z_]\w*)\s*\(", code):
        name = match.group(1).split(".")[-1].lower()
        before = code[:match.start()].rstrip().split()
        if name in _NOT_FUNCTIONS or (before and before[-1].lower() in ("into", "table", "join", "from", "update",
                                                                         "references", "on", "exists", "function",
                                                                         "procedure", "view", "as")):
            continue
        if name not in found:
            found.append(name)
    return found


@dataclass(frozen=True)
class SqlStatement:
    text: str
    verb: str  # first keyword, upper case
    category: Literal["read", "write", "utility", "meta"]
    side_effects: tuple[str, ...]  # "pg_terminate_backend: terminates server processes"
    functions: tuple[str, ...]
    placeholders: tuple[str, ...]

    def parameterised(self) -> tuple[str, int]:
        """The text with each distinct <placeholder> replaced by $1, $2... and how many there are."""
        names: list[str] = []

        def sub(match: re.Match[str]) -> str:
            if match.group(0) not in names:
                names.append(match.group(0))
            return f"${names.index(match.group(0)) + 1}"

        return PLACEHOLDER.sub(sub, self.text), len(names)


def classify_sql(text: str) -> SqlStatement:
    code = code_without_literals(text)
    words = re.findall(r"[A-Za-z_]+", code)
    verb = words[0].upper() if words else ""
    upper = [w.upper() for w in words]
    category: Literal["read", "write", "utility", "meta"]
    if text.lstrip().startswith("\\"):
        category = "meta"
    elif verb in ("SELECT", "WITH", "TABLE", "VALUES", "SHOW"):
        category = "read"
        if verb == "WITH" and {"INSERT", "UPDATE", "DELETE", "MERGE"} & set(upper):
            category = "write"
        if verb == "SELECT" and re.search(r"\bINTO\b", code, re.I) and not re.search(r"\bINSERT\b", code, re.I):
            category = "write"
        if re.search(r"\bFOR\s+(NO\s+KEY\s+)?(UPDATE|SHARE|KEY\s+SHARE)\b", code, re.I):
            category = "write"
    elif verb == "EXPLAIN":
        inner = re.sub(r"^\s*EXPLAIN\s*(\([^)]*\)|ANALYZE|VERBOSE|\s)*", "", text, flags=re.I)
        analyze = re.match(r"^\s*EXPLAIN\s*(\([^)]*ANALYZE[^)]*\)|ANALYZE)", text, re.I) is not None
        category = classify_sql(inner).category if analyze else "read"
    elif verb in ("INSERT", "UPDATE", "DELETE", "MERGE", "TRUNCATE", "COPY", "CALL", "DO"):
        category = "write"
    else:
        category = "utility"
    functions = tuple(sql_functions(text))
    effects = tuple(f"{f}(): {SIDE_EFFECT_FUNCTIONS[f]}" for f in functions if f in SIDE_EFFECT_FUNCTIONS)
    placeholders = tuple(dict.fromkeys(m.group(0) for m in PLACEHOLDER.finditer(text)))
    return SqlStatement(text, verb, category, effects, functions, placeholders)


def pg_prefix_hint(name: str, known: set[str]) -> str:
    """`did you mean ...` for a function name that does not exist."""
    if f"pg_{name}" in known:
        return f"did you mean pg_{name}()?"
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.8)
    return f"did you mean {close[0]}()?" if close else ""


@dataclass
class PsqlCall:
    commands: list[str]
    database: str | None
    user: str | None
    files: list[str]


def parse_psql(argv: Sequence[str]) -> PsqlCall:
    commands: list[str] = []
    files: list[str] = []
    database: str | None = None
    user: str | None = None
    positional: list[str] = []
    takes_value = {"-c": "c", "--command": "c", "-d": "d", "--dbname": "d", "-U": "U", "--username": "U",
                   "-f": "f", "--file": "f", "-h": "h", "--host": "h", "-p": "p", "--port": "p", "-v": "v",
                   "--set": "v", "--variable": "v", "-o": "o", "--output": "o", "-P": "P", "--pset": "P",
                   "-F": "F", "-R": "R", "-T": "T", "-L": "L"}
    i = 1
    while i < len(argv):
        arg = argv[i]
        i += 1
        key: str | None = None
        value = ""
        if arg.startswith("--") and "=" in arg:
            name, _, value = arg.partition("=")
            key = takes_value.get(name)
        elif arg in takes_value:
            key = takes_value[arg]
            if i < len(argv):
                value, i = argv[i], i + 1
        elif arg[:2] in takes_value and len(arg) > 2:
            key, value = takes_value[arg[:2]], arg[2:]
        elif arg.startswith("-"):
            continue
        else:
            positional.append(arg)
            continue
        if key == "c":
            commands.append(value)
        elif key == "d":
            database = value
        elif key == "U":
            user = value
        elif key == "f":
            files.append(value)
    if positional and database is None:
        database = positional[0]
    if len(positional) > 1 and user is None:
        user = positional[1]
    return PsqlCall(commands, database, user, files)
