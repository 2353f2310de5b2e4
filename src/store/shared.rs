//! Rules both backends apply the same way: which orders of a page to write, how an import
//! is validated, and how waiting lines are re-mapped. The SQL differs per backend; the
//! decisions must not.

use std::collections::{HashMap, HashSet};

use rust_decimal::Decimal;
use sha1::{Digest, Sha1};

use crate::domain::{
    IncomingLine, IncomingOrder, Line1688, LineToReceive, MappingTable, OrderToReceive, PriceRange,
    Product1688, ProductSku1688, RawHash, ReceiptRequest, ReceivingError, SkuMapping, SupplierRef,
    WarehouseError,
};

use super::{
    DraftEdit, Fence, ImportOutcome, MappingChange, MerchantSku, NewPoLine, NewPurchaseOrder,
    NotEditable, Numbered, PageOutcome, ProductUpsert, StoreError, StoreResult,
};

/// The error recorded on runs that a dead process left `running`.
pub(crate) const INTERRUPTED: &str = "interrupted: the process stopped before the run finished";

/// Per account of `sync_runs`: the last successful run, and the failed runs after it
/// (count, and the error of the newest). Runs are ordered by when they ended, then by id:
/// SQLite's clock has millisecond steps, so two runs may end at the same instant. The
/// statement is plain enough for both backends.
pub(crate) const ACCOUNT_RUN_STATUS_SQL: &str = "
    WITH last_success AS (
        SELECT a.account,
               (SELECT r.id FROM sync_runs r
                WHERE r.account = a.account AND r.status = 'succeeded' AND r.finished_at IS NOT NULL
                ORDER BY r.finished_at DESC, r.id DESC
                LIMIT 1) AS run_id
        FROM (SELECT DISTINCT account FROM sync_runs) AS a
    )
    SELECT l.account, s.finished_at AS last_success,
           (SELECT count(*) FROM sync_runs f
            WHERE f.account = l.account AND f.status = 'failed'
              AND (s.id IS NULL OR (coalesce(f.finished_at, f.started_at), f.id) > (s.finished_at, s.id))
           ) AS failures,
           (SELECT f.error FROM sync_runs f
            WHERE f.account = l.account AND f.status = 'failed'
              AND (s.id IS NULL OR (coalesce(f.finished_at, f.started_at), f.id) > (s.finished_at, s.id))
            ORDER BY coalesce(f.finished_at, f.started_at) DESC, f.id DESC
            LIMIT 1) AS last_error
    FROM last_success AS l
    LEFT JOIN sync_runs AS s ON s.id = l.run_id
    ORDER BY l.account";

/// The fence that guards a write to `account`. A fence of another account proves nothing
/// about this one, so the write is refused as if the lease were lost rather than let
/// through unguarded.
pub(crate) fn fence_for<'a>(
    account: &str,
    fence: Option<&'a Fence>,
) -> StoreResult<Option<&'a Fence>> {
    match fence {
        Some(f) if f.account != account => Err(lease_lost(account)),
        other => Ok(other),
    }
}

pub(crate) fn lease_lost(account: &str) -> StoreError {
    StoreError::LeaseLost {
        account: account.to_owned(),
    }
}

/// A count from the database as a `u64` (a negative one reads as 0).
pub(crate) fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// A count to store in a `bigint` column, saturating.
pub(crate) fn db_count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A count from the database as a `u32`, saturating.
pub(crate) fn small_count(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

/// The human-readable number of a synced purchase order.
pub(crate) fn po_number(order_id_1688: i64) -> String {
    format!("1688-{order_id_1688}")
}

/// `purchase_order_lines.mapping_source` for a line written by sync.
pub(crate) fn mapping_source(line: &IncomingLine) -> Option<&'static str> {
    line.mapping.as_ref().map(|_| "mapping")
}

/// The distinct 1688 order ids of a page.
pub(crate) fn page_order_ids(orders: &[IncomingOrder]) -> Vec<i64> {
    let mut seen = HashSet::new();
    orders
        .iter()
        .map(|o| o.order.order_id)
        .filter(|id| seen.insert(*id))
        .collect()
}

/// Rows deleted per statement when old runs are trimmed: a first trim of years of runs
/// does not hold one long transaction.
pub(crate) const TRIM_CHUNK: u64 = 10_000;

/// What the database already holds for an order of the page.
#[derive(Debug, Clone)]
pub(crate) struct ExistingOrder {
    pub id: i64,
    pub content_hash: Option<String>,
    pub raw_hash: Option<String>,
}

/// What to do with each order of a page.
#[derive(Debug)]
pub(crate) struct PagePlan<'a> {
    pub inserts: Vec<&'a IncomingOrder>,
    /// Changed orders with the id of their purchase order.
    pub updates: Vec<(i64, &'a IncomingOrder)>,
    pub unchanged: u64,
    /// Unchanged orders whose text 1688 sent differently (a field sync does not read
    /// changed, or the order was stored before its text was fingerprinted): their
    /// purchase order id and the new fingerprint, for the next run to know them.
    pub refreshed: Vec<(i64, RawHash)>,
    pub skipped: u64,
}

