//! The shared ERP database on PostgreSQL. A batch of pages is written in one
//! transaction: orders not stored yet, and their lines, with `COPY`; changed orders and
//! their lines with batched `INSERT … SELECT FROM UNNEST(…) ON CONFLICT` upserts.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, Row, Transaction};

use crate::domain::receiving::{
    check_warehouse_code, check_warehouse_deletion, plan_receipt, warehouse_tombstone_reason,
};
use crate::domain::{
    IncomingLine, IncomingOrder, KnownOrders, Order1688, OrderToReceive, Product1688, RawHash,
    ReceiptPlan, ReceiptRequest, ReceivingError, RunKind, RunStatus, SkuMapping, SupplierRef,
    SyncWindow, TrackingSource,
};

use super::copy_text::CopyText;
use super::rows::{self, Columns, columns_read_as_stored};
use super::shared::{self, PagePlan};
use super::{
    AccountRunStatus, AddressRow, Backend, BackfillProgress, DraftEdit, Fence, ImportOutcome,
    InventoryRow, Lease, LeaseRow, MappingChange, MerchantSku, NewPoLine, NewPurchaseOrder,
    Numbered, PageOutcome, PageTarget, Placement, PlacingState, ProductUpsert, ReceiptOutcome,
    RunCounts, Store, StoreError, StoreResult, StoredOrder, StoredProductSku, StoredReceipt,
    SubmitOutcome, SupplierRow, SyncRunRow, Totals, UnmappedItem, WarehouseChange,
    WarehouseDeletion, WarehouseRow,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// For `.persistent(…)` of the statements that look rows of the big tables up by arrays
/// of keys: unnamed statements, planned afresh on every call for the tables as they are
/// now. A generic plan cached while a first import was filling the tables could keep
/// scanning them whole. (A session-wide `plan_cache_mode = force_custom_plan` did this
/// for every statement, but it also re-planned PostgreSQL's own foreign-key checks, once
/// per inserted row: that made a cold sync cost PostgreSQL 70% more.)
const PLANNED_AFRESH: bool = false;

/// `FROM … WHERE` of an update of `purchase_orders AS po` that gives each order of $1
/// its `f.unmapped`: whether any of its stored lines is unmapped. Looked up order by
/// order: an `EXISTS` here may be planned as one pass over every unmapped line.
macro_rules! unmapped_flags {
    () => {
        "FROM (SELECT o.id, coalesce(bool_or(l.mapping_status = 'unmapped'), false) AS unmapped
               FROM UNNEST($1::bigint[]) AS o (id)
               LEFT JOIN purchase_order_lines l ON l.purchase_order_id = o.id
               GROUP BY o.id) AS f
         WHERE po.id = f.id"
    };
}

/// The unmapped lines that the mappings ($1 offer ids, $2 spec ids) map, of orders not
/// yet received, optionally only of the orders $3.
macro_rules! waiting_lines {
    () => {
        "FROM purchase_order_lines l
         JOIN UNNEST($1::bigint[], $2::text[]) AS k (offer_id, spec_id)
           ON l.offer_id = k.offer_id AND l.spec_id = k.spec_id
         JOIN purchase_orders p ON p.id = l.purchase_order_id
         WHERE l.mapping_status = 'unmapped'
           AND l.mapping_source IS DISTINCT FROM 'manual'
           AND p.status NOT IN ('received', 'cancelled')
           AND ($3::bigint[] IS NULL OR l.purchase_order_id = ANY($3))"
    };
}

/// The channel on which a committed page announces the purchase orders it created and
/// updated, for the other tools of the ERP (`LISTEN sync1688_purchase_orders`).
const NOTIFY_CHANNEL: &str = "sync1688_purchase_orders";

/// PostgreSQL refuses a payload of 8000 bytes or more.
const NOTIFY_PAYLOAD_MAX: usize = 7999;

/// The store on a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects a pool of at most `max_connections`. Errors never contain the URL.
    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(url)
            .map_err(StoreError::Connect)?
            .application_name("sync1688")
            // JIT pays off for long analytical queries. Ours are short; the known orders
            // of a window (50,000 rows, about 60 ms) spent 300 ms compiling first.
            .options([("jit", "off")]);
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            // A database that is down should fail a run (and readiness) promptly, not
            // after sqlx's default half minute.
            .acquire_timeout(Duration::from_secs(10))
            // Between rounds an idle daemon keeps no more connections than it uses.
            .idle_timeout(crate::memory::IDLE_CONNECTION_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(StoreError::Connect)?;
        Ok(PostgresStore { pool })
    }

    /// Writes one batch of pages in one transaction (see [`Store::write_page`]).
    async fn write_batch(
        &self,
        target: &PageTarget,
        orders: &[IncomingOrder],
        new_orders: NewOrders,
    ) -> StoreResult<PageOutcome> {
        let fence = shared::fence_for(&target.account, target.fence.as_ref())?;
        let state = read_batch_state(&self.pool, &target.account, orders, fence).await?;
        // Orders we created and placed are written to their purchase order, never
        // imported as new ones.
        let claimed = shared::claimed_orders(orders, &state.linked, &state.by_out_order_id);
        let unclaimed = shared::unclaimed(orders, &claimed);
        let orders: &[IncomingOrder] = &unclaimed;
        let plan = PagePlan::new(orders, &state.existing, &state.tombstoned);
        if plan.writes_nothing() && claimed.is_empty() {
            return plan.outcome_unwritten(fence, state.fence_held);
        }

        let mut tx = self.pool.begin().await?;
        let (claimed_updated, claimed_unchanged) =
            write_claimed(&mut tx, &target.account, &claimed).await?;
        let mut po_ids = HashMap::new();
        if plan.writes_orders() {
            let suppliers = upsert_suppliers(&mut tx, &plan.suppliers()).await?;
            let written = write_orders(&mut tx, target, &plan, &suppliers, new_orders).await?;
            upsert_lines(&mut tx, &plan, &written).await?;
            po_ids = written.po_ids;
            delete_vanished_lines(&mut tx, &plan).await?;
        }
        if !plan.refreshed.is_empty() {
            let (ids, hashes): (Vec<i64>, Vec<String>) = plan
                .refreshed
                .iter()
                .map(|(id, raw)| (*id, raw.to_hex()))
                .unzip();
            // Not a change of the order: updated_at stays.
            sqlx::query(
                "UPDATE purchase_orders AS po SET raw_hash = r.raw_hash
                 FROM UNNEST($1::bigint[], $2::text[]) AS r (id, raw_hash)
                 WHERE po.id = r.id",
            )
            .persistent(PLANNED_AFRESH)
            .bind(&ids)
            .bind(&hashes)
            .execute(&mut *tx)
            .await?;
        }
        // An inserted order's flag came with it. An updated order may also hold lines the
        // ERP made its own (manual, received, added), so its flag comes from the stored
        // lines.
        let updated: Vec<i64> = plan.updates.iter().map(|(id, _)| *id).collect();
        if !updated.is_empty() {
            sqlx::query(concat!(
                "UPDATE purchase_orders AS po SET has_unmapped = f.unmapped, updated_at = now() ",
                unmapped_flags!(),
                " AND po.has_unmapped <> f.unmapped"
            ))
            .persistent(PLANNED_AFRESH)
            .bind(&updated)
            .execute(&mut *tx)
            .await?;
        }
        let mut tx = holding_lease(tx, fence).await?;
        let mut outcome = plan.outcome(&po_ids);
        shared::add_claimed(&mut outcome, claimed_updated, claimed_unchanged);
        // Inside the transaction: PostgreSQL delivers the notifications on COMMIT, and
        // drops them on rollback.
        notify_written(&mut tx, &target.account, &outcome).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    /// The pool, for code that needs PostgreSQL itself (leases, tests).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The purchase orders `ids` with their lines, by id; missing ids are skipped.
    async fn fetch_orders(&self, ids: &[i64]) -> StoreResult<Vec<StoredOrder>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let orders = sqlx::query(
            "SELECT id, po_number, source, account, order_id_1688, status, status_1688, supplier_id,
                    warehouse_id, has_unmapped, note, currency, goods_amount, shipping_fee, discount,
                    total_amount, created_at_1688, modified_at_1688, created_at, updated_at
             FROM purchase_orders WHERE id = ANY($1) ORDER BY id",
        )
        .bind(ids)
        .fetch_all(&self.pool)
        .await?;
        let lines = sqlx::query(
            "SELECT purchase_order_id, id, line_no, sub_item_id_1688, offer_id, spec_id, sku_id_1688,
                    title, attributes, quantity, unit_price, amount, merchant_sku, mapping_status,
                    mapping_source, merchant_quantity, merchant_unit_cost, received_qty
             FROM purchase_order_lines WHERE purchase_order_id = ANY($1)
             ORDER BY purchase_order_id, line_no, id",
        )
        .bind(ids)
        .fetch_all(&self.pool)
        .await?;
        rows::orders_with_lines(&orders, &lines)
    }

    /// The purchase order `id` with its lines, when there is one.
    async fn fetch_order(&self, id: Option<i64>) -> StoreResult<Option<StoredOrder>> {
        match id {
            Some(id) => Ok(self.fetch_orders(&[id]).await?.pop()),
            None => Ok(None),
        }
    }
}

impl Columns for PgRow {
    columns_read_as_stored!();

    fn decimal(&self, column: &'static str) -> StoreResult<Decimal> {
        Ok(self.try_get(column)?)
    }
    fn opt_decimal(&self, column: &'static str) -> StoreResult<Option<Decimal>> {
        Ok(self.try_get(column)?)
    }
    fn instant(&self, column: &'static str) -> StoreResult<DateTime<Utc>> {
        Ok(self.try_get(column)?)
    }
    fn opt_instant(&self, column: &'static str) -> StoreResult<Option<DateTime<Utc>>> {
        Ok(self.try_get(column)?)
    }
}

/// A run that inserted this many orders refreshes the planner's statistics.
const ANALYZE_AFTER_INSERTS: u64 = 1000;

