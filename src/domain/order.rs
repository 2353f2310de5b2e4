//! A 1688 order as sync sees it, and the purchase order it becomes.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sha1::{Digest, Sha1};

use super::mapping::MappingTable;
use super::status::{MappingStatus, PoStatus};

/// The seller of a 1688 order (our supplier), as the order or the product names them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SupplierRef {
    /// The seller's 1688 login id (Wangwang name): the key that joins orders and products.
    pub login_id: String,
    /// `b2b-…` member id.
    pub member_id: Option<String>,
    /// Company or shop name.
    pub name: Option<String>,
}

/// A 1688 order after parsing: every field that sync owns, in exact types.
#[derive(Debug, Clone, PartialEq)]
pub struct Order1688 {
    pub order_id: i64,
    /// 1688's own status text, kept whatever it is.
    pub status: String,
    pub supplier: Option<SupplierRef>,
    pub currency: String,
    /// Sum of the goods (`sumProductPayment`), yuan.
    pub goods_amount: Decimal,
    pub shipping_fee: Decimal,
    /// Discount in yuan (1688 sends fen; negative means money off).
    pub discount: Decimal,
    pub total_amount: Decimal,
    pub created_at: DateTime<Utc>,
    pub modified_at: Option<DateTime<Utc>>,
    pub out_order_id: Option<String>,
    pub lines: Vec<Line1688>,
}

/// One product line (`productItems[]`) of a 1688 order.
#[derive(Debug, Clone, PartialEq)]
pub struct Line1688 {
    /// `subItemID`; a synthetic negative id (minus the line number) when 1688 omits it.
    pub sub_item_id: i64,
    pub offer_id: i64,
    /// Empty for offers without SKUs.
    pub spec_id: String,
    pub sku_id: Option<i64>,
    pub title: String,
    /// The SKU attributes as `name:value` pairs joined by `; `.
    pub attributes: String,
    pub unit: Option<String>,
    pub quantity: Decimal,
    pub unit_price: Decimal,
    pub amount: Decimal,
    pub status: Option<String>,
}

/// What a mapping made of a line: the merchant SKU and the quantity and unit cost
/// converted to merchant units.
#[derive(Debug, Clone, PartialEq)]
pub struct LineMapping {
    pub merchant_sku: String,
    pub merchant_quantity: Decimal,
    pub merchant_unit_cost: Decimal,
}

/// A line ready to be written: the 1688 line, its position and its mapping, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct IncomingLine {
    pub line_no: i32,
    pub line: Line1688,
    pub mapping: Option<LineMapping>,
}

impl IncomingLine {
    pub fn mapping_status(&self) -> MappingStatus {
        if self.mapping.is_some() {
            MappingStatus::Mapped
        } else {
            MappingStatus::Unmapped
        }
    }
}

/// A 1688 order ready to be written as a purchase order.
#[derive(Debug, Clone, PartialEq)]
pub struct IncomingOrder {
    pub order: Order1688,
    pub lines: Vec<IncomingLine>,
    /// Hash of every 1688-owned field: equal hashes mean nothing to write.
    pub content_hash: String,
    /// Fingerprint of the order's JSON as 1688 sent it, when it was read from a page
    /// (see [`KnownOrders`]).
    pub raw_hash: Option<RawHash>,
}

impl IncomingOrder {
    /// Maps the order's lines through `mappings` and fingerprints its 1688 content.
    pub fn prepare(order: Order1688, mappings: &MappingTable) -> Self {
        let lines = order
            .lines
            .iter()
            .enumerate()
            .map(|(index, line)| IncomingLine {
                line_no: index as i32 + 1,
                mapping: mappings.map_line(line),
                line: line.clone(),
            })
            .collect();
        let content_hash = content_hash(&order);
        IncomingOrder {
            order,
            lines,
            content_hash,
            raw_hash: None,
        }
    }

    pub fn has_unmapped(&self) -> bool {
        self.lines.iter().any(|l| l.mapping.is_none())
    }

    pub fn unmapped_lines(&self) -> usize {
        self.lines.iter().filter(|l| l.mapping.is_none()).count()
    }

    /// The status a newly synced purchase order starts in.
    pub fn initial_status(&self) -> PoStatus {
        PoStatus::for_new_synced_order(&self.order.status)
    }
}

/// A fingerprint of an order's JSON exactly as 1688 sent it (128-bit SipHash-1-3 of its
/// bytes, a fixed algorithm, so that fingerprints stored by one version hold for the
/// next). Equal bytes read to equal orders, so an order whose fingerprint is stored
/// need not be read again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RawHash(pub u128);