impl<'a> PagePlan<'a> {
    /// Classifies the page. 1688 repeats an order across pages when it changes while we
    /// page, so an order id may occur twice: the last occurrence is the newest and wins
    /// (a repeated key would also make a multi-row upsert fail).
    pub fn new(
        orders: &'a [IncomingOrder],
        existing: &HashMap<i64, ExistingOrder>,
        tombstoned: &HashSet<i64>,
    ) -> Self {
        let last: HashMap<i64, usize> = orders
            .iter()
            .enumerate()
            .map(|(i, o)| (o.order.order_id, i))
            .collect();
        let mut plan = PagePlan {
            inserts: Vec::new(),
            updates: Vec::new(),
            unchanged: 0,
            refreshed: Vec::new(),
            skipped: 0,
        };
        for (i, incoming) in orders.iter().enumerate() {
            let order_id = incoming.order.order_id;
            if last[&order_id] != i {
                continue;
            }
            if tombstoned.contains(&order_id) {
                plan.skipped += 1;
                continue;
            }
            match existing.get(&order_id) {
                None => plan.inserts.push(incoming),
                Some(e) if e.content_hash.as_deref() == Some(incoming.content_hash.as_str()) => {
                    plan.unchanged += 1;
                    if let Some(raw) = incoming.raw_hash
                        && e.raw_hash.as_deref().and_then(RawHash::from_hex) != Some(raw)
                    {
                        plan.refreshed.push((e.id, raw));
                    }
                }
                Some(e) => plan.updates.push((e.id, incoming)),
            }
        }
        // Rows are locked in the order they are written; every writer that locks several
        // purchase orders takes them in id order, so that two writers cannot deadlock.
        plan.updates.sort_by_key(|(id, _)| *id);
        plan.refreshed.sort_by_key(|(id, _)| *id);
        plan
    }

    /// Whether orders are inserted or updated (more than fingerprints refreshed).
    pub fn writes_orders(&self) -> bool {
        !self.inserts.is_empty() || !self.updates.is_empty()
    }

    pub fn writes_nothing(&self) -> bool {
        !self.writes_orders() && self.refreshed.is_empty()
    }

    /// The orders to write: the updates in purchase order id order, then the inserts.
    pub fn written(&self) -> impl Iterator<Item = &'a IncomingOrder> + '_ {
        self.updates
            .iter()
            .map(|(_, o)| *o)
            .chain(self.inserts.iter().copied())
    }

    /// The suppliers of the written orders, once each. When orders disagree, a value
    /// that is present beats a missing one and the later order beats the earlier.
    pub fn suppliers(&self) -> Vec<SupplierRef> {
        let mut out: Vec<SupplierRef> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        for supplier in self.written().filter_map(|o| o.order.supplier.as_ref()) {
            match index.get(&supplier.login_id) {
                Some(&i) => {
                    let known = &mut out[i];
                    if supplier.member_id.is_some() {
                        known.member_id.clone_from(&supplier.member_id);
                    }
                    if supplier.name.is_some() {
                        known.name.clone_from(&supplier.name);
                    }
                }
                None => {
                    index.insert(supplier.login_id.clone(), out.len());
                    out.push(supplier.clone());
                }
            }
        }
        // Pages of different accounts may share suppliers: a fixed order avoids deadlocks.
        out.sort_by(|a, b| a.login_id.cmp(&b.login_id));
        out
    }

    /// The outcome of a page that writes nothing, unless its fence no longer `held` the
    /// lease: then [`StoreError::LeaseLost`], so that a writer that lost its lease learns
    /// it on its next page, written or not.
    pub fn outcome_unwritten(&self, fence: Option<&Fence>, held: bool) -> StoreResult<PageOutcome> {
        match fence {
            Some(f) if !held => Err(lease_lost(&f.account)),
            _ => Ok(self.outcome(&HashMap::new())),
        }
    }

    /// The outcome, given the purchase order id of every written 1688 order.
    pub fn outcome(&self, po_ids: &HashMap<i64, i64>) -> PageOutcome {
        PageOutcome {
            inserted: self.inserts.len() as u64,
            updated: self.updates.len() as u64,
            unchanged: self.unchanged,
            skipped: self.skipped,
            created_ids: self
                .inserts
                .iter()
                .filter_map(|o| po_ids.get(&o.order.order_id).copied())
                .collect(),
            updated_ids: self.updates.iter().map(|(id, _)| *id).collect(),
        }
    }
}

/// The lines of an order to write, one per 1688 sub-item (the last one wins, as for
/// orders: the line upsert is keyed by sub-item).
pub(crate) fn lines_to_write(order: &IncomingOrder) -> Vec<&IncomingLine> {
    let last: HashMap<i64, usize> = order
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| (l.line.sub_item_id, i))
        .collect();
    order
        .lines
        .iter()
        .enumerate()
        .filter(|(i, l)| last[&l.line.sub_item_id] == *i)
        .map(|(_, l)| l)
        .collect()
}

/// A GTIN as stored: blank means none.
pub(crate) fn clean_gtin(gtin: Option<&str>) -> Option<String> {
    gtin.map(str::trim)
        .filter(|g| !g.is_empty())
        .map(str::to_owned)
}

/// What a merchant-SKU import writes.
#[derive(Debug, Default)]
pub(crate) struct SkuImportPlan {
    /// New and changed rows, one per SKU (the last row of the file wins).
    pub upserts: Vec<MerchantSku>,
    /// SKUs whose stored GTIN changes: cleared before the upsert, so that a GTIN moving
    /// from one SKU to another never collides with itself halfway through.
    pub release_gtins: Vec<String>,
    pub inserted: u64,
    pub updated: u64,
}

impl SkuImportPlan {
    pub fn outcome(&self) -> ImportOutcome {
        ImportOutcome {
            inserted: self.inserted,
            updated: self.updated,
            ..ImportOutcome::default()
        }
    }
}

