//! Receiving goods into a warehouse (PRODUCT.md §5 steps 7 and 8): which order lines the
//! scanned codes stand for, how much each line may still take, the status an order moves
//! to, and every reason to refuse a receipt, as errors that name the offending input.
//!
//! Quantities here are in merchant units. The warehouse scans merchant SKUs (or their
//! GTINs) and counts merchant pieces, so `purchase_order_lines.received_qty` is kept in
//! the unit of `merchant_quantity` (= 1688 quantity × the mapping's quantity ratio): a
//! line of 3 packs of 10 is fully received at 30.

use std::collections::HashMap;
use std::fmt;

use rust_decimal::Decimal;

use super::status::PoStatus;

/// `tracking_numbers.source`: where a tracking number came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrackingSource {
    /// Followed from the 1688 order's logistics.
    From1688,
    /// Typed in on a purchase order by hand.
    Manual,
}

impl TrackingSource {
    pub fn as_str(self) -> &'static str {
        match self {
            TrackingSource::From1688 => "1688",
            TrackingSource::Manual => "manual",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [TrackingSource::From1688, TrackingSource::Manual]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// One scan: a merchant SKU or a GTIN, and how many merchant units it adds.
#[derive(Debug, Clone, PartialEq)]
pub struct Scan {
    pub code: String,
    pub quantity: Decimal,
}

impl Scan {
    /// One unit of `code`: what a barcode scanner types.
    pub fn one(code: impl Into<String>) -> Scan {
        Scan {
            code: code.into(),
            quantity: Decimal::ONE,
        }
    }

    /// `CODE` (one unit) or `CODE:QTY`, as `--scan` and `--from FILE` take them. Only a
    /// suffix that is a number counts as the quantity, so a code that itself holds a
    /// colon (`A:B`) still reads as one unit of that code.
    pub fn parse(text: &str) -> Result<Scan, ReceivingError> {
        let text = text.trim();
        let scan = match text.rsplit_once(':') {
            Some((code, qty)) if qty.trim().parse::<Decimal>().is_ok() => Scan {
                code: code.trim().to_owned(),
                quantity: qty.trim().parse().unwrap_or(Decimal::ONE),
            },
            _ => Scan::one(text),
        };
        scan.check()?;
        Ok(scan)
    }

    fn check(&self) -> Result<(), ReceivingError> {
        if self.code.trim().is_empty() {
            return Err(ReceivingError::EmptyCode);
        }
        if self.quantity <= Decimal::ZERO {
            return Err(ReceivingError::BadQuantity {
                code: self.code.trim().to_owned(),
                quantity: self.quantity,
            });
        }
        Ok(())
    }
}

/// What the warehouse asks to receive: the parcel's tracking number and/or the purchase
/// orders (by `po_number`), and the scans.
///
/// With a tracking number only, the orders are those that carry it. With purchase orders
/// only (an order without a tracking number), those. With both, the named orders must
/// carry the tracking number: naming them narrows a parcel that holds several orders.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReceiptRequest {
    pub warehouse_code: String,
    pub tracking_no: Option<String>,
    pub po_numbers: Vec<String>,
    pub scans: Vec<Scan>,
    /// Stored on the receipt.
    pub note: Option<String>,
}

impl ReceiptRequest {
    /// The tracking number as looked up: trimmed, `None` when blank.
    pub fn tracking_no(&self) -> Option<&str> {
        self.tracking_no
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
    }

    /// The purchase order numbers as looked up: trimmed, blanks and repeats dropped.
    pub fn po_numbers(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for p in self.po_numbers.iter().map(|p| p.trim()) {
            if !p.is_empty() && !out.contains(&p) {
                out.push(p);
            }
        }
        out
    }

    /// Everything that can be refused before looking at the database.
    pub fn validate(&self) -> Result<(), ReceivingError> {
        if self.warehouse_code.trim().is_empty() {
            return Err(ReceivingError::UnknownWarehouse {
                code: self.warehouse_code.clone(),
            });
        }
        if self.tracking_no().is_none() && self.po_numbers().is_empty() {
            return Err(ReceivingError::NoOrders);
        }
        if self.scans.is_empty() {
            return Err(ReceivingError::NothingScanned);
        }
        self.scans.iter().try_for_each(Scan::check)
    }
}

/// The warehouse goods are received into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivingWarehouse {
    pub id: i64,
    pub code: String,
}

/// A purchase order as receiving sees it, read under lock.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderToReceive {
    pub id: i64,
    pub po_number: String,
    pub status: PoStatus,
    /// `None` for an order without a warehouse: it may be received anywhere.
    pub warehouse_id: Option<i64>,
    pub warehouse_code: Option<String>,
    pub lines: Vec<LineToReceive>,
}

/// A line of an [`OrderToReceive`], with the GTIN and name of its merchant SKU.
#[derive(Debug, Clone, PartialEq)]
pub struct LineToReceive {
    pub id: i64,
    pub line_no: i32,
    pub title: String,
    /// `None` while the line is unmapped: no code can reach it.
    pub merchant_sku: Option<String>,
    pub gtin: Option<String>,
    pub name: Option<String>,
    /// In 1688 units.
    pub quantity: Decimal,
    /// In merchant units; `None` when unmapped.
    pub merchant_quantity: Option<Decimal>,
    /// In merchant units.
    pub received_qty: Decimal,
}

