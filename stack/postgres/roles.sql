-- Roles and database of the aarya-chaos reference stack.
-- Run as the superuser against the maintenance database:
--     psql -X -v ON_ERROR_STOP=1 -d postgres -f roles.sql
-- Idempotent. The application database is called `aarya` and is owned by the app role `aarya`.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'aarya') THEN
        CREATE ROLE aarya LOGIN PASSWORD 'aarya';
    END IF;
END
$$;

-- Re-assert the attributes in case the role existed with others.
ALTER ROLE aarya WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD 'aarya';

-- CREATE DATABASE cannot run inside a DO block or function, so use psql's \gexec:
-- the statement is produced (and executed) only when the database does not exist yet.
SELECT 'CREATE DATABASE aarya OWNER aarya'
WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_database WHERE datname = 'aarya')
\gexec

ALTER DATABASE aarya OWNER TO aarya;
