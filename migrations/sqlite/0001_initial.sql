-- The shared ERP database (PRODUCT.md §4), SQLite edition. Same tables and columns as
-- PostgreSQL, in SQLite's types:
--   * money and quantities are TEXT holding the exact decimal (e.g. '39.9'): a NUMERIC
--     column would turn them into floating point;
--   * timestamps are TEXT in one fixed-width UTC format, 'YYYY-MM-DDTHH:MM:SS.sssZ', so
--     that comparing the text orders the instants;
--   * booleans are INTEGER 0/1.

CREATE TABLE warehouses (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    code       TEXT    NOT NULL UNIQUE,
    name       TEXT    NOT NULL,
    created_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE suppliers (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    login_id_1688  TEXT    NOT NULL UNIQUE,
    member_id_1688 TEXT,
    name           TEXT,
    created_at     TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at     TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE merchant_skus (
    sku        TEXT PRIMARY KEY NOT NULL,
    gtin       TEXT UNIQUE,
    name       TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE sku_mappings (
    offer_id       INTEGER NOT NULL,
    spec_id        TEXT    NOT NULL DEFAULT '',
    merchant_sku   TEXT    NOT NULL REFERENCES merchant_skus (sku) ON UPDATE CASCADE,
    quantity_ratio TEXT    NOT NULL DEFAULT '1' CHECK (CAST(quantity_ratio AS REAL) > 0),
    created_at     TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at     TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (offer_id, spec_id)
);
CREATE INDEX sku_mappings_merchant_sku_idx ON sku_mappings (merchant_sku);

CREATE TABLE purchase_orders (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    po_number         TEXT    NOT NULL UNIQUE,
    source            TEXT    NOT NULL CHECK (source IN ('1688_sync', '1688_created', 'manual')),
    account           TEXT,
    order_id_1688     INTEGER,
    status            TEXT    NOT NULL DEFAULT 'draft'
                      CHECK (status IN ('draft', 'on_the_way', 'partially_received', 'received', 'cancelled')),
    status_1688       TEXT,
    supplier_id       INTEGER REFERENCES suppliers (id),
    warehouse_id      INTEGER REFERENCES warehouses (id),
    has_unmapped      INTEGER NOT NULL DEFAULT 0 CHECK (has_unmapped IN (0, 1)),
    note              TEXT,
    currency          TEXT    NOT NULL DEFAULT 'CNY',
    goods_amount      TEXT,
    shipping_fee      TEXT,
    discount          TEXT,
    total_amount      TEXT,
    created_at_1688   TEXT,
    modified_at_1688  TEXT,
    out_order_id_1688 TEXT,
    content_hash      TEXT,
    created_at        TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at        TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (account, order_id_1688)
);
CREATE INDEX purchase_orders_supplier_id_idx ON purchase_orders (supplier_id);
CREATE INDEX purchase_orders_warehouse_id_idx ON purchase_orders (warehouse_id);

CREATE TABLE purchase_order_lines (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    purchase_order_id  INTEGER NOT NULL REFERENCES purchase_orders (id) ON DELETE CASCADE,
    line_no            INTEGER NOT NULL,
    sub_item_id_1688   INTEGER,
    offer_id           INTEGER,
    spec_id            TEXT,
    sku_id_1688        INTEGER,
    title              TEXT    NOT NULL,
    attributes         TEXT,
    unit               TEXT,
    status_1688        TEXT,
    quantity           TEXT    NOT NULL,
    unit_price         TEXT    NOT NULL,
    amount             TEXT    NOT NULL,
    merchant_sku       TEXT,
    mapping_status     TEXT    NOT NULL CHECK (mapping_status IN ('mapped', 'unmapped')),
    mapping_source     TEXT    CHECK (mapping_source IN ('mapping', 'manual')),
    merchant_quantity  TEXT,
    merchant_unit_cost TEXT,
    received_qty       TEXT    NOT NULL DEFAULT '0',
    created_at         TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at         TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    -- Full unique index (NULL sub-item ids of ERP-added lines stay distinct), the target
    -- of the line upsert.
    UNIQUE (purchase_order_id, sub_item_id_1688)
);
CREATE INDEX purchase_order_lines_unmapped_idx ON purchase_order_lines (offer_id, spec_id)
    WHERE mapping_status = 'unmapped';

CREATE TABLE sync_runs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    account          TEXT    NOT NULL,
    kind             TEXT    NOT NULL,
    window_start     TEXT    NOT NULL,
    window_end       TEXT    NOT NULL,
    started_at       TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    finished_at      TEXT,
    status           TEXT    NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'succeeded', 'failed')),
    orders_seen      INTEGER NOT NULL DEFAULT 0,
    orders_inserted  INTEGER NOT NULL DEFAULT 0,
    orders_updated   INTEGER NOT NULL DEFAULT 0,
    orders_unchanged INTEGER NOT NULL DEFAULT 0,
    orders_skipped   INTEGER NOT NULL DEFAULT 0,
    lines_unmapped   INTEGER NOT NULL DEFAULT 0,
    pages            INTEGER NOT NULL DEFAULT 0,
    error            TEXT
);
CREATE INDEX sync_runs_account_started_at_idx ON sync_runs (account, started_at);

CREATE TABLE sync_tombstones (
    account       TEXT    NOT NULL,
    order_id_1688 INTEGER NOT NULL,
    reason        TEXT    NOT NULL,
    created_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (account, order_id_1688)
);
