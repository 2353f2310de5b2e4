//! The shared ERP database. One [`Store`] trait, one implementation per backend
//! (PostgreSQL for the shared ERP database, SQLite as the embedded default), chosen by
//! the scheme of `database.url`.

mod copy_text;
mod postgres;
mod rows;
mod shared;
mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::domain::{
    IncomingOrder, KnownOrders, OrderAfterReceipt, Product1688, ReceiptPlan, ReceiptRequest,
    ReceivedLine, ReceivingError, ReceivingWarehouse, RunKind, RunStatus, SkuMapping, SyncWindow,
    TrackingSource, WarehouseError,
};

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// Errors of the storage layer. Messages never contain the database URL (it may hold a
/// password).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database.url: unsupported scheme `{0}` (use postgres://… or sqlite:…)")]
    UnsupportedScheme(String),
    #[error("database.url: {0}")]
    BadUrl(String),
    #[error("cannot connect to the database: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A row of an import that cannot be written; `line` is the 1-based line of the file.
    #[error("line {line}: {message}")]
    InvalidRow { line: usize, message: String },
    /// The account's lease was lost (expired and taken by another instance): the write
    /// was rolled back.
    #[error("the lease of account `{account}` was lost; the write was rolled back")]
    LeaseLost { account: String },
    /// A stored value that does not parse (e.g. a decimal stored as text in SQLite).
    #[error("corrupt value in {column}: {value}")]
    Corrupt { column: &'static str, value: String },
    /// A receipt or tracking number that a rule of receiving refuses; nothing was written.
    #[error(transparent)]
    Rejected(#[from] ReceivingError),
    /// A warehouse that cannot be found, added or deleted; nothing was written.
    #[error(transparent)]
    Warehouse(#[from] WarehouseError),
    /// A purchase order names a supplier that is not stored; nothing was written.
    #[error("unknown supplier `{login_id}`: add it with its products first")]
    UnknownSupplier { login_id: String },
    /// A purchase order `edit_draft` refuses to change; nothing was written.
    #[error("{po_number} {reason}")]
    NotEditable {
        po_number: String,
        reason: NotEditable,
    },
}

/// Why a purchase order cannot be edited (see [`Store::edit_draft`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotEditable {
    /// It is no longer a draft (`status` is its status).
    #[error("is {status}: only drafts can be edited")]
    NotDraft { status: String },
    /// It was placed on 1688 (a placement recorded or a linked 1688 order).
    #[error("was placed on 1688: cancel it there and create a new one")]
    Placed,
    /// Its lines come from 1688 (a synced order): only created orders' lines can be
    /// replaced.
    #[error("was synced from 1688: its lines cannot be edited")]
    SyncedLines,
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Which database a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// A row to import, with the 1-based line of the file it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Numbered<T> {
    pub line: usize,
    pub value: T,
}

/// One row of `merchant_skus`.
#[derive(Debug, Clone, PartialEq)]
pub struct MerchantSku {
    pub sku: String,
    pub gtin: Option<String>,
    pub name: String,
}

/// What an import wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportOutcome {
    pub inserted: u64,
    pub updated: u64,
    /// Unmapped lines of not-yet-received orders that the imported mappings now map.
    pub lines_remapped: u64,
    /// Orders whose `has_unmapped` those lines changed or may have changed.
    pub orders_remapped: u64,
}

/// Where the lines of one page go: the account and the warehouse new orders land in.
#[derive(Debug, Clone)]
pub struct PageTarget {
    pub account: String,
    pub warehouse_id: i64,
    /// The run that writes the page (for the record).
    pub run_id: i64,
    /// When set, the write commits only while this lease is still held; otherwise it
    /// rolls back and fails with [`StoreError::LeaseLost`] (so does a page that would
    /// have written nothing, so that the loser stops at its next page).
    pub fence: Option<Fence>,
}

/// What writing one page did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageOutcome {
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// Orders skipped because a tombstone says never to import them again.
    pub skipped: u64,
    /// Ids of purchase orders inserted (created) and updated by this page.
    pub created_ids: Vec<i64>,
    pub updated_ids: Vec<i64>,
}

