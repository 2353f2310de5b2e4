-- Purchasing: purchase orders created in the ERP and placed on 1688, and the 1688 orders
-- each was placed as (see the PostgreSQL migration for what each column means).

ALTER TABLE purchase_orders ADD COLUMN out_order_id_sync TEXT;
ALTER TABLE purchase_orders ADD COLUMN address_id_1688 TEXT;
ALTER TABLE purchase_orders ADD COLUMN placed_at TEXT;
ALTER TABLE purchase_orders ADD COLUMN pay_url TEXT;
ALTER TABLE purchase_orders ADD COLUMN submitted_at TEXT;
-- SQLite cannot add a UNIQUE column: a unique index does the same.
CREATE UNIQUE INDEX purchase_orders_out_order_id_sync_key ON purchase_orders (out_order_id_sync);

CREATE TABLE purchase_order_links (
    purchase_order_id INTEGER NOT NULL REFERENCES purchase_orders (id) ON DELETE CASCADE,
    account           TEXT    NOT NULL,
    order_id_1688     INTEGER NOT NULL,
    created_at        TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (account, order_id_1688)
);
CREATE INDEX purchase_order_links_purchase_order_id_idx ON purchase_order_links (purchase_order_id);
