# Sourced by the postgres image's entrypoint (aarya-chaos/postgres or the official image) on the first
# start of an empty cluster, with a server on the Unix socket only: the WAL archive directory, then the
# stack's roles, schema and seed (stack/postgres, mounted at /etc/aarya/sql).
mkdir -p /var/lib/postgresql/data/wal_archive
psql -X -q -v ON_ERROR_STOP=1 -U "${POSTGRES_USER:-postgres}" -d postgres -f /etc/aarya/sql/roles.sql
for script in schema.sql seed.sql; do
    psql -X -q -v ON_ERROR_STOP=1 -U "${POSTGRES_USER:-postgres}" -d aarya -f "/etc/aarya/sql/$script"
done