/// Validates a merchant-SKU import against the stored SKUs of the file (`existing`, by
/// SKU) and the stored owners of the file's GTINs (`gtin_owners`, GTIN to SKU). Rows
/// apply in file order: a row is invalid when, after the rows before it, its GTIN
/// belongs to another SKU.
pub(crate) fn plan_merchant_skus(
    rows: &[Numbered<MerchantSku>],
    existing: &HashMap<String, MerchantSku>,
    gtin_owners: &HashMap<String, String>,
) -> StoreResult<SkuImportPlan> {
    // GTIN -> (SKU, line of the file that gave it, if any).
    let mut owner: HashMap<String, (String, Option<usize>)> = gtin_owners
        .iter()
        .map(|(g, s)| (g.clone(), (s.clone(), None)))
        .collect();
    let mut gtin_of: HashMap<String, Option<String>> = existing
        .iter()
        .map(|(s, m)| (s.clone(), clean_gtin(m.gtin.as_deref())))
        .collect();
    let mut last_row: HashMap<&str, usize> = HashMap::new();
    let mut order: Vec<&str> = Vec::new();

    for (i, row) in rows.iter().enumerate() {
        let sku = row.value.sku.as_str();
        if sku.trim().is_empty() {
            return Err(invalid(row.line, "the merchant SKU is empty".into()));
        }
        let gtin = clean_gtin(row.value.gtin.as_deref());
        if let Some(g) = &gtin
            && let Some((other, other_line)) = owner.get(g)
            && other != sku
        {
            let place = match other_line {
                Some(l) => format!("line {l}"),
                None => "the database".to_owned(),
            };
            return Err(invalid(
                row.line,
                format!(
                    "GTIN {g:?} of merchant SKU {sku:?} is already used by merchant SKU {other:?} ({place})"
                ),
            ));
        }
        if let Some(Some(old)) = gtin_of.get(sku)
            && gtin.as_ref() != Some(old)
        {
            owner.remove(old);
        }
        if let Some(g) = &gtin {
            owner.insert(g.clone(), (sku.to_owned(), Some(row.line)));
        }
        gtin_of.insert(sku.to_owned(), gtin);
        if last_row.insert(sku, i).is_none() {
            order.push(sku);
        }
    }

    let mut plan = SkuImportPlan::default();
    for sku in order {
        let row = &rows[last_row[sku]].value;
        let wanted = MerchantSku {
            sku: row.sku.clone(),
            gtin: clean_gtin(row.gtin.as_deref()),
            name: row.name.clone(),
        };
        match existing.get(sku) {
            None => plan.inserted += 1,
            Some(stored) => {
                let stored_gtin = clean_gtin(stored.gtin.as_deref());
                if stored_gtin == wanted.gtin && stored.name == wanted.name {
                    continue;
                }
                if stored_gtin.is_some() && stored_gtin != wanted.gtin {
                    plan.release_gtins.push(wanted.sku.clone());
                }
                plan.updated += 1;
            }
        }
        plan.upserts.push(wanted);
    }
    Ok(plan)
}

/// What a mapping import writes.
#[derive(Debug, Default)]
pub(crate) struct MappingImportPlan {
    /// New and changed mappings, one per (offer id, spec id), the last row winning.
    pub upserts: Vec<SkuMapping>,
    /// Every mapping of the file, for re-mapping waiting lines.
    pub all: Vec<SkuMapping>,
    pub inserted: u64,
    pub updated: u64,
}

impl MappingImportPlan {
    /// What the import did, once `remaps` re-mapped waiting lines of `orders`.
    pub fn change(&self, remaps: &[Remap], orders: &[i64]) -> MappingChange {
        MappingChange {
            inserted: self.inserted,
            updated: self.updated,
            deleted: 0,
            lines_remapped: remaps.len() as u64,
            orders_remapped: orders.len() as u64,
        }
    }
}

/// Validates mappings to set: every merchant SKU must exist (`known_skus` holds those of
/// the rows that do) and every ratio be positive. Unless `force`, the 1688 SKU of an
/// offer that has a stored product must be one of its stored SKUs (`product_specs`: the
/// stored spec ids of each offer of the rows that has a product). `existing` holds the
/// stored mappings of the rows' keys.
pub(crate) fn plan_mappings(
    rows: &[Numbered<SkuMapping>],
    known_skus: &HashSet<String>,
    product_specs: &HashMap<i64, HashSet<String>>,
    force: bool,
    existing: &HashMap<(i64, String), SkuMapping>,
) -> StoreResult<MappingImportPlan> {
    let mut last_row: HashMap<(i64, &str), usize> = HashMap::new();
    let mut order = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let m = &row.value;
        if m.offer_id <= 0 {
            return Err(invalid(
                row.line,
                format!("offer id {} is not a 1688 offer id", m.offer_id),
            ));
        }
        if !known_skus.contains(&m.merchant_sku) {
            return Err(invalid(
                row.line,
                format!(
                    "merchant SKU {:?} does not exist (import it into merchant_skus first)",
                    m.merchant_sku
                ),
            ));
        }
        if m.quantity_ratio <= Decimal::ZERO {
            return Err(invalid(
                row.line,
                format!("quantity_ratio {} must be greater than 0", m.quantity_ratio),
            ));
        }
        if !force
            && let Some(specs) = product_specs.get(&m.offer_id)
            && !specs.contains(&m.spec_id)
        {
            return Err(invalid(row.line, not_a_product_sku(m, specs)));
        }
        if last_row
            .insert((m.offer_id, m.spec_id.as_str()), i)
            .is_none()
        {
            order.push((m.offer_id, m.spec_id.as_str()));
        }
    }
    let mut plan = MappingImportPlan::default();
    for key in order {
        let m = rows[last_row[&key]].value.clone();
        match existing.get(&(key.0, key.1.to_owned())) {
            None => {
                plan.inserted += 1;
                plan.upserts.push(m.clone());
            }
            Some(stored)
                if stored.merchant_sku == m.merchant_sku
                    && stored.quantity_ratio == m.quantity_ratio => {}
            Some(_) => {
                plan.updated += 1;
                plan.upserts.push(m.clone());
            }
        }
        plan.all.push(m);
    }
    Ok(plan)
}

