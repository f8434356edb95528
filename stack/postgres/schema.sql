-- Schema of the aarya-chaos reference stack (database `aarya`).
-- Idempotent: safe to run on every start. Run as the superuser (or the owner `aarya`):
--     psql -X -v ON_ERROR_STOP=1 -d aarya -f schema.sql
-- gen_random_uuid() is built into PostgreSQL 13+, no extension needed.

SET client_min_messages = warning;  -- no "already exists, skipping" notices on re-runs

CREATE TABLE IF NOT EXISTS users (
    id            bigserial   PRIMARY KEY,
    email         text        NOT NULL UNIQUE,
    password_hash text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS products (
    id          bigserial   PRIMARY KEY,
    sku         text        NOT NULL UNIQUE,
    name        text        NOT NULL,
    description text        NOT NULL,
    category    text        NOT NULL,
    price_cents integer     NOT NULL CHECK (price_cents > 0),
    -- Large by default so load tests measure the platform, not stock-outs.
    stock       integer     NOT NULL DEFAULT 1000000,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS products_category_idx ON products (category);

CREATE TABLE IF NOT EXISTS orders (
    id              uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id         bigint      NOT NULL REFERENCES users (id),
    status          text        NOT NULL,
    total_cents     integer     NOT NULL,
    idempotency_key text        NOT NULL,
    payment_id      uuid,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    -- A retried checkout with the same key finds the first order instead of creating a second.
    CONSTRAINT orders_user_idempotency_key UNIQUE (user_id, idempotency_key)
);
CREATE INDEX IF NOT EXISTS orders_created_at_idx ON orders (created_at);

CREATE TABLE IF NOT EXISTS order_items (
    order_id    uuid    NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    product_id  bigint  NOT NULL REFERENCES products (id),
    quantity    integer NOT NULL CHECK (quantity > 0),
    price_cents integer NOT NULL,
    PRIMARY KEY (order_id, product_id)
);

-- Transactional outbox: written in the order's transaction, published to Redis streams later.
CREATE TABLE IF NOT EXISTS outbox (
    id           bigserial   PRIMARY KEY,
    stream       text        NOT NULL,
    payload      jsonb       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX IF NOT EXISTS outbox_unpublished_idx ON outbox (id) WHERE published_at IS NULL;

-- Deliberately no foreign key to orders: the payment service owns this table, and the suite
-- itself checks the invariant "no payment without its order".
CREATE TABLE IF NOT EXISTS payments (
    id              uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    order_id        uuid        NOT NULL,
    idempotency_key text        NOT NULL UNIQUE,
    amount_cents    integer     NOT NULL,
    status          text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS payments_order_id_idx ON payments (order_id);
-- commerce's reconciler scans pending payments every 2 s; order listing is per user, newest first.
CREATE INDEX IF NOT EXISTS orders_pending_payment_idx ON orders (created_at) WHERE status = 'pending_payment';
CREATE INDEX IF NOT EXISTS orders_user_created_idx ON orders (user_id, created_at DESC);

-- Stream consumers: (stream, message_id) is unique, so a redelivered message is a no-op.
CREATE TABLE IF NOT EXISTS notifications (
    id         bigserial   PRIMARY KEY,
    stream     text        NOT NULL,
    message_id text        NOT NULL,
    user_id    bigint,
    kind       text        NOT NULL,
    body       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT notifications_stream_message UNIQUE (stream, message_id)
);

-- The outbox is published at least once: a row re-published under a new stream id must not notify twice.
CREATE UNIQUE INDEX IF NOT EXISTS notifications_outbox_id_key
    ON notifications ((body->>'outbox_id')) WHERE body ? 'outbox_id';

CREATE TABLE IF NOT EXISTS analytics (
    id         bigserial   PRIMARY KEY,
    stream     text        NOT NULL,
    message_id text        NOT NULL,
    event_type text        NOT NULL,
    payload    jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT analytics_stream_message UNIQUE (stream, message_id)
);

-- Every processing attempt is logged (no unique constraint), so at-least-once duplicates
-- can be counted.
CREATE TABLE IF NOT EXISTS event_deliveries (
    id           bigserial   PRIMARY KEY,
    stream       text        NOT NULL,
    message_id   text        NOT NULL,
    consumer     text        NOT NULL,
    delivered_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS event_deliveries_stream_message_idx
    ON event_deliveries (stream, message_id);

-- The event compactor copies stream entries here before trimming the stream.
CREATE TABLE IF NOT EXISTS events_archive (
    stream      text        NOT NULL,
    message_id  text        NOT NULL,
    fields      jsonb       NOT NULL,
    archived_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stream, message_id)
);

-- The app role needs data access (tables belong to whoever ran this file, usually postgres).
-- TRUNCATE lets the suite reset state between runs.
GRANT USAGE ON SCHEMA public TO aarya;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA public TO aarya;
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO aarya;