impl LineToReceive {
    pub fn outstanding(&self) -> Decimal {
        outstanding(self.merchant_quantity, self.quantity, self.received_qty)
    }
}

/// What a line still waits for, in merchant units, never negative (an over-receipt
/// within the tolerance leaves nothing outstanding). A line without a merchant quantity
/// (unmapped, or a merchant SKU set by hand without one) counts its 1688 quantity at a
/// ratio of 1.
pub fn outstanding(
    merchant_quantity: Option<Decimal>,
    quantity: Decimal,
    received: Decimal,
) -> Decimal {
    (merchant_quantity.unwrap_or(quantity) - received).max(Decimal::ZERO)
}

/// The most a line may hold in all with an over-receipt tolerance of `tolerance_percent`
/// (a negative tolerance counts as 0).
pub fn receivable_cap(ordered: Decimal, tolerance_percent: Decimal) -> Decimal {
    let tolerance = tolerance_percent.max(Decimal::ZERO);
    ordered + ordered * tolerance / Decimal::ONE_HUNDRED
}

/// The status of an order after a receipt, from what its lines still wait for: received
/// only when no line waits. An unmapped line waits until it is mapped and received: were
/// the order `received` without it, no mapping could reach that line any more (mappings
/// re-map only orders not yet received) and its goods would never be stocked in.
pub fn status_after_receipt(outstanding: impl IntoIterator<Item = Decimal>) -> PoStatus {
    if outstanding.into_iter().all(|o| o.is_zero()) {
        PoStatus::Received
    } else {
        PoStatus::PartiallyReceived
    }
}

impl PoStatus {
    /// Whether goods can be received on an order in this status.
    pub fn is_receivable(self) -> bool {
        matches!(self, PoStatus::OnTheWay | PoStatus::PartiallyReceived)
    }
}

/// One order line a receipt adds to.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedLine {
    pub purchase_order_id: i64,
    pub po_number: String,
    pub line_id: i64,
    pub line_no: i32,
    pub title: String,
    pub merchant_sku: String,
    pub name: Option<String>,
    pub gtin: Option<String>,
    /// Received by this receipt.
    pub quantity: Decimal,
    /// Received in all, this receipt included.
    pub received_qty: Decimal,
    /// Ordered, in merchant units.
    pub ordered: Decimal,
    /// Still outstanding after this receipt.
    pub outstanding: Decimal,
}

/// A line that still waits after a receipt.
#[derive(Debug, Clone, PartialEq)]
pub struct OutstandingLine {
    pub line_id: i64,
    pub line_no: i32,
    pub title: String,
    /// `None` for an unmapped line, which must be mapped before it can be received.
    pub merchant_sku: Option<String>,
    pub outstanding: Decimal,
}

/// An order a receipt touched: its status before and after, and what still waits.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderAfterReceipt {
    pub purchase_order_id: i64,
    pub po_number: String,
    pub status_before: PoStatus,
    pub status: PoStatus,
    pub outstanding: Vec<OutstandingLine>,
}

/// What a receipt does, decided before anything is written.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceiptPlan {
    pub warehouse: ReceivingWarehouse,
    /// Ordered by purchase order id, then line number.
    pub lines: Vec<ReceivedLine>,
    /// The orders of `lines`, by id.
    pub orders: Vec<OrderAfterReceipt>,
}

impl ReceiptPlan {
    /// The stock each merchant SKU gains, by SKU.
    pub fn stock(&self) -> Vec<(String, Decimal)> {
        let mut by_sku: Vec<(String, Decimal)> = Vec::new();
        for l in &self.lines {
            match by_sku.iter_mut().find(|(s, _)| *s == l.merchant_sku) {
                Some((_, q)) => *q += l.quantity,
                None => by_sku.push((l.merchant_sku.clone(), l.quantity)),
            }
        }
        by_sku.sort_by(|a, b| a.0.cmp(&b.0));
        by_sku
    }
}

