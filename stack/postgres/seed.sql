-- Catalogue seed for the aarya-chaos reference stack: 3000 products over 8 clothing categories.
-- Deterministic (same ids, skus, names and prices on every machine) and idempotent.
--     psql -X -v ON_ERROR_STOP=1 -d aarya -f seed.sql

INSERT INTO products (id, sku, name, description, category, price_cents)
SELECT
    i,
    format('AAR-%s-%s', c.code, lpad(i::text, 5, '0')),
    format('%s %s %s', a.word, k.word, c.singular),
    format('%s %s %s in %s, style %s. Machine washable; true to size.',
           a.word, k.word, c.singular, m.word, i),
    c.category,
    -- 4.99 to 199.99, spread by a multiplicative hash so neighbouring ids differ
    499 + ((i * 7919) % 196) * 100
FROM generate_series(1, 3000) AS i
JOIN (VALUES
        (0, 'shirts',   'Shirt',   'SHI'),
        (1, 't-shirts', 'T-Shirt', 'TSH'),
        (2, 'jeans',    'Jeans',   'JNS'),
        (3, 'dresses',  'Dress',   'DRS'),
        (4, 'jackets',  'Jacket',  'JKT'),
        (5, 'sweaters', 'Sweater', 'SWT'),
        (6, 'kurtas',   'Kurta',   'KRT'),
        (7, 'sarees',   'Saree',   'SAR')
     ) AS c (n, category, singular, code) ON c.n = i % 8
JOIN (VALUES
        (0, 'Classic'), (1, 'Slim'), (2, 'Relaxed'), (3, 'Vintage'), (4, 'Everyday'),
        (5, 'Festive'), (6, 'Summer'), (7, 'Winter'), (8, 'Urban'), (9, 'Handloom')
     ) AS a (n, word) ON a.n = (i / 8) % 10
JOIN (VALUES
        (0, 'Indigo'), (1, 'Ivory'), (2, 'Maroon'), (3, 'Olive'), (4, 'Saffron'), (5, 'Charcoal'),
        (6, 'Teal'), (7, 'Rose'), (8, 'Mustard'), (9, 'Navy'), (10, 'Sand'), (11, 'Emerald')
     ) AS k (n, word) ON k.n = (i / 80) % 12
JOIN (VALUES
        (0, 'cotton'), (1, 'linen'), (2, 'silk'), (3, 'denim'), (4, 'wool blend'), (5, 'khadi'),
        (6, 'rayon')
     ) AS m (n, word) ON m.n = i % 7
ON CONFLICT DO NOTHING;

-- The ids were given explicitly, so move the sequence past them.
DO $$
BEGIN
    PERFORM setval(pg_get_serial_sequence('products', 'id'),
                   greatest((SELECT max(id) FROM products), 1));
END
$$;
