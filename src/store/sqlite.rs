//! The shared ERP database on SQLite, the embedded default. Money and quantities are TEXT
//! holding the exact decimal (sqlx's decimal support is PostgreSQL-only, and a NUMERIC
//! column would turn them into floating point); timestamps are TEXT in one fixed-width
//! UTC format so that comparing the text orders the instants. Lists are passed to SQL as
//! one JSON parameter read with `json_each`, SQLite's stand-in for `UNNEST`.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use rust_decimal::Decimal;
use serde_json::json;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row, Sqlite, Transaction};

use crate::domain::receiving::{
    check_warehouse_code, check_warehouse_deletion, plan_receipt, warehouse_tombstone_reason,
};
use crate::domain::{
    IncomingOrder, KnownOrders, OrderToReceive, Product1688, RawHash, ReceiptPlan, ReceiptRequest,
    ReceivingError, RunKind, RunStatus, SkuMapping, SupplierRef, SyncWindow, TrackingSource,
};

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

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// The current instant in the stored timestamp format.
macro_rules! now {
    () => {
        "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
    };
}

/// Rows per multi-row statement: 19 columns × 500 rows stays far below SQLite's limit of
/// 32766 bound parameters.
const CHUNK: usize = 500;

/// Writers start with `BEGIN IMMEDIATE`: a deferred transaction that reads first and
/// writes later fails with SQLITE_BUSY (no waiting) when another connection wrote in
/// between, whereas an immediate one waits for the busy timeout.
const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";

/// For `.persistent(…)` of statements built for the rows at hand (`QueryBuilder`): one
/// text per row count, each a large program once prepared. Cached, they piled up in
/// every pooled connection's statement cache: 100 MiB and more over a cold sync.
const UNCACHED: bool = false;

/// The store on a SQLite database file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens the database (e.g. `sqlite://sync1688.db?mode=rwc`) with foreign keys on,
    /// WAL journal and a busy timeout. An in-memory database lives in one connection, so
    /// its pool has exactly one that is never recycled.
    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Self> {
        let mut options = SqliteConnectOptions::from_str(url)
            .map_err(StoreError::Connect)?
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let pool_options = if in_memory {
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            options = options
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal);
            SqlitePoolOptions::new().max_connections(max_connections.max(1))
        };
        let pool = pool_options
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await
            .map_err(StoreError::Connect)?;
        Ok(SqliteStore { pool })
    }

    /// The pool, for code that needs SQLite itself (tests).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    async fn begin_write(&self) -> StoreResult<Transaction<'static, Sqlite>> {
        Ok(self.pool.begin_with(BEGIN_WRITE).await?)
    }

    /// The purchase orders `ids` with their lines, by id; missing ids are skipped.
    async fn fetch_orders(&self, ids: &[i64]) -> StoreResult<Vec<StoredOrder>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // One read transaction: the orders and their lines from the same snapshot.
        let mut tx = self.pool.begin().await?;
        let orders = sqlx::query(
            "SELECT id, po_number, source, account, order_id_1688, status, status_1688, supplier_id,
                    warehouse_id, has_unmapped, note, currency, goods_amount, shipping_fee, discount,
                    total_amount, created_at_1688, modified_at_1688, created_at, updated_at
             FROM purchase_orders WHERE id IN (SELECT value FROM json_each(?1)) ORDER BY id",
        )
        .bind(json_list(ids))
        .fetch_all(&mut *tx)
        .await?;
        let lines = sqlx::query(
            "SELECT purchase_order_id, id, line_no, sub_item_id_1688, offer_id, spec_id, sku_id_1688,
                    title, attributes, quantity, unit_price, amount, merchant_sku, mapping_status,
                    mapping_source, merchant_quantity, merchant_unit_cost, received_qty
             FROM purchase_order_lines WHERE purchase_order_id IN (SELECT value FROM json_each(?1))
             ORDER BY purchase_order_id, line_no, id",
        )
        .bind(json_list(ids))
        .fetch_all(&mut *tx)
        .await?;
        tx.rollback().await?;
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

impl Columns for SqliteRow {
    columns_read_as_stored!();

    fn decimal(&self, column: &'static str) -> StoreResult<Decimal> {
        parse_dec(column, &self.try_get::<String, _>(column)?)
    }
    fn opt_decimal(&self, column: &'static str) -> StoreResult<Option<Decimal>> {
        self.try_get::<Option<String>, _>(column)?
            .map(|t| parse_dec(column, &t))
            .transpose()
    }
    fn instant(&self, column: &'static str) -> StoreResult<DateTime<Utc>> {
        parse_ts(column, &self.try_get::<String, _>(column)?)
    }
    fn opt_instant(&self, column: &'static str) -> StoreResult<Option<DateTime<Utc>>> {
        self.try_get::<Option<String>, _>(column)?
            .map(|t| parse_ts(column, &t))
            .transpose()
    }
}

/// A decimal as stored: exactly as given, scale included (`39.90`), as PostgreSQL's
/// `numeric` keeps it; only a negative zero loses its sign.
fn dec(d: &Decimal) -> String {
    if d.is_zero() {
        d.abs().to_string()
    } else {
        d.to_string()
    }
}

fn parse_dec(column: &'static str, text: &str) -> StoreResult<Decimal> {
    let t = text.trim();
    Decimal::from_str(t)
        .or_else(|_| Decimal::from_scientific(t))
        .map_err(|_| StoreError::Corrupt {
            column,
            value: text.to_owned(),
        })
}

/// An instant as stored: `2026-04-18T00:00:00.000Z`.
fn ts(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Reads our own format, any RFC 3339 time, and SQLite's `datetime('now')` format (UTC),
/// which other tools writing the file may use.
fn parse_ts(column: &'static str, text: &str) -> StoreResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| {
            NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").map(|t| t.and_utc())
        })
        .map_err(|_| StoreError::Corrupt {
            column,
            value: text.to_owned(),
        })
}