/// Decides a receipt: resolves every scan to the lines of `orders` it stands for,
/// spreads the quantities over those lines (outstanding first, in order id and line
/// order, then what the tolerance allows), and works out each touched order's status.
/// `orders` are the candidates the request named (all of them, whatever their status
/// or warehouse, so that a refusal can say why).
pub fn plan_receipt(
    warehouse: &ReceivingWarehouse,
    orders: &[OrderToReceive],
    scans: &[Scan],
    tolerance_percent: Decimal,
) -> Result<ReceiptPlan, ReceivingError> {
    if scans.is_empty() {
        return Err(ReceivingError::NothingScanned);
    }
    scans.iter().try_for_each(Scan::check)?;
    if orders.is_empty() {
        return Err(ReceivingError::NoOrders);
    }
    let mut orders: Vec<&OrderToReceive> = orders.iter().collect();
    orders.sort_by_key(|o| o.id);
    let in_warehouse = |o: &OrderToReceive| o.warehouse_id.is_none_or(|w| w == warehouse.id);
    let eligible: Vec<&OrderToReceive> = orders
        .iter()
        .copied()
        .filter(|o| o.status.is_receivable() && in_warehouse(o))
        .collect();
    if eligible.is_empty() {
        return Err(why_not(None, &orders, warehouse));
    }

    // Scans by merchant SKU, in the order first scanned.
    let mut wanted: Vec<Wanted> = Vec::new();
    for scan in scans {
        let code = scan.code.trim();
        let Some(sku) = resolve(code, &eligible) else {
            let elsewhere: Vec<&OrderToReceive> = orders
                .iter()
                .copied()
                .filter(|o| resolve(code, std::slice::from_ref(o)).is_some())
                .collect();
            if !elsewhere.is_empty() {
                return Err(why_not(Some(code), &elsewhere, warehouse));
            }
            return Err(unknown_code(code, &eligible));
        };
        match wanted.iter_mut().find(|w| w.merchant_sku == sku) {
            Some(w) => w.quantity += scan.quantity,
            None => wanted.push(Wanted {
                merchant_sku: sku.to_owned(),
                code: code.to_owned(),
                quantity: scan.quantity,
            }),
        }
    }

    let mut taken: HashMap<i64, Decimal> = HashMap::new();
    for w in &wanted {
        let mut lines: Vec<(&OrderToReceive, &LineToReceive)> = eligible
            .iter()
            .flat_map(|o| o.lines.iter().map(move |l| (*o, l)))
            .filter(|(_, l)| l.merchant_sku.as_deref() == Some(w.merchant_sku.as_str()))
            .collect();
        lines.sort_by_key(|(o, l)| (o.id, l.line_no, l.id));
        let outstanding: Decimal = lines.iter().map(|(_, l)| l.outstanding()).sum();
        let room = |l: &LineToReceive| {
            (receivable_cap(l.merchant_quantity.unwrap_or(l.quantity), tolerance_percent)
                - l.received_qty)
                .max(Decimal::ZERO)
        };
        let allowed: Decimal = lines.iter().map(|(_, l)| room(l)).sum();
        if w.quantity > allowed {
            let mut po_numbers: Vec<String> = Vec::new();
            for (o, _) in &lines {
                if !po_numbers.contains(&o.po_number) {
                    po_numbers.push(o.po_number.clone());
                }
            }
            return Err(ReceivingError::OverReceipt(Box::new(OverReceipt {
                code: w.code.clone(),
                merchant_sku: w.merchant_sku.clone(),
                requested: w.quantity,
                outstanding,
                allowed,
                tolerance_percent: tolerance_percent.max(Decimal::ZERO),
                po_numbers,
            })));
        }
        // Outstanding units first, on every line, before any line goes over.
        let mut left = w.quantity;
        for pass in [false, true] {
            for (_, l) in &lines {
                if left.is_zero() {
                    break;
                }
                let already = taken.get(&l.id).copied().unwrap_or_default();
                let limit = if pass { room(l) } else { l.outstanding() };
                let take = (limit - already).max(Decimal::ZERO).min(left);
                if !take.is_zero() {
                    *taken.entry(l.id).or_default() += take;
                    left -= take;
                }
            }
        }
    }

    let mut lines = Vec::new();
    let mut after = Vec::new();
    for o in &eligible {
        let mut touched = false;
        let mut waiting = Vec::new();
        for l in &o.lines {
            let quantity = taken.get(&l.id).copied().unwrap_or_default();
            let received_qty = l.received_qty + quantity;
            let left = outstanding(l.merchant_quantity, l.quantity, received_qty);
            if !quantity.is_zero() {
                touched = true;
                lines.push(ReceivedLine {
                    purchase_order_id: o.id,
                    po_number: o.po_number.clone(),
                    line_id: l.id,
                    line_no: l.line_no,
                    title: l.title.clone(),
                    merchant_sku: l.merchant_sku.clone().unwrap_or_default(),
                    name: l.name.clone(),
                    gtin: l.gtin.clone(),
                    quantity,
                    received_qty,
                    ordered: l.merchant_quantity.unwrap_or(l.quantity),
                    outstanding: left,
                });
            }
            if !left.is_zero() {
                waiting.push(OutstandingLine {
                    line_id: l.id,
                    line_no: l.line_no,
                    title: l.title.clone(),
                    merchant_sku: l.merchant_sku.clone(),
                    outstanding: left,
                });
            }
        }
        if touched {
            waiting.sort_by_key(|w| (w.line_no, w.line_id));
            after.push(OrderAfterReceipt {
                purchase_order_id: o.id,
                po_number: o.po_number.clone(),
                status_before: o.status,
                status: status_after_receipt(waiting.iter().map(|w| w.outstanding)),
                outstanding: waiting,
            });
        }
    }
    lines.sort_by_key(|l| (l.purchase_order_id, l.line_no, l.line_id));
    Ok(ReceiptPlan {
        warehouse: warehouse.clone(),
        lines,
        orders: after,
    })
}

struct Wanted {
    merchant_sku: String,
    /// The first code scanned for it, for messages.
    code: String,
    quantity: Decimal,
}