#[async_trait]
impl Store for PostgresStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    /// Two: while one transaction waits on its COPY or its COMMIT, the next batch is
    /// already on its way; the database, not the network, sets the pace.
    fn concurrent_writes(&self) -> usize {
        2
    }

    async fn migrate(&self) -> StoreResult<()> {
        MIGRATOR.run(&self.pool).await.map_err(StoreError::Migrate)
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn ensure_warehouse(&self, code: &str) -> StoreResult<i64> {
        // Insert-or-select without DO UPDATE, so that an existing warehouse row is not
        // rewritten on every run.
        let id: Option<i64> = sqlx::query_scalar(
            "WITH ins AS (
                 INSERT INTO warehouses (code, name) VALUES ($1, $1)
                 ON CONFLICT (code) DO NOTHING
                 RETURNING id
             )
             SELECT id FROM ins
             UNION ALL
             SELECT id FROM warehouses WHERE code = $1
             LIMIT 1",
        )
        .bind(code)
        .fetch_optional(&self.pool)
        .await?;
        match id {
            Some(id) => Ok(id),
            // Another process inserted it after our snapshot began: it is visible now.
            None => Ok(
                sqlx::query_scalar("SELECT id FROM warehouses WHERE code = $1")
                    .bind(code)
                    .fetch_one(&self.pool)
                    .await?,
            ),
        }
    }

    async fn load_mappings(&self) -> StoreResult<Vec<SkuMapping>> {
        let rows = sqlx::query(
            "SELECT offer_id, spec_id, merchant_sku, quantity_ratio FROM sku_mappings ORDER BY offer_id, spec_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(rows::sku_mapping).collect()
    }

    async fn import_merchant_skus(
        &self,
        rows: &[Numbered<MerchantSku>],
    ) -> StoreResult<ImportOutcome> {
        let skus: Vec<String> = rows.iter().map(|r| r.value.sku.clone()).collect();
        let gtins: Vec<String> = rows
            .iter()
            .filter_map(|r| shared::clean_gtin(r.value.gtin.as_deref()))
            .collect();
        let mut tx = self.pool.begin().await?;
        let existing = rows::merchant_skus_by_sku(
            &sqlx::query("SELECT sku, gtin, name FROM merchant_skus WHERE sku = ANY($1)")
                .bind(&skus)
                .fetch_all(&mut *tx)
                .await?,
        )?;
        let owners = rows::gtin_owners(
            &sqlx::query("SELECT gtin, sku FROM merchant_skus WHERE gtin = ANY($1)")
                .bind(&gtins)
                .fetch_all(&mut *tx)
                .await?,
        )?;
        let plan = shared::plan_merchant_skus(rows, &existing, &owners)?;

        if !plan.release_gtins.is_empty() {
            sqlx::query("UPDATE merchant_skus SET gtin = NULL WHERE sku = ANY($1)")
                .bind(&plan.release_gtins)
                .execute(&mut *tx)
                .await?;
        }
        if !plan.upserts.is_empty() {
            let sku: Vec<&str> = plan.upserts.iter().map(|m| m.sku.as_str()).collect();
            let gtin: Vec<Option<&str>> = plan.upserts.iter().map(|m| m.gtin.as_deref()).collect();
            let name: Vec<&str> = plan.upserts.iter().map(|m| m.name.as_str()).collect();
            sqlx::query(
                "INSERT INTO merchant_skus (sku, gtin, name)
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[])
                 ON CONFLICT (sku) DO UPDATE
                 SET gtin = EXCLUDED.gtin, name = EXCLUDED.name, updated_at = now()",
            )
            .bind(&sku)
            .bind(&gtin)
            .bind(&name)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(plan.outcome())
    }

    async fn import_mappings(&self, rows: &[Numbered<SkuMapping>]) -> StoreResult<ImportOutcome> {
        Ok(self.set_mappings(rows, false).await?.into())
    }

    async fn set_mappings(
        &self,
        rows: &[Numbered<SkuMapping>],
        force: bool,
    ) -> StoreResult<MappingChange> {
        let wanted_skus: Vec<&str> = rows.iter().map(|r| r.value.merchant_sku.as_str()).collect();
        let offer_ids: Vec<i64> = rows.iter().map(|r| r.value.offer_id).collect();
        let spec_ids: Vec<&str> = rows.iter().map(|r| r.value.spec_id.as_str()).collect();

        let mut tx = self.pool.begin().await?;
        let known: HashSet<String> =
            sqlx::query_scalar("SELECT sku FROM merchant_skus WHERE sku = ANY($1)")
                .bind(&wanted_skus)
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .collect();
        let existing = rows::mappings_by_key(
            &sqlx::query(
                "SELECT m.offer_id, m.spec_id, m.merchant_sku, m.quantity_ratio
                 FROM sku_mappings m
                 JOIN UNNEST($1::bigint[], $2::text[]) AS k (offer_id, spec_id)
                   ON m.offer_id = k.offer_id AND m.spec_id = k.spec_id",
            )
            .bind(&offer_ids)
            .bind(&spec_ids)
            .fetch_all(&mut *tx)
            .await?,
        )?;
        let product_specs = if force {
            HashMap::new()
        } else {
            rows::product_specs(
                &sqlx::query(
                    "SELECT p.offer_id, s.spec_id
                     FROM products_1688 p
                     LEFT JOIN product_skus_1688 s ON s.offer_id = p.offer_id
                     WHERE p.offer_id = ANY($1)",
                )
                .bind(shared::mapping_offers(rows))
                .fetch_all(&mut *tx)
                .await?,
            )?
        };
        let plan = shared::plan_mappings(rows, &known, &product_specs, force, &existing)?;

        if !plan.upserts.is_empty() {
            let offer: Vec<i64> = plan.upserts.iter().map(|m| m.offer_id).collect();
            let spec: Vec<&str> = plan.upserts.iter().map(|m| m.spec_id.as_str()).collect();
            let sku: Vec<&str> = plan
                .upserts
                .iter()
                .map(|m| m.merchant_sku.as_str())
                .collect();
            let ratio: Vec<Decimal> = plan.upserts.iter().map(|m| m.quantity_ratio).collect();
            sqlx::query(
                "INSERT INTO sku_mappings (offer_id, spec_id, merchant_sku, quantity_ratio)
                 SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::numeric[])
                 ON CONFLICT (offer_id, spec_id) DO UPDATE
                 SET merchant_sku = EXCLUDED.merchant_sku,
                     quantity_ratio = EXCLUDED.quantity_ratio,
                     updated_at = now()",
            )
            .bind(&offer)
            .bind(&spec)
            .bind(&sku)
            .bind(&ratio)
            .execute(&mut *tx)
            .await?;
        }

        let offer: Vec<i64> = plan.all.iter().map(|m| m.offer_id).collect();
        let spec: Vec<&str> = plan.all.iter().map(|m| m.spec_id.as_str()).collect();
        let waiting_orders: Vec<i64> = sqlx::query_scalar(concat!(
            "SELECT DISTINCT l.purchase_order_id ",
            waiting_lines!()
        ))
        .bind(&offer)
        .bind(&spec)
        .bind(None::<Vec<i64>>)
        .fetch_all(&mut *tx)
        .await?;
        let mut waiting = Vec::new();
        if !waiting_orders.is_empty() {
            // Lock the orders before their lines, in id order, as write_page does: taking
            // lines first could deadlock with a sync writing the same orders. Once the
            // orders are ours, their lines are read again, current.
            sqlx::query(
                "SELECT id FROM purchase_orders WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE",
            )
            .bind(&waiting_orders)
            .fetch_all(&mut *tx)
            .await?;
            let rows = sqlx::query(concat!(
                "SELECT l.id, l.purchase_order_id, l.offer_id, l.spec_id, l.quantity, l.unit_price, l.amount ",
                waiting_lines!()
            ))
            .bind(&offer)
            .bind(&spec)
            .bind(&waiting_orders)
            .fetch_all(&mut *tx)
            .await?;
            waiting = rows
                .iter()
                .map(rows::waiting_line)
                .collect::<StoreResult<_>>()?;
        }
        let remaps = shared::remap(&waiting, &plan.all);
        let orders = shared::remapped_orders(&remaps);
        if !remaps.is_empty() {
            let id: Vec<i64> = remaps.iter().map(|r| r.line_id).collect();
            let sku: Vec<&str> = remaps.iter().map(|r| r.merchant_sku.as_str()).collect();
            let qty: Vec<Decimal> = remaps.iter().map(|r| r.merchant_quantity).collect();
            let cost: Vec<Decimal> = remaps.iter().map(|r| r.merchant_unit_cost).collect();
            sqlx::query(
                "UPDATE purchase_order_lines AS l
                 SET merchant_sku = r.merchant_sku,
                     mapping_status = 'mapped',
                     mapping_source = 'mapping',
                     merchant_quantity = r.merchant_quantity,
                     merchant_unit_cost = r.merchant_unit_cost,
                     updated_at = now()
                 FROM UNNEST($1::bigint[], $2::text[], $3::numeric[], $4::numeric[])
                      AS r (id, merchant_sku, merchant_quantity, merchant_unit_cost)
                 WHERE l.id = r.id
                   AND l.mapping_status = 'unmapped'
                   AND l.mapping_source IS DISTINCT FROM 'manual'",
            )
            .bind(&id)
            .bind(&sku)
            .bind(&qty)
            .bind(&cost)
            .execute(&mut *tx)
            .await?;
            sqlx::query(concat!(
                "UPDATE purchase_orders AS po SET has_unmapped = f.unmapped, updated_at = now() ",
                unmapped_flags!()
            ))
            .bind(&orders)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(plan.change(&remaps, &orders))
    }

    async fn delete_mapping(&self, offer_id: i64, spec_id: &str) -> StoreResult<bool> {
        let deleted = sqlx::query("DELETE FROM sku_mappings WHERE offer_id = $1 AND spec_id = $2")
            .bind(offer_id)
            .bind(spec_id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(deleted > 0)
    }

    async fn upsert_product(&self, product: &Product1688) -> StoreResult<ProductUpsert> {
        let hash = shared::product_hash(product);
        let mut tx = self.pool.begin().await?;
        // Not locked: an unchanged product must not even lock its row (a lock writes
        // WAL). Two adds of the same offer take turns at the product upsert below, and
        // the later one's SKUs are written after it, so the last add wins whole.
        let stored: Option<Option<String>> =
            sqlx::query_scalar("SELECT content_hash FROM products_1688 WHERE offer_id = $1")
                .bind(product.offer_id)
                .fetch_optional(&mut *tx)
                .await?;
        let change = shared::product_change(&stored, &hash);
        if change == ProductUpsert::Unchanged {
            tx.rollback().await?;
            return Ok(change);
        }

        let suppliers = upsert_suppliers(&mut tx, std::slice::from_ref(&product.supplier)).await?;
        let supplier_id = suppliers[&product.supplier.login_id];
        sqlx::query(
            "INSERT INTO products_1688 AS p (
                 offer_id, supplier_id, subject, status, category, unit, min_order_quantity,
                 price_ranges, content_hash)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9)
             ON CONFLICT (offer_id) DO UPDATE
             SET supplier_id = EXCLUDED.supplier_id,
                 subject = EXCLUDED.subject,
                 status = EXCLUDED.status,
                 category = EXCLUDED.category,
                 unit = EXCLUDED.unit,
                 min_order_quantity = EXCLUDED.min_order_quantity,
                 price_ranges = EXCLUDED.price_ranges,
                 content_hash = EXCLUDED.content_hash,
                 updated_at = now()",
        )
        .bind(product.offer_id)
        .bind(supplier_id)
        .bind(&product.subject)
        .bind(&product.status)
        .bind(&product.category)
        .bind(&product.unit)
        .bind(product.min_order_quantity)
        .bind(shared::price_ranges_json(&product.price_ranges))
        .bind(&hash)
        .execute(&mut *tx)
        .await?;

        let skus = shared::product_skus_to_write(product);
        let spec: Vec<&str> = skus.iter().map(|s| s.spec_id.as_str()).collect();
        let sku_id: Vec<Option<i64>> = skus.iter().map(|s| s.sku_id).collect();
        let attributes: Vec<&str> = skus.iter().map(|s| s.attributes.as_str()).collect();
        let price: Vec<Option<Decimal>> = skus.iter().map(|s| s.price).collect();
        let cargo: Vec<Option<&str>> = skus.iter().map(|s| s.cargo_number.as_deref()).collect();
        let stock: Vec<Option<i64>> = skus.iter().map(|s| s.stock).collect();
        sqlx::query(
            "DELETE FROM product_skus_1688 WHERE offer_id = $1 AND NOT (spec_id = ANY($2))",
        )
        .bind(product.offer_id)
        .bind(&spec)
        .execute(&mut *tx)
        .await?;
        // The WHERE leaves SKUs that did not change untouched, so that their updated_at
        // keeps meaning "changed".
        sqlx::query(
            "INSERT INTO product_skus_1688 AS s (
                 offer_id, spec_id, sku_id_1688, attributes, price, cargo_number, stock)
             SELECT $1, k.* FROM UNNEST($2::text[], $3::bigint[], $4::text[], $5::numeric[],
                                        $6::text[], $7::bigint[]) AS k
             ON CONFLICT (offer_id, spec_id) DO UPDATE
             SET sku_id_1688 = EXCLUDED.sku_id_1688,
                 attributes = EXCLUDED.attributes,
                 price = EXCLUDED.price,
                 cargo_number = EXCLUDED.cargo_number,
                 stock = EXCLUDED.stock,
                 updated_at = now()
             WHERE (s.sku_id_1688, s.attributes, s.price, s.cargo_number, s.stock)
                   IS DISTINCT FROM
                   (EXCLUDED.sku_id_1688, EXCLUDED.attributes, EXCLUDED.price,
                    EXCLUDED.cargo_number, EXCLUDED.stock)",
        )
        .bind(product.offer_id)
        .bind(&spec)
        .bind(&sku_id)
        .bind(&attributes)
        .bind(&price)
        .bind(&cargo)
        .bind(&stock)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(change)
    }

    async fn product_skus(&self, offer_id: Option<i64>) -> StoreResult<Vec<StoredProductSku>> {
        // COLLATE "C": spec ids in byte order, as SQLite sorts them.
        let rows = sqlx::query(
            "SELECT s.offer_id, s.spec_id, s.sku_id_1688, p.subject, s.attributes, s.price,
                    sup.login_id_1688, m.merchant_sku, m.quantity_ratio, p.status AS product_status,
                    p.min_order_quantity
             FROM product_skus_1688 s
             JOIN products_1688 p ON p.offer_id = s.offer_id
             JOIN suppliers sup ON sup.id = p.supplier_id
             LEFT JOIN sku_mappings m ON m.offer_id = s.offer_id AND m.spec_id = s.spec_id
             WHERE $1::bigint IS NULL OR s.offer_id = $1
             ORDER BY s.offer_id, s.spec_id COLLATE \"C\"",
        )
        .bind(offer_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(rows::product_sku).collect()
    }

    async fn list_suppliers(&self) -> StoreResult<Vec<SupplierRow>> {
        let rows = sqlx::query(
            "SELECT s.id, s.login_id_1688, s.member_id_1688, s.name,
                    (SELECT count(*) FROM products_1688 p WHERE p.supplier_id = s.id) AS products,
                    (SELECT count(*) FROM purchase_orders o WHERE o.supplier_id = s.id) AS purchase_orders
             FROM suppliers s
             ORDER BY s.login_id_1688 COLLATE \"C\"",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(rows::supplier).collect()
    }

    async fn begin_run(
        &self,
        account: &str,
        kind: RunKind,
        window: SyncWindow,
    ) -> StoreResult<i64> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE sync_runs SET status = 'failed', error = $2, finished_at = now()
             WHERE account = $1 AND status = 'running'",
        )
        .bind(account)
        .bind(shared::INTERRUPTED)
        .execute(&mut *tx)
        .await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO sync_runs (account, kind, window_start, window_end, status)
             VALUES ($1, $2, $3, $4, 'running')
             RETURNING id",
        )
        .bind(account)
        .bind(kind.as_str())
        .bind(window.start)
        .bind(window.end)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn finish_run(
        &self,
        run_id: i64,
        status: RunStatus,
        counts: &RunCounts,
        error: Option<&str>,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE sync_runs
             SET status = $2, finished_at = now(), error = $3,
                 orders_seen = $4, orders_inserted = $5, orders_updated = $6,
                 orders_unchanged = $7, orders_skipped = $8, lines_unmapped = $9, pages = $10
             WHERE id = $1",
        )
        .bind(run_id)
        .bind(status.as_str())
        .bind(error)
        .bind(shared::db_count(counts.orders_seen))
        .bind(shared::db_count(counts.orders_inserted))
        .bind(shared::db_count(counts.orders_updated))
        .bind(shared::db_count(counts.orders_unchanged))
        .bind(shared::db_count(counts.orders_skipped))
        .bind(shared::db_count(counts.lines_unmapped))
        .bind(shared::db_count(counts.pages))
        .execute(&self.pool)
        .await?;
        if counts.orders_inserted >= ANALYZE_AFTER_INSERTS {
            // Without statistics the planner takes `purchase_order_id = ANY(…)` for
            // unselective and scans the lines whole on every page. Autovacuum would get
            // there eventually; the next run should not wait for it. Best effort: a user
            // that does not own the tables gets a warning, not an error.
            if let Err(e) = sqlx::query("ANALYZE purchase_orders, purchase_order_lines, suppliers")
                .execute(&self.pool)
                .await
            {
                tracing::warn!(error = %e, "could not ANALYZE after a large run");
            }
        }
        Ok(())
    }

    async fn write_page(
        &self,
        target: &PageTarget,
        orders: &[IncomingOrder],
    ) -> StoreResult<PageOutcome> {
        if orders.is_empty() {
            return Ok(PageOutcome::default());
        }
        match self.write_batch(target, orders, NewOrders::Copy).await {
            Err(e) if is_unique_violation(&e) => {
                // A writer without the lease (`orders import-1688`) inserted one of the
                // new orders after they were looked up. The upsert takes it in its stride.
                tracing::debug!(account = %target.account, "new orders met existing ones; writing them again with an upsert");
                self.write_batch(target, orders, NewOrders::Upsert).await
            }
            other => other,
        }
    }

    async fn known_orders(&self, account: &str, window: SyncWindow) -> StoreResult<KnownOrders> {
        let rows = sqlx::query(KNOWN_ORDERS)
            .bind(account)
            .bind(window.start)
            .bind(window.end)
            .fetch_all(&self.pool)
            .await?;
        rows::known_orders(&rows)
    }

    async fn unmapped_line_counts(
        &self,
        account: &str,
        window: SyncWindow,
    ) -> StoreResult<HashMap<i64, u64>> {
        let rows = sqlx::query(
            "SELECT p.order_id_1688,
                    (SELECT count(*) FROM purchase_order_lines l
                     WHERE l.purchase_order_id = p.id AND l.mapping_status = 'unmapped')
                        AS lines_unmapped
             FROM purchase_orders p
             WHERE p.account = $1 AND p.has_unmapped
               AND p.created_at_1688 >= $2 AND p.created_at_1688 <= $3",
        )
        .bind(account)
        .bind(window.start)
        .bind(window.end)
        .fetch_all(&self.pool)
        .await?;
        rows::unmapped_line_counts(&rows)
    }

    async fn trim_runs(&self, account: &str, started_before: DateTime<Utc>) -> StoreResult<u64> {
        let mut deleted = 0;
        loop {
            let chunk = sqlx::query(
                "DELETE FROM sync_runs WHERE id IN (
                     SELECT r.id FROM sync_runs r
                     WHERE r.account = $1 AND r.started_at < $2 AND r.status <> 'running'
                       AND r.id <> COALESCE((SELECT max(s.id) FROM sync_runs s
                                             WHERE s.account = $1 AND s.status = 'succeeded'), 0)
                     LIMIT $3)",
            )
            .bind(account)
            .bind(started_before)
            .bind(shared::TRIM_CHUNK as i64)
            .execute(&self.pool)
            .await?
            .rows_affected();
            deleted += chunk;
            if chunk < shared::TRIM_CHUNK {
                return Ok(deleted);
            }
        }
    }

    async fn check_lease(&self, fence: &Fence) -> StoreResult<()> {
        let held: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM sync_leases
                            WHERE account = $1 AND owner = $2 AND generation = $3
                              AND lease_until > clock_timestamp())",
        )
        .bind(&fence.account)
        .bind(&fence.owner)
        .bind(fence.generation)
        .fetch_one(&self.pool)
        .await?;
        if held {
            Ok(())
        } else {
            Err(shared::lease_lost(&fence.account))
        }
    }

    async fn find_synced_order(
        &self,
        account: &str,
        order_id_1688: i64,
    ) -> StoreResult<Option<StoredOrder>> {
        let id: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM purchase_orders WHERE account = $1 AND order_id_1688 = $2",
        )
        .bind(account)
        .bind(order_id_1688)
        .fetch_optional(&self.pool)
        .await?;
        self.fetch_order(id).await
    }

    async fn recent_runs(&self, limit: u32) -> StoreResult<Vec<SyncRunRow>> {
        let rows = sqlx::query(
            "SELECT id, account, kind, window_start, window_end, started_at, finished_at, status,
                    orders_seen, orders_inserted, orders_updated, orders_unchanged, orders_skipped,
                    lines_unmapped, pages, error
             FROM sync_runs ORDER BY started_at DESC, id DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(rows::sync_run).collect()
    }

    async fn totals(&self) -> StoreResult<Totals> {
        let r = sqlx::query(
            "SELECT
                 (SELECT count(*) FROM purchase_orders) AS orders,
                 (SELECT count(*) FROM purchase_orders WHERE has_unmapped) AS orders_with_unmapped,
                 (SELECT count(*) FROM suppliers) AS suppliers,
                 l.lines, l.mapped_lines, l.unmapped_lines
             FROM (SELECT count(*) AS lines,
                          count(*) FILTER (WHERE mapping_status = 'mapped') AS mapped_lines,
                          count(*) FILTER (WHERE mapping_status = 'unmapped') AS unmapped_lines
                   FROM purchase_order_lines) AS l",
        )
        .fetch_one(&self.pool)
        .await?;
        rows::totals(&r)
    }

    async fn unmapped_items(&self, limit: u32) -> StoreResult<Vec<UnmappedItem>> {
        let rows = sqlx::query(
            "SELECT offer_id, spec_id, title, attributes, lines, orders, oldest_order_at
             FROM unmapped_1688_items
             ORDER BY lines DESC, orders DESC, offer_id, spec_id COLLATE \"C\"
             LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(rows::unmapped_item).collect()
    }

    async fn add_tombstone(
        &self,
        account: &str,
        order_id_1688: i64,
        reason: &str,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO sync_tombstones (account, order_id_1688, reason) VALUES ($1, $2, $3)
             ON CONFLICT (account, order_id_1688) DO NOTHING",
        )
        .bind(account)
        .bind(order_id_1688)
        .bind(reason)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn try_claim_lease(
        &self,
        account: &str,
        owner: &str,
        ttl: Duration,
    ) -> StoreResult<Option<Lease>> {
        // One statement, so that two instances claiming at once cannot both win: the
        // loser's ON CONFLICT waits for the winner's row and then finds it live.
        let row = sqlx::query(
            "INSERT INTO sync_leases AS l (account, owner, lease_until, generation, updated_at)
             VALUES ($1, $2, now() + $3::interval, 1, now())
             ON CONFLICT (account) DO UPDATE
             SET owner = EXCLUDED.owner,
                 lease_until = EXCLUDED.lease_until,
                 generation = CASE WHEN l.owner IS NOT DISTINCT FROM EXCLUDED.owner
                                   THEN l.generation ELSE l.generation + 1 END,
                 updated_at = now()
             WHERE l.owner IS NULL
                OR l.lease_until IS NULL
                OR l.lease_until < now()
                OR l.owner = EXCLUDED.owner
             RETURNING account, owner, generation, lease_until",
        )
        .bind(account)
        .bind(owner)
        .bind(interval(ttl))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(rows::lease).transpose()
    }

    async fn renew_lease(
        &self,
        fence: &Fence,
        ttl: Duration,
    ) -> StoreResult<Option<DateTime<Utc>>> {
        // No condition on lease_until: an expired lease that nobody took is still ours,
        // since nobody else can have written under it.
        Ok(sqlx::query_scalar(
            "UPDATE sync_leases SET lease_until = now() + $4::interval, updated_at = now()
             WHERE account = $1 AND owner = $2 AND generation = $3
             RETURNING lease_until",
        )
        .bind(&fence.account)
        .bind(&fence.owner)
        .bind(fence.generation)
        .bind(interval(ttl))
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn release_lease(&self, fence: &Fence) -> StoreResult<()> {
        // Clearing the owner makes the next claim a change of holder, even by this
        // owner: its old fences stay invalid.
        sqlx::query(
            "UPDATE sync_leases SET owner = NULL, lease_until = now(), updated_at = now()
             WHERE account = $1 AND owner = $2 AND generation = $3",
        )
        .bind(&fence.account)
        .bind(&fence.owner)
        .bind(fence.generation)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn leases(&self) -> StoreResult<Vec<LeaseRow>> {
        let rows = sqlx::query(
            "SELECT account, owner, lease_until, generation FROM sync_leases ORDER BY account",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(rows::lease_row).collect()
    }

    async fn change_cursor(&self, account: &str) -> StoreResult<Option<DateTime<Utc>>> {
        Ok(
            sqlx::query_scalar("SELECT modified_since FROM sync_cursors WHERE account = $1")
                .bind(account)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn advance_change_cursor(
        &self,
        account: &str,
        to: DateTime<Utc>,
        fence: Option<&Fence>,
    ) -> StoreResult<()> {
        let fence = shared::fence_for(account, fence)?;
        let mut tx = self.pool.begin().await?;
        // The WHERE keeps the cursor from moving back (a late page of an older window)
        // and leaves the row untouched when it would not move.
        sqlx::query(
            "INSERT INTO sync_cursors AS c (account, modified_since) VALUES ($1, $2)
             ON CONFLICT (account) DO UPDATE
             SET modified_since = EXCLUDED.modified_since, updated_at = now()
             WHERE c.modified_since < EXCLUDED.modified_since",
        )
        .bind(account)
        .bind(to)
        .execute(&mut *tx)
        .await?;
        holding_lease(tx, fence).await?.commit().await?;
        Ok(())
    }

    async fn open_backfill(
        &self,
        account: &str,
        window: SyncWindow,
    ) -> StoreResult<BackfillProgress> {
        // Against the unique index of unfinished backfills: the row of this window comes
        // back whether this statement inserted it or it was there (then touched).
        let r = sqlx::query(
            "INSERT INTO sync_backfills AS b (account, window_start, window_end) VALUES ($1, $2, $3)
             ON CONFLICT (account, window_start, window_end) WHERE finished_at IS NULL
             DO UPDATE SET updated_at = now()
             RETURNING id, account, window_start, window_end, done_until, finished_at",
        )
        .bind(account)
        .bind(window.start)
        .bind(window.end)
        .fetch_one(&self.pool)
        .await?;
        rows::backfill(&r)
    }

    async fn backfill_progress(&self, id: i64, done_until: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query(
            "UPDATE sync_backfills SET done_until = $2, updated_at = now()
             WHERE id = $1 AND (done_until IS NULL OR done_until < $2)",
        )
        .bind(id)
        .bind(done_until)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn finish_backfill(&self, id: i64) -> StoreResult<()> {
        sqlx::query(
            "UPDATE sync_backfills SET finished_at = now(), updated_at = now()
             WHERE id = $1 AND finished_at IS NULL",
        )
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn account_run_status(&self) -> StoreResult<Vec<AccountRunStatus>> {
        let rows = sqlx::query(shared::ACCOUNT_RUN_STATUS_SQL)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(rows::account_run_status).collect()
    }

    async fn orders_to_track(&self, account: &str) -> StoreResult<Vec<(String, i64)>> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT po.po_number, po.order_id_1688 FROM purchase_orders po
             WHERE po.account = $1 AND po.status IN ('on_the_way', 'partially_received')
               AND po.order_id_1688 IS NOT NULL
               AND COALESCE(po.status_1688, '') NOT IN ('waitbuyerpay', 'waitsellersend', 'cancel', 'terminated')
             UNION
             SELECT po.po_number, l.order_id_1688 FROM purchase_order_links l
             JOIN purchase_orders po ON po.id = l.purchase_order_id
             WHERE l.account = $1 AND po.status IN ('on_the_way', 'partially_received')
             ORDER BY 1, 2",
        )
        .bind(account)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    async fn set_parcel_lines(
        &self,
        po_number: &str,
        tracking_no: &str,
        sub_item_ids: &[i64],
    ) -> StoreResult<()> {
        let ids = shared::sub_item_list(sub_item_ids);
        sqlx::query(
            "UPDATE tracking_numbers t SET sub_item_ids = $3
             FROM purchase_orders po
             WHERE po.id = t.purchase_order_id AND po.po_number = $1 AND t.tracking_no = $2
               AND t.sub_item_ids IS DISTINCT FROM $3",
        )
        .bind(po_number.trim())
        .bind(tracking_no.trim())
        .bind(ids)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn add_tracking_number(
        &self,
        po_number: &str,
        tracking_no: &str,
        carrier: Option<&str>,
        source: TrackingSource,
    ) -> StoreResult<bool> {
        let tracking_no = shared::tracking_number(tracking_no)?;
        let carrier = shared::carrier(carrier);
        let po_number = po_number.trim();
        let mut tx = self.pool.begin().await?;
        let Some(order_id): Option<i64> =
            sqlx::query_scalar("SELECT id FROM purchase_orders WHERE po_number = $1")
                .bind(po_number)
                .fetch_optional(&mut *tx)
                .await?
        else {
            return Err(shared::unknown_order(po_number));
        };
        let inserted = sqlx::query(
            "INSERT INTO tracking_numbers (purchase_order_id, tracking_no, carrier, source)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (purchase_order_id, tracking_no) DO NOTHING",
        )
        .bind(order_id)
        .bind(tracking_no)
        .bind(carrier)
        .bind(source.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected()
            > 0;
        if !inserted && carrier.is_some() {
            sqlx::query(
                "UPDATE tracking_numbers SET carrier = $3
                 WHERE purchase_order_id = $1 AND tracking_no = $2 AND carrier IS DISTINCT FROM $3",
            )
            .bind(order_id)
            .bind(tracking_no)
            .bind(carrier)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(inserted)
    }

    async fn orders_for_tracking(&self, tracking_no: &str) -> StoreResult<Vec<StoredOrder>> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT DISTINCT purchase_order_id FROM tracking_numbers WHERE tracking_no = $1",
        )
        .bind(tracking_no.trim())
        .fetch_all(&self.pool)
        .await?;
        self.fetch_orders(&ids).await
    }

    async fn find_order_by_po_number(&self, po_number: &str) -> StoreResult<Option<StoredOrder>> {
        let id: Option<i64> =
            sqlx::query_scalar("SELECT id FROM purchase_orders WHERE po_number = $1")
                .bind(po_number.trim())
                .fetch_optional(&self.pool)
                .await?;
        self.fetch_order(id).await
    }

    async fn preview_receipt(
        &self,
        request: &ReceiptRequest,
        tolerance_percent: Decimal,
    ) -> StoreResult<ReceiptPlan> {
        request.validate()?;
        let mut tx = self.pool.begin().await?;
        let plan = plan_receipt_in(&mut tx, request, tolerance_percent, false).await;
        tx.rollback().await?;
        plan
    }

    async fn receive(
        &self,
        request: &ReceiptRequest,
        tolerance_percent: Decimal,
    ) -> StoreResult<ReceiptOutcome> {
        request.validate()?;
        let mut tx = self.pool.begin().await?;
        // A refusal drops the transaction, which rolls back: nothing was written yet.
        let plan = plan_receipt_in(&mut tx, request, tolerance_percent, true).await?;
        let warehouse_id = plan.warehouse.id;
        let receipt_id: i64 = sqlx::query_scalar(
            "INSERT INTO receipts (warehouse_id, tracking_no, note) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(warehouse_id)
        .bind(request.tracking_no())
        .bind(shared::receipt_note(request))
        .fetch_one(&mut *tx)
        .await?;

        let order_ids: Vec<i64> = plan.lines.iter().map(|l| l.purchase_order_id).collect();
        let line_ids: Vec<i64> = plan.lines.iter().map(|l| l.line_id).collect();
        let skus: Vec<&str> = plan.lines.iter().map(|l| l.merchant_sku.as_str()).collect();
        let quantities: Vec<Decimal> = plan.lines.iter().map(|l| l.quantity).collect();
        sqlx::query(
            "INSERT INTO receipt_lines (receipt_id, purchase_order_id, purchase_order_line_id, merchant_sku, quantity)
             SELECT $1, r.* FROM UNNEST($2::bigint[], $3::bigint[], $4::text[], $5::numeric[]) AS r",
        )
        .bind(receipt_id)
        .bind(&order_ids)
        .bind(&line_ids)
        .bind(&skus)
        .bind(&quantities)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE purchase_order_lines AS l
             SET received_qty = l.received_qty + r.quantity, updated_at = now()
             FROM UNNEST($1::bigint[], $2::numeric[]) AS r (id, quantity)
             WHERE l.id = r.id",
        )
        .bind(&line_ids)
        .bind(&quantities)
        .execute(&mut *tx)
        .await?;
        let po_ids: Vec<i64> = plan.orders.iter().map(|o| o.purchase_order_id).collect();
        let statuses: Vec<&str> = plan.orders.iter().map(|o| o.status.as_str()).collect();
        // An order without a warehouse now has one: where its goods are.
        sqlx::query(
            "UPDATE purchase_orders AS po
             SET status = r.status, warehouse_id = coalesce(po.warehouse_id, $3), updated_at = now()
             FROM UNNEST($1::bigint[], $2::text[]) AS r (id, status)
             WHERE po.id = r.id",
        )
        .bind(&po_ids)
        .bind(&statuses)
        .bind(warehouse_id)
        .execute(&mut *tx)
        .await?;
        // In SKU order, so that two receipts stocking the same SKUs lock their rows in the
        // same order.
        let stock = plan.stock();
        let stock_skus: Vec<&str> = stock.iter().map(|(s, _)| s.as_str()).collect();
        let stock_qty: Vec<Decimal> = stock.iter().map(|(_, q)| *q).collect();
        sqlx::query(
            "INSERT INTO inventory AS i (warehouse_id, merchant_sku, on_hand)
             SELECT $1, s.* FROM UNNEST($2::text[], $3::numeric[]) AS s
             ON CONFLICT (warehouse_id, merchant_sku) DO UPDATE
             SET on_hand = i.on_hand + EXCLUDED.on_hand, updated_at = now()",
        )
        .bind(warehouse_id)
        .bind(&stock_skus)
        .bind(&stock_qty)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO inventory_movements (warehouse_id, merchant_sku, quantity, reason, receipt_id, receipt_line_id)
             SELECT $1, merchant_sku, quantity, 'receipt', receipt_id, id
             FROM receipt_lines WHERE receipt_id = $2 ORDER BY id",
        )
        .bind(warehouse_id)
        .bind(receipt_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(ReceiptOutcome {
            receipt_id,
            warehouse: plan.warehouse,
            lines: plan.lines,
            orders: plan.orders,
        })
    }

    async fn receipt(&self, id: i64) -> StoreResult<Option<StoredReceipt>> {
        let Some(r) = sqlx::query(
            "SELECT r.id, r.warehouse_id, w.code, w.name, r.tracking_no, r.received_at, r.note
             FROM receipts r JOIN warehouses w ON w.id = r.warehouse_id
             WHERE r.id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let lines = sqlx::query(
            "SELECT rl.id, rl.purchase_order_id, o.po_number, rl.purchase_order_line_id, l.line_no,
                    l.title, rl.merchant_sku, m.name, m.gtin, rl.quantity
             FROM receipt_lines rl
             LEFT JOIN purchase_orders o ON o.id = rl.purchase_order_id
             LEFT JOIN purchase_order_lines l ON l.id = rl.purchase_order_line_id
             LEFT JOIN merchant_skus m ON m.sku = rl.merchant_sku
             WHERE rl.receipt_id = $1
             ORDER BY rl.id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(rows::receipt_line)
        .collect::<StoreResult<_>>()?;
        rows::receipt(&r, lines).map(Some)
    }

    async fn inventory(&self, warehouse_code: &str) -> StoreResult<Vec<InventoryRow>> {
        let code = warehouse_code.trim();
        let Some(warehouse_id): Option<i64> =
            sqlx::query_scalar("SELECT id FROM warehouses WHERE code = $1")
                .bind(code)
                .fetch_optional(&self.pool)
                .await?
        else {
            return Err(shared::unknown_warehouse(code));
        };
        // COLLATE "C": SKUs in byte order, as SQLite sorts them.
        let rows = sqlx::query(
            "SELECT i.merchant_sku, m.name, m.gtin, i.on_hand, i.updated_at
             FROM inventory i LEFT JOIN merchant_skus m ON m.sku = i.merchant_sku
             WHERE i.warehouse_id = $1
             ORDER BY i.merchant_sku COLLATE \"C\"",
        )
        .bind(warehouse_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(rows::inventory_row).collect()
    }

    async fn add_warehouse(&self, code: &str, name: &str) -> StoreResult<WarehouseChange> {
        let code = check_warehouse_code(code)?;
        let name = shared::warehouse_name(code, name);
        let created: Option<i64> = sqlx::query_scalar(
            "INSERT INTO warehouses (code, name) VALUES ($1, $2)
             ON CONFLICT (code) DO NOTHING RETURNING id",
        )
        .bind(code)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(id) = created {
            return Ok(WarehouseChange::Created(id));
        }
        let renamed: Option<i64> = sqlx::query_scalar(
            "UPDATE warehouses SET name = $2 WHERE code = $1 AND name <> $2 RETURNING id",
        )
        .bind(code)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(id) = renamed {
            return Ok(WarehouseChange::Renamed(id));
        }
        let id: Option<i64> = sqlx::query_scalar("SELECT id FROM warehouses WHERE code = $1")
            .bind(code)
            .fetch_optional(&self.pool)
            .await?;
        // None only when it was deleted between the statements: report it as unknown.
        id.map(WarehouseChange::Unchanged)
            .ok_or_else(|| shared::unknown_warehouse(code))
    }

    async fn list_warehouses(&self) -> StoreResult<Vec<WarehouseRow>> {
        let rows = sqlx::query(
            "SELECT w.id, w.code, w.name,
                    (SELECT count(*) FROM purchase_orders o WHERE o.warehouse_id = w.id) AS purchase_orders,
                    (SELECT coalesce(sum(i.on_hand), 0) FROM inventory i
                     WHERE i.warehouse_id = w.id AND i.on_hand > 0) AS on_hand,
                    (SELECT count(*) FROM inventory i
                     WHERE i.warehouse_id = w.id AND i.on_hand > 0) AS skus_in_stock
             FROM warehouses w
             ORDER BY w.code COLLATE \"C\"",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| rows::warehouse(r, r.decimal("on_hand")?, r.count("skus_in_stock")?))
            .collect()
    }

    async fn delete_warehouse(&self, code: &str, force: bool) -> StoreResult<WarehouseDeletion> {
        let code = code.trim();
        let mut tx = self.pool.begin().await?;
        // FOR UPDATE conflicts with the key-share lock that inserting a row referencing
        // the warehouse takes, so no order or receipt lands in it meanwhile. Warehouse
        // first, then orders: the order in which receive takes them too.
        let Some(warehouse_id): Option<i64> =
            sqlx::query_scalar("SELECT id FROM warehouses WHERE code = $1 FOR UPDATE")
                .bind(code)
                .fetch_optional(&mut *tx)
                .await?
        else {
            return Err(shared::unknown_warehouse(code));
        };
        sqlx::query(
            "SELECT id FROM purchase_orders WHERE warehouse_id = $1 ORDER BY id FOR UPDATE",
        )
        .bind(warehouse_id)
        .fetch_all(&mut *tx)
        .await?;
        let stock = sqlx::query(
            "SELECT coalesce(sum(on_hand), 0) AS on_hand, count(*) AS skus
             FROM inventory WHERE warehouse_id = $1 AND on_hand > 0",
        )
        .bind(warehouse_id)
        .fetch_one(&mut *tx)
        .await?;
        let on_hand = stock.decimal("on_hand")?;
        let skus = stock.count("skus")?;
        let received: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM purchase_orders o
             WHERE o.warehouse_id = $1
               AND EXISTS (SELECT 1 FROM purchase_order_lines l
                           WHERE l.purchase_order_id = o.id AND l.received_qty > 0)",
        )
        .bind(warehouse_id)
        .fetch_one(&mut *tx)
        .await?;
        check_warehouse_deletion(code, on_hand, skus, shared::count(received), force)?;

        let tombstones = sqlx::query(
            "INSERT INTO sync_tombstones (account, order_id_1688, reason)
             SELECT account, order_id_1688, $2 FROM purchase_orders
             WHERE warehouse_id = $1 AND account IS NOT NULL AND order_id_1688 IS NOT NULL
             ON CONFLICT (account, order_id_1688) DO NOTHING",
        )
        .bind(warehouse_id)
        .bind(warehouse_tombstone_reason(code))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query("DELETE FROM inventory_movements WHERE warehouse_id = $1")
            .bind(warehouse_id)
            .execute(&mut *tx)
            .await?;
        let inventory_rows = sqlx::query("DELETE FROM inventory WHERE warehouse_id = $1")
            .bind(warehouse_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let receipts = sqlx::query("DELETE FROM receipts WHERE warehouse_id = $1")
            .bind(warehouse_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let purchase_orders = sqlx::query("DELETE FROM purchase_orders WHERE warehouse_id = $1")
            .bind(warehouse_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM warehouses WHERE id = $1")
            .bind(warehouse_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(WarehouseDeletion {
            purchase_orders,
            tombstones,
            receipts,
            inventory_rows,
            on_hand,
        })
    }

    async fn clear_tombstone(&self, account: &str, order_id_1688: i64) -> StoreResult<bool> {
        let deleted =
            sqlx::query("DELETE FROM sync_tombstones WHERE account = $1 AND order_id_1688 = $2")
                .bind(account)
                .bind(order_id_1688)
                .execute(&self.pool)
                .await?
                .rows_affected();
        Ok(deleted > 0)
    }

    async fn create_purchase_order(&self, order: &NewPurchaseOrder) -> StoreResult<StoredOrder> {
        let mut tx = self.pool.begin().await?;
        let supplier_id: Option<i64> =
            sqlx::query_scalar("SELECT id FROM suppliers WHERE login_id_1688 = $1")
                .bind(&order.supplier_login_id)
                .fetch_optional(&mut *tx)
                .await?;
        let supplier_id = supplier_id.ok_or_else(|| StoreError::UnknownSupplier {
            login_id: order.supplier_login_id.clone(),
        })?;
        let warehouse_id: Option<i64> =
            sqlx::query_scalar("SELECT id FROM warehouses WHERE code = $1")
                .bind(&order.warehouse_code)
                .fetch_optional(&mut *tx)
                .await?;
        let warehouse_id =
            warehouse_id.ok_or_else(|| shared::unknown_warehouse(&order.warehouse_code))?;
        let prefix = shared::created_po_prefix(shared::china_today());
        let goods_amount = shared::new_goods_amount(order);
        let mut id = None;
        // Two orders created at once may pick the same number: the loser (its insert does
        // nothing once the winner commits) reads the day's numbers again.
        for _ in 0..50 {
            let stored: Vec<String> = sqlx::query_scalar(
                "SELECT po_number FROM purchase_orders WHERE po_number LIKE $1 || '%'",
            )
            .bind(&prefix)
            .fetch_all(&mut *tx)
            .await?;
            let po_number = format!("{prefix}{:04}", shared::next_po_sequence(&prefix, &stored));
            id = sqlx::query_scalar(
                "INSERT INTO purchase_orders (
                     po_number, source, account, status, supplier_id, warehouse_id, has_unmapped,
                     note, currency, goods_amount, address_id_1688)
                 VALUES ($1, '1688_created', $2, 'draft', $3, $4, false, $5, 'CNY', $6, $7)
                 ON CONFLICT (po_number) DO NOTHING
                 RETURNING id",
            )
            .bind(&po_number)
            .bind(&order.account)
            .bind(supplier_id)
            .bind(warehouse_id)
            .bind(&order.note)
            .bind(goods_amount)
            .bind(&order.address_id_1688)
            .fetch_optional(&mut *tx)
            .await?;
            if id.is_some() {
                break;
            }
        }
        let id: i64 = id.ok_or_else(|| {
            StoreError::Database(sqlx::Error::Protocol(
                "no free purchase order number for today".into(),
            ))
        })?;
        sqlx::query("UPDATE purchase_orders SET out_order_id_sync = $2 WHERE id = $1")
            .bind(id)
            .bind(shared::new_out_order_id(id))
            .execute(&mut *tx)
            .await?;
        insert_new_lines(&mut tx, id, &order.lines).await?;
        tx.commit().await?;
        self.fetch_order(Some(id))
            .await?
            .ok_or_else(|| shared::unknown_order(&prefix))
    }

    async fn placing_state(&self, po_number: &str) -> StoreResult<Option<PlacingState>> {
        let Some(row) = sqlx::query(
            "SELECT id, po_number, coalesce(account, '') AS account, status,
                    coalesce(out_order_id_sync, '') AS out_order_id, address_id_1688, note
             FROM purchase_orders WHERE po_number = $1",
        )
        .bind(po_number)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT order_id_1688 FROM purchase_order_links WHERE purchase_order_id = $1
             ORDER BY created_at, order_id_1688",
        )
        .bind(row.int("id")?)
        .fetch_all(&self.pool)
        .await?;
        Ok(Some(rows::placing_state(&row, ids)?))
    }

    async fn record_placement(&self, po_number: &str, placement: &Placement) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        let row =
            sqlx::query("SELECT id, account FROM purchase_orders WHERE po_number = $1 FOR UPDATE")
                .bind(po_number)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| shared::unknown_order(po_number))?;
        let id = row.int("id")?;
        let account = row.opt_text("account")?.unwrap_or_default();
        sqlx::query(
            "UPDATE purchase_orders AS p
             SET order_id_1688 = coalesce(p.order_id_1688, $2),
                 total_amount = coalesce($3, p.total_amount),
                 shipping_fee = coalesce($4, p.shipping_fee),
                 pay_url = coalesce($5, p.pay_url),
                 placed_at = coalesce(p.placed_at, now()),
                 updated_at = now()
             WHERE p.id = $1
               AND (p.order_id_1688, p.total_amount, p.shipping_fee, p.pay_url, p.placed_at IS NULL)
                   IS DISTINCT FROM
                   (coalesce(p.order_id_1688, $2), coalesce($3, p.total_amount),
                    coalesce($4, p.shipping_fee), coalesce($5, p.pay_url), false)",
        )
        .bind(id)
        .bind(placement.order_ids.first().copied())
        .bind(placement.total_amount)
        .bind(placement.shipping_fee)
        .bind(&placement.pay_url)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO purchase_order_links (purchase_order_id, account, order_id_1688)
             SELECT $1, $2, k.order_id FROM UNNEST($3::bigint[]) AS k (order_id)
             ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(&account)
        .bind(&placement.order_ids)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn submit_orders(&self, po_numbers: &[String]) -> StoreResult<Vec<SubmitOutcome>> {
        let mut out = Vec::with_capacity(po_numbers.len());
        for po_number in po_numbers {
            let done = sqlx::query(
                "UPDATE purchase_orders
                 SET status = 'on_the_way', submitted_at = now(), updated_at = now()
                 WHERE po_number = $1 AND status = 'draft'",
            )
            .bind(po_number)
            .execute(&self.pool)
            .await?
            .rows_affected()
                > 0;
            let result = if done {
                Ok(())
            } else {
                let status: Option<String> =
                    sqlx::query_scalar("SELECT status FROM purchase_orders WHERE po_number = $1")
                        .bind(po_number)
                        .fetch_optional(&self.pool)
                        .await?;
                Err(shared::submit_refusal(po_number, status.as_deref()))
            };
            out.push(SubmitOutcome {
                po_number: po_number.clone(),
                result,
            });
        }
        Ok(out)
    }

    async fn replace_addresses(&self, account: &str, addresses: &[AddressRow]) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM receive_addresses_1688 WHERE account = $1")
            .bind(account)
            .execute(&mut *tx)
            .await?;
        for a in addresses {
            sqlx::query(
                "INSERT INTO receive_addresses_1688 (
                     account, address_id, full_name, address, address_code, address_code_text,
                     post, phone, mobile, is_default, fetched_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, now())",
            )
            .bind(account)
            .bind(&a.address_id)
            .bind(&a.full_name)
            .bind(&a.address)
            .bind(&a.address_code)
            .bind(&a.address_code_text)
            .bind(&a.post)
            .bind(&a.phone)
            .bind(&a.mobile)
            .bind(a.is_default)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn addresses(&self, account: &str) -> StoreResult<Vec<AddressRow>> {
        sqlx::query(
            "SELECT account, address_id, full_name, address, address_code, address_code_text,
                    post, phone, mobile, is_default, fetched_at
             FROM receive_addresses_1688 WHERE account = $1
             ORDER BY is_default DESC, address_id",
        )
        .bind(account)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(rows::address_row)
        .collect()
    }

    async fn edit_draft(&self, po_number: &str, edit: &DraftEdit) -> StoreResult<StoredOrder> {
        let po_number = po_number.trim();
        let mut tx = self.pool.begin().await?;
        let order = sqlx::query(
            "SELECT p.id, p.status, p.source,
                    (p.placed_at IS NOT NULL
                     OR EXISTS (SELECT 1 FROM purchase_order_links k
                                WHERE k.purchase_order_id = p.id)) AS placed
             FROM purchase_orders p WHERE p.po_number = $1 FOR UPDATE",
        )
        .bind(po_number)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| shared::unknown_order(po_number))?;
        let order = rows::draft_to_edit(&order)?;
        shared::edit_refusal(po_number, &order, edit)?;
        let warehouse_id = match &edit.warehouse_code {
            Some(code) => {
                let id: Option<i64> =
                    sqlx::query_scalar("SELECT id FROM warehouses WHERE code = $1 FOR KEY SHARE")
                        .bind(code.trim())
                        .fetch_optional(&mut *tx)
                        .await?;
                Some(id.ok_or_else(|| shared::unknown_warehouse(code.trim()))?)
            }
            None => None,
        };
        let goods_amount = edit.lines.as_deref().map(shared::lines_goods_amount);
        if let Some(lines) = &edit.lines {
            sqlx::query("DELETE FROM purchase_order_lines WHERE purchase_order_id = $1")
                .bind(order.id)
                .execute(&mut *tx)
                .await?;
            insert_new_lines(&mut tx, order.id, lines).await?;
        }
        sqlx::query(
            "UPDATE purchase_orders
                 SET note = CASE WHEN $2 THEN $3 ELSE note END,
                     warehouse_id = coalesce($4, warehouse_id),
                     goods_amount = coalesce($5, goods_amount),
                     updated_at = now()
                 WHERE id = $1",
        )
        .bind(order.id)
        .bind(edit.note.is_some())
        .bind(edit.note.clone().flatten())
        .bind(warehouse_id)
        .bind(goods_amount)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.fetch_order(Some(order.id))
            .await?
            .ok_or_else(|| shared::unknown_order(po_number))
    }
}

/// The orders of a receipt, read with their warehouse's code.
macro_rules! orders_to_receive {
    () => {
        "SELECT o.id, o.po_number, o.status, o.warehouse_id, w.code AS warehouse_code
         FROM purchase_orders o LEFT JOIN warehouses w ON w.id = o.warehouse_id
         WHERE o.id = ANY($1)
         ORDER BY o.id"
    };
}

/// Their lines, with the GTIN and name of each line's merchant SKU.
macro_rules! lines_to_receive {
    () => {
        "SELECT l.purchase_order_id, l.id, l.line_no, l.title, l.merchant_sku, m.gtin, m.name,
                l.quantity, l.merchant_quantity, l.received_qty
         FROM purchase_order_lines l LEFT JOIN merchant_skus m ON m.sku = l.merchant_sku
         WHERE l.purchase_order_id = ANY($1)
         ORDER BY l.purchase_order_id, l.line_no, l.id"
    };
}

/// Reads what a receipt needs and decides it. With `lock`, the warehouse is held against
/// deletion and the orders and then their lines are locked, in id order, until the
/// transaction ends; each locking read returns the rows as the last committed writer
/// left them, so a receipt that waited for another sees what that one received.
async fn plan_receipt_in(
    tx: &mut Transaction<'static, Postgres>,
    request: &ReceiptRequest,
    tolerance_percent: Decimal,
    lock: bool,
) -> StoreResult<ReceiptPlan> {
    let code = request.warehouse_code.trim();
    let warehouse = sqlx::query(if lock {
        "SELECT id, code FROM warehouses WHERE code = $1 FOR KEY SHARE"
    } else {
        "SELECT id, code FROM warehouses WHERE code = $1"
    })
    .bind(code)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(warehouse) = warehouse else {
        return Err(ReceivingError::UnknownWarehouse {
            code: code.to_owned(),
        }
        .into());
    };
    let warehouse = rows::receiving_warehouse(&warehouse)?;
    let po_numbers = request.po_numbers();
    let named = if po_numbers.is_empty() {
        HashMap::new()
    } else {
        rows::ids_by_text(
            &sqlx::query("SELECT po_number, id FROM purchase_orders WHERE po_number = ANY($1)")
                .bind(&po_numbers)
                .fetch_all(&mut **tx)
                .await?,
            "po_number",
        )?
    };
    let carrying: HashSet<i64> = match request.tracking_no() {
        Some(t) => sqlx::query_scalar(
            "SELECT DISTINCT purchase_order_id FROM tracking_numbers WHERE tracking_no = $1",
        )
        .bind(t)
        .fetch_all(&mut **tx)
        .await?
        .into_iter()
        .collect(),
        None => HashSet::new(),
    };
    let ids = shared::receipt_order_ids(request, &named, &carrying)?;

    let rows = sqlx::query(if lock {
        concat!(orders_to_receive!(), " FOR NO KEY UPDATE OF o")
    } else {
        orders_to_receive!()
    })
    .bind(&ids)
    .fetch_all(&mut **tx)
    .await?;
    let mut orders: Vec<OrderToReceive> = rows
        .iter()
        .map(rows::order_to_receive)
        .collect::<StoreResult<_>>()?;
    if orders.is_empty() {
        return Err(shared::orders_gone(request).into());
    }
    let rows = sqlx::query(if lock {
        concat!(lines_to_receive!(), " FOR NO KEY UPDATE OF l")
    } else {
        lines_to_receive!()
    })
    .bind(&ids)
    .fetch_all(&mut **tx)
    .await?;
    let lines = rows
        .iter()
        .map(rows::line_to_receive)
        .collect::<StoreResult<_>>()?;
    shared::attach_lines(&mut orders, lines);

    let err = match plan_receipt(&warehouse, &orders, &request.scans, tolerance_percent) {
        Ok(plan) => return Ok(plan),
        Err(err) => err,
    };
    let Some(code) = shared::unplaced_code(&err) else {
        return Err(err.into());
    };
    let others: Vec<String> = sqlx::query(
        "SELECT DISTINCT o.id, o.po_number
         FROM purchase_order_lines l JOIN purchase_orders o ON o.id = l.purchase_order_id
         WHERE l.merchant_sku IN (SELECT $1::text UNION SELECT sku FROM merchant_skus WHERE gtin = $1)
           AND o.status IN ('on_the_way', 'partially_received')
           AND NOT (o.id = ANY($2))
         ORDER BY o.id
         LIMIT $3",
    )
    .bind(code)
    .bind(&ids)
    .bind(shared::OTHER_ORDERS_SHOWN)
    .fetch_all(&mut **tx)
    .await?
    .iter()
    .map(|r| r.text("po_number"))
    .collect::<StoreResult<_>>()?;
    Err(shared::on_another_order(err, others).into())
}

/// `ttl` as an `INTERVAL` parameter, which holds whole microseconds (sqlx refuses a
/// `Duration` with a finer part).
fn interval(ttl: Duration) -> Duration {
    Duration::from_micros(u64::try_from(ttl.as_micros()).unwrap_or(u64::MAX))
}

/// Checks the fence and holds the lease row until COMMIT: a takeover (an update of the
/// row) then waits for this transaction, so the new holder's first write comes after
/// this one's last. `clock_timestamp()`, not `now()`: `now()` is when the transaction
/// began, and a page may take longer than what was left of the lease.
const FENCE_LOCK: &str = "SELECT 1 FROM sync_leases
     WHERE account = $1 AND owner = $2 AND generation = $3 AND lease_until > clock_timestamp()
     FOR SHARE";

/// Whether `fence` still holds the lease (same owner and generation, not expired),
/// locking the lease row as [`FENCE_LOCK`] says.
async fn fence_held(tx: &mut Transaction<'static, Postgres>, fence: &Fence) -> StoreResult<bool> {
    let held: Option<i32> = sqlx::query_scalar(FENCE_LOCK)
        .bind(&fence.account)
        .bind(&fence.owner)
        .bind(fence.generation)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(held.is_some())
}

/// `tx`, once `fence` (when given) is sure to hold its lease until COMMIT; otherwise
/// rolled back, and [`StoreError::LeaseLost`].
async fn holding_lease(
    mut tx: Transaction<'static, Postgres>,
    fence: Option<&Fence>,
) -> StoreResult<Transaction<'static, Postgres>> {
    if let Some(f) = fence
        && !fence_held(&mut tx, f).await?
    {
        tx.rollback().await?;
        return Err(shared::lease_lost(&f.account));
    }
    Ok(tx)
}

/// Announces the purchase orders a page created and updated on [`NOTIFY_CHANNEL`].
async fn notify_written(
    tx: &mut Transaction<'static, Postgres>,
    account: &str,
    outcome: &PageOutcome,
) -> StoreResult<()> {
    let payloads = notify_payloads(account, &outcome.created_ids, &outcome.updated_ids);
    if payloads.is_empty() {
        return Ok(());
    }
    sqlx::query("SELECT pg_notify($1, p) FROM UNNEST($2::text[]) AS p")
        .bind(NOTIFY_CHANNEL)
        .bind(&payloads)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// `{"account":"main","created":[12,13],"updated":[7]}`, split into as many payloads as
/// the ids need to keep each under PostgreSQL's limit. Empty when there are no ids.
fn notify_payloads(account: &str, created: &[i64], updated: &[i64]) -> Vec<String> {
    let payload = |c: &[i64], u: &[i64]| {
        serde_json::json!({ "account": account, "created": c, "updated": u }).to_string()
    };
    let empty = payload(&[], &[]).len();
    let mut out = Vec::new();
    let (mut c, mut u) = (Vec::new(), Vec::new());
    let mut len = empty;
    let ids = created
        .iter()
        .map(|id| (true, *id))
        .chain(updated.iter().map(|id| (false, *id)));
    for (is_created, id) in ids {
        // The id and a comma: at most two bytes more than it will take.
        let grows = id.to_string().len() + 1;
        if len + grows > NOTIFY_PAYLOAD_MAX && !(c.is_empty() && u.is_empty()) {
            out.push(payload(&c, &u));
            c.clear();
            u.clear();
            len = empty;
        }
        if is_created {
            c.push(id);
        } else {
            u.push(id);
        }
        len += grows;
    }
    if !(c.is_empty() && u.is_empty()) {
        out.push(payload(&c, &u));
    }
    out
}

/// What the database holds of a batch's orders, read before its transaction: under
/// READ COMMITTED each statement sees a snapshot of its own, inside a transaction or
/// not. A batch that writes nothing (all of a re-sync) then costs one round trip, not
/// the five of BEGIN, three reads and ROLLBACK.
struct BatchState {
    existing: HashMap<i64, shared::ExistingOrder>,
    tombstoned: HashSet<i64>,
    /// Purchase orders created in the ERP, by the 1688 order they were placed as.
    linked: HashMap<i64, i64>,
    /// Purchase orders created in the ERP, by the outOrderId they were placed with.
    by_out_order_id: HashMap<String, i64>,
    /// Whether the fence, if any, still holds the lease. Checked without locking (a
    /// lock would write WAL), so that a writer that lost its lease learns it at its next
    /// batch, written or not; a batch that writes locks it before COMMIT.
    fence_held: bool,
}

async fn read_batch_state(
    pool: &PgPool,
    account: &str,
    orders: &[IncomingOrder],
    fence: Option<&Fence>,
) -> StoreResult<BatchState> {
    let order_ids = shared::page_order_ids(orders);
    let rows = sqlx::query(
        "SELECT k.order_id, p.id, p.content_hash, p.raw_hash,
                EXISTS (SELECT 1 FROM sync_tombstones t
                        WHERE t.account = $1 AND t.order_id_1688 = k.order_id) AS tombstoned,
                (SELECT l.purchase_order_id FROM purchase_order_links l
                 WHERE l.account = $1 AND l.order_id_1688 = k.order_id) AS linked_po,
                $3::text IS NULL
                OR EXISTS (SELECT 1 FROM sync_leases s
                           WHERE s.account = $1 AND s.owner = $3 AND s.generation = $4
                             AND s.lease_until > clock_timestamp()) AS fence_held
         FROM UNNEST($2::bigint[]) AS k (order_id)
         LEFT JOIN LATERAL (
             -- OFFSET 0 keeps this a lookup per order by the unique key, whatever the
             -- statistics say (a table that grew within the run has none yet).
             SELECT id, content_hash, raw_hash FROM purchase_orders o
             WHERE o.account = $1 AND o.order_id_1688 = k.order_id OFFSET 0
         ) p ON true",
    )
    .persistent(PLANNED_AFRESH)
    .bind(account)
    .bind(&order_ids)
    .bind(fence.map(|f| f.owner.as_str()))
    .bind(fence.map(|f| f.generation))
    .fetch_all(pool)
    .await?;
    let (existing, tombstoned) = rows::page_state(&rows)?;
    let mut linked = HashMap::new();
    let mut fence_held = fence.is_none();
    for row in &rows {
        if let Some(po) = row.opt_int("linked_po")? {
            linked.insert(row.int("order_id")?, po);
        }
        fence_held = row.flag("fence_held")?;
    }
    let out_ids = shared::page_out_order_ids(orders);
    let by_out_order_id = if out_ids.is_empty() {
        HashMap::new()
    } else {
        let rows = sqlx::query(
            "SELECT out_order_id_sync, id FROM purchase_orders
             WHERE account = $1 AND out_order_id_sync = ANY($2)",
        )
        .persistent(PLANNED_AFRESH)
        .bind(account)
        .bind(&out_ids)
        .fetch_all(pool)
        .await?;
        rows::ids_by_text(&rows, "out_order_id_sync")?
    };
    Ok(BatchState {
        existing,
        tombstoned,
        linked,
        by_out_order_id,
        fence_held,
    })
}

/// Writes the orders that belong to created purchase orders: records the link, and for a
/// purchase order placed as exactly one 1688 order updates its 1688-owned fields as sync
/// does for synced orders (`draft` becomes `cancelled` when 1688 closed the order). A
/// purchase order placed as several 1688 orders (a split) keeps the amounts it was placed
/// with: one of its 1688 orders does not tell its totals. Either way 1688's line ids are
/// attached to the purchase order's lines (see [`shared::match_claimed_lines`]). Returns
/// the purchase orders updated and how many orders changed nothing.
async fn write_claimed(
    tx: &mut Transaction<'static, Postgres>,
    account: &str,
    claimed: &[(i64, &IncomingOrder)],
) -> StoreResult<(Vec<i64>, u64)> {
    let mut updated: Vec<i64> = Vec::new();
    let mut unchanged = 0;
    for (po_id, incoming) in claimed {
        let po_id = *po_id;
        let order = &incoming.order;
        let new_link = sqlx::query(
            "INSERT INTO purchase_order_links (purchase_order_id, account, order_id_1688)
             VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(po_id)
        .bind(account)
        .bind(order.order_id)
        .execute(&mut **tx)
        .await?
        .rows_affected()
            > 0;
        sqlx::query(
            "UPDATE purchase_orders SET order_id_1688 = $2, updated_at = now()
             WHERE id = $1 AND order_id_1688 IS NULL
               AND NOT EXISTS (SELECT 1 FROM purchase_orders o
                               WHERE o.account = $3 AND o.order_id_1688 = $2)",
        )
        .bind(po_id)
        .bind(order.order_id)
        .bind(account)
        .execute(&mut **tx)
        .await?;
        let row = sqlx::query(
            "SELECT p.content_hash,
                    (SELECT count(*) FROM purchase_order_links l WHERE l.purchase_order_id = p.id)
                        AS links
             FROM purchase_orders p WHERE p.id = $1 FOR UPDATE",
        )
        .bind(po_id)
        .fetch_one(&mut **tx)
        .await?;
        let single = row.int("links")? <= 1;
        let same_hash =
            row.opt_text("content_hash")?.as_deref() == Some(incoming.content_hash.as_str());
        if single && !new_link && same_hash {
            unchanged += 1;
            continue;
        }
        let mut changed = new_link;
        if single {
            sqlx::query(
                "UPDATE purchase_orders
                 SET status_1688 = $2, currency = $3, goods_amount = $4, shipping_fee = $5,
                     discount = $6, total_amount = $7, created_at_1688 = $8,
                     modified_at_1688 = $9, out_order_id_1688 = $10, content_hash = $11,
                     status = CASE WHEN status = 'draft' AND $12 THEN 'cancelled' ELSE status END,
                     updated_at = now()
                 WHERE id = $1",
            )
            .bind(po_id)
            .bind(&order.status)
            .bind(&order.currency)
            .bind(order.goods_amount)
            .bind(order.shipping_fee)
            .bind(order.discount)
            .bind(order.total_amount)
            .bind(order.created_at)
            .bind(order.modified_at)
            .bind(&order.out_order_id)
            .bind(&incoming.content_hash)
            .bind(incoming.initial_status().as_str() == "cancelled")
            .execute(&mut **tx)
            .await?;
            changed = true;
        }
        let stored = sqlx::query(
            "SELECT id, line_no, sub_item_id_1688, offer_id, spec_id FROM purchase_order_lines
             WHERE purchase_order_id = $1 ORDER BY line_no, id FOR UPDATE",
        )
        .bind(po_id)
        .fetch_all(&mut **tx)
        .await?
        .iter()
        .map(rows::claimed_line)
        .collect::<StoreResult<Vec<_>>>()?;
        for action in shared::match_claimed_lines(&stored, incoming, single) {
            let written = match action {
                shared::ClaimedLineAction::Attach { line_id, line } => sqlx::query(
                    "UPDATE purchase_order_lines
                     SET sub_item_id_1688 = $2, sku_id_1688 = coalesce($3, sku_id_1688),
                         status_1688 = $4, updated_at = now()
                     WHERE id = $1
                       AND (sub_item_id_1688, sku_id_1688, status_1688)
                           IS DISTINCT FROM ($2, coalesce($3, sku_id_1688), $4)",
                )
                .bind(line_id)
                .bind(line.line.sub_item_id)
                .bind(line.line.sku_id)
                .bind(&line.line.status),
                shared::ClaimedLineAction::Add { line_no, line } => sqlx::query(
                    "INSERT INTO purchase_order_lines (
                         purchase_order_id, line_no, sub_item_id_1688, offer_id, spec_id,
                         sku_id_1688, title, attributes, unit, status_1688, quantity, unit_price,
                         amount, merchant_sku, mapping_status, mapping_source, merchant_quantity,
                         merchant_unit_cost)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,
                             $16, $17, $18)",
                )
                .bind(po_id)
                .bind(line_no)
                .bind(line.line.sub_item_id)
                .bind(line.line.offer_id)
                .bind(&line.line.spec_id)
                .bind(line.line.sku_id)
                .bind(&line.line.title)
                .bind(&line.line.attributes)
                .bind(&line.line.unit)
                .bind(&line.line.status)
                .bind(line.line.quantity)
                .bind(line.line.unit_price)
                .bind(line.line.amount)
                .bind(line.mapping.as_ref().map(|m| m.merchant_sku.as_str()))
                .bind(line.mapping_status().as_str())
                .bind(shared::mapping_source(line))
                .bind(line.mapping.as_ref().map(|m| m.merchant_quantity))
                .bind(line.mapping.as_ref().map(|m| m.merchant_unit_cost)),
            }
            .execute(&mut **tx)
            .await?
            .rows_affected();
            changed |= written > 0;
        }
        if !changed {
            unchanged += 1;
            continue;
        }
        sqlx::query(concat!(
            "UPDATE purchase_orders AS po SET has_unmapped = f.unmapped, updated_at = now() ",
            unmapped_flags!(),
            " AND po.has_unmapped <> f.unmapped"
        ))
        .bind(vec![po_id])
        .execute(&mut **tx)
        .await?;
        if !updated.contains(&po_id) {
            updated.push(po_id);
        }
    }
    Ok((updated, unchanged))
}

/// Upserts suppliers by login id (one entry per login id, in login id order: see
/// [`PagePlan::suppliers`]) and returns their ids by login id. A missing member id or
/// name keeps the stored one. Shared by pages of orders and product adds, so that both
/// find the same supplier row.
async fn upsert_suppliers(
    tx: &mut Transaction<'static, Postgres>,
    suppliers: &[SupplierRef],
) -> StoreResult<HashMap<String, i64>> {
    if suppliers.is_empty() {
        return Ok(HashMap::new());
    }
    // Suppliers already stored as given are only read: an upsert would lock their rows
    // until COMMIT, and batches written side by side share suppliers.
    let login: Vec<&str> = suppliers.iter().map(|s| s.login_id.as_str()).collect();
    let stored = sqlx::query(
        "SELECT login_id_1688, id, member_id_1688, name FROM suppliers
         WHERE login_id_1688 = ANY($1)",
    )
    .bind(&login)
    .fetch_all(&mut **tx)
    .await?;
    let wanted: HashMap<&str, &SupplierRef> =
        suppliers.iter().map(|s| (s.login_id.as_str(), s)).collect();
    let mut ids = HashMap::with_capacity(suppliers.len());
    let mut as_stored = HashSet::new();
    for row in &stored {
        let login_id = row.text("login_id_1688")?;
        let (member, name) = (row.opt_text("member_id_1688")?, row.opt_text("name")?);
        if wanted.get(login_id.as_str()).is_some_and(|s| {
            s.member_id
                .as_ref()
                .is_none_or(|m| Some(m) == member.as_ref())
                && s.name.as_ref().is_none_or(|n| Some(n) == name.as_ref())
        }) {
            as_stored.insert(login_id.clone());
        }
        ids.insert(login_id, row.int("id")?);
    }
    let changed: Vec<&SupplierRef> = suppliers
        .iter()
        .filter(|s| !as_stored.contains(&s.login_id))
        .collect();
    if changed.is_empty() {
        return Ok(ids);
    }
    let login: Vec<&str> = changed.iter().map(|s| s.login_id.as_str()).collect();
    let member: Vec<Option<&str>> = changed.iter().map(|s| s.member_id.as_deref()).collect();
    let name: Vec<Option<&str>> = changed.iter().map(|s| s.name.as_deref()).collect();
    let rows = sqlx::query(
        "INSERT INTO suppliers AS s (login_id_1688, member_id_1688, name)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[])
         ON CONFLICT (login_id_1688) DO UPDATE
         SET member_id_1688 = coalesce(EXCLUDED.member_id_1688, s.member_id_1688),
             name = coalesce(EXCLUDED.name, s.name),
             updated_at = now()
         RETURNING login_id_1688, id",
    )
    .bind(&login)
    .bind(&member)
    .bind(&name)
    .fetch_all(&mut **tx)
    .await?;
    ids.extend(rows::ids_by_text(&rows, "login_id_1688")?);
    Ok(ids)
}

/// How a batch writes the orders it has not stored yet.
#[derive(Debug, Clone, Copy)]
enum NewOrders {
    /// `COPY`, under ids drawn from the sequence first.
    Copy,
    /// With the updates, through the upsert: for when `COPY` met an order that another
    /// writer had inserted meanwhile.
    Upsert,
}

fn is_unique_violation(e: &StoreError) -> bool {
    matches!(e, StoreError::Database(sqlx::Error::Database(db)) if db.is_unique_violation())
}

/// Writes the orders of the plan and returns their purchase order ids.
async fn write_orders(
    tx: &mut Transaction<'static, Postgres>,
    target: &PageTarget,
    plan: &PagePlan<'_>,
    suppliers: &HashMap<String, i64>,
    new_orders: NewOrders,
) -> StoreResult<WrittenOrders> {
    match new_orders {
        NewOrders::Upsert => {
            let written: Vec<&IncomingOrder> = plan.written().collect();
            upsert_orders(tx, target, &written, suppliers).await
        }
        NewOrders::Copy => {
            let updated: Vec<&IncomingOrder> = plan.updates.iter().map(|(_, o)| *o).collect();
            let mut written = upsert_orders(tx, target, &updated, suppliers).await?;
            let created = copy_new_orders(tx, target, &plan.inserts, suppliers).await?;
            written.created.extend(created.values().copied());
            written.po_ids.extend(created);
            Ok(written)
        }
    }
}

/// See [`Store::known_orders`]: what `read_batch_state` and `write_claimed` would find for
/// the orders, asked once for the window.
const KNOWN_ORDERS: &str = "
    SELECT p.order_id_1688, p.raw_hash
    FROM purchase_orders p
    WHERE p.account = $1 AND p.source = '1688_sync' AND p.raw_hash IS NOT NULL
      AND p.created_at_1688 >= $2 AND p.created_at_1688 <= $3
      AND NOT EXISTS (SELECT 1 FROM sync_tombstones t
                      WHERE t.account = $1 AND t.order_id_1688 = p.order_id_1688)
      AND NOT EXISTS (SELECT 1 FROM purchase_order_links k
                      WHERE k.account = $1 AND k.order_id_1688 = p.order_id_1688)
      AND (p.out_order_id_1688 IS NULL
           OR NOT EXISTS (SELECT 1 FROM purchase_orders c
                          WHERE c.account = $1 AND c.out_order_id_sync = p.out_order_id_1688))";

const COPY_ORDERS: &str = "COPY purchase_orders (
     id, po_number, source, account, order_id_1688, status, status_1688, supplier_id,
     warehouse_id, has_unmapped, currency, goods_amount, shipping_fee, discount,
     total_amount, created_at_1688, modified_at_1688, out_order_id_1688, content_hash,
     raw_hash)
     FROM STDIN";

/// Inserts orders not stored yet with `COPY`, under ids taken from the table's sequence
/// beforehand (their lines need them). Returns the purchase order id by 1688 order id.
/// A unique violation means another writer stored one of them meanwhile: see
/// [`NewOrders::Upsert`].
async fn copy_new_orders(
    tx: &mut Transaction<'static, Postgres>,
    target: &PageTarget,
    orders: &[&IncomingOrder],
    suppliers: &HashMap<String, i64>,
) -> StoreResult<HashMap<i64, i64>> {
    if orders.is_empty() {
        return Ok(HashMap::new());
    }
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT nextval(pg_get_serial_sequence('purchase_orders', 'id'))
         FROM generate_series(1, $1)",
    )
    .bind(orders.len() as i64)
    .fetch_all(&mut **tx)
    .await?;
    let mut copy = CopyText::default();
    let mut po_ids = HashMap::with_capacity(orders.len());
    for (o, &id) in orders.iter().zip(&ids) {
        let order = &o.order;
        let raw_hash = o.raw_hash.map(RawHash::to_hex);
        po_ids.insert(order.order_id, id);
        copy.int(id)
            .text(&shared::po_number(order.order_id))
            .text("1688_sync")
            .text(&target.account)
            .int(order.order_id)
            .text(o.initial_status().as_str())
            .text(&order.status)
            .opt_int(supplier_of(order, suppliers))
            .int(target.warehouse_id)
            .boolean(o.has_unmapped())
            .text(&order.currency)
            .decimal(order.goods_amount)
            .decimal(order.shipping_fee)
            .decimal(order.discount)
            .decimal(order.total_amount)
            .instant(order.created_at)
            .opt_instant(order.modified_at)
            .opt_text(order.out_order_id.as_deref())
            .text(&o.content_hash)
            .opt_text(raw_hash.as_deref())
            .end_row();
    }
    copy_in(tx, COPY_ORDERS, &copy).await?;
    Ok(po_ids)
}

/// The stored supplier of an order, by its login id.
fn supplier_of(order: &Order1688, suppliers: &HashMap<String, i64>) -> Option<i64> {
    order
        .supplier
        .as_ref()
        .and_then(|s| suppliers.get(&s.login_id).copied())
}

/// Upserts orders and returns the purchase order id of each 1688 order id.
async fn upsert_orders(
    tx: &mut Transaction<'static, Postgres>,
    target: &PageTarget,
    written: &[&IncomingOrder],
    suppliers: &HashMap<String, i64>,
) -> StoreResult<WrittenOrders> {
    if written.is_empty() {
        return Ok(WrittenOrders::default());
    }
    let mut order_id = Vec::with_capacity(written.len());
    let mut po_number = Vec::with_capacity(written.len());
    let mut status = Vec::with_capacity(written.len());
    let mut status_1688 = Vec::with_capacity(written.len());
    let mut supplier_id: Vec<Option<i64>> = Vec::with_capacity(written.len());
    let mut has_unmapped = Vec::with_capacity(written.len());
    let mut currency = Vec::with_capacity(written.len());
    let mut goods_amount = Vec::with_capacity(written.len());
    let mut shipping_fee = Vec::with_capacity(written.len());
    let mut discount = Vec::with_capacity(written.len());
    let mut total_amount = Vec::with_capacity(written.len());
    let mut created_at_1688: Vec<DateTime<Utc>> = Vec::with_capacity(written.len());
    let mut modified_at_1688: Vec<Option<DateTime<Utc>>> = Vec::with_capacity(written.len());
    let mut out_order_id: Vec<Option<&str>> = Vec::with_capacity(written.len());
    let mut content_hash = Vec::with_capacity(written.len());
    let mut raw_hash: Vec<Option<String>> = Vec::with_capacity(written.len());
    for o in written {
        let order = &o.order;
        order_id.push(order.order_id);
        po_number.push(shared::po_number(order.order_id));
        status.push(o.initial_status().as_str());
        status_1688.push(order.status.as_str());
        supplier_id.push(supplier_of(order, suppliers));
        has_unmapped.push(o.has_unmapped());
        currency.push(order.currency.as_str());
        goods_amount.push(order.goods_amount);
        shipping_fee.push(order.shipping_fee);
        discount.push(order.discount);
        total_amount.push(order.total_amount);
        created_at_1688.push(order.created_at);
        modified_at_1688.push(order.modified_at);
        out_order_id.push(order.out_order_id.as_deref());
        content_hash.push(o.content_hash.as_str());
        raw_hash.push(o.raw_hash.map(RawHash::to_hex));
    }
    // On update only 1688-owned fields change. The workflow status follows 1688 only
    // from draft to cancelled: EXCLUDED.status is the status a new order would get,
    // which is 'cancelled' exactly when 1688 has closed the order.
    let rows = sqlx::query(
        "INSERT INTO purchase_orders AS po (
             po_number, source, account, order_id_1688, status, status_1688, supplier_id,
             warehouse_id, has_unmapped, currency, goods_amount, shipping_fee, discount,
             total_amount, created_at_1688, modified_at_1688, out_order_id_1688, content_hash,
             raw_hash)
         SELECT o.po_number, '1688_sync', $1, o.order_id, o.status, o.status_1688, o.supplier_id,
                $2, o.has_unmapped, o.currency, o.goods_amount, o.shipping_fee, o.discount,
                o.total_amount, o.created_at_1688, o.modified_at_1688, o.out_order_id, o.content_hash,
                o.raw_hash
         FROM UNNEST($3::bigint[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::boolean[],
                     $9::text[], $10::numeric[], $11::numeric[], $12::numeric[], $13::numeric[],
                     $14::timestamptz[], $15::timestamptz[], $16::text[], $17::text[], $18::text[])
              AS o (order_id, po_number, status, status_1688, supplier_id, has_unmapped,
                    currency, goods_amount, shipping_fee, discount, total_amount,
                    created_at_1688, modified_at_1688, out_order_id, content_hash, raw_hash)
         ON CONFLICT (account, order_id_1688) DO UPDATE
         SET status_1688 = EXCLUDED.status_1688,
             supplier_id = coalesce(EXCLUDED.supplier_id, po.supplier_id),
             currency = EXCLUDED.currency,
             goods_amount = EXCLUDED.goods_amount,
             shipping_fee = EXCLUDED.shipping_fee,
             discount = EXCLUDED.discount,
             total_amount = EXCLUDED.total_amount,
             created_at_1688 = EXCLUDED.created_at_1688,
             modified_at_1688 = EXCLUDED.modified_at_1688,
             out_order_id_1688 = EXCLUDED.out_order_id_1688,
             content_hash = EXCLUDED.content_hash,
             raw_hash = EXCLUDED.raw_hash,
             status = CASE WHEN po.status = 'draft' AND EXCLUDED.status = 'cancelled'
                           THEN 'cancelled' ELSE po.status END,
             updated_at = now()
         RETURNING order_id_1688, id, xmax = 0 AS created",
    )
    .bind(&target.account)
    .bind(target.warehouse_id)
    .bind(&order_id)
    .bind(&po_number)
    .bind(&status)
    .bind(&status_1688)
    .bind(&supplier_id)
    .bind(&has_unmapped)
    .bind(&currency)
    .bind(&goods_amount)
    .bind(&shipping_fee)
    .bind(&discount)
    .bind(&total_amount)
    .bind(&created_at_1688)
    .bind(&modified_at_1688)
    .bind(&out_order_id)
    .bind(&content_hash)
    .bind(&raw_hash)
    .fetch_all(&mut **tx)
    .await?;
    let mut created = HashSet::new();
    for row in &rows {
        if row.try_get::<bool, _>("created")? {
            created.insert(row.try_get::<i64, _>("id")?);
        }
    }
    Ok(WrittenOrders {
        po_ids: rows::ids_by_int(&rows, "order_id_1688")?,
        created,
    })
}

/// What `upsert_orders` wrote.
#[derive(Default)]
struct WrittenOrders {
    /// Purchase order id by 1688 order id.
    po_ids: HashMap<i64, i64>,
    /// The purchase orders it inserted rather than updated (PostgreSQL's `xmax = 0`).
    created: HashSet<i64>,
}

/// The lines of a page as the columns `INSERT_LINES` unnests.
#[derive(Default)]
struct LineColumns<'a> {
    po_id: Vec<i64>,
    line_no: Vec<i32>,
    sub_item_id: Vec<i64>,
    offer_id: Vec<i64>,
    spec_id: Vec<&'a str>,
    sku_id: Vec<Option<i64>>,
    title: Vec<&'a str>,
    attributes: Vec<&'a str>,
    unit: Vec<Option<&'a str>>,
    status_1688: Vec<Option<&'a str>>,
    quantity: Vec<Decimal>,
    unit_price: Vec<Decimal>,
    amount: Vec<Decimal>,
    merchant_sku: Vec<Option<&'a str>>,
    mapping_status: Vec<&'static str>,
    mapping_source: Vec<Option<&'static str>>,
    merchant_quantity: Vec<Option<Decimal>>,
    merchant_unit_cost: Vec<Option<Decimal>>,
}

impl<'a> LineColumns<'a> {
    fn push(&mut self, po_id: i64, l: &'a IncomingLine) {
        self.po_id.push(po_id);
        self.line_no.push(l.line_no);
        self.sub_item_id.push(l.line.sub_item_id);
        self.offer_id.push(l.line.offer_id);
        self.spec_id.push(l.line.spec_id.as_str());
        self.sku_id.push(l.line.sku_id);
        self.title.push(l.line.title.as_str());
        self.attributes.push(l.line.attributes.as_str());
        self.unit.push(l.line.unit.as_deref());
        self.status_1688.push(l.line.status.as_deref());
        self.quantity.push(l.line.quantity);
        self.unit_price.push(l.line.unit_price);
        self.amount.push(l.line.amount);
        self.merchant_sku
            .push(l.mapping.as_ref().map(|m| m.merchant_sku.as_str()));
        self.mapping_status.push(l.mapping_status().as_str());
        self.mapping_source.push(shared::mapping_source(l));
        self.merchant_quantity
            .push(l.mapping.as_ref().map(|m| m.merchant_quantity));
        self.merchant_unit_cost
            .push(l.mapping.as_ref().map(|m| m.merchant_unit_cost));
    }

    async fn execute(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        statement: &'static str,
    ) -> StoreResult<()> {
        if self.po_id.is_empty() {
            return Ok(());
        }
        sqlx::query(statement)
            .bind(&self.po_id)
            .bind(&self.line_no)
            .bind(&self.sub_item_id)
            .bind(&self.offer_id)
            .bind(&self.spec_id)
            .bind(&self.sku_id)
            .bind(&self.title)
            .bind(&self.attributes)
            .bind(&self.unit)
            .bind(&self.status_1688)
            .bind(&self.quantity)
            .bind(&self.unit_price)
            .bind(&self.amount)
            .bind(&self.merchant_sku)
            .bind(&self.mapping_status)
            .bind(&self.mapping_source)
            .bind(&self.merchant_quantity)
            .bind(&self.merchant_unit_cost)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}

macro_rules! insert_lines {
    () => {
        "INSERT INTO purchase_order_lines AS l (
             purchase_order_id, line_no, sub_item_id_1688, offer_id, spec_id, sku_id_1688, title,
             attributes, unit, status_1688, quantity, unit_price, amount, merchant_sku,
             mapping_status, mapping_source, merchant_quantity, merchant_unit_cost)
         SELECT * FROM UNNEST($1::bigint[], $2::int[], $3::bigint[], $4::bigint[], $5::text[],
                              $6::bigint[], $7::text[], $8::text[], $9::text[], $10::text[],
                              $11::numeric[], $12::numeric[], $13::numeric[], $14::text[],
                              $15::text[], $16::text[], $17::numeric[], $18::numeric[])"
    };
}

/// Writes every line of the written orders, keyed by (purchase order, 1688 sub-item).
/// The lines of a purchase order this page created cannot collide with anything and
/// are loaded with `COPY`, which costs PostgreSQL a fraction of an upsert: a cold sync
/// is nearly all such lines.
async fn upsert_lines(
    tx: &mut Transaction<'static, Postgres>,
    plan: &PagePlan<'_>,
    written: &WrittenOrders,
) -> StoreResult<()> {
    let mut fresh = CopyText::default();
    let mut known = LineColumns::default();
    for order in plan.written() {
        let Some(&id) = written.po_ids.get(&order.order.order_id) else {
            continue;
        };
        let created = written.created.contains(&id);
        for l in shared::lines_to_write(order) {
            if created {
                copy_line(&mut fresh, id, l);
            } else {
                known.push(id, l);
            }
        }
    }
    copy_in(tx, COPY_LINES, &fresh).await?;
    // A merchant SKU chosen in the ERP (mapping_source = 'manual') is the ERP's: its five
    // mapping columns are kept. The WHERE leaves lines that did not change untouched, so
    // that their updated_at keeps meaning "changed".
    known
        .execute(
            tx,
            concat!(
                insert_lines!(),
                "
         ON CONFLICT (purchase_order_id, sub_item_id_1688) DO UPDATE
         SET line_no = EXCLUDED.line_no,
             offer_id = EXCLUDED.offer_id,
             spec_id = EXCLUDED.spec_id,
             sku_id_1688 = EXCLUDED.sku_id_1688,
             title = EXCLUDED.title,
             attributes = EXCLUDED.attributes,
             unit = EXCLUDED.unit,
             status_1688 = EXCLUDED.status_1688,
             quantity = EXCLUDED.quantity,
             unit_price = EXCLUDED.unit_price,
             amount = EXCLUDED.amount,
             merchant_sku = CASE WHEN l.mapping_source = 'manual' THEN l.merchant_sku ELSE EXCLUDED.merchant_sku END,
             mapping_status = CASE WHEN l.mapping_source = 'manual' THEN l.mapping_status ELSE EXCLUDED.mapping_status END,
             mapping_source = CASE WHEN l.mapping_source = 'manual' THEN l.mapping_source ELSE EXCLUDED.mapping_source END,
             merchant_quantity = CASE WHEN l.mapping_source = 'manual' THEN l.merchant_quantity ELSE EXCLUDED.merchant_quantity END,
             merchant_unit_cost = CASE WHEN l.mapping_source = 'manual' THEN l.merchant_unit_cost ELSE EXCLUDED.merchant_unit_cost END,
             updated_at = now()
         WHERE (l.line_no, l.offer_id, l.spec_id, l.sku_id_1688, l.title, l.attributes, l.unit,
                l.status_1688, l.quantity, l.unit_price, l.amount)
               IS DISTINCT FROM
               (EXCLUDED.line_no, EXCLUDED.offer_id, EXCLUDED.spec_id, EXCLUDED.sku_id_1688,
                EXCLUDED.title, EXCLUDED.attributes, EXCLUDED.unit, EXCLUDED.status_1688,
                EXCLUDED.quantity, EXCLUDED.unit_price, EXCLUDED.amount)
            OR (l.mapping_source IS DISTINCT FROM 'manual'
                AND (l.merchant_sku, l.mapping_status, l.mapping_source, l.merchant_quantity,
                     l.merchant_unit_cost)
                    IS DISTINCT FROM
                    (EXCLUDED.merchant_sku, EXCLUDED.mapping_status, EXCLUDED.mapping_source,
                     EXCLUDED.merchant_quantity, EXCLUDED.merchant_unit_cost))"
            ),
        )
        .await
}

const COPY_LINES: &str = "COPY purchase_order_lines (
     purchase_order_id, line_no, sub_item_id_1688, offer_id, spec_id, sku_id_1688, title,
     attributes, unit, status_1688, quantity, unit_price, amount, merchant_sku,
     mapping_status, mapping_source, merchant_quantity, merchant_unit_cost) FROM STDIN";

/// One row of `COPY_LINES`: the columns of `insert_lines!`, in its order.
fn copy_line(copy: &mut CopyText, po_id: i64, l: &IncomingLine) {
    let mapping = l.mapping.as_ref();
    copy.int(po_id)
        .int(l.line_no.into())
        .int(l.line.sub_item_id)
        .int(l.line.offer_id)
        .text(&l.line.spec_id)
        .opt_int(l.line.sku_id)
        .text(&l.line.title)
        .text(&l.line.attributes)
        .opt_text(l.line.unit.as_deref())
        .opt_text(l.line.status.as_deref())
        .decimal(l.line.quantity)
        .decimal(l.line.unit_price)
        .decimal(l.line.amount)
        .opt_text(mapping.map(|m| m.merchant_sku.as_str()))
        .text(l.mapping_status().as_str())
        .opt_text(shared::mapping_source(l))
        .opt_decimal(mapping.map(|m| m.merchant_quantity))
        .opt_decimal(mapping.map(|m| m.merchant_unit_cost))
        .end_row();
}

/// Runs `statement` (a `COPY … FROM STDIN`) with `rows`, inside the transaction.
async fn copy_in(
    tx: &mut Transaction<'static, Postgres>,
    statement: &str,
    rows: &CopyText,
) -> StoreResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut copy = tx.copy_in_raw(statement).await?;
    if let Err(e) = copy.send(rows.as_bytes()).await {
        // The server is told to abandon the COPY, so that the transaction can roll back.
        let _ = copy.abort("sync1688: sending the rows failed").await;
        return Err(e.into());
    }
    copy.finish().await?;
    Ok(())
}

/// Deletes the lines that 1688 no longer lists on an updated order, unless the ERP has
/// made them its own (received goods, a manual merchant SKU) or added them (no sub-item).
async fn delete_vanished_lines(
    tx: &mut Transaction<'static, Postgres>,
    plan: &PagePlan<'_>,
) -> StoreResult<()> {
    if plan.updates.is_empty() {
        return Ok(());
    }
    let orders: Vec<i64> = plan.updates.iter().map(|(id, _)| *id).collect();
    let mut kept_po = Vec::new();
    let mut kept_sub = Vec::new();
    for (id, order) in &plan.updates {
        for l in &order.lines {
            kept_po.push(*id);
            kept_sub.push(l.line.sub_item_id);
        }
    }
    sqlx::query(
        "DELETE FROM purchase_order_lines AS l
         WHERE l.purchase_order_id = ANY($1)
           AND l.sub_item_id_1688 IS NOT NULL
           AND l.received_qty = 0
           AND l.mapping_source IS DISTINCT FROM 'manual'
           AND NOT EXISTS (
               SELECT 1 FROM UNNEST($2::bigint[], $3::bigint[]) AS k (po_id, sub_item_id)
               WHERE k.po_id = l.purchase_order_id AND k.sub_item_id = l.sub_item_id_1688)",
    )
    .persistent(PLANNED_AFRESH)
    .bind(&orders)
    .bind(&kept_po)
    .bind(&kept_sub)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Inserts `lines` as the lines of the created purchase order `id`, numbered from 1, all
/// mapped (they were resolved from the mappings): `create_purchase_order` and
/// `edit_draft`.
async fn insert_new_lines(
    tx: &mut Transaction<'static, Postgres>,
    id: i64,
    lines: &[NewPoLine],
) -> StoreResult<()> {
    for (i, line) in lines.iter().enumerate() {
        let values = shared::new_line_values(line);
        sqlx::query(
            "INSERT INTO purchase_order_lines (
                 purchase_order_id, line_no, offer_id, spec_id, sku_id_1688, title, attributes,
                 quantity, unit_price, amount, merchant_sku, mapping_status, mapping_source,
                 merchant_quantity, merchant_unit_cost)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'mapped', 'mapping', $12, $13)",
        )
        .bind(id)
        .bind(i as i32 + 1)
        .bind(line.offer_id)
        .bind(&line.spec_id)
        .bind(line.sku_id_1688)
        .bind(&line.title)
        .bind(&line.attributes)
        .bind(line.quantity)
        .bind(line.unit_price)
        .bind(values.amount)
        .bind(&line.merchant_sku)
        .bind(line.merchant_quantity)
        .bind(values.merchant_unit_cost)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_page_is_announced_in_one_payload() {
        assert_eq!(
            notify_payloads("main", &[12, 13], &[7]),
            [r#"{"account":"main","created":[12,13],"updated":[7]}"#]
        );
        assert!(notify_payloads("main", &[], &[]).is_empty());
    }

    #[test]
    fn many_ids_are_split_into_payloads_under_the_limit_losing_none() {
        let created: Vec<i64> = (0..900).map(|i| i64::MAX - i).collect();
        let updated: Vec<i64> = (0..900).map(|i| 1_000_000_000_000 + i).collect();

        let payloads = notify_payloads("main", &created, &updated);

        assert!(payloads.len() > 2, "{}", payloads.len());
        let (mut seen_created, mut seen_updated) = (Vec::new(), Vec::new());
        for (i, p) in payloads.iter().enumerate() {
            assert!(p.len() <= NOTIFY_PAYLOAD_MAX, "{} bytes", p.len());
            if i + 1 < payloads.len() {
                assert!(
                    p.len() > NOTIFY_PAYLOAD_MAX - 40,
                    "{} bytes: split early",
                    p.len()
                );
            }
            let v: serde_json::Value = serde_json::from_str(p).unwrap();
            assert_eq!(v["account"], "main");
            let ids = |key: &str| -> Vec<i64> {
                v[key]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|i| i.to_string().parse().unwrap())
                    .collect()
            };
            seen_created.extend(ids("created"));
            seen_updated.extend(ids("updated"));
        }
        assert_eq!((seen_created, seen_updated), (created, updated));
    }
}
