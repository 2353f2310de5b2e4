-- 1688 products added to the ERP (PRODUCT.md §5 step 2) with their SKUs, and the queue
-- of 1688 SKUs that purchase order lines wait on for a mapping (step 3).

CREATE TABLE products_1688 (
    offer_id           bigint      PRIMARY KEY,
    supplier_id        bigint      NOT NULL REFERENCES suppliers (id),
    subject            text        NOT NULL,
    status             text        NOT NULL,
    category           text,
    unit               text,
    min_order_quantity numeric,
    price_ranges       jsonb       NOT NULL DEFAULT '[]',
    content_hash       text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE products_1688 IS '1688 offers added to the ERP, one row per offer id; adding an offer creates or updates its supplier.';
COMMENT ON COLUMN products_1688.status IS '1688''s own offer status (published, expired, deleted, …), kept as sent; only published offers can be bought.';
COMMENT ON COLUMN products_1688.price_ranges IS 'Quantity breaks as a JSON array of {"start_quantity": "10", "price": "3.50"}; both are decimal strings, exact as 1688 sent them.';
COMMENT ON COLUMN products_1688.content_hash IS 'Fingerprint of the 1688 content last written (offer, supplier and SKUs); adding an unchanged offer again writes nothing.';
-- Counting a supplier's products, and the foreign key check when a supplier is deleted.
CREATE INDEX products_1688_supplier_id_idx ON products_1688 (supplier_id);

CREATE TABLE product_skus_1688 (
    offer_id     bigint      NOT NULL REFERENCES products_1688 (offer_id) ON DELETE CASCADE,
    spec_id      text        NOT NULL DEFAULT '',
    sku_id_1688  bigint,
    attributes   text        NOT NULL,
    price        numeric,
    cargo_number text,
    stock        bigint,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (offer_id, spec_id)
);
COMMENT ON TABLE product_skus_1688 IS 'The SKUs of products_1688, keyed like sku_mappings: (offer_id, spec_id), spec_id empty for an offer without SKUs. Replaced whole when the product is added again.';
COMMENT ON COLUMN product_skus_1688.attributes IS 'name:value pairs joined by "; ", as on purchase_order_lines.attributes.';
COMMENT ON COLUMN product_skus_1688.stock IS 'Units on sale when the product was last added.';

-- The same rows as Store::unmapped_items, so that the CLI and the ERP's screens agree on
-- what waits: lines that a new mapping would re-map.
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
  AND l.mapping_source IS DISTINCT FROM 'manual'
  AND l.offer_id IS NOT NULL
  AND p.status NOT IN ('received', 'cancelled')
GROUP BY l.offer_id, coalesce(l.spec_id, '');
COMMENT ON VIEW unmapped_1688_items IS 'One row per 1688 SKU (offer_id, spec_id) that purchase order lines wait on for a mapping: unmapped lines, not manual, of orders neither received nor cancelled. Creating the mapping re-maps exactly these lines.';
COMMENT ON COLUMN unmapped_1688_items.title IS 'The title of one of the waiting lines.';
COMMENT ON COLUMN unmapped_1688_items.attributes IS 'The SKU attributes of one of the waiting lines.';
COMMENT ON COLUMN unmapped_1688_items.lines IS 'Waiting lines.';
COMMENT ON COLUMN unmapped_1688_items.orders IS 'Distinct purchase orders of the waiting lines.';
COMMENT ON COLUMN unmapped_1688_items.oldest_order_at IS 'When the oldest of those orders was created on 1688 (null when none came from 1688).';