/// The merchant SKU that `code` stands for on `orders`: a line's merchant SKU, else the
/// GTIN of one (a SKU wins over a GTIN that happens to read the same).
fn resolve<'a>(code: &str, orders: &[&'a OrderToReceive]) -> Option<&'a str> {
    let lines = || orders.iter().flat_map(|o| o.lines.iter());
    lines()
        .filter_map(|l| l.merchant_sku.as_deref())
        .find(|sku| *sku == code)
        .or_else(|| {
            lines()
                .find(|l| l.merchant_sku.is_some() && l.gtin.as_deref() == Some(code))
                .and_then(|l| l.merchant_sku.as_deref())
        })
}

/// Why none of `orders` can take goods (for `code`, when the scan found them).
fn why_not(
    code: Option<&str>,
    orders: &[&OrderToReceive],
    warehouse: &ReceivingWarehouse,
) -> ReceivingError {
    let wrong_warehouse: Vec<OrderRef> = orders
        .iter()
        .filter(|o| o.status.is_receivable())
        .map(|o| OrderRef {
            po_number: o.po_number.clone(),
            status: o.status,
            warehouse_code: o.warehouse_code.clone(),
        })
        .collect();
    if !wrong_warehouse.is_empty() {
        return ReceivingError::WrongWarehouse {
            code: code.map(str::to_owned),
            warehouse_code: warehouse.code.clone(),
            orders: wrong_warehouse,
        };
    }
    ReceivingError::NotReceivable {
        code: code.map(str::to_owned),
        orders: orders
            .iter()
            .map(|o| OrderRef {
                po_number: o.po_number.clone(),
                status: o.status,
                warehouse_code: o.warehouse_code.clone(),
            })
            .collect(),
    }
}

/// At most this many unmapped lines are named in an error.
const UNMAPPED_SHOWN: usize = 5;

fn unknown_code(code: &str, eligible: &[&OrderToReceive]) -> ReceivingError {
    let unmapped = eligible
        .iter()
        .flat_map(|o| {
            o.lines
                .iter()
                .filter(|l| l.merchant_sku.is_none() && !l.outstanding().is_zero())
                .map(|l| UnmappedLineRef {
                    po_number: o.po_number.clone(),
                    line_no: l.line_no,
                    title: l.title.clone(),
                })
        })
        .take(UNMAPPED_SHOWN)
        .collect();
    ReceivingError::UnknownCode {
        code: code.to_owned(),
        po_numbers: eligible.iter().map(|o| o.po_number.clone()).collect(),
        unmapped,
    }
}

/// An order named in an error, with what makes it matter there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRef {
    pub po_number: String,
    pub status: PoStatus,
    pub warehouse_code: Option<String>,
}

/// An unmapped line named in an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnmappedLineRef {
    pub po_number: String,
    pub line_no: i32,
    pub title: String,
}

/// What [`ReceivingError::OverReceipt`] refuses.
#[derive(Debug, Clone, PartialEq)]
pub struct OverReceipt {
    /// The first code scanned for the merchant SKU.
    pub code: String,
    pub merchant_sku: String,
    /// All scans of it together.
    pub requested: Decimal,
    pub outstanding: Decimal,
    /// What its lines may take with the tolerance.
    pub allowed: Decimal,
    pub tolerance_percent: Decimal,
    pub po_numbers: Vec<String>,
}

/// Why a receipt (or a tracking number) is refused. Nothing is written when one of these
/// is returned; every message names the input it refuses.
#[derive(Debug, Clone, PartialEq)]
pub enum ReceivingError {
    UnknownWarehouse {
        code: String,
    },
    UnknownTrackingNumber {
        tracking_no: String,
    },
    UnknownOrder {
        po_number: String,
    },
    /// A named order does not carry the named tracking number.
    NotOnTracking {
        po_number: String,
        tracking_no: String,
    },
    EmptyTrackingNumber,
    /// Neither a tracking number nor a purchase order was named.
    NoOrders,
    NothingScanned,
    EmptyCode,
    BadQuantity {
        code: String,
        quantity: Decimal,
    },
    /// The orders (those `code` is on, when given) are drafts, cancelled or received.
    NotReceivable {
        code: Option<String>,
        orders: Vec<OrderRef>,
    },
    /// The orders (those `code` is on, when given) belong to another warehouse.
    WrongWarehouse {
        code: Option<String>,
        warehouse_code: String,
        orders: Vec<OrderRef>,
    },
    /// `code` is neither a merchant SKU nor a GTIN of a line of the orders.
    UnknownCode {
        code: String,
        po_numbers: Vec<String>,
        /// Unmapped lines of the orders, which no code can reach until mapped.
        unmapped: Vec<UnmappedLineRef>,
    },
    /// `code` is not on the orders, but on these others.
    CodeOfAnotherOrder {
        code: String,
        po_numbers: Vec<String>,
        other_po_numbers: Vec<String>,
    },
    /// More of a merchant SKU than its lines may take.
    OverReceipt(Box<OverReceipt>),
}