/// Why a mapping's 1688 SKU is refused: the offer is a stored product without that SKU.
/// A typo in a spec id would otherwise wait forever for lines that never come.
fn not_a_product_sku(m: &SkuMapping, specs: &HashSet<String>) -> String {
    let mut known: Vec<&str> = specs.iter().map(String::as_str).collect();
    known.sort_unstable();
    let shown: Vec<String> = known.iter().take(5).map(|s| format!("{s:?}")).collect();
    let more = if known.len() > shown.len() {
        ", …"
    } else {
        ""
    };
    let stored = if shown.is_empty() {
        "it has no stored SKUs".to_owned()
    } else {
        format!("its SKUs: {}{more}", shown.join(", "))
    };
    format!(
        "1688 SKU {:?} is not a SKU of product {} ({stored}); add the product again if 1688 \
         changed its SKUs, or use --force to map it anyway",
        m.spec_id, m.offer_id
    )
}

/// The SKUs of a product to store, one per spec id (the last one wins, as for lines),
/// in spec id order.
pub(crate) fn product_skus_to_write(product: &Product1688) -> Vec<&ProductSku1688> {
    let mut by_spec: HashMap<&str, &ProductSku1688> = HashMap::new();
    for sku in &product.skus {
        by_spec.insert(sku.spec_id.as_str(), sku);
    }
    let mut skus: Vec<&ProductSku1688> = by_spec.into_values().collect();
    skus.sort_by(|a, b| a.spec_id.cmp(&b.spec_id));
    skus
}

/// A stable fingerprint of everything an add of `product` writes: the offer, its
/// supplier and its SKUs. Decimals are normalised, as for orders, so that `3.5` and
/// `3.50` from two reads of the same offer do not count as a change.
pub(crate) fn product_hash(product: &Product1688) -> String {
    let mut h = Sha1::new();
    let mut field = |s: &str| {
        h.update(s.as_bytes());
        h.update([0x1f]);
    };
    let dec = |d: &Decimal| d.normalize().to_string();
    let opt_dec = |d: &Option<Decimal>| d.as_ref().map(dec).unwrap_or_default();
    field(&product.offer_id.to_string());
    field(&product.subject);
    field(&product.status);
    field(&product.supplier.login_id);
    field(product.supplier.member_id.as_deref().unwrap_or(""));
    field(product.supplier.name.as_deref().unwrap_or(""));
    field(product.category.as_deref().unwrap_or(""));
    field(product.unit.as_deref().unwrap_or(""));
    field(&opt_dec(&product.min_order_quantity));
    for r in &product.price_ranges {
        field("range");
        field(&dec(&r.start_quantity));
        field(&dec(&r.price));
    }
    for s in product_skus_to_write(product) {
        field("sku");
        field(&s.spec_id);
        field(&s.sku_id.map(|v| v.to_string()).unwrap_or_default());
        field(&s.attributes);
        field(&opt_dec(&s.price));
        field(s.cargo_number.as_deref().unwrap_or(""));
        field(&s.stock.map(|v| v.to_string()).unwrap_or_default());
    }
    hex::encode(h.finalize())
}

/// What an add of a product whose content hashes to `hash` does, given the stored
/// product's hash (`None`: no product stored).
pub(crate) fn product_change(stored: &Option<Option<String>>, hash: &str) -> ProductUpsert {
    match stored {
        None => ProductUpsert::Added,
        Some(stored) if stored.as_deref() == Some(hash) => ProductUpsert::Unchanged,
        Some(_) => ProductUpsert::Updated,
    }
}

/// `products_1688.price_ranges`: a JSON array of `{start_quantity, price}` whose decimals
/// are strings, exact as given (a JSON number would pass through floating point in
/// most readers).
pub(crate) fn price_ranges_json(ranges: &[PriceRange]) -> String {
    serde_json::Value::from(
        ranges
            .iter()
            .map(|r| {
                serde_json::json!({
                    "start_quantity": r.start_quantity.to_string(),
                    "price": r.price.to_string(),
                })
            })
            .collect::<Vec<_>>(),
    )
    .to_string()
}

/// The offers of `rows`, once each, for looking up their stored products.
pub(crate) fn mapping_offers(rows: &[Numbered<SkuMapping>]) -> Vec<i64> {
    let mut seen = HashSet::new();
    rows.iter()
        .map(|r| r.value.offer_id)
        .filter(|id| seen.insert(*id))
        .collect()
}

/// An unmapped line that an imported mapping may map.
#[derive(Debug, Clone)]
pub(crate) struct WaitingLine {
    pub id: i64,
    pub purchase_order_id: i64,
    pub offer_id: i64,
    pub spec_id: String,
    pub quantity: Decimal,
    pub unit_price: Decimal,
    pub amount: Decimal,
}

/// The mapping a waiting line receives.
#[derive(Debug, Clone)]
pub(crate) struct Remap {
    pub line_id: i64,
    pub purchase_order_id: i64,
    pub merchant_sku: String,
    pub merchant_quantity: Decimal,
    pub merchant_unit_cost: Decimal,
}

/// Maps waiting lines exactly as sync maps new ones ([`crate::domain::MappingTarget::apply`]),
/// so that a line mapped late carries the same quantities as one mapped on arrival.
pub(crate) fn remap(waiting: &[WaitingLine], mappings: &[SkuMapping]) -> Vec<Remap> {
    let table = MappingTable::new(mappings.iter().cloned());
    waiting
        .iter()
        .filter_map(|w| {
            let line = Line1688 {
                sub_item_id: 0,
                offer_id: w.offer_id,
                spec_id: w.spec_id.clone(),
                sku_id: None,
                title: String::new(),
                attributes: String::new(),
                unit: None,
                quantity: w.quantity,
                unit_price: w.unit_price,
                amount: w.amount,
                status: None,
            };
            table.map_line(&line).map(|m| Remap {
                line_id: w.id,
                purchase_order_id: w.purchase_order_id,
                merchant_sku: m.merchant_sku,
                merchant_quantity: m.merchant_quantity,
                merchant_unit_cost: m.merchant_unit_cost,
            })
        })
        .collect()
}

