//! Stored rows read into the types of the store. Both backends select the same column
//! names; only how one column is read differs (SQLite keeps decimals and instants as
//! text), so each backend implements [`Columns`] and the meaning of every row is written
//! once, here.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::domain::{
    KnownOrders, LineToReceive, OrderToReceive, PoStatus, RawHash, ReceivingWarehouse, SkuMapping,
};

use super::shared::{self, ExistingOrder, WaitingLine};
use super::{
    AccountRunStatus, BackfillProgress, Fence, InventoryRow, Lease, LeaseRow, MerchantSku,
    RunCounts, StoreError, StoreResult, StoredLine, StoredOrder, StoredProductSku, StoredReceipt,
    StoredReceiptLine, SupplierRow, SyncRunRow, Totals, UnmappedItem, WarehouseRow,
};

/// One column of a result row, by name, decoded as the backend stores it. A value that
/// does not decode is [`StoreError::Database`], one stored as text that does not parse
/// [`StoreError::Corrupt`].
pub(crate) trait Columns {
    fn int(&self, column: &'static str) -> StoreResult<i64>;
    fn opt_int(&self, column: &'static str) -> StoreResult<Option<i64>>;
    fn int32(&self, column: &'static str) -> StoreResult<i32>;
    fn opt_int32(&self, column: &'static str) -> StoreResult<Option<i32>>;
    fn text(&self, column: &'static str) -> StoreResult<String>;
    fn opt_text(&self, column: &'static str) -> StoreResult<Option<String>>;
    fn flag(&self, column: &'static str) -> StoreResult<bool>;
    fn decimal(&self, column: &'static str) -> StoreResult<Decimal>;
    fn opt_decimal(&self, column: &'static str) -> StoreResult<Option<Decimal>>;
    fn instant(&self, column: &'static str) -> StoreResult<DateTime<Utc>>;
    fn opt_instant(&self, column: &'static str) -> StoreResult<Option<DateTime<Utc>>>;

    /// A `count(*)`; a negative value reads as 0.
    fn count(&self, column: &'static str) -> StoreResult<u64> {
        Ok(shared::count(self.int(column)?))
    }
}

/// The [`Columns`] methods whose column type sqlx decodes alike on every backend.
macro_rules! columns_read_as_stored {
    () => {
        fn int(&self, column: &'static str) -> StoreResult<i64> {
            Ok(sqlx::Row::try_get(self, column)?)
        }
        fn opt_int(&self, column: &'static str) -> StoreResult<Option<i64>> {
            Ok(sqlx::Row::try_get(self, column)?)
        }
        fn int32(&self, column: &'static str) -> StoreResult<i32> {
            Ok(sqlx::Row::try_get(self, column)?)
        }
        fn opt_int32(&self, column: &'static str) -> StoreResult<Option<i32>> {
            Ok(sqlx::Row::try_get(self, column)?)
        }
        fn text(&self, column: &'static str) -> StoreResult<String> {
            Ok(sqlx::Row::try_get(self, column)?)
        }
        fn opt_text(&self, column: &'static str) -> StoreResult<Option<String>> {
            Ok(sqlx::Row::try_get(self, column)?)
        }
        fn flag(&self, column: &'static str) -> StoreResult<bool> {
            Ok(sqlx::Row::try_get(self, column)?)
        }
    };
}
pub(crate) use columns_read_as_stored;

/// Rows of `purchase_orders` with their lines (rows of `purchase_order_lines`, in line
/// order), in the order of the order rows.
pub(crate) fn orders_with_lines<R: Columns>(
    orders: &[R],
    lines: &[R],
) -> StoreResult<Vec<StoredOrder>> {
    let mut by_order: HashMap<i64, Vec<StoredLine>> = HashMap::new();
    for r in lines {
        by_order
            .entry(r.int("purchase_order_id")?)
            .or_default()
            .push(stored_line(r)?);
    }
    orders
        .iter()
        .map(|r| {
            let id = r.int("id")?;
            stored_order(r, by_order.remove(&id).unwrap_or_default())
        })
        .collect()
}

fn stored_order(r: &impl Columns, lines: Vec<StoredLine>) -> StoreResult<StoredOrder> {
    Ok(StoredOrder {
        id: r.int("id")?,
        po_number: r.text("po_number")?,
        source: r.text("source")?,
        account: r.opt_text("account")?,
        order_id_1688: r.opt_int("order_id_1688")?,
        status: r.text("status")?,
        status_1688: r.opt_text("status_1688")?,
        supplier_id: r.opt_int("supplier_id")?,
        warehouse_id: r.opt_int("warehouse_id")?,
        has_unmapped: r.flag("has_unmapped")?,
        note: r.opt_text("note")?,
        currency: r.text("currency")?,
        goods_amount: r.opt_decimal("goods_amount")?,
        shipping_fee: r.opt_decimal("shipping_fee")?,
        discount: r.opt_decimal("discount")?,
        total_amount: r.opt_decimal("total_amount")?,
        created_at_1688: r.opt_instant("created_at_1688")?,
        modified_at_1688: r.opt_instant("modified_at_1688")?,
        created_at: r.instant("created_at")?,
        updated_at: r.instant("updated_at")?,
        lines,
    })
}

fn stored_line(r: &impl Columns) -> StoreResult<StoredLine> {
    Ok(StoredLine {
        id: r.int("id")?,
        line_no: r.int32("line_no")?,
        sub_item_id_1688: r.opt_int("sub_item_id_1688")?,
        offer_id: r.opt_int("offer_id")?,
        spec_id: r.opt_text("spec_id")?,
        sku_id_1688: r.opt_int("sku_id_1688")?,
        title: r.text("title")?,
        attributes: r.opt_text("attributes")?,
        quantity: r.decimal("quantity")?,
        unit_price: r.decimal("unit_price")?,
        amount: r.decimal("amount")?,
        merchant_sku: r.opt_text("merchant_sku")?,
        mapping_status: r.text("mapping_status")?,
        mapping_source: r.opt_text("mapping_source")?,
        merchant_quantity: r.opt_decimal("merchant_quantity")?,
        merchant_unit_cost: r.opt_decimal("merchant_unit_cost")?,
        received_qty: r.decimal("received_qty")?,
    })
}

/// What a page finds stored for its 1688 order ids: rows of `order_id`, the purchase
/// order's `id`, `content_hash` and `raw_hash` (null when there is none) and `tombstoned`.
pub(crate) fn page_state(
    rows: &[impl Columns],
) -> StoreResult<(HashMap<i64, ExistingOrder>, HashSet<i64>)> {
    let mut existing = HashMap::new();
    let mut tombstoned = HashSet::new();
    for row in rows {
        let order_id = row.int("order_id")?;
        if row.flag("tombstoned")? {
            tombstoned.insert(order_id);
        }
        if let Some(id) = row.opt_int("id")? {
            let existing_order = ExistingOrder {
                id,
                content_hash: row.opt_text("content_hash")?,
                raw_hash: row.opt_text("raw_hash")?,
            };
            existing.insert(order_id, existing_order);
        }
    }
    Ok((existing, tombstoned))
}

/// Rows of `order_id_1688` and `raw_hash` as [`KnownOrders`]. A hash that does not read
/// (written by another tool) only makes its order read in full.
pub(crate) fn known_orders(rows: &[impl Columns]) -> StoreResult<KnownOrders> {
    let mut known = KnownOrders::with_capacity(rows.len());
    for row in rows {
        if let Some(hash) = row
            .opt_text("raw_hash")?
            .as_deref()
            .and_then(RawHash::from_hex)
        {
            known.insert(hash, row.int("order_id_1688")?);
        }
    }
    Ok(known)
}

/// Rows of `order_id_1688` and `lines_unmapped`, by order id.
pub(crate) fn unmapped_line_counts(rows: &[impl Columns]) -> StoreResult<HashMap<i64, u64>> {
    rows.iter()
        .map(|row| {
            Ok((
                row.int("order_id_1688")?,
                row.int("lines_unmapped")?.max(0) as u64,
            ))
        })
        .collect()
}

/// The `id` of each row by its text column `key`.
pub(crate) fn ids_by_text(
    rows: &[impl Columns],
    key: &'static str,
) -> StoreResult<HashMap<String, i64>> {
    rows.iter()
        .map(|r| Ok((r.text(key)?, r.int("id")?)))
        .collect()
}

/// The `id` of each row by its integer column `key`.
pub(crate) fn ids_by_int(
    rows: &[impl Columns],
    key: &'static str,
) -> StoreResult<HashMap<i64, i64>> {
    rows.iter()
        .map(|r| Ok((r.int(key)?, r.int("id")?)))
        .collect()
}

/// The `sku` owning each `gtin`.
pub(crate) fn gtin_owners(rows: &[impl Columns]) -> StoreResult<HashMap<String, String>> {
    rows.iter()
        .map(|r| Ok((r.text("gtin")?, r.text("sku")?)))
        .collect()
}

pub(crate) fn sku_mapping(r: &impl Columns) -> StoreResult<SkuMapping> {
    Ok(SkuMapping {
        offer_id: r.int("offer_id")?,
        spec_id: r.text("spec_id")?,
        merchant_sku: r.text("merchant_sku")?,
        quantity_ratio: r.decimal("quantity_ratio")?,
    })
}

/// Stored mappings by (offer id, spec id).
pub(crate) fn mappings_by_key(
    rows: &[impl Columns],
) -> StoreResult<HashMap<(i64, String), SkuMapping>> {
    rows.iter()
        .map(|r| sku_mapping(r).map(|m| ((m.offer_id, m.spec_id.clone()), m)))
        .collect()
}

/// Merchant SKUs (`sku`, `gtin`, `name`) by SKU.
pub(crate) fn merchant_skus_by_sku(
    rows: &[impl Columns],
) -> StoreResult<HashMap<String, MerchantSku>> {
    rows.iter()
        .map(|r| {
            let m = MerchantSku {
                sku: r.text("sku")?,
                gtin: r.opt_text("gtin")?,
                name: r.text("name")?,
            };
            Ok((m.sku.clone(), m))
        })
        .collect()
}

/// The stored spec ids of each offer that has a product, from rows of `offer_id` and
/// `spec_id` (null for a product without SKUs).
pub(crate) fn product_specs(rows: &[impl Columns]) -> StoreResult<HashMap<i64, HashSet<String>>> {
    let mut specs: HashMap<i64, HashSet<String>> = HashMap::new();
    for r in rows {
        let offer = specs.entry(r.int("offer_id")?).or_default();
        if let Some(spec) = r.opt_text("spec_id")? {
            offer.insert(spec);
        }
    }
    Ok(specs)
}

pub(crate) fn waiting_line(r: &impl Columns) -> StoreResult<WaitingLine> {
    Ok(WaitingLine {
        id: r.int("id")?,
        purchase_order_id: r.int("purchase_order_id")?,
        offer_id: r.int("offer_id")?,
        spec_id: r.text("spec_id")?,
        quantity: r.decimal("quantity")?,
        unit_price: r.decimal("unit_price")?,
        amount: r.decimal("amount")?,
    })
}

pub(crate) fn product_sku(r: &impl Columns) -> StoreResult<StoredProductSku> {
    Ok(StoredProductSku {
        offer_id: r.int("offer_id")?,
        spec_id: r.text("spec_id")?,
        sku_id: r.opt_int("sku_id_1688")?,
        subject: r.text("subject")?,
        attributes: r.text("attributes")?,
        price: r.opt_decimal("price")?,
        supplier_login_id: r.text("login_id_1688")?,
        merchant_sku: r.opt_text("merchant_sku")?,
        quantity_ratio: r.opt_decimal("quantity_ratio")?,
        product_status: r.text("product_status")?,
        min_order_quantity: r.opt_decimal("min_order_quantity")?,
    })
}

pub(crate) fn supplier(r: &impl Columns) -> StoreResult<SupplierRow> {
    Ok(SupplierRow {
        id: r.int("id")?,
        login_id_1688: r.text("login_id_1688")?,
        member_id_1688: r.opt_text("member_id_1688")?,
        name: r.opt_text("name")?,
        products: r.count("products")?,
        purchase_orders: r.count("purchase_orders")?,
    })
}

pub(crate) fn sync_run(r: &impl Columns) -> StoreResult<SyncRunRow> {
    Ok(SyncRunRow {
        id: r.int("id")?,
        account: r.text("account")?,
        kind: r.text("kind")?,
        window_start: r.instant("window_start")?,
        window_end: r.instant("window_end")?,
        started_at: r.instant("started_at")?,
        finished_at: r.opt_instant("finished_at")?,
        status: r.text("status")?,
        counts: RunCounts {
            orders_seen: r.count("orders_seen")?,
            orders_inserted: r.count("orders_inserted")?,
            orders_updated: r.count("orders_updated")?,
            orders_unchanged: r.count("orders_unchanged")?,
            orders_skipped: r.count("orders_skipped")?,
            lines_unmapped: r.count("lines_unmapped")?,
            pages: r.count("pages")?,
        },
        error: r.opt_text("error")?,
    })
}

pub(crate) fn totals(r: &impl Columns) -> StoreResult<Totals> {
    Ok(Totals {
        orders: r.count("orders")?,
        lines: r.count("lines")?,
        mapped_lines: r.count("mapped_lines")?,
        unmapped_lines: r.count("unmapped_lines")?,
        orders_with_unmapped: r.count("orders_with_unmapped")?,
        suppliers: r.count("suppliers")?,
    })
}

pub(crate) fn unmapped_item(r: &impl Columns) -> StoreResult<UnmappedItem> {
    Ok(UnmappedItem {
        offer_id: r.int("offer_id")?,
        spec_id: r.text("spec_id")?,
        title: r.text("title")?,
        attributes: r.text("attributes")?,
        lines: r.count("lines")?,
        orders: r.count("orders")?,
        oldest_order_at: r.opt_instant("oldest_order_at")?,
    })
}

/// A lease as a claim returns it: `account`, `owner`, `generation`, `lease_until`.
pub(crate) fn lease(r: &impl Columns) -> StoreResult<Lease> {
    Ok(Lease {
        fence: Fence {
            account: r.text("account")?,
            owner: r.text("owner")?,
            generation: r.int("generation")?,
        },
        until: r.instant("lease_until")?,
    })
}

pub(crate) fn lease_row(r: &impl Columns) -> StoreResult<LeaseRow> {
    Ok(LeaseRow {
        account: r.text("account")?,
        owner: r.opt_text("owner")?,
        lease_until: r.opt_instant("lease_until")?,
        generation: r.int("generation")?,
    })
}

pub(crate) fn backfill(r: &impl Columns) -> StoreResult<BackfillProgress> {
    Ok(BackfillProgress {
        id: r.int("id")?,
        account: r.text("account")?,
        window_start: r.instant("window_start")?,
        window_end: r.instant("window_end")?,
        done_until: r.opt_instant("done_until")?,
        finished: r.opt_instant("finished_at")?.is_some(),
    })
}

/// A row of [`shared::ACCOUNT_RUN_STATUS_SQL`].
pub(crate) fn account_run_status(r: &impl Columns) -> StoreResult<AccountRunStatus> {
    Ok(AccountRunStatus {
        account: r.text("account")?,
        last_success: r.opt_instant("last_success")?,
        consecutive_failures: shared::small_count(r.int("failures")?),
        last_error: r.opt_text("last_error")?,
    })
}

/// A receipt (with its warehouse's `code` and `name`) and its lines.
pub(crate) fn receipt(
    r: &impl Columns,
    lines: Vec<StoredReceiptLine>,
) -> StoreResult<StoredReceipt> {
    Ok(StoredReceipt {
        id: r.int("id")?,
        warehouse_id: r.int("warehouse_id")?,
        warehouse_code: r.text("code")?,
        warehouse_name: r.text("name")?,
        tracking_no: r.opt_text("tracking_no")?,
        received_at: r.instant("received_at")?,
        note: r.opt_text("note")?,
        lines,
    })
}

pub(crate) fn receipt_line(r: &impl Columns) -> StoreResult<StoredReceiptLine> {
    Ok(StoredReceiptLine {
        id: r.int("id")?,
        purchase_order_id: r.opt_int("purchase_order_id")?,
        po_number: r.opt_text("po_number")?,
        purchase_order_line_id: r.opt_int("purchase_order_line_id")?,
        line_no: r.opt_int32("line_no")?,
        title: r.opt_text("title")?,
        merchant_sku: r.text("merchant_sku")?,
        name: r.opt_text("name")?,
        gtin: r.opt_text("gtin")?,
        quantity: r.decimal("quantity")?,
    })
}

pub(crate) fn inventory_row(r: &impl Columns) -> StoreResult<InventoryRow> {
    Ok(InventoryRow {
        merchant_sku: r.text("merchant_sku")?,
        name: r.opt_text("name")?,
        gtin: r.opt_text("gtin")?,
        on_hand: r.decimal("on_hand")?,
        updated_at: r.instant("updated_at")?,
    })
}

/// A warehouse (`id`, `code`, `name`, `purchase_orders`) with its stock, summed by the
/// caller.
pub(crate) fn warehouse(
    r: &impl Columns,
    on_hand: Decimal,
    skus_in_stock: u64,
) -> StoreResult<WarehouseRow> {
    Ok(WarehouseRow {
        id: r.int("id")?,
        code: r.text("code")?,
        name: r.text("name")?,
        purchase_orders: r.count("purchase_orders")?,
        on_hand,
        skus_in_stock,
    })
}

pub(crate) fn receiving_warehouse(r: &impl Columns) -> StoreResult<ReceivingWarehouse> {
    Ok(ReceivingWarehouse {
        id: r.int("id")?,
        code: r.text("code")?,
    })
}

/// An order of a receipt, without its lines yet.
pub(crate) fn order_to_receive(r: &impl Columns) -> StoreResult<OrderToReceive> {
    let status = r.text("status")?;
    Ok(OrderToReceive {
        id: r.int("id")?,
        po_number: r.text("po_number")?,
        status: PoStatus::parse(&status).ok_or(StoreError::Corrupt {
            column: "purchase_orders.status",
            value: status,
        })?,
        warehouse_id: r.opt_int("warehouse_id")?,
        warehouse_code: r.opt_text("warehouse_code")?,
        lines: Vec::new(),
    })
}

/// A line of a receipt's order, with the id of its purchase order.
pub(crate) fn line_to_receive(r: &impl Columns) -> StoreResult<(i64, LineToReceive)> {
    Ok((
        r.int("purchase_order_id")?,
        LineToReceive {
            id: r.int("id")?,
            line_no: r.int32("line_no")?,
            title: r.text("title")?,
            merchant_sku: r.opt_text("merchant_sku")?,
            gtin: r.opt_text("gtin")?,
            name: r.opt_text("name")?,
            quantity: r.decimal("quantity")?,
            merchant_quantity: r.opt_decimal("merchant_quantity")?,
            received_qty: r.decimal("received_qty")?,
        },
    ))
}

/// A stored line of a created purchase order, for matching 1688's lines to it.
pub(crate) fn claimed_line(r: &impl Columns) -> StoreResult<super::shared::ClaimedLine> {
    Ok(super::shared::ClaimedLine {
        id: r.int("id")?,
        line_no: r.int32("line_no")?,
        sub_item_id: r.opt_int("sub_item_id_1688")?,
        offer_id: r.opt_int("offer_id")?,
        spec_id: r.opt_text("spec_id")?,
    })
}

/// A purchase order's placing state: `po_number`, `account`, `status`, `out_order_id`,
/// `address_id_1688` and `note`, with the 1688 orders it is linked to.
pub(crate) fn placing_state(
    r: &impl Columns,
    order_ids_1688: Vec<i64>,
) -> StoreResult<super::PlacingState> {
    Ok(super::PlacingState {
        po_number: r.text("po_number")?,
        account: r.text("account")?,
        status: r.text("status")?,
        out_order_id: r.text("out_order_id")?,
        address_id_1688: r.opt_text("address_id_1688")?,
        note: r.opt_text("note")?,
        order_ids_1688,
    })
}

/// One row of `receive_addresses_1688`.
pub(crate) fn address_row(r: &impl Columns) -> StoreResult<super::AddressRow> {
    Ok(super::AddressRow {
        account: r.text("account")?,
        address_id: r.text("address_id")?,
        full_name: r.text("full_name")?,
        address: r.text("address")?,
        address_code: r.opt_text("address_code")?,
        address_code_text: r.opt_text("address_code_text")?,
        post: r.opt_text("post")?,
        phone: r.opt_text("phone")?,
        mobile: r.opt_text("mobile")?,
        is_default: r.flag("is_default")?,
        fetched_at: r.instant("fetched_at")?,
    })
}

/// What `edit_draft` needs of the order: `id`, `status`, `source`, and whether it was
/// placed (`placed`: `placed_at` set or a `purchase_order_links` row).
pub(crate) fn draft_to_edit(r: &impl Columns) -> StoreResult<shared::DraftToEdit> {
    Ok(shared::DraftToEdit {
        id: r.int("id")?,
        status: r.text("status")?,
        source: r.text("source")?,
        placed: r.flag("placed")?,
    })
}