/// The counts a run records in `sync_runs`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunCounts {
    pub orders_seen: u64,
    pub orders_inserted: u64,
    pub orders_updated: u64,
    pub orders_unchanged: u64,
    pub orders_skipped: u64,
    pub lines_unmapped: u64,
    pub pages: u64,
}

/// One row of `sync_runs`.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncRunRow {
    pub id: i64,
    pub account: String,
    pub kind: String,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub status: String,
    pub counts: RunCounts,
    pub error: Option<String>,
}

/// A purchase order as stored, with its lines (for summaries, commands and tests).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredOrder {
    pub id: i64,
    pub po_number: String,
    pub source: String,
    pub account: Option<String>,
    pub order_id_1688: Option<i64>,
    pub status: String,
    pub status_1688: Option<String>,
    pub supplier_id: Option<i64>,
    pub warehouse_id: Option<i64>,
    pub has_unmapped: bool,
    pub note: Option<String>,
    pub currency: String,
    pub goods_amount: Option<Decimal>,
    pub shipping_fee: Option<Decimal>,
    pub discount: Option<Decimal>,
    pub total_amount: Option<Decimal>,
    pub created_at_1688: Option<DateTime<Utc>>,
    pub modified_at_1688: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub lines: Vec<StoredLine>,
}

/// One row of `purchase_order_lines`.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredLine {
    pub id: i64,
    pub line_no: i32,
    pub sub_item_id_1688: Option<i64>,
    pub offer_id: Option<i64>,
    pub spec_id: Option<String>,
    pub sku_id_1688: Option<i64>,
    pub title: String,
    pub attributes: Option<String>,
    pub quantity: Decimal,
    pub unit_price: Decimal,
    pub amount: Decimal,
    pub merchant_sku: Option<String>,
    pub mapping_status: String,
    /// `mapping` when set from `sku_mappings`, `manual` when the ERP chose it.
    pub mapping_source: Option<String>,
    pub merchant_quantity: Option<Decimal>,
    pub merchant_unit_cost: Option<Decimal>,
    pub received_qty: Decimal,
}

impl StoredLine {
    /// What the line still waits for, in merchant units (see
    /// [`crate::domain::receiving::outstanding`]).
    pub fn outstanding(&self) -> Decimal {
        crate::domain::receiving::outstanding(
            self.merchant_quantity,
            self.quantity,
            self.received_qty,
        )
    }
}

/// A 1688 SKU that lines wait on because it has no mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct UnmappedItem {
    pub offer_id: i64,
    pub spec_id: String,
    pub title: String,
    pub attributes: String,
    pub lines: u64,
    pub orders: u64,
    /// When the oldest waiting order was created on 1688.
    pub oldest_order_at: Option<DateTime<Utc>>,
}

/// Database-wide counts for summaries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    pub orders: u64,
    pub lines: u64,
    pub mapped_lines: u64,
    pub unmapped_lines: u64,
    pub orders_with_unmapped: u64,
    pub suppliers: u64,
}

/// Proof that this process holds an account's lease: checked at the end of every write
/// transaction, so a writer that lost its lease rolls back instead of racing the new
/// holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub account: String,
    pub owner: String,
    pub generation: i64,
}

/// A held lease and until when (database clock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub fence: Fence,
    pub until: DateTime<Utc>,
}

/// One row of `sync_leases`, for operators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRow {
    pub account: String,
    pub owner: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
    pub generation: i64,
}

/// A backfill's progress, kept so that a rerun after a crash resumes where it stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackfillProgress {
    pub id: i64,
    pub account: String,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    /// Every order created before this instant is committed; `None` before the first chunk.
    pub done_until: Option<DateTime<Utc>>,
    pub finished: bool,
}

/// What the runs of one account say about its health, from `sync_runs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRunStatus {
    pub account: String,
    pub last_success: Option<DateTime<Utc>>,
    /// Failed runs since the last success.
    pub consecutive_failures: u32,
    pub last_error: Option<String>,
}

/// What adding a product did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProductUpsert {
    Added,
    Updated,
    /// Already stored with the same content.
    Unchanged,
}