impl ReceivingError {
    /// A stable name of the rule, for machine-readable (JSON) errors.
    pub fn kind(&self) -> &'static str {
        match self {
            ReceivingError::UnknownWarehouse { .. } => "unknown_warehouse",
            ReceivingError::UnknownTrackingNumber { .. } => "unknown_tracking_number",
            ReceivingError::UnknownOrder { .. } => "unknown_purchase_order",
            ReceivingError::NotOnTracking { .. } => "not_on_tracking_number",
            ReceivingError::EmptyTrackingNumber => "empty_tracking_number",
            ReceivingError::NoOrders => "no_orders",
            ReceivingError::NothingScanned => "nothing_scanned",
            ReceivingError::EmptyCode => "empty_code",
            ReceivingError::BadQuantity { .. } => "bad_quantity",
            ReceivingError::NotReceivable { .. } => "order_not_receivable",
            ReceivingError::WrongWarehouse { .. } => "wrong_warehouse",
            ReceivingError::UnknownCode { .. } => "unknown_code",
            ReceivingError::CodeOfAnotherOrder { .. } => "code_of_another_order",
            ReceivingError::OverReceipt(_) => "over_receipt",
        }
    }
}

/// `purchase order X` or `purchase orders X, Y`.
fn orders_phrase(po_numbers: &[String]) -> String {
    match po_numbers {
        [one] => format!("purchase order {one}"),
        many => format!("purchase orders {}", many.join(", ")),
    }
}

fn qty(d: &Decimal) -> String {
    d.normalize().to_string()
}

fn why_status(status: PoStatus) -> &'static str {
    match status {
        PoStatus::Draft => "is still a draft: submit it first",
        PoStatus::Cancelled => "is cancelled",
        PoStatus::Received => "is already fully received",
        PoStatus::OnTheWay | PoStatus::PartiallyReceived => "can be received",
    }
}

impl fmt::Display for ReceivingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReceivingError::UnknownWarehouse { code } => write!(f, "unknown warehouse {code:?}"),
            ReceivingError::UnknownTrackingNumber { tracking_no } => write!(
                f,
                "unknown tracking number {tracking_no:?}: no purchase order carries it (add it \
                 to its purchase order by hand if 1688 does not list it)"
            ),
            ReceivingError::UnknownOrder { po_number } => {
                write!(f, "unknown purchase order {po_number:?}")
            }
            ReceivingError::NotOnTracking {
                po_number,
                tracking_no,
            } => write!(
                f,
                "purchase order {po_number} does not carry tracking number {tracking_no:?}"
            ),
            ReceivingError::EmptyTrackingNumber => f.write_str("the tracking number is empty"),
            ReceivingError::NoOrders => {
                f.write_str("name a tracking number or a purchase order to receive goods on")
            }
            ReceivingError::NothingScanned => {
                f.write_str("nothing was scanned: scan a merchant SKU or GTIN")
            }
            ReceivingError::EmptyCode => f.write_str("an empty code was scanned"),
            ReceivingError::BadQuantity { code, quantity } => write!(
                f,
                "quantity {} of {code:?} must be greater than 0",
                qty(quantity)
            ),
            ReceivingError::NotReceivable { code, orders } => {
                let reasons: Vec<String> = orders
                    .iter()
                    .map(|o| format!("purchase order {} {}", o.po_number, why_status(o.status)))
                    .collect();
                match code {
                    Some(code) => write!(f, "{code:?} cannot be received: {}", reasons.join("; ")),
                    None => f.write_str(&reasons.join("; ")),
                }
            }
            ReceivingError::WrongWarehouse {
                code,
                warehouse_code,
                orders,
            } => {
                let reasons: Vec<String> = orders
                    .iter()
                    .map(|o| {
                        format!(
                            "purchase order {} belongs to warehouse {:?}",
                            o.po_number,
                            o.warehouse_code.as_deref().unwrap_or("?")
                        )
                    })
                    .collect();
                if let Some(code) = code {
                    write!(
                        f,
                        "{code:?} cannot be received into warehouse {warehouse_code:?}: "
                    )?;
                } else {
                    write!(f, "cannot receive into warehouse {warehouse_code:?}: ")?;
                }
                write!(f, "{}; receive it there", reasons.join("; "))
            }
            ReceivingError::UnknownCode {
                code,
                po_numbers,
                unmapped,
            } => {
                write!(
                    f,
                    "{code:?} is neither a merchant SKU nor a GTIN of {}",
                    orders_phrase(po_numbers)
                )?;
                if !unmapped.is_empty() {
                    let lines: Vec<String> = unmapped
                        .iter()
                        .map(|u| format!("{} line {} {:?}", u.po_number, u.line_no, u.title))
                        .collect();
                    write!(
                        f,
                        " (unmapped lines cannot be received by code until they are mapped to a \
                         merchant SKU: {})",
                        lines.join(", ")
                    )?;
                }
                Ok(())
            }
            ReceivingError::CodeOfAnotherOrder {
                code,
                po_numbers,
                other_po_numbers,
            } => write!(
                f,
                "{code:?} is not on {} but on another order ({}): receive it with that order",
                orders_phrase(po_numbers),
                other_po_numbers.join(", ")
            ),
            ReceivingError::OverReceipt(over) => {
                let OverReceipt {
                    code,
                    merchant_sku,
                    requested,
                    outstanding,
                    allowed,
                    tolerance_percent,
                    po_numbers,
                } = over.as_ref();
                let what = if code == merchant_sku {
                    format!("{code:?}")
                } else {
                    format!("{code:?} (merchant SKU {merchant_sku:?})")
                };
                if outstanding.is_zero() && tolerance_percent.is_zero() {
                    return write!(
                        f,
                        "cannot receive {} of {what}: it is already fully received on {}",
                        qty(requested),
                        orders_phrase(po_numbers)
                    );
                }
                write!(
                    f,
                    "receiving {} of {what} is more than the {} outstanding on {}",
                    qty(requested),
                    qty(outstanding),
                    orders_phrase(po_numbers)
                )?;
                if !tolerance_percent.is_zero() {
                    write!(
                        f,
                        " (at most {} with the {}% over-receipt tolerance)",
                        qty(allowed),
                        qty(tolerance_percent)
                    )?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for ReceivingError {}

/// Why a warehouse cannot be added, found or deleted.
#[derive(Debug, Clone, PartialEq)]
pub enum WarehouseError {
    Unknown {
        code: String,
    },
    InvalidCode {
        code: String,
        reason: &'static str,
    },
    /// Deleting it would lose stock or the record of received goods.
    NotEmpty {
        code: String,
        on_hand: Decimal,
        skus_in_stock: u64,
        orders_with_received_goods: u64,
    },
}

impl WarehouseError {
    /// A stable name of the rule, for machine-readable (JSON) errors.
    pub fn kind(&self) -> &'static str {
        match self {
            WarehouseError::Unknown { .. } => "unknown_warehouse",
            WarehouseError::InvalidCode { .. } => "invalid_warehouse_code",
            WarehouseError::NotEmpty { .. } => "warehouse_not_empty",
        }
    }
}

impl fmt::Display for WarehouseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WarehouseError::Unknown { code } => write!(f, "unknown warehouse {code:?}"),
            WarehouseError::InvalidCode { code, reason } => {
                write!(f, "warehouse code {code:?} is invalid: {reason}")
            }
            WarehouseError::NotEmpty {
                code,
                on_hand,
                skus_in_stock,
                orders_with_received_goods,
            } => {
                let mut reasons = Vec::new();
                if *skus_in_stock > 0 {
                    reasons.push(format!(
                        "it holds stock ({} units of {skus_in_stock} merchant SKU{})",
                        qty(on_hand),
                        plural(*skus_in_stock)
                    ));
                }
                if *orders_with_received_goods > 0 {
                    reasons.push(format!(
                        "{orders_with_received_goods} of its purchase orders have received goods"
                    ));
                }
                write!(
                    f,
                    "warehouse {code:?} was not deleted: {}; use --force to delete it with its \
                     stock and receipts",
                    reasons.join(" and ")
                )
            }
        }
    }
}