/// A list as one JSON parameter for `json_each`.
fn json_list<T: serde::Serialize>(items: &[T]) -> String {
    serde_json::Value::from(items.iter().map(|v| json!(v)).collect::<Vec<_>>()).to_string()
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    async fn migrate(&self) -> StoreResult<()> {
        MIGRATOR.run(&self.pool).await.map_err(StoreError::Migrate)
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn ensure_warehouse(&self, code: &str) -> StoreResult<i64> {
        if let Some(id) = sqlx::query_scalar("SELECT id FROM warehouses WHERE code = ?1")
            .bind(code)
            .fetch_optional(&self.pool)
            .await?
        {
            return Ok(id);
        }
        sqlx::query(
            "INSERT INTO warehouses (code, name) VALUES (?1, ?1) ON CONFLICT (code) DO NOTHING",
        )
        .bind(code)
        .execute(&self.pool)
        .await?;
        Ok(
            sqlx::query_scalar("SELECT id FROM warehouses WHERE code = ?1")
                .bind(code)
                .fetch_one(&self.pool)
                .await?,
        )
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
        let skus: Vec<&str> = rows.iter().map(|r| r.value.sku.as_str()).collect();
        let gtins: Vec<String> = rows
            .iter()
            .filter_map(|r| shared::clean_gtin(r.value.gtin.as_deref()))
            .collect();
        let mut tx = self.begin_write().await?;
        let existing = rows::merchant_skus_by_sku(
            &sqlx::query(
                "SELECT sku, gtin, name FROM merchant_skus WHERE sku IN (SELECT value FROM json_each(?1))",
            )
            .bind(json_list(&skus))
            .fetch_all(&mut *tx)
            .await?,
        )?;
        let owners = rows::gtin_owners(
            &sqlx::query(
                "SELECT gtin, sku FROM merchant_skus WHERE gtin IN (SELECT value FROM json_each(?1))",
            )
            .bind(json_list(&gtins))
            .fetch_all(&mut *tx)
            .await?,
        )?;
        let plan = shared::plan_merchant_skus(rows, &existing, &owners)?;

        if !plan.release_gtins.is_empty() {
            sqlx::query("UPDATE merchant_skus SET gtin = NULL WHERE sku IN (SELECT value FROM json_each(?1))")
                .bind(json_list(&plan.release_gtins))
                .execute(&mut *tx)
                .await?;
        }
        for chunk in plan.upserts.chunks(CHUNK) {
            let mut qb =
                QueryBuilder::<Sqlite>::new("INSERT INTO merchant_skus (sku, gtin, name) ");
            qb.push_values(chunk, |mut b, m| {
                b.push_bind(m.sku.clone())
                    .push_bind(m.gtin.clone())
                    .push_bind(m.name.clone());
            });
            qb.push(concat!(
                " ON CONFLICT (sku) DO UPDATE SET gtin = excluded.gtin, name = excluded.name, updated_at = ",
                now!()
            ));
            qb.build().persistent(UNCACHED).execute(&mut *tx).await?;
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
        let keys: Vec<(i64, &str)> = rows
            .iter()
            .map(|r| (r.value.offer_id, r.value.spec_id.as_str()))
            .collect();

        let mut tx = self.begin_write().await?;
        let known: HashSet<String> = sqlx::query_scalar(
            "SELECT sku FROM merchant_skus WHERE sku IN (SELECT value FROM json_each(?1))",
        )
        .bind(json_list(&wanted_skus))
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .collect();
        let existing = rows::mappings_by_key(
            &sqlx::query(
                "SELECT m.offer_id, m.spec_id, m.merchant_sku, m.quantity_ratio
                 FROM json_each(?1) AS k
                 JOIN sku_mappings m
                   ON m.offer_id = json_extract(k.value, '$[0]') AND m.spec_id = json_extract(k.value, '$[1]')",
            )
            .bind(json_list(&keys))
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
                     WHERE p.offer_id IN (SELECT value FROM json_each(?1))",
                )
                .bind(json_list(&shared::mapping_offers(rows)))
                .fetch_all(&mut *tx)
                .await?,
            )?
        };
        let plan = shared::plan_mappings(rows, &known, &product_specs, force, &existing)?;

        for chunk in plan.upserts.chunks(CHUNK) {
            let mut qb = QueryBuilder::<Sqlite>::new(
                "INSERT INTO sku_mappings (offer_id, spec_id, merchant_sku, quantity_ratio) ",
            );
            qb.push_values(chunk, |mut b, m| {
                b.push_bind(m.offer_id)
                    .push_bind(m.spec_id.clone())
                    .push_bind(m.merchant_sku.clone())
                    .push_bind(dec(&m.quantity_ratio));
            });
            qb.push(concat!(
                " ON CONFLICT (offer_id, spec_id) DO UPDATE SET merchant_sku = excluded.merchant_sku,",
                " quantity_ratio = excluded.quantity_ratio, updated_at = ",
                now!()
            ));
            qb.build().persistent(UNCACHED).execute(&mut *tx).await?;
        }

        let keys: Vec<(i64, &str)> = plan
            .all
            .iter()
            .map(|m| (m.offer_id, m.spec_id.as_str()))
            .collect();
        let waiting = sqlx::query(
            "SELECT l.id, l.purchase_order_id, l.offer_id, l.spec_id, l.quantity, l.unit_price, l.amount
             FROM json_each(?1) AS k
             JOIN purchase_order_lines l
               ON l.offer_id = json_extract(k.value, '$[0]') AND l.spec_id = json_extract(k.value, '$[1]')
             JOIN purchase_orders p ON p.id = l.purchase_order_id
             WHERE l.mapping_status = 'unmapped'
               AND l.mapping_source IS NOT 'manual'
               AND p.status NOT IN ('received', 'cancelled')",
        )
        .bind(json_list(&keys))
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(rows::waiting_line)
        .collect::<StoreResult<Vec<_>>>()?;
        let remaps = shared::remap(&waiting, &plan.all);
        let orders = shared::remapped_orders(&remaps);
        if !remaps.is_empty() {
            // Decimals travel as JSON strings so that they stay exact text.
            let updates: Vec<serde_json::Value> = remaps
                .iter()
                .map(|r| {
                    json!([
                        r.line_id,
                        r.merchant_sku,
                        dec(&r.merchant_quantity),
                        dec(&r.merchant_unit_cost)
                    ])
                })
                .collect();
            sqlx::query(concat!(
                "UPDATE purchase_order_lines
                 SET merchant_sku = json_extract(r.value, '$[1]'),
                     mapping_status = 'mapped',
                     mapping_source = 'mapping',
                     merchant_quantity = json_extract(r.value, '$[2]'),
                     merchant_unit_cost = json_extract(r.value, '$[3]'),
                     updated_at = ",
                now!(),
                "
                 FROM json_each(?1) AS r
                 WHERE purchase_order_lines.id = json_extract(r.value, '$[0]')"
            ))
            .bind(serde_json::Value::from(updates).to_string())
            .execute(&mut *tx)
            .await?;
            sqlx::query(concat!(
                "UPDATE purchase_orders
                 SET has_unmapped = EXISTS (
                         SELECT 1 FROM purchase_order_lines l
                         WHERE l.purchase_order_id = purchase_orders.id AND l.mapping_status = 'unmapped'),
                     updated_at = ",
                now!(),
                "
                 WHERE id IN (SELECT value FROM json_each(?1))"
            ))
            .bind(json_list(&orders))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(plan.change(&remaps, &orders))
    }

    async fn delete_mapping(&self, offer_id: i64, spec_id: &str) -> StoreResult<bool> {
        let deleted = sqlx::query("DELETE FROM sku_mappings WHERE offer_id = ?1 AND spec_id = ?2")
            .bind(offer_id)
            .bind(spec_id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(deleted > 0)
    }

    async fn upsert_product(&self, product: &Product1688) -> StoreResult<ProductUpsert> {
        let hash = shared::product_hash(product);
        let mut tx = self.begin_write().await?;
        let stored: Option<Option<String>> =
            sqlx::query_scalar("SELECT content_hash FROM products_1688 WHERE offer_id = ?1")
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
        sqlx::query(concat!(
            "INSERT INTO products_1688 (
                 offer_id, supplier_id, subject, status, category, unit, min_order_quantity,
                 price_ranges, content_hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (offer_id) DO UPDATE
             SET supplier_id = excluded.supplier_id,
                 subject = excluded.subject,
                 status = excluded.status,
                 category = excluded.category,
                 unit = excluded.unit,
                 min_order_quantity = excluded.min_order_quantity,
                 price_ranges = excluded.price_ranges,
                 content_hash = excluded.content_hash,
                 updated_at = ",
            now!()
        ))
        .bind(product.offer_id)
        .bind(supplier_id)
        .bind(&product.subject)
        .bind(&product.status)
        .bind(&product.category)
        .bind(&product.unit)
        .bind(product.min_order_quantity.as_ref().map(dec))
        .bind(shared::price_ranges_json(&product.price_ranges))
        .bind(&hash)
        .execute(&mut *tx)
        .await?;

        let skus = shared::product_skus_to_write(product);
        let specs: Vec<&str> = skus.iter().map(|s| s.spec_id.as_str()).collect();
        sqlx::query(
            "DELETE FROM product_skus_1688
             WHERE offer_id = ?1 AND spec_id NOT IN (SELECT value FROM json_each(?2))",
        )
        .bind(product.offer_id)
        .bind(json_list(&specs))
        .execute(&mut *tx)
        .await?;
        for chunk in skus.chunks(CHUNK) {
            let mut qb = QueryBuilder::<Sqlite>::new(
                "INSERT INTO product_skus_1688 (
                     offer_id, spec_id, sku_id_1688, attributes, price, cargo_number, stock) ",
            );
            qb.push_values(chunk, |mut b, s| {
                b.push_bind(product.offer_id)
                    .push_bind(s.spec_id.clone())
                    .push_bind(s.sku_id)
                    .push_bind(s.attributes.clone())
                    .push_bind(s.price.as_ref().map(dec))
                    .push_bind(s.cargo_number.clone())
                    .push_bind(s.stock);
            });
            // As in PostgreSQL: unchanged SKUs are left untouched.
            qb.push(concat!(
                " ON CONFLICT (offer_id, spec_id) DO UPDATE
                  SET sku_id_1688 = excluded.sku_id_1688,
                      attributes = excluded.attributes,
                      price = excluded.price,
                      cargo_number = excluded.cargo_number,
                      stock = excluded.stock,
                      updated_at = ",
                now!(),
                "
                  WHERE (product_skus_1688.sku_id_1688, product_skus_1688.attributes,
                         product_skus_1688.price, product_skus_1688.cargo_number,
                         product_skus_1688.stock)
                        IS NOT
                        (excluded.sku_id_1688, excluded.attributes, excluded.price,
                         excluded.cargo_number, excluded.stock)"
            ));
            qb.build().persistent(UNCACHED).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(change)
    }

    async fn product_skus(&self, offer_id: Option<i64>) -> StoreResult<Vec<StoredProductSku>> {
        let rows = sqlx::query(
            "SELECT s.offer_id, s.spec_id, s.sku_id_1688, p.subject, s.attributes, s.price,
                    sup.login_id_1688, m.merchant_sku, m.quantity_ratio, p.status AS product_status,
                    p.min_order_quantity
             FROM product_skus_1688 s
             JOIN products_1688 p ON p.offer_id = s.offer_id
             JOIN suppliers sup ON sup.id = p.supplier_id
             LEFT JOIN sku_mappings m ON m.offer_id = s.offer_id AND m.spec_id = s.spec_id
             WHERE ?1 IS NULL OR s.offer_id = ?1
             ORDER BY s.offer_id, s.spec_id",
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
             ORDER BY s.login_id_1688",
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
        let mut tx = self.begin_write().await?;
        sqlx::query(concat!(
            "UPDATE sync_runs SET status = 'failed', error = ?2, finished_at = ",
            now!(),
            " WHERE account = ?1 AND status = 'running'"
        ))
        .bind(account)
        .bind(shared::INTERRUPTED)
        .execute(&mut *tx)
        .await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO sync_runs (account, kind, window_start, window_end, status)
             VALUES (?1, ?2, ?3, ?4, 'running')
             RETURNING id",
        )
        .bind(account)
        .bind(kind.as_str())
        .bind(ts(&window.start))
        .bind(ts(&window.end))
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
        sqlx::query(concat!(
            "UPDATE sync_runs
             SET status = ?2, finished_at = ",
            now!(),
            ", error = ?3,
                 orders_seen = ?4, orders_inserted = ?5, orders_updated = ?6,
                 orders_unchanged = ?7, orders_skipped = ?8, lines_unmapped = ?9, pages = ?10
             WHERE id = ?1"
        ))
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
        let fence = shared::fence_for(&target.account, target.fence.as_ref())?;
        let mut tx = self.begin_write().await?;
        // Orders we created and placed are written to their purchase order, never
        // imported as new ones.
        let claimed = find_claimed(&mut tx, &target.account, orders).await?;
        let unclaimed = shared::unclaimed(orders, &claimed);
        let orders: &[IncomingOrder] = &unclaimed;
        let order_ids = shared::page_order_ids(orders);

        let rows = sqlx::query(
            "SELECT k.value AS order_id, p.id, p.content_hash, p.raw_hash,
                    t.order_id_1688 IS NOT NULL AS tombstoned
             FROM json_each(?2) AS k
             LEFT JOIN purchase_orders p ON p.account = ?1 AND p.order_id_1688 = k.value
             LEFT JOIN sync_tombstones t ON t.account = ?1 AND t.order_id_1688 = k.value",
        )
        .bind(&target.account)
        .bind(json_list(&order_ids))
        .fetch_all(&mut *tx)
        .await?;
        let (existing, tombstoned) = rows::page_state(&rows)?;
        let plan = PagePlan::new(orders, &existing, &tombstoned);
        if plan.writes_nothing() && claimed.is_empty() {
            // As in PostgreSQL, a lost lease is reported even by a page that writes nothing.
            let held = match fence {
                Some(f) => fence_held(&mut tx, f).await?,
                None => true,
            };
            tx.rollback().await?;
            return plan.outcome_unwritten(fence, held);
        }

        let (claimed_updated, claimed_unchanged) =
            write_claimed(&mut tx, &target.account, &claimed).await?;
        let mut po_ids = HashMap::new();
        if plan.writes_orders() {
            let suppliers = upsert_suppliers(&mut tx, &plan.suppliers()).await?;
            po_ids = upsert_orders(&mut tx, target, &plan, &suppliers).await?;
            upsert_lines(&mut tx, &plan, &po_ids).await?;
            delete_vanished_lines(&mut tx, &plan).await?;
        }
        for (id, raw) in &plan.refreshed {
            // Not a change of the order: updated_at stays.
            sqlx::query("UPDATE purchase_orders SET raw_hash = ?2 WHERE id = ?1")
                .bind(id)
                .bind(raw.to_hex())
                .execute(&mut *tx)
                .await?;
        }
        // An inserted order's flag came with it. An updated order may also hold lines the
        // ERP made its own (manual, received, added), so its flag comes from the stored
        // lines.
        let updated: Vec<i64> = plan.updates.iter().map(|(id, _)| *id).collect();
        if !updated.is_empty() {
            sqlx::query(concat!(
                "UPDATE purchase_orders
                 SET has_unmapped = 1 - has_unmapped, updated_at = ",
                now!(),
                "
                 WHERE id IN (SELECT value FROM json_each(?1))
                   AND has_unmapped <> EXISTS (
                       SELECT 1 FROM purchase_order_lines l
                       WHERE l.purchase_order_id = purchase_orders.id AND l.mapping_status = 'unmapped')"
            ))
            .bind(json_list(&updated))
            .execute(&mut *tx)
            .await?;
        }
        holding_lease(tx, fence).await?.commit().await?;
        let mut outcome = plan.outcome(&po_ids);
        shared::add_claimed(&mut outcome, claimed_updated, claimed_unchanged);
        Ok(outcome)
    }

    async fn known_orders(&self, account: &str, window: SyncWindow) -> StoreResult<KnownOrders> {
        // As in PostgreSQL (its KNOWN_ORDERS says why each condition).
        let rows = sqlx::query(
            "SELECT p.order_id_1688, p.raw_hash
             FROM purchase_orders p
             WHERE p.account = ?1 AND p.source = '1688_sync' AND p.raw_hash IS NOT NULL
               AND p.created_at_1688 >= ?2 AND p.created_at_1688 <= ?3
               AND NOT EXISTS (SELECT 1 FROM sync_tombstones t
                               WHERE t.account = ?1 AND t.order_id_1688 = p.order_id_1688)
               AND NOT EXISTS (SELECT 1 FROM purchase_order_links k
                               WHERE k.account = ?1 AND k.order_id_1688 = p.order_id_1688)
               AND (p.out_order_id_1688 IS NULL
                    OR NOT EXISTS (SELECT 1 FROM purchase_orders c
                                   WHERE c.account = ?1
                                     AND c.out_order_id_sync = p.out_order_id_1688))",
        )
        .bind(account)
        .bind(ts(&window.start))
        .bind(ts(&window.end))
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
             WHERE p.account = ?1 AND p.has_unmapped
               AND p.created_at_1688 >= ?2 AND p.created_at_1688 <= ?3",
        )
        .bind(account)
        .bind(ts(&window.start))
        .bind(ts(&window.end))
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
                     WHERE r.account = ?1 AND r.started_at < ?2 AND r.status <> 'running'
                       AND r.id <> COALESCE((SELECT max(s.id) FROM sync_runs s
                                             WHERE s.account = ?1 AND s.status = 'succeeded'), 0)
                     LIMIT ?3)",
            )
            .bind(account)
            .bind(ts(&started_before))
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
        let mut connection = self.pool.acquire().await?;
        if fence_held(&mut connection, fence).await? {
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
            "SELECT id FROM purchase_orders WHERE account = ?1 AND order_id_1688 = ?2",
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
             FROM sync_runs ORDER BY started_at DESC, id DESC LIMIT ?1",
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
                 (SELECT count(*) FROM purchase_orders WHERE has_unmapped <> 0) AS orders_with_unmapped,
                 (SELECT count(*) FROM suppliers) AS suppliers,
                 (SELECT count(*) FROM purchase_order_lines) AS lines,
                 (SELECT count(*) FROM purchase_order_lines WHERE mapping_status = 'mapped') AS mapped_lines,
                 (SELECT count(*) FROM purchase_order_lines WHERE mapping_status = 'unmapped') AS unmapped_lines",
        )
        .fetch_one(&self.pool)
        .await?;
        rows::totals(&r)
    }

    async fn unmapped_items(&self, limit: u32) -> StoreResult<Vec<UnmappedItem>> {
        let rows = sqlx::query(
            "SELECT offer_id, spec_id, title, attributes, lines, orders, oldest_order_at
             FROM unmapped_1688_items
             ORDER BY lines DESC, orders DESC, offer_id, spec_id
             LIMIT ?1",
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
            "INSERT INTO sync_tombstones (account, order_id_1688, reason) VALUES (?1, ?2, ?3)
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
        // One statement, as in PostgreSQL; SQLite runs it under its single write lock.
        let row = sqlx::query(concat!(
            "INSERT INTO sync_leases (account, owner, lease_until, generation, updated_at)
             VALUES (?1, ?2, strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?3), 1, ",
            now!(),
            ")
             ON CONFLICT (account) DO UPDATE
             SET owner = excluded.owner,
                 lease_until = excluded.lease_until,
                 generation = CASE WHEN sync_leases.owner IS excluded.owner
                                   THEN sync_leases.generation ELSE sync_leases.generation + 1 END,
                 updated_at = excluded.updated_at
             WHERE sync_leases.owner IS NULL
                OR sync_leases.lease_until IS NULL
                OR sync_leases.lease_until < ",
            now!(),
            "
                OR sync_leases.owner = excluded.owner
             RETURNING account, owner, generation, lease_until"
        ))
        .bind(account)
        .bind(owner)
        .bind(ttl_modifier(ttl))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(rows::lease).transpose()
    }

    async fn renew_lease(
        &self,
        fence: &Fence,
        ttl: Duration,
    ) -> StoreResult<Option<DateTime<Utc>>> {
        // No condition on lease_until: an expired lease that nobody took is still ours.
        let until: Option<String> = sqlx::query_scalar(concat!(
            "UPDATE sync_leases
             SET lease_until = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?4), updated_at = ",
            now!(),
            "
             WHERE account = ?1 AND owner = ?2 AND generation = ?3
             RETURNING lease_until"
        ))
        .bind(&fence.account)
        .bind(&fence.owner)
        .bind(fence.generation)
        .bind(ttl_modifier(ttl))
        .fetch_optional(&self.pool)
        .await?;
        until.map(|t| parse_ts("lease_until", &t)).transpose()
    }

    async fn release_lease(&self, fence: &Fence) -> StoreResult<()> {
        // Clearing the owner makes the next claim a change of holder, even by this
        // owner: its old fences stay invalid.
        sqlx::query(concat!(
            "UPDATE sync_leases SET owner = NULL, lease_until = ",
            now!(),
            ", updated_at = ",
            now!(),
            " WHERE account = ?1 AND owner = ?2 AND generation = ?3"
        ))
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
        let cursor: Option<String> =
            sqlx::query_scalar("SELECT modified_since FROM sync_cursors WHERE account = ?1")
                .bind(account)
                .fetch_optional(&self.pool)
                .await?;
        cursor.map(|t| parse_ts("modified_since", &t)).transpose()
    }

    async fn advance_change_cursor(
        &self,
        account: &str,
        to: DateTime<Utc>,
        fence: Option<&Fence>,
    ) -> StoreResult<()> {
        let fence = shared::fence_for(account, fence)?;
        let mut tx = self.begin_write().await?;
        // The WHERE keeps the cursor from moving back and leaves the row untouched when
        // it would not move; the fixed-width text compares as the instants do.
        sqlx::query(concat!(
            "INSERT INTO sync_cursors (account, modified_since) VALUES (?1, ?2)
             ON CONFLICT (account) DO UPDATE
             SET modified_since = excluded.modified_since, updated_at = ",
            now!(),
            "
             WHERE sync_cursors.modified_since < excluded.modified_since"
        ))
        .bind(account)
        .bind(ts(&to))
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
        let r = sqlx::query(concat!(
            "INSERT INTO sync_backfills (account, window_start, window_end) VALUES (?1, ?2, ?3)
             ON CONFLICT (account, window_start, window_end) WHERE finished_at IS NULL
             DO UPDATE SET updated_at = ",
            now!(),
            "
             RETURNING id, account, window_start, window_end, done_until, finished_at"
        ))
        .bind(account)
        .bind(ts(&window.start))
        .bind(ts(&window.end))
        .fetch_one(&self.pool)
        .await?;
        rows::backfill(&r)
    }

    async fn backfill_progress(&self, id: i64, done_until: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query(concat!(
            "UPDATE sync_backfills SET done_until = ?2, updated_at = ",
            now!(),
            " WHERE id = ?1 AND (done_until IS NULL OR done_until < ?2)"
        ))
        .bind(id)
        .bind(ts(&done_until))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn finish_backfill(&self, id: i64) -> StoreResult<()> {
        sqlx::query(concat!(
            "UPDATE sync_backfills SET finished_at = ",
            now!(),
            ", updated_at = ",
            now!(),
            " WHERE id = ?1 AND finished_at IS NULL"
        ))
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
             WHERE po.account = ?1 AND po.status IN ('on_the_way', 'partially_received')
               AND po.order_id_1688 IS NOT NULL
               AND COALESCE(po.status_1688, '') NOT IN ('waitbuyerpay', 'waitsellersend', 'cancel', 'terminated')
             UNION
             SELECT po.po_number, l.order_id_1688 FROM purchase_order_links l
             JOIN purchase_orders po ON po.id = l.purchase_order_id
             WHERE l.account = ?1 AND po.status IN ('on_the_way', 'partially_received')
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
            "UPDATE tracking_numbers SET sub_item_ids = ?3
             WHERE tracking_no = ?2
               AND purchase_order_id = (SELECT id FROM purchase_orders WHERE po_number = ?1)
               AND sub_item_ids IS NOT ?3",
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
        let mut tx = self.begin_write().await?;
        let Some(order_id): Option<i64> =
            sqlx::query_scalar("SELECT id FROM purchase_orders WHERE po_number = ?1")
                .bind(po_number)
                .fetch_optional(&mut *tx)
                .await?
        else {
            return Err(shared::unknown_order(po_number));
        };
        let inserted = sqlx::query(
            "INSERT INTO tracking_numbers (purchase_order_id, tracking_no, carrier, source)
             VALUES (?1, ?2, ?3, ?4)
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
                "UPDATE tracking_numbers SET carrier = ?3
                 WHERE purchase_order_id = ?1 AND tracking_no = ?2 AND carrier IS NOT ?3",
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
            "SELECT DISTINCT purchase_order_id FROM tracking_numbers WHERE tracking_no = ?1",
        )
        .bind(tracking_no.trim())
        .fetch_all(&self.pool)
        .await?;
        self.fetch_orders(&ids).await
    }

    async fn find_order_by_po_number(&self, po_number: &str) -> StoreResult<Option<StoredOrder>> {
        let id: Option<i64> =
            sqlx::query_scalar("SELECT id FROM purchase_orders WHERE po_number = ?1")
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
        // A deferred (read) transaction: one snapshot, and no wait for writers.
        let mut tx = self.pool.begin().await?;
        let plan = plan_receipt_in(&mut tx, request, tolerance_percent).await;
        tx.rollback().await?;
        plan
    }

    async fn receive(
        &self,
        request: &ReceiptRequest,
        tolerance_percent: Decimal,
    ) -> StoreResult<ReceiptOutcome> {
        request.validate()?;
        // BEGIN IMMEDIATE takes SQLite's one write lock before reading: a receipt racing
        // this one waits (busy timeout) and then reads what this one wrote.
        let mut tx = self.begin_write().await?;
        let plan = plan_receipt_in(&mut tx, request, tolerance_percent).await?;
        let warehouse_id = plan.warehouse.id;
        let receipt_id: i64 = sqlx::query_scalar(
            "INSERT INTO receipts (warehouse_id, tracking_no, note) VALUES (?1, ?2, ?3) RETURNING id",
        )
        .bind(warehouse_id)
        .bind(request.tracking_no())
        .bind(shared::receipt_note(request))
        .fetch_one(&mut *tx)
        .await?;
        for chunk in plan.lines.chunks(CHUNK) {
            let mut qb = QueryBuilder::<Sqlite>::new(
                "INSERT INTO receipt_lines (receipt_id, purchase_order_id, purchase_order_line_id, merchant_sku, quantity) ",
            );
            qb.push_values(chunk, |mut b, l| {
                b.push_bind(receipt_id)
                    .push_bind(l.purchase_order_id)
                    .push_bind(l.line_id)
                    .push_bind(l.merchant_sku.clone())
                    .push_bind(dec(&l.quantity));
            });
            qb.build().persistent(UNCACHED).execute(&mut *tx).await?;
        }
        // Decimals are text: the sums are made here, from the values read under the
        // write lock, and travel as JSON strings so that they stay exact.
        let received: Vec<serde_json::Value> = plan
            .lines
            .iter()
            .map(|l| json!([l.line_id, dec(&l.received_qty)]))
            .collect();
        sqlx::query(concat!(
            "UPDATE purchase_order_lines
             SET received_qty = json_extract(r.value, '$[1]'), updated_at = ",
            now!(),
            "
             FROM json_each(?1) AS r
             WHERE purchase_order_lines.id = json_extract(r.value, '$[0]')"
        ))
        .bind(serde_json::Value::from(received).to_string())
        .execute(&mut *tx)
        .await?;
        let statuses: Vec<serde_json::Value> = plan
            .orders
            .iter()
            .map(|o| json!([o.purchase_order_id, o.status.as_str()]))
            .collect();
        // An order without a warehouse now has one: where its goods are.
        sqlx::query(concat!(
            "UPDATE purchase_orders
             SET status = json_extract(r.value, '$[1]'),
                 warehouse_id = coalesce(purchase_orders.warehouse_id, ?2),
                 updated_at = ",
            now!(),
            "
             FROM json_each(?1) AS r
             WHERE purchase_orders.id = json_extract(r.value, '$[0]')"
        ))
        .bind(serde_json::Value::from(statuses).to_string())
        .bind(warehouse_id)
        .execute(&mut *tx)
        .await?;
        let stock = plan.stock();
        let skus: Vec<&str> = stock.iter().map(|(s, _)| s.as_str()).collect();
        let mut on_hand: HashMap<String, Decimal> = HashMap::new();
        for r in sqlx::query(
            "SELECT merchant_sku, on_hand FROM inventory
             WHERE warehouse_id = ?1 AND merchant_sku IN (SELECT value FROM json_each(?2))",
        )
        .bind(warehouse_id)
        .bind(json_list(&skus))
        .fetch_all(&mut *tx)
        .await?
        {
            on_hand.insert(r.text("merchant_sku")?, r.decimal("on_hand")?);
        }
        for chunk in stock.chunks(CHUNK) {
            let mut qb = QueryBuilder::<Sqlite>::new(
                "INSERT INTO inventory (warehouse_id, merchant_sku, on_hand) ",
            );
            qb.push_values(chunk, |mut b, (sku, q)| {
                let total = on_hand.get(sku).copied().unwrap_or_default() + q;
                b.push_bind(warehouse_id)
                    .push_bind(sku.clone())
                    .push_bind(dec(&total));
            });
            qb.push(concat!(
                " ON CONFLICT (warehouse_id, merchant_sku) DO UPDATE SET on_hand = excluded.on_hand, updated_at = ",
                now!()
            ));
            qb.build().persistent(UNCACHED).execute(&mut *tx).await?;
        }
        sqlx::query(
            "INSERT INTO inventory_movements (warehouse_id, merchant_sku, quantity, reason, receipt_id, receipt_line_id)
             SELECT ?1, merchant_sku, quantity, 'receipt', receipt_id, id
             FROM receipt_lines WHERE receipt_id = ?2 ORDER BY id",
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
        let mut tx = self.pool.begin().await?;
        let Some(r) = sqlx::query(
            "SELECT r.id, r.warehouse_id, w.code, w.name, r.tracking_no, r.received_at, r.note
             FROM receipts r JOIN warehouses w ON w.id = r.warehouse_id
             WHERE r.id = ?1",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
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
             WHERE rl.receipt_id = ?1
             ORDER BY rl.id",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(rows::receipt_line)
        .collect::<StoreResult<_>>()?;
        tx.rollback().await?;
        rows::receipt(&r, lines).map(Some)
    }

    async fn inventory(&self, warehouse_code: &str) -> StoreResult<Vec<InventoryRow>> {
        let code = warehouse_code.trim();
        let Some(warehouse_id): Option<i64> =
            sqlx::query_scalar("SELECT id FROM warehouses WHERE code = ?1")
                .bind(code)
                .fetch_optional(&self.pool)
                .await?
        else {
            return Err(shared::unknown_warehouse(code));
        };
        let rows = sqlx::query(
            "SELECT i.merchant_sku, m.name, m.gtin, i.on_hand, i.updated_at
             FROM inventory i LEFT JOIN merchant_skus m ON m.sku = i.merchant_sku
             WHERE i.warehouse_id = ?1
             ORDER BY i.merchant_sku",
        )
        .bind(warehouse_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(rows::inventory_row).collect()
    }

    async fn add_warehouse(&self, code: &str, name: &str) -> StoreResult<WarehouseChange> {
        let code = check_warehouse_code(code)?;
        let name = shared::warehouse_name(code, name);
        let mut tx = self.begin_write().await?;
        let existing = sqlx::query("SELECT id, name FROM warehouses WHERE code = ?1")
            .bind(code)
            .fetch_optional(&mut *tx)
            .await?;
        let change = match existing {
            None => WarehouseChange::Created(
                sqlx::query_scalar(
                    "INSERT INTO warehouses (code, name) VALUES (?1, ?2) RETURNING id",
                )
                .bind(code)
                .bind(name)
                .fetch_one(&mut *tx)
                .await?,
            ),
            Some(r) if r.text("name")? == name => WarehouseChange::Unchanged(r.int("id")?),
            Some(r) => {
                let id = r.int("id")?;
                sqlx::query("UPDATE warehouses SET name = ?2 WHERE id = ?1")
                    .bind(id)
                    .bind(name)
                    .execute(&mut *tx)
                    .await?;
                WarehouseChange::Renamed(id)
            }
        };
        tx.commit().await?;
        Ok(change)
    }

    async fn list_warehouses(&self) -> StoreResult<Vec<WarehouseRow>> {
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query(
            "SELECT w.id, w.code, w.name,
                    (SELECT count(*) FROM purchase_orders o WHERE o.warehouse_id = w.id) AS purchase_orders
             FROM warehouses w
             ORDER BY w.code",
        )
        .fetch_all(&mut *tx)
        .await?;
        // Summed here: SQLite would sum the text decimals as floating point.
        let mut stock: HashMap<i64, (Decimal, u64)> = HashMap::new();
        for r in sqlx::query("SELECT warehouse_id, on_hand FROM inventory")
            .fetch_all(&mut *tx)
            .await?
        {
            let on_hand = r.decimal("on_hand")?;
            if on_hand > Decimal::ZERO {
                let s = stock.entry(r.int("warehouse_id")?).or_default();
                s.0 += on_hand;
                s.1 += 1;
            }
        }
        tx.rollback().await?;
        rows.iter()
            .map(|r| {
                let (on_hand, skus_in_stock) =
                    stock.get(&r.int("id")?).copied().unwrap_or_default();
                rows::warehouse(r, on_hand, skus_in_stock)
            })
            .collect()
    }

    async fn delete_warehouse(&self, code: &str, force: bool) -> StoreResult<WarehouseDeletion> {
        let code = code.trim();
        let mut tx = self.begin_write().await?;
        let Some(warehouse_id): Option<i64> =
            sqlx::query_scalar("SELECT id FROM warehouses WHERE code = ?1")
                .bind(code)
                .fetch_optional(&mut *tx)
                .await?
        else {
            return Err(shared::unknown_warehouse(code));
        };
        let (mut on_hand, mut skus) = (Decimal::ZERO, 0u64);
        for r in sqlx::query("SELECT on_hand FROM inventory WHERE warehouse_id = ?1")
            .bind(warehouse_id)
            .fetch_all(&mut *tx)
            .await?
        {
            let q = r.decimal("on_hand")?;
            if q > Decimal::ZERO {
                on_hand += q;
                skus += 1;
            }
        }
        let received: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM purchase_orders o
             WHERE o.warehouse_id = ?1
               AND EXISTS (SELECT 1 FROM purchase_order_lines l
                           WHERE l.purchase_order_id = o.id AND CAST(l.received_qty AS REAL) > 0)",
        )
        .bind(warehouse_id)
        .fetch_one(&mut *tx)
        .await?;
        check_warehouse_deletion(code, on_hand, skus, shared::count(received), force)?;

        let tombstones = sqlx::query(
            "INSERT INTO sync_tombstones (account, order_id_1688, reason)
             SELECT account, order_id_1688, ?2 FROM purchase_orders
             WHERE warehouse_id = ?1 AND account IS NOT NULL AND order_id_1688 IS NOT NULL
             ON CONFLICT (account, order_id_1688) DO NOTHING",
        )
        .bind(warehouse_id)
        .bind(warehouse_tombstone_reason(code))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query("DELETE FROM inventory_movements WHERE warehouse_id = ?1")
            .bind(warehouse_id)
            .execute(&mut *tx)
            .await?;
        let inventory_rows = sqlx::query("DELETE FROM inventory WHERE warehouse_id = ?1")
            .bind(warehouse_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let receipts = sqlx::query("DELETE FROM receipts WHERE warehouse_id = ?1")
            .bind(warehouse_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let purchase_orders = sqlx::query("DELETE FROM purchase_orders WHERE warehouse_id = ?1")
            .bind(warehouse_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM warehouses WHERE id = ?1")
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
            sqlx::query("DELETE FROM sync_tombstones WHERE account = ?1 AND order_id_1688 = ?2")
                .bind(account)
                .bind(order_id_1688)
                .execute(&self.pool)
                .await?
                .rows_affected();
        Ok(deleted > 0)
    }

    async fn create_purchase_order(&self, order: &NewPurchaseOrder) -> StoreResult<StoredOrder> {
        let mut tx = self.begin_write().await?;
        let supplier_id: Option<i64> =
            sqlx::query_scalar("SELECT id FROM suppliers WHERE login_id_1688 = ?1")
                .bind(&order.supplier_login_id)
                .fetch_optional(&mut *tx)
                .await?;
        let supplier_id = supplier_id.ok_or_else(|| StoreError::UnknownSupplier {
            login_id: order.supplier_login_id.clone(),
        })?;
        let warehouse_id: Option<i64> =
            sqlx::query_scalar("SELECT id FROM warehouses WHERE code = ?1")
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
                "SELECT po_number FROM purchase_orders WHERE po_number LIKE ?1 || '%'",
            )
            .bind(&prefix)
            .fetch_all(&mut *tx)
            .await?;
            let po_number = format!("{prefix}{:04}", shared::next_po_sequence(&prefix, &stored));
            id = sqlx::query_scalar(
                "INSERT INTO purchase_orders (
                     po_number, source, account, status, supplier_id, warehouse_id, has_unmapped,
                     note, currency, goods_amount, address_id_1688)
                 VALUES (?1, '1688_created', ?2, 'draft', ?3, ?4, 0, ?5, 'CNY', ?6, ?7)
                 ON CONFLICT (po_number) DO NOTHING
                 RETURNING id",
            )
            .bind(&po_number)
            .bind(&order.account)
            .bind(supplier_id)
            .bind(warehouse_id)
            .bind(&order.note)
            .bind(dec(&goods_amount))
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
        sqlx::query("UPDATE purchase_orders SET out_order_id_sync = ?2 WHERE id = ?1")
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
             FROM purchase_orders WHERE po_number = ?1",
        )
        .bind(po_number)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT order_id_1688 FROM purchase_order_links WHERE purchase_order_id = ?1
             ORDER BY created_at, rowid",
        )
        .bind(row.int("id")?)
        .fetch_all(&self.pool)
        .await?;
        Ok(Some(rows::placing_state(&row, ids)?))
    }

    async fn record_placement(&self, po_number: &str, placement: &Placement) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query("SELECT id, account FROM purchase_orders WHERE po_number = ?1")
            .bind(po_number)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| shared::unknown_order(po_number))?;
        let id = row.int("id")?;
        let account = row.opt_text("account")?.unwrap_or_default();
        sqlx::query(concat!(
            "UPDATE purchase_orders
                 SET order_id_1688 = coalesce(order_id_1688, ?2),
                     total_amount = coalesce(?3, total_amount),
                     shipping_fee = coalesce(?4, shipping_fee),
                     pay_url = coalesce(?5, pay_url),
                     placed_at = coalesce(placed_at, ",
            now!(),
            "),
                     updated_at = ",
            now!(),
            "
                 WHERE id = ?1
                   AND (order_id_1688 IS NULL AND ?2 IS NOT NULL
                        OR ?3 IS NOT NULL AND total_amount IS NOT ?3
                        OR ?4 IS NOT NULL AND shipping_fee IS NOT ?4
                        OR ?5 IS NOT NULL AND pay_url IS NOT ?5
                        OR placed_at IS NULL)"
        ))
        .bind(id)
        .bind(placement.order_ids.first().copied())
        .bind(placement.total_amount.as_ref().map(dec))
        .bind(placement.shipping_fee.as_ref().map(dec))
        .bind(&placement.pay_url)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO purchase_order_links (purchase_order_id, account, order_id_1688)
             SELECT ?1, ?2, k.value FROM json_each(?3) AS k
             WHERE true
             ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(&account)
        .bind(json_list(&placement.order_ids))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn submit_orders(&self, po_numbers: &[String]) -> StoreResult<Vec<SubmitOutcome>> {
        let mut out = Vec::with_capacity(po_numbers.len());
        for po_number in po_numbers {
            let done = sqlx::query(concat!(
                "UPDATE purchase_orders
                 SET status = 'on_the_way', submitted_at = ",
                now!(),
                ", updated_at = ",
                now!(),
                " WHERE po_number = ?1 AND status = 'draft'"
            ))
            .bind(po_number)
            .execute(&self.pool)
            .await?
            .rows_affected()
                > 0;
            let result = if done {
                Ok(())
            } else {
                let status: Option<String> =
                    sqlx::query_scalar("SELECT status FROM purchase_orders WHERE po_number = ?1")
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
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM receive_addresses_1688 WHERE account = ?1")
            .bind(account)
            .execute(&mut *tx)
            .await?;
        for a in addresses {
            sqlx::query(concat!(
                "INSERT INTO receive_addresses_1688 (
                     account, address_id, full_name, address, address_code, address_code_text,
                     post, phone, mobile, is_default, fetched_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ",
                now!(),
                ")"
            ))
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
             FROM receive_addresses_1688 WHERE account = ?1
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
        let mut tx = self.begin_write().await?;
        let order = sqlx::query(
            "SELECT p.id, p.status, p.source,
                    (p.placed_at IS NOT NULL
                     OR EXISTS (SELECT 1 FROM purchase_order_links k
                                WHERE k.purchase_order_id = p.id)) AS placed
             FROM purchase_orders p WHERE p.po_number = ?1",
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
                    sqlx::query_scalar("SELECT id FROM warehouses WHERE code = ?1")
                        .bind(code.trim())
                        .fetch_optional(&mut *tx)
                        .await?;
                Some(id.ok_or_else(|| shared::unknown_warehouse(code.trim()))?)
            }
            None => None,
        };
        let goods_amount = edit.lines.as_deref().map(shared::lines_goods_amount);
        if let Some(lines) = &edit.lines {
            sqlx::query("DELETE FROM purchase_order_lines WHERE purchase_order_id = ?1")
                .bind(order.id)
                .execute(&mut *tx)
                .await?;
            insert_new_lines(&mut tx, order.id, lines).await?;
        }
        sqlx::query(concat!(
            "UPDATE purchase_orders
                 SET note = CASE WHEN ?2 THEN ?3 ELSE note END,
                     warehouse_id = coalesce(?4, warehouse_id),
                     goods_amount = coalesce(?5, goods_amount),
                     updated_at = ",
            now!(),
            " WHERE id = ?1"
        ))
        .bind(order.id)
        .bind(edit.note.is_some())
        .bind(edit.note.clone().flatten())
        .bind(warehouse_id)
        .bind(goods_amount.as_ref().map(dec))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.fetch_order(Some(order.id))
            .await?
            .ok_or_else(|| shared::unknown_order(po_number))
    }
}

/// Reads what a receipt needs and decides it, inside `tx` (a write transaction for a
/// receipt, so that nobody writes between these reads and the receipt's writes).
async fn plan_receipt_in(
    tx: &mut Transaction<'static, Sqlite>,
    request: &ReceiptRequest,
    tolerance_percent: Decimal,
) -> StoreResult<ReceiptPlan> {
    let code = request.warehouse_code.trim();
    let Some(warehouse) = sqlx::query("SELECT id, code FROM warehouses WHERE code = ?1")
        .bind(code)
        .fetch_optional(&mut **tx)
        .await?
    else {
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
            &sqlx::query(
                "SELECT po_number, id FROM purchase_orders WHERE po_number IN (SELECT value FROM json_each(?1))",
            )
            .bind(json_list(&po_numbers))
            .fetch_all(&mut **tx)
            .await?,
            "po_number",
        )?
    };
    let carrying: HashSet<i64> = match request.tracking_no() {
        Some(t) => sqlx::query_scalar(
            "SELECT DISTINCT purchase_order_id FROM tracking_numbers WHERE tracking_no = ?1",
        )
        .bind(t)
        .fetch_all(&mut **tx)
        .await?
        .into_iter()
        .collect(),
        None => HashSet::new(),
    };
    let ids = shared::receipt_order_ids(request, &named, &carrying)?;

    let mut orders: Vec<OrderToReceive> = sqlx::query(
        "SELECT o.id, o.po_number, o.status, o.warehouse_id, w.code AS warehouse_code
         FROM purchase_orders o LEFT JOIN warehouses w ON w.id = o.warehouse_id
         WHERE o.id IN (SELECT value FROM json_each(?1))
         ORDER BY o.id",
    )
    .bind(json_list(&ids))
    .fetch_all(&mut **tx)
    .await?
    .iter()
    .map(rows::order_to_receive)
    .collect::<StoreResult<_>>()?;
    if orders.is_empty() {
        return Err(shared::orders_gone(request).into());
    }
    let lines = sqlx::query(
        "SELECT l.purchase_order_id, l.id, l.line_no, l.title, l.merchant_sku, m.gtin, m.name,
                l.quantity, l.merchant_quantity, l.received_qty
         FROM purchase_order_lines l LEFT JOIN merchant_skus m ON m.sku = l.merchant_sku
         WHERE l.purchase_order_id IN (SELECT value FROM json_each(?1))
         ORDER BY l.purchase_order_id, l.line_no, l.id",
    )
    .bind(json_list(&ids))
    .fetch_all(&mut **tx)
    .await?
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
         WHERE l.merchant_sku IN (SELECT ?1 UNION SELECT sku FROM merchant_skus WHERE gtin = ?1)
           AND o.status IN ('on_the_way', 'partially_received')
           AND o.id NOT IN (SELECT value FROM json_each(?2))
         ORDER BY o.id
         LIMIT ?3",
    )
    .bind(code)
    .bind(json_list(&ids))
    .bind(shared::OTHER_ORDERS_SHOWN)
    .fetch_all(&mut **tx)
    .await?
    .iter()
    .map(|r| r.text("po_number"))
    .collect::<StoreResult<_>>()?;
    Err(shared::on_another_order(err, others).into())
}

/// `ttl` as a date modifier (`+60.000000 seconds`) for `strftime(…, 'now', modifier)`.
fn ttl_modifier(ttl: Duration) -> String {
    format!("+{:.6} seconds", ttl.as_secs_f64())
}

/// Whether `fence` still holds the lease: same owner and generation, not expired. A
/// write transaction holds SQLite's only write lock, so nobody can take the lease
/// between this check and COMMIT.
async fn fence_held(connection: &mut sqlx::SqliteConnection, fence: &Fence) -> StoreResult<bool> {
    let held: Option<i64> = sqlx::query_scalar(concat!(
        "SELECT 1 FROM sync_leases
         WHERE account = ?1 AND owner = ?2 AND generation = ?3 AND lease_until > ",
        now!()
    ))
    .bind(&fence.account)
    .bind(&fence.owner)
    .bind(fence.generation)
    .fetch_optional(connection)
    .await?;
    Ok(held.is_some())
}

/// `tx`, once `fence` (when given) still holds its lease; otherwise rolled back, and
/// [`StoreError::LeaseLost`].
async fn holding_lease(
    mut tx: Transaction<'static, Sqlite>,
    fence: Option<&Fence>,
) -> StoreResult<Transaction<'static, Sqlite>> {
    if let Some(f) = fence
        && !fence_held(&mut tx, f).await?
    {
        tx.rollback().await?;
        return Err(shared::lease_lost(&f.account));
    }
    Ok(tx)
}