/// One row of `suppliers`, with how much hangs on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupplierRow {
    pub id: i64,
    pub login_id_1688: String,
    pub member_id_1688: Option<String>,
    pub name: Option<String>,
    pub products: u64,
    pub purchase_orders: u64,
}

/// A stored product SKU, for listings and validation.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredProductSku {
    pub offer_id: i64,
    pub spec_id: String,
    pub sku_id: Option<i64>,
    pub subject: String,
    pub attributes: String,
    pub price: Option<Decimal>,
    pub supplier_login_id: String,
    pub merchant_sku: Option<String>,
    /// The mapping's ratio, when mapped.
    pub quantity_ratio: Option<Decimal>,
    /// The offer's 1688 status (`published`, `expired`, …).
    pub product_status: String,
    pub min_order_quantity: Option<Decimal>,
}

/// What setting or deleting mappings did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MappingChange {
    pub inserted: u64,
    pub updated: u64,
    pub deleted: u64,
    /// Waiting unmapped lines (of orders not yet received) that are now mapped.
    pub lines_remapped: u64,
    pub orders_remapped: u64,
}

/// What a committed receipt did.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceiptOutcome {
    pub receipt_id: i64,
    pub warehouse: ReceivingWarehouse,
    /// The order lines received, with what each still waits for.
    pub lines: Vec<ReceivedLine>,
    /// The orders received on, with their new status and their lines still outstanding.
    pub orders: Vec<OrderAfterReceipt>,
}

/// One row of `receipts` with its lines, for labels and listings.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredReceipt {
    pub id: i64,
    pub warehouse_id: i64,
    pub warehouse_code: String,
    pub warehouse_name: String,
    pub tracking_no: Option<String>,
    pub received_at: DateTime<Utc>,
    pub note: Option<String>,
    pub lines: Vec<StoredReceiptLine>,
}

/// One row of `receipt_lines`, with its merchant SKU's name and GTIN and where it came
/// from (the order and line are `None` once the order was deleted).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredReceiptLine {
    pub id: i64,
    pub purchase_order_id: Option<i64>,
    pub po_number: Option<String>,
    pub purchase_order_line_id: Option<i64>,
    pub line_no: Option<i32>,
    pub title: Option<String>,
    pub merchant_sku: String,
    /// `None` when the merchant SKU is not in `merchant_skus`.
    pub name: Option<String>,
    pub gtin: Option<String>,
    pub quantity: Decimal,
}

/// One row of `inventory`, with its merchant SKU's name and GTIN.
#[derive(Debug, Clone, PartialEq)]
pub struct InventoryRow {
    pub merchant_sku: String,
    pub name: Option<String>,
    pub gtin: Option<String>,
    pub on_hand: Decimal,
    pub updated_at: DateTime<Utc>,
}

/// One row of `warehouses`, with how much hangs on it.
#[derive(Debug, Clone, PartialEq)]
pub struct WarehouseRow {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub purchase_orders: u64,
    /// Units in stock, all merchant SKUs together.
    pub on_hand: Decimal,
    /// Merchant SKUs with stock.
    pub skus_in_stock: u64,
}

/// What adding a warehouse did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WarehouseChange {
    Created(i64),
    /// It existed (e.g. created by sync, named after its code) and took the new name.
    Renamed(i64),
    Unchanged(i64),
}

impl WarehouseChange {
    pub fn id(self) -> i64 {
        match self {
            WarehouseChange::Created(id)
            | WarehouseChange::Renamed(id)
            | WarehouseChange::Unchanged(id) => id,
        }
    }
}

/// What deleting a warehouse deleted.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WarehouseDeletion {
    pub purchase_orders: u64,
    /// 1688 orders among them, now tombstoned (newly: an order tombstoned before is
    /// not counted again).
    pub tombstones: u64,
    pub receipts: u64,
    pub inventory_rows: u64,
    /// The stock that was dropped with them (only with `force`).
    pub on_hand: Decimal,
}