/// The distinct purchase orders of re-mapped lines.
pub(crate) fn remapped_orders(remaps: &[Remap]) -> Vec<i64> {
    let mut seen = HashSet::new();
    remaps
        .iter()
        .map(|r| r.purchase_order_id)
        .filter(|id| seen.insert(*id))
        .collect()
}

/// At most this many other orders are named when a scanned code is on none of the
/// receipt's orders.
pub(crate) const OTHER_ORDERS_SHOWN: i64 = 5;

/// The purchase orders a receipt is for, by id: the named ones (`named`: po_number to
/// id, for those that exist), which must all carry the tracking number when one is given
/// (`carrying`: the ids of the orders that carry it); else those carrying it.
pub(crate) fn receipt_order_ids(
    request: &ReceiptRequest,
    named: &HashMap<String, i64>,
    carrying: &HashSet<i64>,
) -> Result<Vec<i64>, ReceivingError> {
    let po_numbers = request.po_numbers();
    let tracking_no = request.tracking_no();
    if let Some(t) = tracking_no
        && carrying.is_empty()
    {
        return Err(ReceivingError::UnknownTrackingNumber {
            tracking_no: t.to_owned(),
        });
    }
    let mut ids = Vec::new();
    for p in &po_numbers {
        let Some(&id) = named.get(*p) else {
            return Err(ReceivingError::UnknownOrder {
                po_number: (*p).to_owned(),
            });
        };
        if let Some(t) = tracking_no
            && !carrying.contains(&id)
        {
            return Err(ReceivingError::NotOnTracking {
                po_number: (*p).to_owned(),
                tracking_no: t.to_owned(),
            });
        }
        ids.push(id);
    }
    if po_numbers.is_empty() {
        if tracking_no.is_none() {
            return Err(ReceivingError::NoOrders);
        }
        ids.extend(carrying.iter().copied());
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

/// A tracking number as stored: trimmed, never empty.
pub(crate) fn tracking_number(tracking_no: &str) -> Result<&str, ReceivingError> {
    match tracking_no.trim() {
        "" => Err(ReceivingError::EmptyTrackingNumber),
        t => Ok(t),
    }
}

/// A carrier as stored: blank means none.
pub(crate) fn carrier(carrier: Option<&str>) -> Option<&str> {
    carrier.map(str::trim).filter(|c| !c.is_empty())
}

/// A receipt's note as stored: blank means none.
pub(crate) fn receipt_note(request: &ReceiptRequest) -> Option<&str> {
    request
        .note
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
}

/// A warehouse's name as stored: a blank name is the code.
pub(crate) fn warehouse_name<'a>(code: &'a str, name: &'a str) -> &'a str {
    match name.trim() {
        "" => code,
        n => n,
    }
}

pub(crate) fn unknown_order(po_number: &str) -> StoreError {
    ReceivingError::UnknownOrder {
        po_number: po_number.to_owned(),
    }
    .into()
}

pub(crate) fn unknown_warehouse(code: &str) -> StoreError {
    WarehouseError::Unknown {
        code: code.to_owned(),
    }
    .into()
}

/// The code of a receipt refused because it is on none of its orders: worth looking for
/// on other orders (see [`on_another_order`]).
pub(crate) fn unplaced_code(err: &ReceivingError) -> Option<&str> {
    match err {
        ReceivingError::UnknownCode { code, .. } => Some(code),
        _ => None,
    }
}

/// The error for orders that vanished between finding and locking them (a warehouse
/// delete): as if they had never been found.
pub(crate) fn orders_gone(request: &ReceiptRequest) -> ReceivingError {
    match (request.po_numbers().first(), request.tracking_no()) {
        (Some(p), _) => ReceivingError::UnknownOrder {
            po_number: (*p).to_owned(),
        },
        (None, Some(t)) => ReceivingError::UnknownTrackingNumber {
            tracking_no: t.to_owned(),
        },
        (None, None) => ReceivingError::NoOrders,
    }
}

/// Gives each order its lines (`lines`: purchase order id and line, in line order).
pub(crate) fn attach_lines(orders: &mut [OrderToReceive], lines: Vec<(i64, LineToReceive)>) {
    let index: HashMap<i64, usize> = orders.iter().enumerate().map(|(i, o)| (o.id, i)).collect();
    for (order_id, line) in lines {
        if let Some(&i) = index.get(&order_id) {
            orders[i].lines.push(line);
        }
    }
}

/// A code on none of the receipt's orders but on `others` (open orders elsewhere) is "a
/// line of another order", which says more than "unknown". Unless the receipt's orders
/// have unmapped lines: the scanned item is then likelier one of those (its merchant SKU
/// is on other orders, mapped), and the error that says to map them helps more.
pub(crate) fn on_another_order(err: ReceivingError, others: Vec<String>) -> ReceivingError {
    match err {
        ReceivingError::UnknownCode {
            code,
            po_numbers,
            unmapped,
        } if !others.is_empty() && unmapped.is_empty() => ReceivingError::CodeOfAnotherOrder {
            code,
            po_numbers,
            other_po_numbers: others,
        },
        other => other,
    }
}

fn invalid(line: usize, message: String) -> StoreError {
    StoreError::InvalidRow { line, message }
}

/// The prefix shared by the numbers of the purchase orders created on `date`.
pub(crate) fn created_po_prefix(date: chrono::NaiveDate) -> String {
    format!("PO-{}-", date.format("%Y%m%d"))
}

/// Today in China, where purchase order numbers are dated.
pub(crate) fn china_today() -> chrono::NaiveDate {
    chrono::Utc::now()
        .with_timezone(&crate::api1688::time::china())
        .date_naive()
}

/// The next day sequence after the stored numbers of that day (unparsable ones ignored).
pub(crate) fn next_po_sequence(prefix: &str, stored: &[String]) -> i64 {
    stored
        .iter()
        .filter_map(|n| n.strip_prefix(prefix)?.parse::<i64>().ok())
        .max()
        .unwrap_or(0)
        + 1
}

/// A fresh `outOrderId` for purchase order `id`: `s1688-<id>-<8 random hex>`.
pub(crate) fn new_out_order_id(id: i64) -> String {
    use std::hash::BuildHasher;
    let random = std::collections::hash_map::RandomState::new().hash_one((
        id,
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    ));
    format!("s1688-{id}-{:08x}", random as u32)
}

/// A line of a created purchase order as stored: amount and merchant unit cost.
pub(crate) struct NewLineValues {
    pub amount: Decimal,
    pub merchant_unit_cost: Option<Decimal>,
}

pub(crate) fn new_line_values(line: &NewPoLine) -> NewLineValues {
    let amount = line.quantity * line.unit_price;
    let merchant_unit_cost = if line.merchant_quantity.is_zero() {
        None
    } else {
        Some((amount / line.merchant_quantity).round_dp(4))
    };
    NewLineValues {
        amount,
        merchant_unit_cost,
    }
}

/// The goods amount of a created purchase order: Σ quantity × unit price.
pub(crate) fn new_goods_amount(order: &NewPurchaseOrder) -> Decimal {
    lines_goods_amount(&order.lines)
}

/// Σ quantity × unit price of the lines of a created purchase order.
pub(crate) fn lines_goods_amount(lines: &[NewPoLine]) -> Decimal {
    lines.iter().map(|l| l.quantity * l.unit_price).sum()
}

/// A purchase order as `edit_draft` finds it.
pub(crate) struct DraftToEdit {
    pub id: i64,
    pub status: String,
    pub source: String,
    /// `placed_at` is set or a 1688 order is linked to it.
    pub placed: bool,
}

/// Why `edit_draft` refuses `order`, if it does: placed first (even a draft that was
/// placed must be cancelled on 1688), then not a draft, then new lines for an order
/// synced from 1688.
pub(crate) fn edit_refusal(
    po_number: &str,
    order: &DraftToEdit,
    edit: &DraftEdit,
) -> Result<(), StoreError> {
    let reason = if order.placed {
        NotEditable::Placed
    } else if order.status != "draft" {
        NotEditable::NotDraft {
            status: order.status.clone(),
        }
    } else if edit.lines.is_some() && order.source != "1688_created" {
        NotEditable::SyncedLines
    } else {
        return Ok(());
    };
    Err(StoreError::NotEditable {
        po_number: po_number.to_owned(),
        reason,
    })
}

/// Why a purchase order cannot be submitted: `status` is its status, `None` when there
/// is no such order.
pub(crate) fn submit_refusal(po_number: &str, status: Option<&str>) -> String {
    match status {
        Some(status) => format!("{po_number} is {status}, not a draft"),
        None => format!("no purchase order {po_number}"),
    }
}

/// The orders of a page that belong to purchase orders created in the ERP, by 1688 order
/// id: linked by a placement (`linked`, 1688 order id → purchase order id), or carrying
/// the `outOrderId` we sent (`by_out_order_id`, outOrderId → purchase order id). A link
/// wins over an outOrderId. Only the last occurrence of a repeated order counts.
pub(crate) fn claimed_orders<'a>(
    orders: &'a [IncomingOrder],
    linked: &HashMap<i64, i64>,
    by_out_order_id: &HashMap<String, i64>,
) -> Vec<(i64, &'a IncomingOrder)> {
    let last: HashMap<i64, usize> = orders
        .iter()
        .enumerate()
        .map(|(i, o)| (o.order.order_id, i))
        .collect();
    let mut claimed: Vec<(i64, &IncomingOrder)> = orders
        .iter()
        .enumerate()
        .filter(|(i, o)| last[&o.order.order_id] == *i)
        .filter_map(|(_, o)| {
            let po = linked.get(&o.order.order_id).copied().or_else(|| {
                o.order
                    .out_order_id
                    .as_deref()
                    .and_then(|out| by_out_order_id.get(out).copied())
            })?;
            Some((po, o))
        })
        .collect();
    // Purchase orders are locked in id order (see [`PagePlan::new`]).
    claimed.sort_by_key(|(po, o)| (*po, o.order.order_id));
    claimed
}

/// The orders of a page that no created purchase order claims (see [`claimed_orders`]).
pub(crate) fn unclaimed<'a>(
    orders: &'a [IncomingOrder],
    claimed: &[(i64, &IncomingOrder)],
) -> std::borrow::Cow<'a, [IncomingOrder]> {
    if claimed.is_empty() {
        return std::borrow::Cow::Borrowed(orders);
    }
    let ids: HashSet<i64> = claimed.iter().map(|(_, o)| o.order.order_id).collect();
    orders
        .iter()
        .filter(|o| !ids.contains(&o.order.order_id))
        .cloned()
        .collect()
}