/// The orders of the page that belong to purchase orders created in the ERP (see
/// [`shared::claimed_orders`]), with the id of their purchase order.
async fn find_claimed<'a>(
    tx: &mut Transaction<'static, Sqlite>,
    account: &str,
    orders: &'a [IncomingOrder],
) -> StoreResult<Vec<(i64, &'a IncomingOrder)>> {
    let order_ids = shared::page_order_ids(orders);
    let links = sqlx::query(
        "SELECT order_id_1688, purchase_order_id AS id FROM purchase_order_links
         WHERE account = ?1 AND order_id_1688 IN (SELECT value FROM json_each(?2))",
    )
    .bind(account)
    .bind(json_list(&order_ids))
    .fetch_all(&mut **tx)
    .await?;
    let linked = rows::ids_by_int(&links, "order_id_1688")?;
    let out_ids = shared::page_out_order_ids(orders);
    let by_out = if out_ids.is_empty() {
        HashMap::new()
    } else {
        let rows = sqlx::query(
            "SELECT out_order_id_sync, id FROM purchase_orders
             WHERE account = ?1 AND out_order_id_sync IN (SELECT value FROM json_each(?2))",
        )
        .bind(account)
        .bind(json_list(&out_ids))
        .fetch_all(&mut **tx)
        .await?;
        rows::ids_by_text(&rows, "out_order_id_sync")?
    };
    Ok(shared::claimed_orders(orders, &linked, &by_out))
}

