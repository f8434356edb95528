"""`aarya-chaos runbook-check PATH.md`: check the commands of a markdown runbook, against the live stack.

    aarya-chaos runbook-check RUNBOOK.md [--live | --dry-run] [--stack local|docker] [--config TOML] [--all] [--json]

It reads the fenced code blocks of the runbook (markdown.py), splits them into shell commands
(shell.py) and checks each command it knows how to judge, one checker per kind:

    sql     (sql.py, sql_check.py) `psql ... -c "..."` (also inside `docker exec`) and ```sql blocks.
            Read-only statements run against the live PostgreSQL as the superuser inside a READ ONLY
            transaction with a statement_timeout, then roll back; anything else is only PREPAREd.
            Without a stack, unknown catalog relations and settings are found from PostgreSQL 15's lists.
    redis   (redis_grammar.py, redis_check.py) `redis-cli ...`: name, arity and argument grammar from
            the server's COMMAND INFO / COMMAND DOCS (a table recorded from redis-server without a
            stack). Reads run live; writes never do: they are described with the live server's
            figures and tried on a scratch redis-server (scratch.py) with the live streams mirrored.
    grep    (grep.py, grep_check.py) patterns translated from GNU grep's BRE/ERE, tried on the stack's
            logs when live, else on recorded sample lines.
    curl    (curl.py) GET/HEAD on localhost against the stack, ports mapped through the config.
    python  `python -c "..."`: compiled, imports looked up.
    shell   a few easy shell mistakes (engine.py).

Modes: `--live` needs a stack started by `aarya-chaos up` on either driver (live.py); `--dry-run` runs
static checks only and says what it could not check; the default is live when a stack is running, else
static. Exit status: 0 when nothing fails, 1 when a command fails, 2 for bad input or a missing stack
under `--live`.
"""

from __future__ import annotations

from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """The command line (imported on call, so importing the package stays cheap)."""
    from aarya_chaos.runbook_check.cli import main as run

    return run(argv)