/// The outOrderIds of a page (the values sync may recognise created orders by).
pub(crate) fn page_out_order_ids(orders: &[IncomingOrder]) -> Vec<&str> {
    let mut seen = HashSet::new();
    orders
        .iter()
        .filter_map(|o| o.order.out_order_id.as_deref())
        .filter(|id| !id.is_empty() && seen.insert(*id))
        .collect()
}

/// A stored line of a created purchase order, as far as matching 1688's lines needs it.
#[derive(Debug, Clone)]
pub(crate) struct ClaimedLine {
    pub id: i64,
    pub line_no: i32,
    pub sub_item_id: Option<i64>,
    pub offer_id: Option<i64>,
    pub spec_id: Option<String>,
}

/// What to do with one 1688 line of an order that belongs to a created purchase order.
#[derive(Debug)]
pub(crate) enum ClaimedLineAction<'a> {
    /// Set the 1688 line ids and status on the stored line `line_id` (matched by its
    /// sub-item id, or else by offer and spec among the lines without one).
    Attach {
        line_id: i64,
        line: &'a IncomingLine,
    },
    /// A line 1688 has that the purchase order lacks: added as line `line_no`.
    Add {
        line_no: i32,
        line: &'a IncomingLine,
    },
}

/// Matches the lines of 1688 order `order` to the stored lines of the purchase order it
/// belongs to. Lines 1688 has that the purchase order lacks are added only when
/// `add_missing` (a purchase order placed as exactly one 1688 order); the ERP's lines are
/// never deleted.
pub(crate) fn match_claimed_lines<'a>(
    stored: &[ClaimedLine],
    order: &'a IncomingOrder,
    add_missing: bool,
) -> Vec<ClaimedLineAction<'a>> {
    let mut stored: Vec<ClaimedLine> = stored.to_vec();
    stored.sort_by_key(|l| (l.line_no, l.id));
    let mut taken: HashSet<i64> = HashSet::new();
    let mut next_line_no = stored.iter().map(|l| l.line_no).max().unwrap_or(0) + 1;
    let mut out = Vec::new();
    for line in lines_to_write(order) {
        let l = &line.line;
        let by_sub_item = stored
            .iter()
            .find(|s| s.sub_item_id == Some(l.sub_item_id) && !taken.contains(&s.id));
        let found = by_sub_item.or_else(|| {
            stored.iter().find(|s| {
                s.sub_item_id.is_none()
                    && !taken.contains(&s.id)
                    && s.offer_id == Some(l.offer_id)
                    && s.spec_id.as_deref().unwrap_or("") == l.spec_id
            })
        });
        match found {
            Some(s) => {
                taken.insert(s.id);
                out.push(ClaimedLineAction::Attach {
                    line_id: s.id,
                    line,
                });
            }
            None if add_missing => {
                out.push(ClaimedLineAction::Add {
                    line_no: next_line_no,
                    line,
                });
                next_line_no += 1;
            }
            None => {}
        }
    }
    out
}