/// Writes the orders that belong to created purchase orders: records the link, and for a
/// purchase order placed as exactly one 1688 order updates its 1688-owned fields as sync
/// does for synced orders (`draft` becomes `cancelled` when 1688 closed the order). A
/// purchase order placed as several 1688 orders (a split) keeps the amounts it was placed
/// with: one of its 1688 orders does not tell its totals. Either way 1688's line ids are
/// attached to the purchase order's lines (see [`shared::match_claimed_lines`]). Returns
/// the purchase orders updated and how many orders changed nothing.
async fn write_claimed(
    tx: &mut Transaction<'static, Sqlite>,
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
             VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
        )
        .bind(po_id)
        .bind(account)
        .bind(order.order_id)
        .execute(&mut **tx)
        .await?
        .rows_affected()
            > 0;
        sqlx::query(concat!(
            "UPDATE purchase_orders SET order_id_1688 = ?2, updated_at = ",
            now!(),
            " WHERE id = ?1 AND order_id_1688 IS NULL
               AND NOT EXISTS (SELECT 1 FROM purchase_orders o
                               WHERE o.account = ?3 AND o.order_id_1688 = ?2)"
        ))
        .bind(po_id)
        .bind(order.order_id)
        .bind(account)
        .execute(&mut **tx)
        .await?;
        let row = sqlx::query(
            "SELECT p.content_hash,
                    (SELECT count(*) FROM purchase_order_links l WHERE l.purchase_order_id = p.id)
                        AS links
             FROM purchase_orders p WHERE p.id = ?1",
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
            sqlx::query(concat!(
                "UPDATE purchase_orders
                 SET status_1688 = ?2, currency = ?3, goods_amount = ?4, shipping_fee = ?5,
                     discount = ?6, total_amount = ?7, created_at_1688 = ?8,
                     modified_at_1688 = ?9, out_order_id_1688 = ?10, content_hash = ?11,
                     status = CASE WHEN status = 'draft' AND ?12 THEN 'cancelled' ELSE status END,
                     updated_at = ",
                now!(),
                " WHERE id = ?1"
            ))
            .bind(po_id)
            .bind(&order.status)
            .bind(&order.currency)
            .bind(dec(&order.goods_amount))
            .bind(dec(&order.shipping_fee))
            .bind(dec(&order.discount))
            .bind(dec(&order.total_amount))
            .bind(ts(&order.created_at))
            .bind(order.modified_at.as_ref().map(ts))
            .bind(&order.out_order_id)
            .bind(&incoming.content_hash)
            .bind(incoming.initial_status().as_str() == "cancelled")
            .execute(&mut **tx)
            .await?;
            changed = true;
        }
        let stored = sqlx::query(
            "SELECT id, line_no, sub_item_id_1688, offer_id, spec_id FROM purchase_order_lines
             WHERE purchase_order_id = ?1 ORDER BY line_no, id",
        )
        .bind(po_id)
        .fetch_all(&mut **tx)
        .await?
        .iter()
        .map(rows::claimed_line)
        .collect::<StoreResult<Vec<_>>>()?;
        for action in shared::match_claimed_lines(&stored, incoming, single) {
            let written = match action {
                shared::ClaimedLineAction::Attach { line_id, line } => sqlx::query(concat!(
                    "UPDATE purchase_order_lines
                     SET sub_item_id_1688 = ?2, sku_id_1688 = coalesce(?3, sku_id_1688),
                         status_1688 = ?4, updated_at = ",
                    now!(),
                    " WHERE id = ?1
                       AND (sub_item_id_1688 IS NOT ?2
                            OR sku_id_1688 IS NOT coalesce(?3, sku_id_1688)
                            OR status_1688 IS NOT ?4)"
                ))
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
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,
                             ?16, ?17, ?18)",
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
                .bind(dec(&line.line.quantity))
                .bind(dec(&line.line.unit_price))
                .bind(dec(&line.line.amount))
                .bind(line.mapping.as_ref().map(|m| m.merchant_sku.as_str()))
                .bind(line.mapping_status().as_str())
                .bind(shared::mapping_source(line))
                .bind(line.mapping.as_ref().map(|m| dec(&m.merchant_quantity)))
                .bind(line.mapping.as_ref().map(|m| dec(&m.merchant_unit_cost))),
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
            "UPDATE purchase_orders
             SET has_unmapped = 1 - has_unmapped, updated_at = ",
            now!(),
            "
             WHERE id = ?1
               AND has_unmapped <> EXISTS (
                   SELECT 1 FROM purchase_order_lines l
                   WHERE l.purchase_order_id = purchase_orders.id AND l.mapping_status = 'unmapped')"
        ))
        .bind(po_id)
        .execute(&mut **tx)
        .await?;
        if !updated.contains(&po_id) {
            updated.push(po_id);
        }
    }
    Ok((updated, unchanged))
}