/// A line of a purchase order created in the ERP, already resolved to its 1688 SKU.
#[derive(Debug, Clone, PartialEq)]
pub struct NewPoLine {
    pub merchant_sku: String,
    /// Merchant units.
    pub merchant_quantity: Decimal,
    pub offer_id: i64,
    pub spec_id: String,
    pub sku_id_1688: Option<i64>,
    /// Whole 1688 units.
    pub quantity: Decimal,
    pub unit_price: Decimal,
    pub title: String,
    pub attributes: String,
}

/// A purchase order to create as a draft (`source = '1688_created'`).
#[derive(Debug, Clone, PartialEq)]
pub struct NewPurchaseOrder {
    pub account: String,
    pub supplier_login_id: String,
    pub warehouse_code: String,
    /// Sent to the supplier as the order message when placed.
    pub note: Option<String>,
    /// The 1688 receiving address chosen for it.
    pub address_id_1688: String,
    pub lines: Vec<NewPoLine>,
}

/// What placing a purchase order on 1688 produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Placement {
    /// Every 1688 order made for it (1688 may split one).
    pub order_ids: Vec<i64>,
    pub total_amount: Option<Decimal>,
    pub shipping_fee: Option<Decimal>,
    pub pay_url: Option<String>,
}

/// What submitting one purchase order did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmitOutcome {
    pub po_number: String,
    /// `Err` says why it was refused (not a draft, unknown, …).
    pub result: Result<(), String>,
}

/// A created purchase order's placing state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacingState {
    pub po_number: String,
    pub account: String,
    pub status: String,
    /// Sent as `outOrderId`; fixed when the order is created, so that every retry of
    /// the placement carries the same one.
    pub out_order_id: String,
    pub address_id_1688: Option<String>,
    pub note: Option<String>,
    /// The 1688 orders it was placed as (empty until placed).
    pub order_ids_1688: Vec<i64>,
}

/// A 1688 receiving address as cached in the database (`accounts addresses`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressRow {
    pub account: String,
    pub address_id: String,
    pub full_name: String,
    pub address: String,
    pub address_code: Option<String>,
    pub address_code_text: Option<String>,
    pub post: Option<String>,
    pub phone: Option<String>,
    pub mobile: Option<String>,
    pub is_default: bool,
    pub fetched_at: DateTime<Utc>,
}

/// What `orders edit` changes on a draft; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DraftEdit {
    /// `Some(None)` clears the note.
    pub note: Option<Option<String>>,
    pub warehouse_code: Option<String>,
    /// Replaces every line (only for an order created in the ERP).
    pub lines: Option<Vec<NewPoLine>>,
}

