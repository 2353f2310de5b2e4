-- The fingerprint of each synced order's JSON as 1688 last sent it (see the PostgreSQL
-- migration of the same number).
ALTER TABLE purchase_orders ADD COLUMN raw_hash TEXT;

-- The unmapped lines of an order, counted for each known order of a window (an index-only
-- scan where a scan of the order's lines had to visit each line).
CREATE INDEX purchase_order_lines_unmapped_order_idx ON purchase_order_lines (purchase_order_id)
    WHERE mapping_status = 'unmapped';
