-- Purchasing (PRODUCT.md §5 steps 4 to 6): purchase orders created in the ERP and placed
-- on 1688, and the 1688 orders each was placed as (1688 may split one order).

ALTER TABLE purchase_orders
    ADD COLUMN out_order_id_sync text UNIQUE,
    ADD COLUMN address_id_1688   text,
    ADD COLUMN placed_at         timestamptz,
    ADD COLUMN pay_url           text,
    ADD COLUMN submitted_at      timestamptz;
COMMENT ON COLUMN purchase_orders.out_order_id_sync IS 'The outOrderId we send when placing a created order on 1688 (s1688-<id>-<random>), fixed at creation so that every retry carries the same one; sync recognises the placed order by it. Not to be confused with out_order_id_1688, the outOrderId as read from synced orders.';
COMMENT ON COLUMN purchase_orders.address_id_1688 IS 'The 1688 receiving address a created order is placed with.';
COMMENT ON COLUMN purchase_orders.placed_at IS 'When the order was first placed on 1688; null until then.';
COMMENT ON COLUMN purchase_orders.pay_url IS 'Where to pay the placed 1688 order(s), when 1688 said.';
COMMENT ON COLUMN purchase_orders.submitted_at IS 'When the draft was submitted (moved to on_the_way).';

CREATE TABLE purchase_order_links (
    purchase_order_id bigint      NOT NULL REFERENCES purchase_orders (id) ON DELETE CASCADE,
    account           text        NOT NULL,
    order_id_1688     bigint      NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account, order_id_1688)
);
COMMENT ON TABLE purchase_order_links IS 'Every 1688 order a created purchase order was placed as (several when 1688 split it). Sync updates the linked purchase order instead of importing the 1688 order again. A purchase order linked to several 1688 orders keeps the amounts it was placed with: sync only attaches the 1688 line ids.';
CREATE INDEX purchase_order_links_purchase_order_id_idx ON purchase_order_links (purchase_order_id);
