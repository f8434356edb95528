#!/bin/sh
# The entrypoint of aarya-chaos/postgres: the part of the official postgres image's contract the stack uses.
#   POSTGRES_PASSWORD (required on first start), POSTGRES_USER (default postgres), POSTGRES_DB (default
#   POSTGRES_USER), POSTGRES_INITDB_ARGS, PGDATA; on the first start of an empty PGDATA: initdb, then every
#   /docker-entrypoint-initdb.d/*.sh (sourced) and *.sql (psql) against a server on the socket only.
set -eu

if [ "${1#-}" != "$1" ]; then
    set -- postgres "$@"
fi

if [ "$1" = postgres ] && [ "$(id -u)" = 0 ]; then
    mkdir -p "$PGDATA" /var/run/postgresql
    chown postgres:postgres "$PGDATA" /var/run/postgresql
    chmod 700 "$PGDATA"
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [ "$1" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
    : "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required to initialise the database}"
    export POSTGRES_USER="${POSTGRES_USER:-postgres}"
    pwfile="$(mktemp)"
    printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
    # shellcheck disable=SC2086
    initdb -D "$PGDATA" -U "$POSTGRES_USER" --pwfile="$pwfile" --auth-local=trust \
        --auth-host=scram-sha-256 --encoding=UTF8 --locale=C ${POSTGRES_INITDB_ARGS:-}
    rm -f "$pwfile"
    pg_ctl -D "$PGDATA" -w -o "-c listen_addresses='' -c archive_mode=off" start
    export PGUSER="$POSTGRES_USER"
    database="${POSTGRES_DB:-$POSTGRES_USER}"
    if [ "$database" != postgres ]; then
        psql -X -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE \"$database\""
    fi
    for f in /docker-entrypoint-initdb.d/*; do
        case "$f" in
            *.sh)  echo "docker-entrypoint.sh: running $f"; . "$f" ;;
            *.sql) echo "docker-entrypoint.sh: running $f"; psql -X -v ON_ERROR_STOP=1 -d "$database" -f "$f" ;;
            *)     ;;
        esac
    done
    pg_ctl -D "$PGDATA" -m fast -w stop
    echo "docker-entrypoint.sh: database initialised"
fi

exec "$@"