/// The shared ERP database, whatever the backend.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    fn backend(&self) -> Backend;

    /// How many batches of one run may be written at once, each in its own
    /// transaction. They hold different orders (a run writes each order once), so
    /// PostgreSQL writes them side by side; SQLite has one writer.
    fn concurrent_writes(&self) -> usize {
        1
    }

    /// Applies the embedded migrations of this backend.
    async fn migrate(&self) -> StoreResult<()>;

    /// Cheap round trip, for readiness.
    async fn ping(&self) -> StoreResult<()>;

    /// The id of the warehouse `code`, created with `code` as its name when missing.
    async fn ensure_warehouse(&self, code: &str) -> StoreResult<i64>;

    /// Every row of `sku_mappings`.
    async fn load_mappings(&self) -> StoreResult<Vec<SkuMapping>>;

    /// Upserts merchant SKUs by `sku`, all or nothing. A GTIN already used by another
    /// SKU is an [`StoreError::InvalidRow`] naming the line.
    async fn import_merchant_skus(
        &self,
        rows: &[Numbered<MerchantSku>],
    ) -> StoreResult<ImportOutcome>;

    /// A mapping import: [`Store::set_mappings`] without `force`, so a row naming a 1688
    /// SKU that a stored product does not have fails the whole file like an unknown
    /// merchant SKU does.
    async fn import_mappings(&self, rows: &[Numbered<SkuMapping>]) -> StoreResult<ImportOutcome>;

    /// Records the start of a run (`status = 'running'`) and returns its id. Runs of the
    /// same account left `running` by a process that died are closed as failed first.
    async fn begin_run(&self, account: &str, kind: RunKind, window: SyncWindow)
    -> StoreResult<i64>;

    /// Records how a run ended.
    async fn finish_run(
        &self,
        run_id: i64,
        status: RunStatus,
        counts: &RunCounts,
        error: Option<&str>,
    ) -> StoreResult<()>;

    /// Writes a batch of orders (whole pages) in one transaction: new orders inserted,
    /// changed orders updated (1688-owned fields only), unchanged orders not touched,
    /// tombstoned orders skipped. Either the whole batch is written or none of it.
    async fn write_page(
        &self,
        target: &PageTarget,
        orders: &[IncomingOrder],
    ) -> StoreResult<PageOutcome>;

    /// The orders of `account` created in `window` that are stored exactly as 1688 last
    /// sent them (their [`RawHash`] known), and that a page would leave untouched: synced,
    /// not tombstoned, not claimed by a purchase order created in the ERP.
    async fn known_orders(&self, account: &str, window: SyncWindow) -> StoreResult<KnownOrders>;

    /// How many lines wait for a mapping, for each order of `account` created in `window`
    /// that has any (by 1688 order id): the run's tally of the orders it did not read.
    async fn unmapped_line_counts(
        &self,
        account: &str,
        window: SyncWindow,
    ) -> StoreResult<std::collections::HashMap<i64, u64>>;

    /// [`StoreError::LeaseLost`] unless `fence` still holds its account's lease: for a
    /// writer whose pages wrote nothing for a while.
    async fn check_lease(&self, fence: &Fence) -> StoreResult<()>;

    /// The purchase order synced from 1688 order `order_id_1688` of `account`.
    async fn find_synced_order(
        &self,
        account: &str,
        order_id_1688: i64,
    ) -> StoreResult<Option<StoredOrder>>;

    /// The most recent runs, newest first.
    async fn recent_runs(&self, limit: u32) -> StoreResult<Vec<SyncRunRow>>;

    async fn totals(&self) -> StoreResult<Totals>;

    /// The 1688 SKUs most lines wait on, most first, from the view `unmapped_1688_items`
    /// that other tools read too: unmapped lines, not manual, of orders neither received
    /// nor cancelled (the lines a new mapping would re-map).
    async fn unmapped_items(&self, limit: u32) -> StoreResult<Vec<UnmappedItem>>;

    /// Records that `order_id_1688` of `account` must never be imported again.
    async fn add_tombstone(
        &self,
        account: &str,
        order_id_1688: i64,
        reason: &str,
    ) -> StoreResult<()>;

    /// Claims the lease of `account` for `owner` for `ttl` (database clock), in one
    /// conditional statement: granted when nobody holds it, when it expired, or when
    /// `owner` already holds it (then renewed). A change of holder increments the
    /// generation. `None` when another owner holds a live lease.
    async fn try_claim_lease(
        &self,
        account: &str,
        owner: &str,
        ttl: std::time::Duration,
    ) -> StoreResult<Option<Lease>>;

    /// Extends a held lease; `None` when it was lost (expired and taken, or released).
    async fn renew_lease(
        &self,
        fence: &Fence,
        ttl: std::time::Duration,
    ) -> StoreResult<Option<DateTime<Utc>>>;

    /// Gives a lease up (graceful shutdown) so that another instance may take it at once.
    /// The owner is cleared, so a later claim, even by the same owner, is a new generation.
    /// Does nothing when the lease was already lost.
    async fn release_lease(&self, fence: &Fence) -> StoreResult<()>;

    /// Deletes the runs of `account` started before `started_before` that have ended,
    /// except its latest successful run (readiness and `status` start from it), a chunk
    /// at a time. Returns how many rows went.
    async fn trim_runs(&self, account: &str, started_before: DateTime<Utc>) -> StoreResult<u64>;

    /// Every lease row, for operators and tests.
    async fn leases(&self) -> StoreResult<Vec<LeaseRow>>;

    /// The change-tracking cursor of `account`: orders modified before it are known.
    async fn change_cursor(&self, account: &str) -> StoreResult<Option<DateTime<Utc>>>;

    /// Moves the cursor forward to `to` (never backward), checking `fence` when given:
    /// [`StoreError::LeaseLost`] and no change when the lease was lost.
    async fn advance_change_cursor(
        &self,
        account: &str,
        to: DateTime<Utc>,
        fence: Option<&Fence>,
    ) -> StoreResult<()>;

    /// The unfinished backfill of exactly this account and window, or a new one.
    async fn open_backfill(
        &self,
        account: &str,
        window: SyncWindow,
    ) -> StoreResult<BackfillProgress>;

    /// Records that every order created up to `done_until` is committed.
    async fn backfill_progress(&self, id: i64, done_until: DateTime<Utc>) -> StoreResult<()>;

    async fn finish_backfill(&self, id: i64) -> StoreResult<()>;

    /// Per account that has runs: last success, failures since, last error.
    async fn account_run_status(&self) -> StoreResult<Vec<AccountRunStatus>>;

    /// Stores a product and its SKUs in one transaction: its supplier is created or
    /// updated by login id as [`Store::write_page`] does (a missing member id or name
    /// keeps the stored one), the product row is upserted and its SKUs replaced (SKUs no
    /// longer offered are removed). A product whose content did not change writes
    /// nothing ([`ProductUpsert::Unchanged`]; its `updated_at` stays).
    async fn upsert_product(&self, product: &Product1688) -> StoreResult<ProductUpsert>;

    /// Every stored product SKU (only those of `offer_id` when given), ordered by offer
    /// id and spec id, with its product's subject, its supplier's login id and the
    /// merchant SKU it is mapped to.
    async fn product_skus(&self, offer_id: Option<i64>) -> StoreResult<Vec<StoredProductSku>>;

    /// Every supplier, ordered by login id, with how many products and purchase orders
    /// name it.
    async fn list_suppliers(&self) -> StoreResult<Vec<SupplierRow>>;

    /// Upserts mappings by (offer id, spec id), all or nothing, then re-maps the waiting
    /// lines (unmapped, not manual, of orders neither received nor cancelled) and fixes
    /// their orders' `has_unmapped`. A merchant SKU that does not exist is an
    /// [`StoreError::InvalidRow`] naming the line; so is, unless `force`, a 1688 SKU of
    /// an offer with a stored product that is not one of that product's stored SKUs. An
    /// offer without a stored product accepts any spec id.
    async fn set_mappings(
        &self,
        rows: &[Numbered<SkuMapping>],
        force: bool,
    ) -> StoreResult<MappingChange>;

    /// Deletes the mapping of one 1688 SKU; `false` when there was none. Lines already
    /// mapped keep their merchant SKU; lines synced later arrive unmapped, and so does a
    /// mapped line of an order that 1688 changes later (sync maps the lines of a changed
    /// order again from the current mappings), unless its merchant SKU was chosen by
    /// hand.
    async fn delete_mapping(&self, offer_id: i64, spec_id: &str) -> StoreResult<bool>;

    /// Records that purchase order `po_number` travels under `tracking_no` (trimmed);
    /// `true` when new. Adding it again changes nothing but a carrier given now. Fails
    /// with [`ReceivingError::UnknownOrder`] or [`ReceivingError::EmptyTrackingNumber`].
    async fn add_tracking_number(
        &self,
        po_number: &str,
        tracking_no: &str,
        carrier: Option<&str>,
        source: TrackingSource,
    ) -> StoreResult<bool>;

    /// Every purchase order that carries `tracking_no`, whatever its status (so that a
    /// caller can say why one cannot be received), by id, with its lines.
    async fn orders_for_tracking(&self, tracking_no: &str) -> StoreResult<Vec<StoredOrder>>;

    async fn find_order_by_po_number(&self, po_number: &str) -> StoreResult<Option<StoredOrder>>;

    /// What [`Store::receive`] would do now, or the rule it would break, without writing
    /// or locking anything (for showing a receipt as it is scanned).
    async fn preview_receipt(
        &self,
        request: &ReceiptRequest,
        tolerance_percent: Decimal,
    ) -> StoreResult<ReceiptPlan>;

    /// Receives goods in one transaction: locks the orders and their lines, checks every
    /// rule against that locked state (so of two receipts racing for the same units
    /// exactly one gets them), then writes the receipt and its lines, the lines'
    /// `received_qty` (merchant units), each order's status (`received` when no line
    /// waits, unmapped lines included; else `partially_received`), the stock
    /// (`inventory`) and one `inventory_movements` row per receipt line. A broken rule
    /// is [`StoreError::Rejected`] and nothing is written. `tolerance_percent` is the
    /// over-receipt tolerance (0 = never more than outstanding).
    async fn receive(
        &self,
        request: &ReceiptRequest,
        tolerance_percent: Decimal,
    ) -> StoreResult<ReceiptOutcome>;

    /// A receipt with its lines, their merchant SKUs' names and GTINs (for labels).
    async fn receipt(&self, id: i64) -> StoreResult<Option<StoredReceipt>>;

    /// The stock of a warehouse by merchant SKU; [`WarehouseError::Unknown`] for an
    /// unknown code.
    async fn inventory(&self, warehouse_code: &str) -> StoreResult<Vec<InventoryRow>>;

    /// Adds a warehouse, or renames the one with this code. A blank name is the code.
    async fn add_warehouse(&self, code: &str, name: &str) -> StoreResult<WarehouseChange>;

    /// Every warehouse, by code, with its purchase orders and stock.
    async fn list_warehouses(&self) -> StoreResult<Vec<WarehouseRow>>;

    /// Deletes a warehouse and its purchase orders (their lines and tracking numbers
    /// with them) in one transaction, tombstoning each 1688 order among them (reason
    /// `warehouse CODE deleted`) so that sync never brings it back. Refused with
    /// [`WarehouseError::NotEmpty`] while it holds stock or its orders hold received
    /// goods, unless `force`, which also deletes its stock, journal and receipts.
    async fn delete_warehouse(&self, code: &str, force: bool) -> StoreResult<WarehouseDeletion>;

    /// Lets sync import `order_id_1688` of `account` again (a deliberate re-import);
    /// `false` when it was not tombstoned.
    async fn clear_tombstone(&self, account: &str, order_id_1688: i64) -> StoreResult<bool>;

    /// Creates a draft purchase order (`source = '1688_created'`) with its lines in one
    /// transaction: `po_number` `PO-YYYYMMDD-NNNN` (China date), a fresh `out_order_id`,
    /// the supplier (which must exist) and the warehouse (which must exist). Lines are
    /// mapped (`mapping_source = 'mapping'`).
    async fn create_purchase_order(&self, order: &NewPurchaseOrder) -> StoreResult<StoredOrder>;

    /// The placing state of a purchase order, `None` when there is no such order.
    async fn placing_state(&self, po_number: &str) -> StoreResult<Option<PlacingState>>;

    /// Records a placement: links every 1688 order to the purchase order (`order_id_1688`
    /// is the first; all are in `purchase_order_links`), stores the amounts and the pay
    /// URL. Idempotent: recording the same placement twice changes nothing.
    async fn record_placement(&self, po_number: &str, placement: &Placement) -> StoreResult<()>;

    /// Moves drafts to `on_the_way`; anything else is refused with the reason, per
    /// order, and the others still go through.
    async fn submit_orders(&self, po_numbers: &[String]) -> StoreResult<Vec<SubmitOutcome>>;

    /// The 1688 orders to follow for tracking numbers: those of `account`'s purchase
    /// orders on the way or partly received that 1688 has (or may have) shipped, as
    /// (po_number, 1688 order id); a split order appears once per 1688 order.
    async fn orders_to_track(&self, account: &str) -> StoreResult<Vec<(String, i64)>>;

    /// Records a parcel 1688 reported: its tracking number (source `1688`), carrier and
    /// the 1688 lines (`subItemID`s) it carries; `true` when the number is new.
    async fn record_parcel(
        &self,
        po_number: &str,
        tracking_no: &str,
        carrier: Option<&str>,
        sub_item_ids: &[i64],
    ) -> StoreResult<bool> {
        let new = self
            .add_tracking_number(po_number, tracking_no, carrier, TrackingSource::From1688)
            .await?;
        self.set_parcel_lines(po_number, tracking_no, sub_item_ids)
            .await?;
        Ok(new)
    }

    /// Replaces the cached receiving addresses of `account` with `addresses` (one
    /// transaction; every row's `fetched_at` is now: the given `fetched_at` and `account`
    /// of each row are ignored).
    async fn replace_addresses(&self, account: &str, addresses: &[AddressRow]) -> StoreResult<()>;

    /// The cached receiving addresses of `account`, the default first.
    async fn addresses(&self, account: &str) -> StoreResult<Vec<AddressRow>>;

    /// Edits a draft that is not placed yet, in one transaction; anything else is
    /// refused with the reason (its status, or that it was placed):
    /// [`StoreError::NotEditable`]. An unknown order is [`ReceivingError::UnknownOrder`],
    /// an unknown warehouse [`WarehouseError::Unknown`]; new lines are only accepted for
    /// an order created in the ERP (`source = '1688_created'`), and replace every line
    /// and the goods amount. `updated_at` is bumped.
    async fn edit_draft(&self, po_number: &str, edit: &DraftEdit) -> StoreResult<StoredOrder>;

    /// Sets the lines a tracking number carries (comma-separated `subItemID`s).
    async fn set_parcel_lines(
        &self,
        po_number: &str,
        tracking_no: &str,
        sub_item_ids: &[i64],
    ) -> StoreResult<()>;
}