/// Upserts suppliers by login id (one entry per login id) and returns their ids by
/// login id. A missing member id or name keeps the stored one. Shared by pages of orders
/// and product adds, so that both find the same supplier row.
async fn upsert_suppliers(
    tx: &mut Transaction<'static, Sqlite>,
    suppliers: &[SupplierRef],
) -> StoreResult<HashMap<String, i64>> {
    if suppliers.is_empty() {
        return Ok(HashMap::new());
    }
    for chunk in suppliers.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "INSERT INTO suppliers (login_id_1688, member_id_1688, name) ",
        );
        qb.push_values(chunk, |mut b, s| {
            b.push_bind(s.login_id.clone())
                .push_bind(s.member_id.clone())
                .push_bind(s.name.clone());
        });
        // The WHERE keeps unchanged suppliers from being rewritten.
        qb.push(concat!(
            " ON CONFLICT (login_id_1688) DO UPDATE
              SET member_id_1688 = coalesce(excluded.member_id_1688, suppliers.member_id_1688),
                  name = coalesce(excluded.name, suppliers.name),
                  updated_at = ",
            now!(),
            "
              WHERE (suppliers.member_id_1688, suppliers.name) IS NOT
                    (coalesce(excluded.member_id_1688, suppliers.member_id_1688),
                     coalesce(excluded.name, suppliers.name))"
        ));
        qb.build().persistent(UNCACHED).execute(&mut **tx).await?;
    }
    let logins: Vec<&str> = suppliers.iter().map(|s| s.login_id.as_str()).collect();
    let rows = sqlx::query(
        "SELECT login_id_1688, id FROM suppliers WHERE login_id_1688 IN (SELECT value FROM json_each(?1))",
    )
    .bind(json_list(&logins))
    .fetch_all(&mut **tx)
    .await?;
    rows::ids_by_text(&rows, "login_id_1688")
}

