-- The fingerprint of each synced order's JSON as 1688 last sent it (see the PostgreSQL
-- migration of the same number).
ALTER TABLE purchase_orders ADD COLUMN raw_hash TEXT;