impl From<MappingChange> for ImportOutcome {
    fn from(c: MappingChange) -> Self {
        ImportOutcome {
            inserted: c.inserted,
            updated: c.updated,
            lines_remapped: c.lines_remapped,
            orders_remapped: c.orders_remapped,
        }
    }
}

/// Opens the database named by `url`, choosing the backend by its scheme.
pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Arc<dyn Store>> {
    match scheme_of(url)? {
        Backend::Postgres => Ok(Arc::new(
            PostgresStore::connect(url, max_connections).await?,
        )),
        Backend::Sqlite => Ok(Arc::new(SqliteStore::connect(url, max_connections).await?)),
    }
}

/// The backend a database URL asks for.
pub fn scheme_of(url: &str) -> StoreResult<Backend> {
    let scheme = url
        .split_once(':')
        .map(|(s, _)| s.to_ascii_lowercase())
        .ok_or_else(|| {
            StoreError::BadUrl("missing a scheme such as postgres:// or sqlite:".into())
        })?;
    match scheme.as_str() {
        "postgres" | "postgresql" => Ok(Backend::Postgres),
        "sqlite" => Ok(Backend::Sqlite),
        other => Err(StoreError::UnsupportedScheme(other.to_owned())),
    }
}

/// The URL with any password replaced by `***`, for logs and `check-config`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{user}:***@{host}"),
            None => format!("{userinfo}@{host}"),
        },
        None => authority.to_owned(),
    };
    let tail = redact_query_password(tail);
    format!("{scheme}://{authority}{tail}")
}