impl RawHash {
    pub fn of(raw: &[u8]) -> Self {
        RawHash(siphasher::sip128::SipHasher13::new().hash(raw).as_u128())
    }

    /// As stored: 32 lowercase hex digits.
    pub fn to_hex(self) -> String {
        format!("{:032x}", self.0)
    }

    pub fn from_hex(text: &str) -> Option<Self> {
        (text.len() == 32)
            .then(|| u128::from_str_radix(text, 16).ok())
            .flatten()
            .map(RawHash)
    }
}

/// The orders of a window that the store holds as 1688 last sent them: their 1688 order
/// id by [`RawHash`]. A page whose every order is among them changes nothing and is not
/// read.
pub type KnownOrders = std::collections::HashMap<RawHash, i64>;

/// A stable fingerprint of the 1688-owned content of an order. Decimals are normalised
/// so that `39.9` and `39.90` hash alike.
pub fn content_hash(order: &Order1688) -> String {
    let mut h = Sha1::new();
    let mut field = |s: &str| {
        h.update(s.as_bytes());
        h.update([0x1f]);
    };
    let dec = |d: &Decimal| d.normalize().to_string();
    let time = |t: &DateTime<Utc>| t.timestamp_millis().to_string();
    field(&order.order_id.to_string());
    field(&order.status);
    match &order.supplier {
        Some(s) => {
            field(&s.login_id);
            field(s.member_id.as_deref().unwrap_or(""));
            field(s.name.as_deref().unwrap_or(""));
        }
        None => field("-"),
    }
    field(&order.currency);
    field(&dec(&order.goods_amount));
    field(&dec(&order.shipping_fee));
    field(&dec(&order.discount));
    field(&dec(&order.total_amount));
    field(&time(&order.created_at));
    field(&order.modified_at.as_ref().map(time).unwrap_or_default());
    field(order.out_order_id.as_deref().unwrap_or(""));
    for l in &order.lines {
        field("line");
        field(&l.sub_item_id.to_string());
        field(&l.offer_id.to_string());
        field(&l.spec_id);
        field(&l.sku_id.map(|v| v.to_string()).unwrap_or_default());
        field(&l.title);
        field(&l.attributes);
        field(l.unit.as_deref().unwrap_or(""));
        field(&dec(&l.quantity));
        field(&dec(&l.unit_price));
        field(&dec(&l.amount));
        field(l.status.as_deref().unwrap_or(""));
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn dec(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    pub(crate) fn sample_order() -> Order1688 {
        Order1688 {
            order_id: 3_657_499_272_179_232_333,
            status: "waitbuyerpay".into(),
            supplier: Some(SupplierRef {
                login_id: "alitestforisv04".into(),
                member_id: Some("b2b-1623492085".into()),
                name: Some("义乌市某某贸易".into()),
            }),
            currency: "CNY".into(),
            goods_amount: dec("39.9"),
            shipping_fee: dec("0"),
            discount: dec("-39.89"),
            total_amount: dec("0.01"),
            created_at: DateTime::from_timestamp_millis(1_533_091_413_000).unwrap(),
            modified_at: None,
            out_order_id: None,
            lines: vec![Line1688 {
                sub_item_id: 196_965_465_451_498_520,
                offer_id: 574_273_466_269,
                spec_id: "7a2087a6594c7d6030d8ff5c42c8a2e8".into(),
                sku_id: Some(3_753_684_468_637),
                title: "女装T恤".into(),
                attributes: "颜色:深灰色; 尺码:3XL".into(),
                unit: Some("件".into()),
                quantity: dec("1"),
                unit_price: dec("39.9"),
                amount: dec("0.01"),
                status: Some("waitbuyerpay".into()),
            }],
        }
    }

    #[test]
    fn content_hash_ignores_trailing_zeros_but_not_values() {
        let a = sample_order();
        let mut b = a.clone();
        b.goods_amount = dec("39.90");
        assert_eq!(content_hash(&a), content_hash(&b));
        b.lines[0].quantity = dec("2");
        assert_ne!(content_hash(&a), content_hash(&b));
    }

    #[test]
    fn content_hash_changes_with_the_status() {
        let a = sample_order();
        let mut b = a.clone();
        b.status = "cancel".into();
        assert_ne!(content_hash(&a), content_hash(&b));
    }

    #[test]
    fn a_closed_order_arrives_cancelled() {
        let mut o = sample_order();
        o.status = "terminated".into();
        let incoming = IncomingOrder::prepare(o, &MappingTable::default());
        assert_eq!(incoming.initial_status(), PoStatus::Cancelled);
        assert!(incoming.has_unmapped());
    }
}