/// Upserts the written orders and returns the purchase order id of each 1688 order id.
async fn upsert_orders(
    tx: &mut Transaction<'static, Sqlite>,
    target: &PageTarget,
    plan: &PagePlan<'_>,
    suppliers: &HashMap<String, i64>,
) -> StoreResult<HashMap<i64, i64>> {
    let written: Vec<&IncomingOrder> = plan.written().collect();
    let mut po_ids = HashMap::with_capacity(written.len());
    for chunk in written.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "INSERT INTO purchase_orders (
                 po_number, source, account, order_id_1688, status, status_1688, supplier_id,
                 warehouse_id, has_unmapped, currency, goods_amount, shipping_fee, discount,
                 total_amount, created_at_1688, modified_at_1688, out_order_id_1688, content_hash,
                 raw_hash) ",
        );
        qb.push_values(chunk, |mut b, o| {
            let order = &o.order;
            b.push_bind(shared::po_number(order.order_id))
                .push_bind("1688_sync")
                .push_bind(target.account.clone())
                .push_bind(order.order_id)
                .push_bind(o.initial_status().as_str())
                .push_bind(order.status.clone())
                .push_bind(
                    order
                        .supplier
                        .as_ref()
                        .and_then(|s| suppliers.get(&s.login_id).copied()),
                )
                .push_bind(target.warehouse_id)
                .push_bind(o.has_unmapped())
                .push_bind(order.currency.clone())
                .push_bind(dec(&order.goods_amount))
                .push_bind(dec(&order.shipping_fee))
                .push_bind(dec(&order.discount))
                .push_bind(dec(&order.total_amount))
                .push_bind(ts(&order.created_at))
                .push_bind(order.modified_at.as_ref().map(ts))
                .push_bind(order.out_order_id.clone())
                .push_bind(o.content_hash.clone())
                .push_bind(o.raw_hash.map(RawHash::to_hex));
        });
        // As in PostgreSQL: only 1688-owned fields change, and excluded.status is
        // 'cancelled' exactly when 1688 has closed the order.
        qb.push(concat!(
            " ON CONFLICT (account, order_id_1688) DO UPDATE
              SET status_1688 = excluded.status_1688,
                  supplier_id = coalesce(excluded.supplier_id, purchase_orders.supplier_id),
                  currency = excluded.currency,
                  goods_amount = excluded.goods_amount,
                  shipping_fee = excluded.shipping_fee,
                  discount = excluded.discount,
                  total_amount = excluded.total_amount,
                  created_at_1688 = excluded.created_at_1688,
                  modified_at_1688 = excluded.modified_at_1688,
                  out_order_id_1688 = excluded.out_order_id_1688,
                  content_hash = excluded.content_hash,
                  raw_hash = excluded.raw_hash,
                  status = CASE WHEN purchase_orders.status = 'draft' AND excluded.status = 'cancelled'
                                THEN 'cancelled' ELSE purchase_orders.status END,
                  updated_at = ",
            now!(),
            "
              RETURNING order_id_1688, id"
        ));
        po_ids.extend(rows::ids_by_int(
            &qb.build().persistent(UNCACHED).fetch_all(&mut **tx).await?,
            "order_id_1688",
        )?);
    }
    Ok(po_ids)
}

