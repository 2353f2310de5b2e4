-- The fingerprint of each synced order's JSON as 1688 last sent it: a re-sync finds a page
-- whose every order is unchanged without reading the orders.
ALTER TABLE purchase_orders ADD COLUMN raw_hash text;
COMMENT ON COLUMN purchase_orders.raw_hash IS 'Fingerprint (128-bit SipHash-1-3, hex) of the order''s JSON as 1688 last sent it, written with content_hash; null when the order was not read from an order-list page. Sync does not read again a page whose every order it matches.';

-- The unmapped lines of an order, counted for each known order of a window (an index-only
-- scan where a scan of the order's lines had to visit each line).
CREATE INDEX purchase_order_lines_unmapped_order_idx ON purchase_order_lines (purchase_order_id)
    WHERE mapping_status = 'unmapped';
