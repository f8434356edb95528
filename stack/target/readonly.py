"""Is a ledger query read-only? A conservative check of the text, made when the profile is loaded: one
statement, starting with SELECT or WITH, naming no keyword or function that writes or locks. It can refuse a
harmless query (a column called `delete` must be quoted differently); it must never pass a writing one. The
engine should still run the query in a READ ONLY transaction."""

from __future__ import annotations

import re

KEYS_PLACEHOLDER = "%(keys)s"
WRITE_WORDS = frozenset({
    "INSERT", "UPDATE", "DELETE", "MERGE", "UPSERT", "TRUNCATE", "DROP", "ALTER", "CREATE", "GRANT", "REVOKE",
    "COPY", "CALL", "DO", "LOCK", "VACUUM", "ANALYZE", "REINDEX", "CLUSTER", "REFRESH", "COMMENT",
    "EXECUTE", "PREPARE", "LISTEN", "NOTIFY", "SET", "RESET", "INTO",
    # functions with effects
    "NEXTVAL", "SETVAL", "PG_TERMINATE_BACKEND", "PG_CANCEL_BACKEND", "PG_RELOAD_CONF", "PG_ADVISORY_LOCK",
    "PG_ADVISORY_XACT_LOCK", "LO_IMPORT", "LO_EXPORT", "LO_UNLINK", "DBLINK", "DBLINK_EXEC",
})
_COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)
_STRINGS = re.compile(r"'(?:[^']|'')*'")
_WORDS = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def read_only_problem(query: str) -> str | None:
    """Why `query` is not an acceptable read-only ledger query, or None if it is."""
    code = _STRINGS.sub("''", _COMMENTS.sub(" ", query))
    words = [w.upper() for w in _WORDS.findall(code)]
    if not words:
        return "is empty"
    if ";" in code:
        return "must be one statement, without ';'"
    if words[0] not in ("SELECT", "WITH"):
        return f"must start with SELECT or WITH (it starts with {words[0]})"
    writes = sorted(WRITE_WORDS.intersection(words))
    if writes:
        return f"must be read-only: it contains {', '.join(writes)}"
    if KEYS_PLACEHOLDER not in query:
        return f"must take the acknowledged keys as {KEYS_PLACEHOLDER} (e.g. WHERE key = ANY({KEYS_PLACEHOLDER}))"
    return None