/// Upserts every line of the written orders, keyed by (purchase order, 1688 sub-item).
async fn upsert_lines(
    tx: &mut Transaction<'static, Sqlite>,
    plan: &PagePlan<'_>,
    po_ids: &HashMap<i64, i64>,
) -> StoreResult<()> {
    let lines: Vec<(i64, &crate::domain::IncomingLine)> = plan
        .written()
        .filter_map(|o| po_ids.get(&o.order.order_id).map(|id| (*id, o)))
        .flat_map(|(id, o)| shared::lines_to_write(o).into_iter().map(move |l| (id, l)))
        .collect();
    for chunk in lines.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "INSERT INTO purchase_order_lines (
                 purchase_order_id, line_no, sub_item_id_1688, offer_id, spec_id, sku_id_1688, title,
                 attributes, unit, status_1688, quantity, unit_price, amount, merchant_sku,
                 mapping_status, mapping_source, merchant_quantity, merchant_unit_cost) ",
        );
        qb.push_values(chunk, |mut b, (id, l)| {
            b.push_bind(*id)
                .push_bind(l.line_no)
                .push_bind(l.line.sub_item_id)
                .push_bind(l.line.offer_id)
                .push_bind(l.line.spec_id.clone())
                .push_bind(l.line.sku_id)
                .push_bind(l.line.title.clone())
                .push_bind(l.line.attributes.clone())
                .push_bind(l.line.unit.clone())
                .push_bind(l.line.status.clone())
                .push_bind(dec(&l.line.quantity))
                .push_bind(dec(&l.line.unit_price))
                .push_bind(dec(&l.line.amount))
                .push_bind(l.mapping.as_ref().map(|m| m.merchant_sku.clone()))
                .push_bind(l.mapping_status().as_str())
                .push_bind(shared::mapping_source(l))
                .push_bind(l.mapping.as_ref().map(|m| dec(&m.merchant_quantity)))
                .push_bind(l.mapping.as_ref().map(|m| dec(&m.merchant_unit_cost)));
        });
        // As in PostgreSQL: a manual merchant SKU is the ERP's, and unchanged lines are
        // left untouched.
        qb.push(concat!(
            " ON CONFLICT (purchase_order_id, sub_item_id_1688) DO UPDATE
              SET line_no = excluded.line_no,
                  offer_id = excluded.offer_id,
                  spec_id = excluded.spec_id,
                  sku_id_1688 = excluded.sku_id_1688,
                  title = excluded.title,
                  attributes = excluded.attributes,
                  unit = excluded.unit,
                  status_1688 = excluded.status_1688,
                  quantity = excluded.quantity,
                  unit_price = excluded.unit_price,
                  amount = excluded.amount,
                  merchant_sku = CASE WHEN purchase_order_lines.mapping_source = 'manual'
                      THEN purchase_order_lines.merchant_sku ELSE excluded.merchant_sku END,
                  mapping_status = CASE WHEN purchase_order_lines.mapping_source = 'manual'
                      THEN purchase_order_lines.mapping_status ELSE excluded.mapping_status END,
                  mapping_source = CASE WHEN purchase_order_lines.mapping_source = 'manual'
                      THEN purchase_order_lines.mapping_source ELSE excluded.mapping_source END,
                  merchant_quantity = CASE WHEN purchase_order_lines.mapping_source = 'manual'
                      THEN purchase_order_lines.merchant_quantity ELSE excluded.merchant_quantity END,
                  merchant_unit_cost = CASE WHEN purchase_order_lines.mapping_source = 'manual'
                      THEN purchase_order_lines.merchant_unit_cost ELSE excluded.merchant_unit_cost END,
                  updated_at = ",
            now!(),
            "
              WHERE (purchase_order_lines.line_no, purchase_order_lines.offer_id,
                     purchase_order_lines.spec_id, purchase_order_lines.sku_id_1688,
                     purchase_order_lines.title, purchase_order_lines.attributes,
                     purchase_order_lines.unit, purchase_order_lines.status_1688,
                     purchase_order_lines.quantity, purchase_order_lines.unit_price,
                     purchase_order_lines.amount)
                    IS NOT
                    (excluded.line_no, excluded.offer_id, excluded.spec_id, excluded.sku_id_1688,
                     excluded.title, excluded.attributes, excluded.unit, excluded.status_1688,
                     excluded.quantity, excluded.unit_price, excluded.amount)
                 OR (purchase_order_lines.mapping_source IS NOT 'manual'
                     AND (purchase_order_lines.merchant_sku, purchase_order_lines.mapping_status,
                          purchase_order_lines.mapping_source, purchase_order_lines.merchant_quantity,
                          purchase_order_lines.merchant_unit_cost)
                         IS NOT
                         (excluded.merchant_sku, excluded.mapping_status, excluded.mapping_source,
                          excluded.merchant_quantity, excluded.merchant_unit_cost))"
        ));
        qb.build().persistent(UNCACHED).execute(&mut **tx).await?;
    }
    Ok(())
}

