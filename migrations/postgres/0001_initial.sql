-- The shared ERP database (PRODUCT.md §4). Other tools read and write these tables:
-- names, status values and types are a public contract. Money and quantities are plain
-- `numeric` (no scale) so that every value stays exactly as 1688 or the ERP gave it.

CREATE TABLE warehouses (
    id         bigserial   PRIMARY KEY,
    code       text        NOT NULL UNIQUE,
    name       text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE warehouses IS 'Receiving warehouses; synced orders land in the account''s default_warehouse.';

CREATE TABLE suppliers (
    id             bigserial   PRIMARY KEY,
    login_id_1688  text        NOT NULL UNIQUE,
    member_id_1688 text,
    name           text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE suppliers IS '1688 sellers, keyed by their login id (Wangwang name); created by sync and by product adds.';

CREATE TABLE merchant_skus (
    sku        text        PRIMARY KEY,
    gtin       text        UNIQUE,
    name       text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE merchant_skus IS 'The seller''s own SKUs; gtin is unique when present.';

CREATE TABLE sku_mappings (
    offer_id       bigint      NOT NULL,
    spec_id        text        NOT NULL DEFAULT '',
    merchant_sku   text        NOT NULL REFERENCES merchant_skus (sku) ON UPDATE CASCADE,
    quantity_ratio numeric     NOT NULL DEFAULT 1 CHECK (quantity_ratio > 0),
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (offer_id, spec_id)
);
COMMENT ON TABLE sku_mappings IS '1688 SKU (offer_id, spec_id; spec_id empty for offers without SKUs) to merchant SKU; quantity_ratio = merchant units per 1688 unit.';
-- Deleting or renaming a merchant SKU checks this foreign key.
CREATE INDEX sku_mappings_merchant_sku_idx ON sku_mappings (merchant_sku);

CREATE TABLE purchase_orders (
    id                bigserial   PRIMARY KEY,
    po_number         text        NOT NULL UNIQUE,
    source            text        NOT NULL CHECK (source IN ('1688_sync', '1688_created', 'manual')),
    account           text,
    order_id_1688     bigint,
    status            text        NOT NULL DEFAULT 'draft'
                      CHECK (status IN ('draft', 'on_the_way', 'partially_received', 'received', 'cancelled')),
    status_1688       text,
    supplier_id       bigint      REFERENCES suppliers (id),
    warehouse_id      bigint      REFERENCES warehouses (id),
    has_unmapped      boolean     NOT NULL DEFAULT false,
    note              text,
    currency          text        NOT NULL DEFAULT 'CNY',
    goods_amount      numeric,
    shipping_fee      numeric,
    discount          numeric,
    total_amount      numeric,
    created_at_1688   timestamptz,
    modified_at_1688  timestamptz,
    out_order_id_1688 text,
    content_hash      text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT purchase_orders_account_order_id_1688_key UNIQUE (account, order_id_1688)
);
COMMENT ON TABLE purchase_orders IS 'Purchase orders: synced from 1688 (source 1688_sync), created in the ERP and placed on 1688 (1688_created), or manual. Sync owns the *_1688 fields and amounts; the ERP owns status once submitted, warehouse_id and note.';
COMMENT ON COLUMN purchase_orders.status_1688 IS '1688''s own order status, whatever it is.';
COMMENT ON COLUMN purchase_orders.content_hash IS 'Fingerprint of the 1688 content last written; sync skips orders whose hash did not change.';
CREATE INDEX purchase_orders_supplier_id_idx ON purchase_orders (supplier_id);
CREATE INDEX purchase_orders_warehouse_id_idx ON purchase_orders (warehouse_id);

CREATE TABLE purchase_order_lines (
    id                 bigserial   PRIMARY KEY,
    purchase_order_id  bigint      NOT NULL REFERENCES purchase_orders (id) ON DELETE CASCADE,
    line_no            integer     NOT NULL,
    sub_item_id_1688   bigint,
    offer_id           bigint,
    spec_id            text,
    sku_id_1688        bigint,
    title              text        NOT NULL,
    attributes         text,
    unit               text,
    status_1688        text,
    quantity           numeric     NOT NULL,
    unit_price         numeric     NOT NULL,
    amount             numeric     NOT NULL,
    merchant_sku       text,
    mapping_status     text        NOT NULL CHECK (mapping_status IN ('mapped', 'unmapped')),
    mapping_source     text        CHECK (mapping_source IN ('mapping', 'manual')),
    merchant_quantity  numeric,
    merchant_unit_cost numeric,
    received_qty       numeric     NOT NULL DEFAULT 0,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    -- A full (not partial) unique index, so that upserts can target it; lines without a
    -- 1688 sub-item id (added in the ERP) do not collide because NULLs stay distinct.
    CONSTRAINT purchase_order_lines_order_sub_item_key UNIQUE (purchase_order_id, sub_item_id_1688)
);
COMMENT ON TABLE purchase_order_lines IS 'Lines of purchase_orders. mapping_source = manual marks a merchant SKU chosen in the ERP, which sync never overwrites; received_qty belongs to receiving.';
COMMENT ON COLUMN purchase_order_lines.mapping_source IS 'mapping: set from sku_mappings; manual: chosen in the ERP (sync keeps it); null when unmapped.';
COMMENT ON COLUMN purchase_order_lines.merchant_quantity IS 'quantity converted to merchant units (quantity * quantity_ratio).';
COMMENT ON COLUMN purchase_order_lines.merchant_unit_cost IS 'amount / merchant_quantity, rounded to 4 decimal places.';
-- The unmapped-items list and re-mapping after a mapping import look lines up by 1688 SKU.
CREATE INDEX purchase_order_lines_unmapped_idx ON purchase_order_lines (offer_id, spec_id)
    WHERE mapping_status = 'unmapped';

CREATE TABLE sync_runs (
    id               bigserial   PRIMARY KEY,
    account          text        NOT NULL,
    kind             text        NOT NULL,
    window_start     timestamptz NOT NULL,
    window_end       timestamptz NOT NULL,
    started_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz,
    status           text        NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'succeeded', 'failed')),
    orders_seen      bigint      NOT NULL DEFAULT 0,
    orders_inserted  bigint      NOT NULL DEFAULT 0,
    orders_updated   bigint      NOT NULL DEFAULT 0,
    orders_unchanged bigint      NOT NULL DEFAULT 0,
    orders_skipped   bigint      NOT NULL DEFAULT 0,
    lines_unmapped   bigint      NOT NULL DEFAULT 0,
    pages            bigint      NOT NULL DEFAULT 0,
    error            text
);
COMMENT ON TABLE sync_runs IS 'One row per sync run (kind window, backfill or changes): its window, outcome and counts.';
CREATE INDEX sync_runs_account_started_at_idx ON sync_runs (account, started_at);

CREATE TABLE sync_tombstones (
    account       text        NOT NULL,
    order_id_1688 bigint      NOT NULL,
    reason        text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account, order_id_1688)
);
COMMENT ON TABLE sync_tombstones IS '1688 orders that sync must never import again (their purchase orders were deleted on purpose).';