impl std::error::Error for WarehouseError {}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// A warehouse code as stored: trimmed, not empty, without spaces or control characters
/// (it is typed on command lines and printed on labels).
pub fn check_warehouse_code(code: &str) -> Result<&str, WarehouseError> {
    let trimmed = code.trim();
    let invalid = |reason| {
        Err(WarehouseError::InvalidCode {
            code: code.to_owned(),
            reason,
        })
    };
    if trimmed.is_empty() {
        return invalid("it is empty");
    }
    if trimmed.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return invalid("it contains spaces or control characters");
    }
    if trimmed.chars().count() > 64 {
        return invalid("it is longer than 64 characters");
    }
    Ok(trimmed)
}

/// Whether a warehouse may be deleted: not while it holds stock or its orders hold
/// received goods, unless forced.
pub fn check_warehouse_deletion(
    code: &str,
    on_hand: Decimal,
    skus_in_stock: u64,
    orders_with_received_goods: u64,
    force: bool,
) -> Result<(), WarehouseError> {
    if force || (skus_in_stock == 0 && orders_with_received_goods == 0) {
        return Ok(());
    }
    Err(WarehouseError::NotEmpty {
        code: code.to_owned(),
        on_hand,
        skus_in_stock,
        orders_with_received_goods,
    })
}