/// Deletes the lines that 1688 no longer lists on an updated order, unless the ERP has
/// made them its own (received goods, a manual merchant SKU) or added them (no sub-item).
async fn delete_vanished_lines(
    tx: &mut Transaction<'static, Sqlite>,
    plan: &PagePlan<'_>,
) -> StoreResult<()> {
    if plan.updates.is_empty() {
        return Ok(());
    }
    let orders: Vec<i64> = plan.updates.iter().map(|(id, _)| *id).collect();
    let kept: Vec<(i64, i64)> = plan
        .updates
        .iter()
        .flat_map(|(id, o)| o.lines.iter().map(move |l| (*id, l.line.sub_item_id)))
        .collect();
    sqlx::query(
        "DELETE FROM purchase_order_lines
         WHERE purchase_order_id IN (SELECT value FROM json_each(?1))
           AND sub_item_id_1688 IS NOT NULL
           AND CAST(received_qty AS REAL) = 0
           AND mapping_source IS NOT 'manual'
           AND (purchase_order_id, sub_item_id_1688) NOT IN (
               SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?2))",
    )
    .bind(json_list(&orders))
    .bind(json_list(&kept))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Inserts `lines` as the lines of the created purchase order `id`, numbered from 1, all
/// mapped (they were resolved from the mappings): `create_purchase_order` and
/// `edit_draft`.
async fn insert_new_lines(
    tx: &mut Transaction<'static, Sqlite>,
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
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 'mapped', 'mapping', ?12, ?13)",
        )
        .bind(id)
        .bind(i as i32 + 1)
        .bind(line.offer_id)
        .bind(&line.spec_id)
        .bind(line.sku_id_1688)
        .bind(&line.title)
        .bind(&line.attributes)
        .bind(dec(&line.quantity))
        .bind(dec(&line.unit_price))
        .bind(dec(&values.amount))
        .bind(&line.merchant_sku)
        .bind(dec(&line.merchant_quantity))
        .bind(values.merchant_unit_cost.as_ref().map(dec))
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_timestamps_are_fixed_width_and_sort_as_text() {
        let a = DateTime::from_timestamp(1_776_470_400, 0).unwrap();
        let b = DateTime::from_timestamp_millis(1_776_470_400_123).unwrap();
        assert_eq!(ts(&a), "2026-04-18T00:00:00.000Z");
        assert_eq!(ts(&b), "2026-04-18T00:00:00.123Z");
        assert!(ts(&a) < ts(&b));
        assert_eq!(parse_ts("t", &ts(&b)).unwrap(), b);
        assert_eq!(parse_ts("t", "2026-04-18 00:00:00").unwrap(), a);
    }

    #[test]
    fn stored_decimals_are_exact_text() {
        let d = Decimal::from_str("39.90").unwrap();
        assert_eq!(dec(&d), "39.90");
        assert_eq!(dec(&Decimal::from_str("-0.00").unwrap()), "0.00");
        assert_eq!(
            parse_dec("x", "0.1").unwrap() + parse_dec("x", "0.2").unwrap(),
            parse_dec("x", "0.3").unwrap()
        );
        assert!(matches!(
            parse_dec("x", "abc"),
            Err(StoreError::Corrupt { column: "x", .. })
        ));
    }
}