/// Adds what the orders of created purchase orders did to a page's outcome.
pub(crate) fn add_claimed(outcome: &mut PageOutcome, updated: Vec<i64>, unchanged: u64) {
    outcome.updated += updated.len() as u64;
    outcome.unchanged += unchanged;
    outcome.updated_ids.extend(updated);
}

/// `subItemID`s as `tracking_numbers.sub_item_ids` keeps them: comma-separated, sorted;
/// `None` when 1688 did not say.
pub fn sub_item_list(ids: &[i64]) -> Option<String> {
    if ids.is_empty() {
        return None;
    }
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    Some(ids.iter().map(i64::to_string).collect::<Vec<_>>().join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Order1688, SupplierRef};
    use chrono::DateTime;

    fn order(id: i64, status: &str, supplier: Option<(&str, Option<&str>)>) -> IncomingOrder {
        let order = Order1688 {
            order_id: id,
            status: status.into(),
            supplier: supplier.map(|(login, name)| SupplierRef {
                login_id: login.into(),
                member_id: None,
                name: name.map(str::to_owned),
            }),
            currency: "CNY".into(),
            goods_amount: Decimal::ONE,
            shipping_fee: Decimal::ZERO,
            discount: Decimal::ZERO,
            total_amount: Decimal::ONE,
            created_at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            modified_at: None,
            out_order_id: None,
            lines: Vec::new(),
        };
        IncomingOrder::prepare(order, &MappingTable::default())
    }

    fn sku(line: usize, sku: &str, gtin: Option<&str>) -> Numbered<MerchantSku> {
        Numbered {
            line,
            value: MerchantSku {
                sku: sku.into(),
                gtin: gtin.map(str::to_owned),
                name: sku.to_lowercase(),
            },
        }
    }

    #[test]
    fn the_last_occurrence_of_a_repeated_order_wins() {
        let page = [
            order(1, "waitbuyerpay", None),
            order(2, "x", None),
            order(1, "cancel", None),
        ];
        let plan = PagePlan::new(&page, &HashMap::new(), &HashSet::new());
        let written: Vec<_> = plan
            .written()
            .map(|o| (o.order.order_id, o.order.status.as_str()))
            .collect();
        assert_eq!(written, [(2, "x"), (1, "cancel")]);
    }

    #[test]
    fn a_tombstone_beats_everything_and_an_equal_hash_writes_nothing() {
        let page = [
            order(1, "a", None),
            order(2, "b", None),
            order(3, "c", None),
        ];
        let existing = HashMap::from([
            (
                1,
                ExistingOrder {
                    id: 10,
                    content_hash: Some(page[0].content_hash.clone()),
                    raw_hash: None,
                },
            ),
            (
                2,
                ExistingOrder {
                    id: 20,
                    content_hash: Some("old".into()),
                    raw_hash: None,
                },
            ),
            (
                3,
                ExistingOrder {
                    id: 30,
                    content_hash: Some(page[2].content_hash.clone()),
                    raw_hash: None,
                },
            ),
        ]);
        let plan = PagePlan::new(&page, &existing, &HashSet::from([3]));
        assert_eq!(
            (plan.unchanged, plan.skipped, plan.inserts.len()),
            (1, 1, 0)
        );
        assert_eq!(
            plan.updates.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            [20]
        );
    }

    #[test]
    fn an_unchanged_order_sent_as_another_text_refreshes_only_its_fingerprint() {
        let mut page = [
            order(1, "a", None),
            order(2, "b", None),
            order(3, "c", None),
        ];
        for (o, raw) in page.iter_mut().zip([1, 2, 3]) {
            o.raw_hash = Some(RawHash(raw));
        }
        let stored = |id, o: &IncomingOrder, raw: Option<u128>| ExistingOrder {
            id,
            content_hash: Some(o.content_hash.clone()),
            raw_hash: raw.map(|r| RawHash(r).to_hex()),
        };
        let existing = HashMap::from([
            (1, stored(10, &page[0], Some(1))),
            (2, stored(20, &page[1], Some(99))),
            (3, stored(30, &page[2], None)),
        ]);
        let plan = PagePlan::new(&page, &existing, &HashSet::new());
        assert_eq!(plan.unchanged, 3);
        assert!(!plan.writes_orders());
        assert_eq!(plan.refreshed, [(20, RawHash(2)), (30, RawHash(3))]);
        // An order read without its text keeps what is stored.
        page[1].raw_hash = None;
        page[2].raw_hash = None;
        let plan = PagePlan::new(&page, &existing, &HashSet::new());
        assert!(plan.writes_nothing());
    }

    #[test]
    fn a_supplier_named_by_several_orders_is_written_once_with_what_is_known() {
        let page = [
            order(1, "a", Some(("shop", Some("Shop Ltd")))),
            order(2, "a", Some(("shop", None))),
        ];
        let plan = PagePlan::new(&page, &HashMap::new(), &HashSet::new());
        let suppliers = plan.suppliers();
        assert_eq!(suppliers.len(), 1);
        assert_eq!(suppliers[0].name.as_deref(), Some("Shop Ltd"));
    }

    #[test]
    fn a_gtin_used_twice_in_the_file_names_the_second_line_and_the_first() {
        let rows = [sku(2, "A", Some("690")), sku(3, "B", Some("690"))];
        let err = plan_merchant_skus(&rows, &HashMap::new(), &HashMap::new()).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("line 3:") && text.contains("line 2") && text.contains("690"),
            "{text}"
        );
    }

    #[test]
    fn a_gtin_moves_to_another_sku_when_the_file_frees_it_first() {
        let existing = HashMap::from([(
            "A".to_owned(),
            MerchantSku {
                sku: "A".into(),
                gtin: Some("690".into()),
                name: "a".into(),
            },
        )]);
        let owners = HashMap::from([("690".to_owned(), "A".to_owned())]);
        let rows = [sku(2, "A", Some("691")), sku(3, "B", Some("690"))];
        let plan = plan_merchant_skus(&rows, &existing, &owners).unwrap();
        assert_eq!((plan.inserted, plan.updated), (1, 1));
        assert_eq!(plan.release_gtins, ["A"]);
        let err = plan_merchant_skus(&rows[1..], &existing, &owners).unwrap_err();
        assert!(err.to_string().contains("the database"), "{err}");
    }

    fn mapping(line: usize, offer_id: i64, spec_id: &str) -> Numbered<SkuMapping> {
        Numbered {
            line,
            value: SkuMapping {
                offer_id,
                spec_id: spec_id.into(),
                merchant_sku: "CUP-1".into(),
                quantity_ratio: Decimal::ONE,
            },
        }
    }

    #[test]
    fn a_spec_that_a_stored_product_lacks_is_refused_unless_forced() {
        let known = HashSet::from(["CUP-1".to_owned()]);
        let products = HashMap::from([(42, HashSet::from(["red".to_owned(), "blue".to_owned()]))]);
        let rows = [
            mapping(2, 42, "red"),
            mapping(3, 7, "anything"),
            mapping(4, 42, "reed"),
        ];

        let err = plan_mappings(&rows, &known, &products, false, &HashMap::new()).unwrap_err();

        let text = err.to_string();
        assert!(
            text.starts_with("line 4:")
                && text.contains("\"reed\"")
                && text.contains("42")
                && text.contains("\"blue\", \"red\"")
                && text.contains("--force"),
            "{text}"
        );
        let forced = plan_mappings(&rows, &known, &products, true, &HashMap::new()).unwrap();
        assert_eq!(forced.inserted, 3);
    }

    #[test]
    fn a_product_hash_ignores_trailing_zeros_and_sku_order_but_not_values() {
        use crate::domain::{PriceRange, Product1688, ProductSku1688};
        let sku = |spec: &str, price: &str| ProductSku1688 {
            spec_id: spec.into(),
            sku_id: None,
            attributes: format!("颜色:{spec}"),
            price: Some(price.parse().unwrap()),
            cargo_number: None,
            stock: Some(5),
        };
        let a = Product1688 {
            offer_id: 42,
            subject: "Cup".into(),
            status: "published".into(),
            supplier: SupplierRef {
                login_id: "shop".into(),
                member_id: None,
                name: None,
            },
            category: None,
            unit: None,
            min_order_quantity: None,
            price_ranges: vec![PriceRange {
                start_quantity: Decimal::ONE,
                price: "3.5".parse().unwrap(),
            }],
            skus: vec![sku("red", "3.5"), sku("blue", "3.5")],
        };
        let mut b = a.clone();
        b.skus = vec![sku("blue", "3.50"), sku("red", "3.500")];
        b.price_ranges[0].price = "3.50".parse().unwrap();
        assert_eq!(product_hash(&a), product_hash(&b));
        b.skus[0].stock = Some(4);
        assert_ne!(product_hash(&a), product_hash(&b));
        let mut c = a.clone();
        c.supplier.name = Some("Shop Ltd".into());
        assert_ne!(product_hash(&a), product_hash(&c));
        assert_eq!(
            price_ranges_json(&b.price_ranges),
            r#"[{"price":"3.50","start_quantity":"1"}]"#
        );
    }

    #[test]
    fn an_unknown_merchant_sku_names_its_line() {
        let rows = [Numbered {
            line: 7,
            value: SkuMapping {
                offer_id: 1,
                spec_id: String::new(),
                merchant_sku: "NOPE".into(),
                quantity_ratio: Decimal::ONE,
            },
        }];
        let err = plan_mappings(
            &rows,
            &HashSet::new(),
            &HashMap::new(),
            false,
            &HashMap::new(),
        )
        .unwrap_err();
        assert!(
            err.to_string().starts_with("line 7:") && err.to_string().contains("NOPE"),
            "{err}"
        );
    }
}
