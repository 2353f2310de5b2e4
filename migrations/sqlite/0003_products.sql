-- 1688 products with their SKUs, and the queue of unmapped 1688 SKUs (see the PostgreSQL
-- migration for what each column means). price_ranges is TEXT holding the JSON array,
-- its decimals as strings.

CREATE TABLE products_1688 (
    offer_id           INTEGER PRIMARY KEY NOT NULL,
    supplier_id        INTEGER NOT NULL REFERENCES suppliers (id),
    subject            TEXT    NOT NULL,
    status             TEXT    NOT NULL,
    category           TEXT,
    unit               TEXT,
    min_order_quantity TEXT,
    price_ranges       TEXT    NOT NULL DEFAULT '[]',
    content_hash       TEXT,
    created_at         TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at         TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX products_1688_supplier_id_idx ON products_1688 (supplier_id);

CREATE TABLE product_skus_1688 (
    offer_id     INTEGER NOT NULL REFERENCES products_1688 (offer_id) ON DELETE CASCADE,
    spec_id      TEXT    NOT NULL DEFAULT '',
    sku_id_1688  INTEGER,
    attributes   TEXT    NOT NULL,
    price        TEXT,
    cargo_number TEXT,
    stock        INTEGER,
    created_at   TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at   TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (offer_id, spec_id)
);

-- As in PostgreSQL: the lines that a new mapping would re-map, per 1688 SKU. The
-- fixed-width timestamps make min() the oldest instant.
CREATE VIEW unmapped_1688_items AS
SELECT l.offer_id,
       coalesce(l.spec_id, '')              AS spec_id,
       min(l.title)                         AS title,
       coalesce(min(l.attributes), '')      AS attributes,
       count(*)                             AS lines,
       count(DISTINCT l.purchase_order_id)  AS orders,
       min(p.created_at_1688)               AS oldest_order_at
FROM purchase_order_lines l
JOIN purchase_orders p ON p.id = l.purchase_order_id
WHERE l.mapping_status = 'unmapped'
  AND l.mapping_source IS NOT 'manual'
  AND l.offer_id IS NOT NULL
  AND p.status NOT IN ('received', 'cancelled')
GROUP BY l.offer_id, coalesce(l.spec_id, '');
