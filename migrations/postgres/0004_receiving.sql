-- Receiving (PRODUCT.md §5 steps 7 and 8): the tracking numbers of purchase orders, the
-- receipts of goods with their lines, and the stock per warehouse with its journal.
-- Quantities are in merchant units, like purchase_order_lines.merchant_quantity.

CREATE TABLE tracking_numbers (
    id                bigserial   PRIMARY KEY,
    purchase_order_id bigint      NOT NULL REFERENCES purchase_orders (id) ON DELETE CASCADE,
    tracking_no       text        NOT NULL CHECK (tracking_no <> ''),
    carrier           text,
    source            text        NOT NULL DEFAULT 'manual' CHECK (source IN ('1688', 'manual')),
    sub_item_ids      text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tracking_numbers_order_tracking_no_key UNIQUE (purchase_order_id, tracking_no)
);
COMMENT ON TABLE tracking_numbers IS 'Parcels of purchase orders: followed from 1688 (source 1688) or typed in by hand (manual). One parcel may carry several orders, one order may come in several parcels.';
COMMENT ON COLUMN tracking_numbers.carrier IS 'The logistics company, as 1688 or the operator named it.';
COMMENT ON COLUMN tracking_numbers.sub_item_ids IS 'Comma-separated purchase_order_lines.sub_item_id_1688 of the lines in this parcel, when 1688 says; null means the whole order or unknown.';
-- Receiving starts from a scanned tracking number.
CREATE INDEX tracking_numbers_tracking_no_idx ON tracking_numbers (tracking_no);

CREATE TABLE receipts (
    id           bigserial   PRIMARY KEY,
    warehouse_id bigint      NOT NULL REFERENCES warehouses (id),
    tracking_no  text,
    received_at  timestamptz NOT NULL DEFAULT now(),
    note         text,
    created_at   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE receipts IS 'One receiving session: the goods of one parcel (tracking_no) or of named purchase orders, stocked into one warehouse.';
COMMENT ON COLUMN receipts.tracking_no IS 'The tracking number scanned to start the receipt; null when orders were named instead.';
CREATE INDEX receipts_warehouse_id_idx ON receipts (warehouse_id);

CREATE TABLE receipt_lines (
    id                     bigserial PRIMARY KEY,
    receipt_id             bigint    NOT NULL REFERENCES receipts (id) ON DELETE CASCADE,
    purchase_order_id      bigint    REFERENCES purchase_orders (id) ON DELETE SET NULL,
    purchase_order_line_id bigint    REFERENCES purchase_order_lines (id) ON DELETE SET NULL,
    merchant_sku           text      NOT NULL,
    quantity               numeric   NOT NULL CHECK (quantity > 0)
);
COMMENT ON TABLE receipt_lines IS 'What a receipt received, per purchase order line: merchant SKU and quantity in merchant units. The order and line ids become null if the order is deleted later; the SKU and quantity stay.';
CREATE INDEX receipt_lines_receipt_id_idx ON receipt_lines (receipt_id);
-- Deleting purchase orders (a warehouse delete) sets these to null: without an index each
-- deleted row would scan the table.
CREATE INDEX receipt_lines_purchase_order_id_idx ON receipt_lines (purchase_order_id);
CREATE INDEX receipt_lines_purchase_order_line_id_idx ON receipt_lines (purchase_order_line_id);

CREATE TABLE inventory (
    warehouse_id bigint      NOT NULL REFERENCES warehouses (id),
    merchant_sku text        NOT NULL,
    on_hand      numeric     NOT NULL DEFAULT 0,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (warehouse_id, merchant_sku)
);
COMMENT ON TABLE inventory IS 'Stock on hand per warehouse and merchant SKU, in merchant units. Every change has a row in inventory_movements.';

CREATE TABLE inventory_movements (
    id              bigserial   PRIMARY KEY,
    warehouse_id    bigint      NOT NULL REFERENCES warehouses (id),
    merchant_sku    text        NOT NULL,
    quantity        numeric     NOT NULL,
    reason          text        NOT NULL CHECK (reason <> ''),
    receipt_id      bigint      REFERENCES receipts (id) ON DELETE SET NULL,
    receipt_line_id bigint      REFERENCES receipt_lines (id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE inventory_movements IS 'The journal of inventory: one row per change of on_hand, positive in, negative out.';
COMMENT ON COLUMN inventory_movements.reason IS 'Why the stock moved: receipt (goods received, receipt_id and receipt_line_id say which); other tools may add their own reasons.';
CREATE INDEX inventory_movements_warehouse_sku_idx ON inventory_movements (warehouse_id, merchant_sku, created_at);
CREATE INDEX inventory_movements_receipt_id_idx ON inventory_movements (receipt_id);
CREATE INDEX inventory_movements_receipt_line_id_idx ON inventory_movements (receipt_line_id);

-- Which open orders hold a scanned merchant SKU (a code of "another order").
CREATE INDEX purchase_order_lines_merchant_sku_idx ON purchase_order_lines (merchant_sku)
    WHERE merchant_sku IS NOT NULL;

COMMENT ON COLUMN purchase_order_lines.received_qty IS 'Received so far, in merchant units (the unit of merchant_quantity, not of quantity); written by receiving.';