/// `sync_tombstones.reason` of the 1688 orders of a deleted warehouse.
pub fn warehouse_tombstone_reason(code: &str) -> String {
    format!("warehouse {code} deleted")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    const MAIN: i64 = 1;

    fn warehouse() -> ReceivingWarehouse {
        ReceivingWarehouse {
            id: MAIN,
            code: "MAIN".into(),
        }
    }

    fn line(id: i64, sku: Option<&str>, ordered: &str, received: &str) -> LineToReceive {
        LineToReceive {
            id,
            line_no: id as i32,
            title: format!("line {id}"),
            merchant_sku: sku.map(str::to_owned),
            gtin: sku.map(|s| format!("690{}", s.len())),
            name: sku.map(|s| format!("{s} name")),
            quantity: dec(ordered),
            merchant_quantity: sku.map(|_| dec(ordered)),
            received_qty: dec(received),
        }
    }

    fn order(id: i64, status: PoStatus, lines: Vec<LineToReceive>) -> OrderToReceive {
        OrderToReceive {
            id,
            po_number: format!("PO-{id}"),
            status,
            warehouse_id: Some(MAIN),
            warehouse_code: Some("MAIN".into()),
            lines,
        }
    }

    fn scan(code: &str, q: &str) -> Scan {
        Scan {
            code: code.into(),
            quantity: dec(q),
        }
    }

    fn plan(orders: &[OrderToReceive], scans: &[Scan]) -> Result<ReceiptPlan, ReceivingError> {
        plan_receipt(&warehouse(), orders, scans, Decimal::ZERO)
    }

    #[test]
    fn scans_add_up_per_sku_and_a_gtin_counts_for_its_sku() {
        let orders = [order(
            1,
            PoStatus::OnTheWay,
            vec![
                line(11, Some("SHIRT"), "30", "0"),
                line(12, Some("CUP"), "2", "0"),
            ],
        )];
        // "6905" is the GTIN of SHIRT (five letters).
        let p = plan(
            &orders,
            &[scan("SHIRT", "10"), scan("6905", "20"), scan(" CUP ", "1")],
        )
        .unwrap();
        let got: Vec<_> = p
            .lines
            .iter()
            .map(|l| (l.merchant_sku.as_str(), l.quantity, l.outstanding))
            .collect();
        assert_eq!(
            got,
            [("SHIRT", dec("30"), dec("0")), ("CUP", dec("1"), dec("1"))]
        );
        assert_eq!(p.orders[0].status, PoStatus::PartiallyReceived);
        assert_eq!(p.orders[0].outstanding.len(), 1);
        assert_eq!(
            p.stock(),
            [
                ("CUP".to_owned(), dec("1")),
                ("SHIRT".to_owned(), dec("30"))
            ]
        );
    }

    #[test]
    fn receiving_the_rest_of_every_line_makes_the_order_received() {
        let orders = [order(
            1,
            PoStatus::PartiallyReceived,
            vec![
                line(11, Some("SHIRT"), "30", "25"),
                line(12, Some("CUP"), "2", "2"),
            ],
        )];
        let p = plan(&orders, &[scan("SHIRT", "5")]).unwrap();
        assert_eq!(p.lines[0].received_qty, dec("30"));
        assert_eq!(p.orders[0].status_before, PoStatus::PartiallyReceived);
        assert_eq!(p.orders[0].status, PoStatus::Received);
        assert!(p.orders[0].outstanding.is_empty());
    }

    #[test]
    fn an_unmapped_line_keeps_the_order_partially_received_and_is_named_for_unknown_codes() {
        let orders = [order(
            1,
            PoStatus::OnTheWay,
            vec![line(11, Some("SHIRT"), "3", "0"), line(12, None, "1", "0")],
        )];
        let p = plan(&orders, &[scan("SHIRT", "3")]).unwrap();
        assert_eq!(p.orders[0].status, PoStatus::PartiallyReceived);
        assert_eq!(p.orders[0].outstanding[0].merchant_sku, None);

        let err = plan(&orders, &[scan("MUG", "1")]).unwrap_err();
        assert_eq!(err.kind(), "unknown_code");
        let text = err.to_string();
        assert!(
            text.contains("\"MUG\"") && text.contains("PO-1") && text.contains("line 12"),
            "{text}"
        );
    }

    #[test]
    fn more_than_outstanding_is_refused_unless_the_tolerance_allows_it() {
        let orders = [order(
            1,
            PoStatus::OnTheWay,
            vec![line(11, Some("SHIRT"), "30", "28")],
        )];
        let err = plan(&orders, &[scan("SHIRT", "3")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "receiving 3 of \"SHIRT\" is more than the 2 outstanding on purchase order PO-1"
        );

        let ok = plan_receipt(&warehouse(), &orders, &[scan("SHIRT", "3")], dec("10")).unwrap();
        assert_eq!(ok.lines[0].received_qty, dec("31"));
        assert_eq!(ok.lines[0].outstanding, Decimal::ZERO);
        assert_eq!(ok.orders[0].status, PoStatus::Received);

        let err = plan_receipt(&warehouse(), &orders, &[scan("6905", "6")], dec("10")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "receiving 6 of \"6905\" (merchant SKU \"SHIRT\") is more than the 2 outstanding on \
             purchase order PO-1 (at most 5 with the 10% over-receipt tolerance)"
        );
    }

    #[test]
    fn a_fully_received_line_says_so() {
        let orders = [order(
            1,
            PoStatus::PartiallyReceived,
            vec![
                line(11, Some("SHIRT"), "3", "3"),
                line(12, Some("CUP"), "1", "0"),
            ],
        )];
        let err = plan(&orders, &[scan("SHIRT", "1")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot receive 1 of \"SHIRT\": it is already fully received on purchase order PO-1"
        );
    }

    #[test]
    fn a_sku_on_several_lines_fills_the_outstanding_of_each_before_going_over() {
        let orders = [
            order(2, PoStatus::OnTheWay, vec![line(21, Some("CUP"), "4", "0")]),
            order(1, PoStatus::OnTheWay, vec![line(11, Some("CUP"), "2", "1")]),
        ];
        let p = plan_receipt(&warehouse(), &orders, &[scan("CUP", "5")], dec("50")).unwrap();
        let got: Vec<_> = p.lines.iter().map(|l| (l.line_id, l.quantity)).collect();
        assert_eq!(got, [(11, dec("1")), (21, dec("4"))]);
        let p = plan_receipt(&warehouse(), &orders, &[scan("CUP", "7")], dec("50")).unwrap();
        let got: Vec<_> = p.lines.iter().map(|l| (l.line_id, l.quantity)).collect();
        assert_eq!(got, [(11, dec("2")), (21, dec("5"))]);
    }

    #[test]
    fn a_draft_a_cancelled_and_a_received_order_are_refused_with_the_reason() {
        for (status, reason) in [
            (PoStatus::Draft, "is still a draft: submit it first"),
            (PoStatus::Cancelled, "is cancelled"),
            (PoStatus::Received, "is already fully received"),
        ] {
            let orders = [order(1, status, vec![line(11, Some("SHIRT"), "3", "0")])];
            let err = plan(&orders, &[scan("SHIRT", "1")]).unwrap_err();
            assert_eq!(err.kind(), "order_not_receivable");
            assert_eq!(err.to_string(), format!("purchase order PO-1 {reason}"));
        }
    }

    #[test]
    fn a_code_on_an_order_that_cannot_take_it_names_that_order() {
        let orders = [
            order(
                1,
                PoStatus::OnTheWay,
                vec![line(11, Some("SHIRT"), "3", "0")],
            ),
            order(2, PoStatus::Draft, vec![line(21, Some("CUP"), "3", "0")]),
        ];
        let err = plan(&orders, &[scan("CUP", "1")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "\"CUP\" cannot be received: purchase order PO-2 is still a draft: submit it first"
        );
    }

    #[test]
    fn another_warehouse_is_refused_and_an_order_without_one_is_not() {
        let mut elsewhere = order(
            1,
            PoStatus::OnTheWay,
            vec![line(11, Some("SHIRT"), "3", "0")],
        );
        elsewhere.warehouse_id = Some(2);
        elsewhere.warehouse_code = Some("SECOND".into());
        let err = plan(std::slice::from_ref(&elsewhere), &[scan("SHIRT", "1")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot receive into warehouse \"MAIN\": purchase order PO-1 belongs to warehouse \
             \"SECOND\"; receive it there"
        );
        elsewhere.warehouse_id = None;
        assert!(plan(&[elsewhere], &[scan("SHIRT", "1")]).is_ok());
    }

    #[test]
    fn bad_scans_are_refused_before_anything_else() {
        let orders = [order(1, PoStatus::Draft, vec![])];
        assert_eq!(
            plan(&orders, &[]).unwrap_err(),
            ReceivingError::NothingScanned
        );
        assert_eq!(
            plan(&orders, &[scan(" ", "1")]).unwrap_err(),
            ReceivingError::EmptyCode
        );
        assert_eq!(
            plan(&orders, &[scan("SHIRT", "0")])
                .unwrap_err()
                .to_string(),
            "quantity 0 of \"SHIRT\" must be greater than 0"
        );
    }

    #[test]
    fn a_scan_reads_code_and_optional_quantity() {
        assert_eq!(Scan::parse("SHIRT").unwrap(), scan("SHIRT", "1"));
        assert_eq!(Scan::parse(" SHIRT:12 ").unwrap(), scan("SHIRT", "12"));
        assert_eq!(Scan::parse("A:B").unwrap(), scan("A:B", "1"));
        assert_eq!(Scan::parse("A:B:2.5").unwrap(), scan("A:B", "2.5"));
        assert!(matches!(
            Scan::parse("SHIRT:-1"),
            Err(ReceivingError::BadQuantity { .. })
        ));
        assert_eq!(Scan::parse(":3").unwrap_err(), ReceivingError::EmptyCode);
    }

    #[test]
    fn a_request_needs_orders_and_scans() {
        let mut r = ReceiptRequest {
            warehouse_code: "MAIN".into(),
            tracking_no: Some("  ".into()),
            po_numbers: vec![" ".into()],
            scans: vec![Scan::one("SHIRT")],
            note: None,
        };
        assert_eq!(r.validate().unwrap_err(), ReceivingError::NoOrders);
        r.tracking_no = Some(" SF1 ".into());
        assert_eq!(r.tracking_no(), Some("SF1"));
        r.validate().unwrap();
        r.po_numbers = vec!["A".into(), " A".into(), "B".into()];
        assert_eq!(r.po_numbers(), ["A", "B"]);
    }

    #[test]
    fn a_warehouse_with_stock_or_received_goods_is_kept_unless_forced() {
        check_warehouse_deletion("MAIN", Decimal::ZERO, 0, 0, false).unwrap();
        let err = check_warehouse_deletion("MAIN", dec("12"), 2, 1, false).unwrap_err();
        assert_eq!(
            err.to_string(),
            "warehouse \"MAIN\" was not deleted: it holds stock (12 units of 2 merchant SKUs) \
             and 1 of its purchase orders have received goods; use --force to delete it with \
             its stock and receipts"
        );
        check_warehouse_deletion("MAIN", dec("12"), 2, 1, true).unwrap();
        assert_eq!(check_warehouse_code(" MAIN ").unwrap(), "MAIN");
        assert!(check_warehouse_code("MAIN 2").is_err());
        assert!(check_warehouse_code("").is_err());
    }
}