fn redact_query_password(tail: &str) -> String {
    let Some((path, query)) = tail.split_once('?') else {
        return tail.to_owned();
    };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
            _ => pair.to_owned(),
        })
        .collect();
    format!("{path}?{}", query.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheme_chooses_the_backend() {
        assert_eq!(scheme_of("postgres://u@h/db").unwrap(), Backend::Postgres);
        assert_eq!(scheme_of("postgresql://u@h/db").unwrap(), Backend::Postgres);
        assert_eq!(
            scheme_of("sqlite://x.db?mode=rwc").unwrap(),
            Backend::Sqlite
        );
        assert_eq!(scheme_of("sqlite::memory:").unwrap(), Backend::Sqlite);
        let err = scheme_of("mysql://u@h/db").unwrap_err().to_string();
        assert!(err.contains("mysql"), "{err}");
    }

    #[test]
    fn a_password_never_leaves_redact_url() {
        let r =
            redact_url("postgres://erp:s3cr3t@db.local:5432/erp?sslmode=require&password=other");
        assert!(!r.contains("s3cr3t") && !r.contains("other"), "{r}");
        assert!(r.contains("erp:***@db.local:5432/erp"), "{r}");
        assert_eq!(
            redact_url("sqlite://sync1688.db?mode=rwc"),
            "sqlite://sync1688.db?mode=rwc"
        );
    }
}
