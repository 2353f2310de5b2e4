-- Receiving: tracking numbers, receipts and their lines, stock per warehouse and its
-- journal (see the PostgreSQL migration for what each column means). Quantities are
-- TEXT holding the exact decimal, in merchant units; purchase_order_lines.received_qty
-- is in merchant units too.

CREATE TABLE tracking_numbers (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    purchase_order_id INTEGER NOT NULL REFERENCES purchase_orders (id) ON DELETE CASCADE,
    tracking_no       TEXT    NOT NULL CHECK (tracking_no <> ''),
    carrier           TEXT,
    source            TEXT    NOT NULL DEFAULT 'manual' CHECK (source IN ('1688', 'manual')),
    sub_item_ids      TEXT,
    created_at        TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (purchase_order_id, tracking_no)
);
CREATE INDEX tracking_numbers_tracking_no_idx ON tracking_numbers (tracking_no);

CREATE TABLE receipts (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    warehouse_id INTEGER NOT NULL REFERENCES warehouses (id),
    tracking_no  TEXT,
    received_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    note         TEXT,
    created_at   TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX receipts_warehouse_id_idx ON receipts (warehouse_id);

CREATE TABLE receipt_lines (
    id                     INTEGER PRIMARY KEY AUTOINCREMENT,
    receipt_id             INTEGER NOT NULL REFERENCES receipts (id) ON DELETE CASCADE,
    purchase_order_id      INTEGER REFERENCES purchase_orders (id) ON DELETE SET NULL,
    purchase_order_line_id INTEGER REFERENCES purchase_order_lines (id) ON DELETE SET NULL,
    merchant_sku           TEXT    NOT NULL,
    quantity               TEXT    NOT NULL CHECK (CAST(quantity AS REAL) > 0)
);
CREATE INDEX receipt_lines_receipt_id_idx ON receipt_lines (receipt_id);
CREATE INDEX receipt_lines_purchase_order_id_idx ON receipt_lines (purchase_order_id);
CREATE INDEX receipt_lines_purchase_order_line_id_idx ON receipt_lines (purchase_order_line_id);

CREATE TABLE inventory (
    warehouse_id INTEGER NOT NULL REFERENCES warehouses (id),
    merchant_sku TEXT    NOT NULL,
    on_hand      TEXT    NOT NULL DEFAULT '0',
    updated_at   TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (warehouse_id, merchant_sku)
);

CREATE TABLE inventory_movements (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    warehouse_id    INTEGER NOT NULL REFERENCES warehouses (id),
    merchant_sku    TEXT    NOT NULL,
    quantity        TEXT    NOT NULL,
    reason          TEXT    NOT NULL CHECK (reason <> ''),
    receipt_id      INTEGER REFERENCES receipts (id) ON DELETE SET NULL,
    receipt_line_id INTEGER REFERENCES receipt_lines (id) ON DELETE SET NULL,
    created_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX inventory_movements_warehouse_sku_idx ON inventory_movements (warehouse_id, merchant_sku, created_at);
CREATE INDEX inventory_movements_receipt_id_idx ON inventory_movements (receipt_id);
CREATE INDEX inventory_movements_receipt_line_id_idx ON inventory_movements (receipt_line_id);

CREATE INDEX purchase_order_lines_merchant_sku_idx ON purchase_order_lines (merchant_sku)
    WHERE merchant_sku IS NOT NULL;
