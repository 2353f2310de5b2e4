//! The sandbox's orders: the buyer, the order model, generation and the state changes
//! tests drive (1688-open-api.md §4, "Order status machine").

use std::collections::HashSet;

use chrono::{DateTime, Duration as ChronoDuration, FixedOffset, NaiveTime, TimeZone, Utc};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use super::catalogue::Catalogue;
use super::rng::SplitMix64;
use crate::api1688::time::china;

/// The authorised buyer: every sandbox order is theirs.
pub(crate) struct Buyer {
    pub member_id: &'static str,
    pub ali_id: &'static str,
    pub user_id: i64,
    pub login_id: &'static str,
    pub company: &'static str,
}

pub(crate) const BUYER: Buyer = Buyer {
    member_id: "b2b-2208312645",
    ali_id: "2208312645",
    user_id: 2_208_312_645,
    login_id: "沙箱买家",
    company: "沙箱跨境电子商务有限公司",
};

/// One of the buyer's receiving addresses (their warehouses in China).
pub(crate) struct Address {
    pub province: &'static str,
    pub city: &'static str,
    pub area: &'static str,
    pub area_code: &'static str,
    pub town: &'static str,
    pub address: &'static str,
    pub contact: &'static str,
    pub mobile: &'static str,
    pub zip: &'static str,
}

impl Address {
    pub(crate) fn view(&self) -> AddrRef<'static> {
        AddrRef {
            province: self.province,
            city: self.city,
            area: self.area,
            area_code: self.area_code,
            town: self.town,
            address: self.address,
            contact: self.contact,
            mobile: self.mobile,
            zip: self.zip,
        }
    }
}

/// Where an order goes when it was placed through the API with an address of its
/// own (an `addressId`, a district code or plain text): owned, unlike [`Address`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ShipTo {
    pub province: String,
    pub city: String,
    pub area: String,
    pub area_code: String,
    pub town: String,
    pub address: String,
    pub contact: String,
    pub mobile: String,
    pub zip: String,
}

/// An order's receiving address as the renderer reads it, whichever kind it is.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AddrRef<'a> {
    pub province: &'a str,
    pub city: &'a str,
    pub area: &'a str,
    pub area_code: &'a str,
    pub town: &'a str,
    pub address: &'a str,
    pub contact: &'a str,
    pub mobile: &'a str,
    pub zip: &'a str,
}

pub(crate) const ADDRESSES: &[Address] = &[
    Address {
        province: "浙江省",
        city: "金华市",
        area: "义乌市",
        area_code: "330782",
        town: "稠城街道",
        address: "稠城街道工人北路1088号跨境集运仓3楼",
        contact: "张伟",
        mobile: "13957912345",
        zip: "322000",
    },
    Address {
        province: "广东省",
        city: "深圳市",
        area: "宝安区",
        area_code: "440306",
        town: "福永街道",
        address: "福永街道凤凰第三工业区A栋2楼",
        contact: "李娜",
        mobile: "13823456789",
        zip: "518103",
    },
    Address {
        province: "浙江省",
        city: "杭州市",
        area: "滨江区",
        area_code: "330108",
        town: "长河街道",
        address: "长河街道江南大道588号仓储中心B区",
        contact: "王芳",
        mobile: "15967123456",
        zip: "310051",
    },
];

/// Carriers as 1688 names them: (name, company no, company id, bill prefix, digits).
pub(crate) const CARRIERS: &[(&str, &str, &str, &str, usize)] = &[
    ("中通快递(ZTO)", "ZTO", "2", "78", 12),
    ("圆通速递(YTO)", "YTO", "3", "YT", 13),
    ("韵达快递", "YUNDA", "7", "4312", 11),
    ("申通快递", "STO", "4", "77", 13),
    ("顺丰速运", "SF", "1", "SF", 13),
    ("极兔速递", "JTSD", "1116", "JT", 13),
];

#[derive(Debug, Clone)]
pub(crate) struct Line {
    pub sub_item_id: i64,
    pub sku: usize,
    pub price: Decimal,
    pub quantity: u32,
    /// `entryDiscount`, fen, taken off this line's amount.
    pub entry_discount_fen: i64,
    pub status: String,
    /// 1 not shipped, 2 shipped, 3 received.
    pub logistics_status: u8,
    /// Upper case, as 1688 writes item refund statuses.
    pub refund_status: Option<String>,
    pub modified: DateTime<Utc>,
}

impl Line {
    /// `itemAmount` = price × quantity − entryDiscount.
    pub(crate) fn amount(&self) -> Decimal {
        self.price * Decimal::from(self.quantity) - Decimal::new(self.entry_discount_fen, 2)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Parcel {
    pub id: i64,
    pub logistics_code: String,
    pub company_name: String,
    pub company_no: String,
    pub company_id: String,
    pub bill_no: String,
    pub sub_item_ids: Vec<i64>,
    pub sent: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub(crate) struct Order {
    pub id: i64,
    /// The doc sample writes `idOfStr` as a bare number although it is declared String.
    pub id_of_str_as_number: bool,
    pub seller: usize,
    pub address: usize,
    pub business_type: String,
    pub status: String,
    /// Lower case, as 1688 writes order refund statuses.
    pub refund_status: Option<String>,
    pub close_reason: Option<String>,
    pub created: DateTime<Utc>,
    pub modified: DateTime<Utc>,
    pub paid: Option<DateTime<Utc>>,
    pub all_delivered: Option<DateTime<Utc>>,
    pub received: Option<DateTime<Utc>>,
    pub completed: Option<DateTime<Utc>>,
    pub shipping_fee: Decimal,
    /// `discount`, fen; negative is money off.
    pub discount_fen: i64,
    pub refund: Option<Decimal>,
    pub alipay_trade_id: Option<String>,
    pub phase: i64,
    pub memo: Option<String>,
    pub lines: Vec<Line>,
    pub parcels: Vec<Parcel>,
    /// The offset its times are written in.
    pub offset: FixedOffset,
    /// `baseInfo.outOrderId`: set on orders placed through the create APIs with one.
    pub out_order_id: Option<String>,
    /// The address of an order placed through the API; `None` means `ADDRESSES[address]`.
    pub ship_to: Option<ShipTo>,
    /// `closeRemark`: the `remark` of `alibaba.trade.cancel`.
    pub close_remark: Option<String>,
}

impl Order {
    /// `sumProductPayment` = Σ itemAmount.
    pub(crate) fn sum_product_payment(&self) -> Decimal {
        self.lines.iter().map(Line::amount).sum()
    }

    /// `totalAmount` = sumProductPayment + shippingFee + discount.
    pub(crate) fn total_amount(&self) -> Decimal {
        self.sum_product_payment() + self.shipping_fee + Decimal::new(self.discount_fen, 2)
    }

    fn touch(&mut self, now: DateTime<Utc>) {
        self.modified = self.modified.max(now);
    }

    /// The receiving address.
    pub(crate) fn ship_to(&self) -> AddrRef<'_> {
        match &self.ship_to {
            Some(s) => AddrRef {
                province: &s.province,
                city: &s.city,
                area: &s.area,
                area_code: &s.area_code,
                town: &s.town,
                address: &s.address,
                contact: &s.contact,
                mobile: &s.mobile,
                zip: &s.zip,
            },
            None => ADDRESSES[self.address].view(),
        }
    }

    /// Moves every time of the order `by` into the past, as if it had all happened
    /// that much earlier.
    pub(crate) fn age(&mut self, by: ChronoDuration) {
        self.created -= by;
        self.modified -= by;
        for t in [
            &mut self.paid,
            &mut self.all_delivered,
            &mut self.received,
            &mut self.completed,
        ]
        .into_iter()
        .flatten()
        {
            *t -= by;
        }
        for line in &mut self.lines {
            line.modified -= by;
        }
        for parcel in &mut self.parcels {
            parcel.sent -= by;
        }
    }
}

/// How far along the 1688 status machine an order is; decides which times and
/// parcels exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Stage {
    Unpaid,
    Cancelled,
    Paid,
    Shipped,
    Received,
    Completed,
    Terminated,
}

pub(crate) fn stage_of(status: &str) -> Stage {
    match status {
        "cancel" => Stage::Cancelled,
        "waitsellersend" => Stage::Paid,
        "waitlogisticstakein" | "waitbuyerreceive" | "waitbuyersign" => Stage::Shipped,
        "signinsuccess" | "confirm_goods" => Stage::Received,
        "success" => Stage::Completed,
        "terminated" => Stage::Terminated,
        // waitbuyerpay, and unlisted values such as waitsellerconfirm (before payment).
        _ => Stage::Unpaid,
    }
}

/// `statusStr`: the Chinese label 1688 puts beside an item's status.
pub(crate) fn status_label(status: &str) -> &str {
    match status {
        "waitbuyerpay" => "等待买家付款",
        "waitsellerconfirm" => "等待卖家确认订单",
        "waitsellersend" => "等待卖家发货",
        "waitlogisticstakein" => "等待物流公司揽件",
        "waitbuyerreceive" => "等待买家确认收货",
        "waitbuyersign" => "等待买家签收",
        "signinsuccess" => "买家已签收",
        "confirm_goods" => "已收货",
        "success" => "交易成功",
        "cancel" => "交易关闭",
        "terminated" => "交易终止",
        other => other,
    }
}

/// Allocates 1688-style ids: 18–19 digits (above 2^53), unique, and sharing their last
/// six digits, as every id of one buyer does in the doc samples (D1 `…498520`, X7
/// `…135493`).
#[derive(Debug)]
pub(crate) struct Ids {
    suffix: i64,
    used: HashSet<i64>,
}

impl Ids {
    pub(crate) fn new(rng: &mut SplitMix64) -> Self {
        Ids {
            suffix: rng.range(100_000, 999_999),
            used: HashSet::new(),
        }
    }

    pub(crate) fn next(&mut self, rng: &mut SplitMix64) -> i64 {
        loop {
            let id = rng.range(150_000_000_000, 3_600_000_000_000) * 1_000_000 + self.suffix;
            if self.used.insert(id) {
                return id;
            }
        }
    }

    /// Claims an id a test chose; false if it is taken.
    pub(crate) fn claim(&mut self, id: i64) -> bool {
        self.used.insert(id)
    }
}

/// What an order is made of before its timeline is filled in.
pub(crate) struct Spec {
    pub id: Option<i64>,
    pub created: DateTime<Utc>,
    pub modified: Option<DateTime<Utc>>,
    pub status: String,
    /// (sku, quantity, price override)
    pub lines: Vec<(usize, u32, Option<Decimal>)>,
    pub entry_discounts: bool,
    pub shipping_fee: Decimal,
    pub discount_fen: i64,
    pub business_type: String,
    pub refund_status: Option<String>,
    pub memo: Option<String>,
    pub id_of_str_as_number: bool,
    pub address: usize,
    /// Ship only part of the lines of a paid order.
    pub partial_shipment: bool,
    /// Generated orders get random gaps between events, extra edits and close reasons;
    /// orders a test inserts get the shortest gaps and nothing extra.
    pub lively: bool,
    pub offset: FixedOffset,
}

/// A time `min_s..=max_s` seconds after `from`, but never after `limit` (the sandbox's
/// now) unless `from` already is. With `spread`, a gap also takes at most a random
/// part of the time left, so that later events still fit before `limit` instead of all
/// piling up on it.
fn after(
    rng: &mut SplitMix64,
    from: DateTime<Utc>,
    min_s: i64,
    max_s: i64,
    limit: DateTime<Utc>,
    spread: bool,
) -> DateTime<Utc> {
    let mut gap = rng.range(min_s, max_s);
    if spread {
        let left = (limit - from).num_seconds().max(0);
        gap = gap.min(left * rng.range(10, 60) / 100);
    }
    (from + ChronoDuration::seconds(gap)).min(limit).max(from)
}

fn bill_no(rng: &mut SplitMix64, carrier: usize) -> String {
    let (_, _, _, prefix, digits) = CARRIERS[carrier];
    format!("{prefix}{}", rng.digits(digits))
}

pub(crate) fn new_parcel(
    rng: &mut SplitMix64,
    sub_item_ids: Vec<i64>,
    sent: DateTime<Utc>,
    company: Option<&str>,
    bill: Option<&str>,
) -> Parcel {
    let carrier = match company {
        Some(name) => CARRIERS.iter().position(|c| c.0 == name || c.1 == name),
        None => Some(rng.index(CARRIERS.len())),
    };
    let (name, no, cid) = match carrier {
        Some(i) => (
            CARRIERS[i].0.to_owned(),
            CARRIERS[i].1.to_owned(),
            CARRIERS[i].2.to_owned(),
        ),
        None => (
            company.unwrap_or_default().to_owned(),
            "OTHER".to_owned(),
            "9999".to_owned(),
        ),
    };
    let bill_no = match bill {
        Some(b) => b.to_owned(),
        None => bill_no(rng, carrier.unwrap_or(0)),
    };
    Parcel {
        id: rng.range(100_000_000_000_000, 999_999_999_999_999),
        logistics_code: format!("BX{}", rng.digits(15)),
        company_name: name,
        company_no: no,
        company_id: cid,
        bill_no,
        sub_item_ids,
        sent,
    }
}

/// Turns a spec into an order whose times, parcels and item states fit its status.
/// Events fall between the creation time and `now`.
pub(crate) fn materialise(
    spec: Spec,
    catalogue: &Catalogue,
    ids: &mut Ids,
    rng: &mut SplitMix64,
    now: DateTime<Utc>,
) -> Order {
    assert!(!spec.lines.is_empty(), "a 1688 order has at least one line");
    let seller = catalogue.offer_of(spec.lines[0].0).seller;
    for (sku, _, _) in &spec.lines {
        assert_eq!(
            catalogue.offer_of(*sku).seller,
            seller,
            "a 1688 order has exactly one seller: offer {} belongs to another one",
            catalogue.offer_of(*sku).offer_id
        );
    }
    let id = match spec.id {
        Some(id) => {
            assert!(ids.claim(id), "order id {id} is already taken");
            id
        }
        None => ids.next(rng),
    };
    let created = spec.created;
    let limit = now.max(created);
    let single = spec.lines.len() == 1;
    let lines: Vec<Line> = spec
        .lines
        .iter()
        .map(|&(sku, quantity, price)| {
            let price = price.unwrap_or(catalogue.skus[sku].price);
            let gross_fen = (price * Decimal::from(quantity) * Decimal::ONE_HUNDRED)
                .trunc()
                .to_i64()
                .unwrap_or(i64::MAX);
            let entry_discount_fen = if spec.entry_discounts && gross_fen >= 100 && rng.chance(0.08)
            {
                rng.range(1, gross_fen / 5)
            } else {
                0
            };
            Line {
                // In the doc sample the only line of an order carries the order's own id.
                sub_item_id: if single { id } else { ids.next(rng) },
                sku,
                price,
                quantity,
                entry_discount_fen,
                status: spec.status.clone(),
                logistics_status: 1,
                refund_status: None,
                modified: created,
            }
        })
        .collect();
    let mut order = Order {
        id,
        id_of_str_as_number: spec.id_of_str_as_number,
        seller,
        address: spec.address,
        business_type: spec.business_type,
        status: spec.status.clone(),
        refund_status: spec.refund_status,
        close_reason: None,
        created,
        modified: created,
        paid: None,
        all_delivered: None,
        received: None,
        completed: None,
        shipping_fee: spec.shipping_fee,
        discount_fen: spec.discount_fen,
        refund: None,
        alipay_trade_id: None,
        phase: ids.next(rng),
        memo: spec.memo,
        lines,
        parcels: Vec::new(),
        offset: spec.offset,
        out_order_id: None,
        ship_to: None,
        close_remark: None,
    };
    // Keep the total payable: a discount can never take it below one fen.
    let floor = (-(order.sum_product_payment() + order.shipping_fee - Decimal::new(1, 2))
        * Decimal::ONE_HUNDRED)
        .ceil()
        .to_i64()
        .unwrap_or(0);
    order.discount_fen = order.discount_fen.max(floor);

    let stage = stage_of(&spec.status);
    let lively = spec.lively;
    let step = |rng: &mut SplitMix64, from, min_s, max_s| {
        after(
            rng,
            from,
            min_s,
            if lively { max_s } else { min_s },
            limit,
            lively,
        )
    };
    let mut t = created;
    match stage {
        Stage::Unpaid => {
            if lively && rng.chance(0.2) {
                // The seller changed the price before payment.
                t = step(rng, t, 60, 3 * 3600);
            }
        }
        Stage::Cancelled => {
            t = step(rng, t, 600, 2 * 86_400);
            order.close_reason = Some(if lively {
                rng.pick(&["buyerCancel", "BUYER_NO_PAY", "sellerGoodsLack", "other"])
                    .to_string()
            } else {
                "buyerCancel".to_owned()
            });
        }
        _ => {
            t = step(rng, t, 60, 8 * 3600);
            pay(&mut order, rng, t);
            if stage >= Stage::Shipped && stage != Stage::Terminated || spec.partial_shipment {
                let n = order.lines.len();
                let parcels = if spec.partial_shipment {
                    1
                } else if lively && n >= 2 && rng.chance(0.2) {
                    2
                } else {
                    1
                };
                let shipped = if spec.partial_shipment {
                    n.div_ceil(2)
                } else {
                    n
                };
                let per = shipped.div_ceil(parcels);
                for chunk in (0..shipped).collect::<Vec<_>>().chunks(per) {
                    t = step(rng, t, 1800, 30 * 3600);
                    ship(&mut order, rng, chunk, t, None, None);
                }
            }
            if stage >= Stage::Received && stage != Stage::Terminated {
                t = step(rng, t, 86_400, 3 * 86_400);
                order.received = Some(t);
                for line in &mut order.lines {
                    line.logistics_status = 3;
                    line.modified = t;
                }
            }
            if stage == Stage::Completed {
                t = step(rng, t, 0, 3600);
                order.completed = Some(t);
            }
            if stage == Stage::Terminated {
                t = step(rng, t, 3600, 2 * 86_400);
                order.refund_status = Some("refundsuccess".into());
                order.refund = Some(order.total_amount());
                for line in &mut order.lines {
                    line.refund_status = Some("REFUND_SUCCESS".into());
                    line.modified = t;
                }
            }
        }
    }
    if order.refund_status.as_deref() == Some("waitselleragree") {
        order.lines[0].refund_status = Some("WAIT_SELLER_AGREE".into());
        t = step(rng, t, 600, 86_400);
        order.lines[0].modified = t;
    }
    for line in &mut order.lines {
        // Shipped lines of a partly shipped order already wait for the buyer.
        if line.logistics_status != 2 {
            line.status = order.status.clone();
        }
    }
    order.modified = spec.modified.unwrap_or(t).max(created);
    order
}

fn alipay_trade_id(rng: &mut SplitMix64, t: DateTime<Utc>) -> String {
    format!(
        "{}22001{}",
        t.with_timezone(&china()).format("%Y%m%d"),
        rng.digits(15)
    )
}

fn pay(order: &mut Order, rng: &mut SplitMix64, t: DateTime<Utc>) {
    if order.paid.is_none() {
        order.paid = Some(t);
        order.alipay_trade_id = Some(alipay_trade_id(rng, t));
    }
}

/// Puts `lines` (indices) into one new parcel sent at `t`; the order is
/// `waitbuyerreceive` once every line is in a parcel.
fn ship(
    order: &mut Order,
    rng: &mut SplitMix64,
    lines: &[usize],
    t: DateTime<Utc>,
    company: Option<&str>,
    bill: Option<&str>,
) {
    let sub_ids = lines.iter().map(|&i| order.lines[i].sub_item_id).collect();
    order
        .parcels
        .push(new_parcel(rng, sub_ids, t, company, bill));
    for &i in lines {
        let line = &mut order.lines[i];
        line.logistics_status = 2;
        line.status = "waitbuyerreceive".into();
        line.modified = t;
    }
    if order.lines.iter().all(|l| l.logistics_status >= 2) {
        order.all_delivered = Some(t);
        if stage_of(&order.status) <= Stage::Paid {
            order.status = "waitbuyerreceive".into();
        }
    } else if stage_of(&order.status) < Stage::Paid {
        order.status = "waitsellersend".into();
    }
}

const QUANTITIES: &[u32] = &[1, 2, 3, 5, 6, 10, 12, 20, 24, 30, 50, 100, 200];
const QUANTITY_WEIGHTS: &[u32] = &[10, 8, 6, 8, 3, 10, 4, 8, 3, 5, 5, 3, 1];
const STATUSES: &[&str] = &[
    "waitbuyerpay",
    "waitsellersend",
    "waitbuyerreceive",
    "success",
    "cancel",
    "terminated",
    "waitsellerconfirm",
    "confirm_goods",
];
const STATUS_WEIGHTS: &[u32] = &[14, 25, 22, 18, 11, 3, 2, 5];
const SHIPPING_FEES: &[i64] = &[
    300, 450, 500, 600, 800, 1000, 1200, 1500, 1800, 2000, 2500, 3000,
];
const MEMOS: &[&str] = &[
    "请尽快发货，谢谢",
    "发韵达快递",
    "不要放发票和广告单",
    "纸箱加固，易碎品",
    "周末不收货",
];

/// Generates `count` orders created during the `days` days before `now`.
pub(crate) fn generate(
    count: usize,
    lines_per_order: Option<u32>,
    days: u32,
    now: DateTime<Utc>,
    catalogue: &Catalogue,
    ids: &mut Ids,
    rng: &mut SplitMix64,
) -> Vec<Order> {
    let span = i64::from(days.max(1)) * 86_400;
    let start = now - ChronoDuration::seconds(span);
    // Popular sellers get more orders.
    let seller_weights: Vec<u32> = catalogue
        .sellers
        .iter()
        .map(|_| rng.range(1, 6) as u32)
        .collect();
    let mut orders = Vec::with_capacity(count);
    for i in 0..count {
        let mut created = start + ChronoDuration::seconds(rng.range(1, span));
        if rng.chance(0.12) {
            // Orders around midnight China time test the day boundaries of a sync window.
            let day = now.with_timezone(&china()).date_naive()
                - ChronoDuration::days(rng.range(0, i64::from(days.max(1))));
            let midnight = china()
                .from_local_datetime(&day.and_time(NaiveTime::MIN))
                .single()
                .expect("+08:00 has no gaps")
                .with_timezone(&Utc);
            let candidate = midnight + ChronoDuration::seconds(rng.range(-900, 900));
            if candidate > start && candidate <= now {
                created = candidate;
            }
        }
        // The forced first few guarantee every status a client must handle.
        let status = match STATUSES.get(i) {
            Some(forced) => forced,
            None => STATUSES[rng.weighted(STATUS_WEIGHTS)],
        };

        let seller = rng.weighted(&seller_weights);
        let mut candidates: Vec<usize> = catalogue
            .offers
            .iter()
            .filter(|o| o.seller == seller)
            .flat_map(|o| o.skus.iter().copied())
            .collect();
        rng.shuffle(&mut candidates);
        let n_lines = match lines_per_order {
            Some(mean) => rng.range(1, 2 * i64::from(mean.max(1)) - 1) as usize,
            None => rng.weighted(&[35, 20, 15, 10, 8, 5, 4, 3]) + 1,
        }
        .min(candidates.len());
        let lines = candidates[..n_lines]
            .iter()
            .map(|&sku| (sku, QUANTITIES[rng.weighted(QUANTITY_WEIGHTS)], None))
            .collect();
        let shipping_fee = if rng.chance(0.45) {
            Decimal::ZERO
        } else {
            Decimal::new(*rng.pick(SHIPPING_FEES), 2)
        };
        let discount_fen = match rng.weighted(&[80, 17, 3]) {
            0 => 0,
            1 => -rng.range(1, 5000),
            _ => rng.range(100, 500),
        };
        // A trade rarely completes within hours of its creation.
        let status = if i >= STATUSES.len()
            && now - created < ChronoDuration::hours(6)
            && stage_of(status) >= Stage::Received
        {
            "waitsellersend"
        } else {
            status
        };
        let stage = stage_of(status);
        let refund_status =
            (stage == Stage::Paid && rng.chance(0.1)).then(|| "waitselleragree".to_owned());
        let business_type = match rng.weighted(&[94, 3, 2, 1]) {
            0 => "cn",
            1 => "ws",
            2 => "lst",
            _ => "cb",
        };
        let spec = Spec {
            id: None,
            created,
            modified: None,
            status: status.to_owned(),
            lines,
            entry_discounts: true,
            shipping_fee,
            discount_fen,
            business_type: business_type.to_owned(),
            refund_status,
            memo: rng.chance(0.15).then(|| rng.pick(MEMOS).to_string()),
            id_of_str_as_number: rng.chance(0.12),
            address: rng.weighted(&[6, 3, 1]),
            partial_shipment: stage == Stage::Paid && n_lines >= 2 && rng.chance(0.25),
            lively: true,
            offset: china(),
        };
        orders.push(materialise(spec, catalogue, ids, rng, now));
    }
    orders
}

/// An order a test adds with [`super::SandboxHandle::insert_order`]. Every field has a
/// default: created now, `waitbuyerpay`, one unit of the catalogue's first offer, no
/// shipping fee, no discount, times written in China time (`+0800`).
///
/// ```
/// # use sync1688::sandbox::NewOrder;
/// # let t = chrono::Utc::now();
/// let spec = NewOrder::created_at(t).with_offset_hours(-7).with_lines(3).with_status("waitsellersend");
/// ```
#[derive(Debug, Clone, Default)]
pub struct NewOrder {
    /// A chosen 1688 order id (it must be unused); by default a fresh 18–19 digit one.
    pub order_id: Option<i64>,
    /// The creation time; by default the sandbox's now.
    pub create_time: Option<DateTime<Utc>>,
    /// The last modification; by default the last event the status implies.
    pub modify_time: Option<DateTime<Utc>>,
    /// The offset this order's times are written in (the doc's buyerView sample uses
    /// `-0700`); by default `+0800`.
    pub offset: Option<FixedOffset>,
    /// 1688's status text, any value (unlisted ones too); by default `waitbuyerpay`.
    /// Paid, shipped and finished statuses get payment times and parcels to match.
    pub status: Option<String>,
    /// The lines; all must be offers of one seller. When empty, `line_count` lines
    /// (default 1) are taken from the first seller that has that many SKUs.
    pub lines: Vec<NewLine>,
    pub line_count: Option<usize>,
    /// Yuan; by default 0.
    pub shipping_fee: Option<Decimal>,
    /// Fen, negative for money off; by default 0.
    pub discount_fen: Option<i64>,
    /// `businessType`; by default `cn`.
    pub business_type: Option<String>,
    /// The order's (lower-case) `refundStatus`, e.g. `waitselleragree`.
    pub refund_status: Option<String>,
}

/// One line of a [`NewOrder`].
#[derive(Debug, Clone)]
pub struct NewLine {
    pub offer_id: i64,
    /// `""` for an offer without SKUs.
    pub spec_id: String,
    pub quantity: u32,
    /// The unit price in yuan; by default the catalogue's.
    pub price: Option<Decimal>,
}

impl NewOrder {
    /// An order with every default (created at the sandbox's now).
    pub fn new() -> Self {
        Self::default()
    }

    /// An order created at `t` (any time zone; only the instant matters).
    pub fn created_at<Tz: TimeZone>(t: DateTime<Tz>) -> Self {
        NewOrder {
            create_time: Some(t.with_timezone(&Utc)),
            ..Self::default()
        }
    }

    pub fn with_id(mut self, order_id: i64) -> Self {
        self.order_id = Some(order_id);
        self
    }

    pub fn with_modify_time<Tz: TimeZone>(mut self, t: DateTime<Tz>) -> Self {
        self.modify_time = Some(t.with_timezone(&Utc));
        self
    }

    /// Writes this order's times with a UTC offset of `hours` (e.g. `-7` for `-0700`).
    ///
    /// # Panics
    /// If `hours` is not a valid offset.
    pub fn with_offset_hours(mut self, hours: i32) -> Self {
        self.offset = Some(FixedOffset::east_opt(hours * 3600).expect("an offset within ±24 h"));
        self
    }

    pub fn with_status(mut self, status: impl Into<String>) -> Self {
        self.status = Some(status.into());
        self
    }

    /// Adds a line of `quantity` units of the offer's SKU `spec_id` (`""` if it has none).
    pub fn with_offer(mut self, offer_id: i64, spec_id: &str, quantity: u32) -> Self {
        self.lines.push(NewLine {
            offer_id,
            spec_id: spec_id.to_owned(),
            quantity,
            price: None,
        });
        self
    }

    /// `n` lines of catalogue SKUs from one seller, quantities 1, 2, 3, … (ignored when
    /// lines were added with [`NewOrder::with_offer`]).
    pub fn with_lines(mut self, n: usize) -> Self {
        self.line_count = Some(n);
        self
    }

    pub fn with_shipping_fee(mut self, yuan: Decimal) -> Self {
        self.shipping_fee = Some(yuan);
        self
    }

    pub fn with_discount_fen(mut self, fen: i64) -> Self {
        self.discount_fen = Some(fen);
        self
    }

    pub fn with_refund_status(mut self, status: impl Into<String>) -> Self {
        self.refund_status = Some(status.into());
        self
    }
}

/// A parcel for [`OrderChange::Ship`].
#[derive(Debug, Clone, Default)]
pub struct Shipment {
    /// Line indices (0-based, in `productItems` order); empty means every line not yet
    /// shipped.
    pub lines: Vec<usize>,
    /// A carrier name or code (`中通快递(ZTO)` or `ZTO`); by default a random one.
    pub company: Option<String>,
    /// The tracking number; by default a random one in the carrier's format.
    pub bill_no: Option<String>,
}

/// A change a test makes to an order, as the buyer or seller would on 1688. Every
/// change moves `modifyTime` to the sandbox's now.
#[derive(Debug, Clone)]
pub enum OrderChange {
    /// The buyer pays: `waitsellersend`.
    Pay,
    /// The seller ships some or all lines; all shipped makes it `waitbuyerreceive`.
    Ship(Shipment),
    /// The buyer confirms receipt and the trade completes: `success`.
    Complete,
    /// The order is closed before payment: `cancel` with `closeReason` `buyerCancel`.
    Cancel,
    /// A refund of everything ends the trade: `terminated`, `refundsuccess`.
    Terminate,
    /// Sets the order's and its items' status text and nothing else (any value, also
    /// unlisted ones).
    Status(String),
    /// Sets the order's `refundStatus` (lower case) or clears it.
    SetRefundStatus(Option<String>),
    /// The seller changes a line's unit price (line index, yuan).
    SetPrice { line: usize, price: Decimal },
    /// The quantity of a line changes.
    SetQuantity { line: usize, quantity: u32 },
    /// The seller changes the shipping fee (yuan).
    SetShippingFee(Decimal),
    /// The seller changes the order discount (fen, negative for money off).
    SetDiscount(i64),
    /// Only bumps `modifyTime`.
    Touch,
}

/// Applies a change at `now`.
pub(crate) fn apply(
    order: &mut Order,
    change: OrderChange,
    rng: &mut SplitMix64,
    now: DateTime<Utc>,
) {
    let now = now.max(order.modified);
    let (order_id, line_count) = (order.id, order.lines.len());
    let check_line = |line: usize| {
        assert!(line < line_count, "order {order_id} has no line {line}");
    };
    match change {
        OrderChange::Pay => {
            pay(order, rng, now);
            if stage_of(&order.status) < Stage::Paid {
                order.status = "waitsellersend".into();
            }
            for line in order.lines.iter_mut().filter(|l| l.logistics_status == 1) {
                line.status = "waitsellersend".into();
                line.modified = now;
            }
        }
        OrderChange::Ship(shipment) => {
            let lines: Vec<usize> = if shipment.lines.is_empty() {
                (0..order.lines.len())
                    .filter(|&i| order.lines[i].logistics_status == 1)
                    .collect()
            } else {
                shipment.lines.iter().for_each(|&l| check_line(l));
                shipment.lines.clone()
            };
            assert!(
                !lines.is_empty(),
                "order {} has no line left to ship",
                order.id
            );
            pay(order, rng, now);
            ship(
                order,
                rng,
                &lines,
                now,
                shipment.company.as_deref(),
                shipment.bill_no.as_deref(),
            );
        }
        OrderChange::Complete => {
            pay(order, rng, now);
            order.received.get_or_insert(now);
            order.completed = Some(now);
            order.status = "success".into();
            for line in &mut order.lines {
                line.status = "success".into();
                line.logistics_status = 3;
                line.modified = now;
            }
        }
        OrderChange::Cancel => {
            order.status = "cancel".into();
            order.close_reason = Some("buyerCancel".into());
            for line in &mut order.lines {
                line.status = "cancel".into();
                line.modified = now;
            }
        }
        OrderChange::Terminate => {
            order.status = "terminated".into();
            order.refund_status = Some("refundsuccess".into());
            order.refund = Some(order.total_amount());
            for line in &mut order.lines {
                line.status = "terminated".into();
                line.refund_status = Some("REFUND_SUCCESS".into());
                line.modified = now;
            }
        }
        OrderChange::Status(status) => {
            for line in &mut order.lines {
                line.status = status.clone();
                line.modified = now;
            }
            order.status = status;
        }
        OrderChange::SetRefundStatus(status) => order.refund_status = status,
        OrderChange::SetPrice { line, price } => {
            check_line(line);
            order.lines[line].price = price;
            order.lines[line].modified = now;
        }
        OrderChange::SetQuantity { line, quantity } => {
            check_line(line);
            order.lines[line].quantity = quantity;
            order.lines[line].modified = now;
        }
        OrderChange::SetShippingFee(fee) => order.shipping_fee = fee,
        OrderChange::SetDiscount(fen) => order.discount_fen = fen,
        OrderChange::Touch => {}
    }
    order.touch(now);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::catalogue;

    fn world(seed: u64) -> (Catalogue, Vec<Order>, DateTime<Utc>) {
        let now = DateTime::parse_from_rfc3339("2026-04-20T09:30:00+08:00")
            .unwrap()
            .with_timezone(&Utc);
        let mut rng = SplitMix64::new(seed);
        let c = catalogue::generate(&mut rng);
        let mut ids = Ids::new(&mut rng);
        let orders = generate(300, None, 3, now, &c, &mut ids, &mut rng);
        (c, orders, now)
    }

    #[test]
    fn generated_orders_keep_their_times_in_order_and_inside_the_window() {
        for seed in [1, 2, 1688] {
            let (_, orders, now) = world(seed);
            for o in &orders {
                assert!(o.created <= now && o.created > now - ChronoDuration::days(3));
                assert!(o.modified >= o.created, "order {}", o.id);
                assert!(o.modified <= now);
                for t in [o.paid, o.all_delivered, o.received, o.completed]
                    .into_iter()
                    .flatten()
                {
                    assert!(
                        t >= o.created && t <= o.modified,
                        "order {} event {t}",
                        o.id
                    );
                }
            }
        }
    }

    #[test]
    fn a_requested_mean_of_lines_per_order_is_met_and_the_default_mix_is_skewed() {
        let now = DateTime::parse_from_rfc3339("2026-04-20T09:30:00+08:00")
            .unwrap()
            .with_timezone(&Utc);
        let mean = |lines_per_order| {
            let mut rng = SplitMix64::new(5);
            let c = catalogue::generate(&mut rng);
            let mut ids = Ids::new(&mut rng);
            let orders = generate(2000, lines_per_order, 3, now, &c, &mut ids, &mut rng);
            orders.iter().map(|o| o.lines.len()).sum::<usize>() as f64 / orders.len() as f64
        };
        let five = mean(Some(5));
        assert!((4.3..=5.2).contains(&five), "mean {five}");
        let real = mean(None);
        assert!((2.3..=3.2).contains(&real), "mean {real}");
    }

    #[test]
    fn generated_money_adds_up_and_stays_payable() {
        let (_, orders, _) = world(7);
        for o in &orders {
            assert!(o.total_amount() >= Decimal::new(1, 2), "order {}", o.id);
            for l in &o.lines {
                assert!(l.amount() > Decimal::ZERO);
                assert!(l.amount().scale() <= 2);
            }
        }
        assert!(orders.iter().any(|o| o.discount_fen < 0));
        assert!(
            orders
                .iter()
                .any(|o| o.lines.iter().any(|l| l.entry_discount_fen > 0))
        );
    }

    #[test]
    fn generated_ids_are_unique_and_beyond_double_precision() {
        let (_, orders, _) = world(3);
        let mut seen = HashSet::new();
        for o in &orders {
            assert!(o.id > 1 << 53);
            assert!(seen.insert(o.id));
            for l in &o.lines {
                assert!(l.sub_item_id > 1 << 53);
                assert!(l.sub_item_id == o.id || seen.insert(l.sub_item_id));
            }
        }
    }

    #[test]
    fn the_status_mix_covers_what_a_client_must_handle() {
        let (_, orders, _) = world(11);
        for s in STATUSES {
            assert!(orders.iter().any(|o| o.status == *s), "no {s} order");
        }
        let shipped = orders.iter().filter(|o| o.status == "waitbuyerreceive");
        assert!(shipped.clone().all(|o| !o.parcels.is_empty()));
        assert!(
            orders
                .iter()
                .any(|o| o.status == "waitsellersend" && !o.parcels.is_empty()),
            "a partial shipment"
        );
        assert!(
            orders.iter().any(|o| o.parcels.len() >= 2),
            "an order in two parcels"
        );
        assert!(
            orders
                .iter()
                .filter(|o| stage_of(&o.status) <= Stage::Cancelled)
                .all(|o| o.paid.is_none())
        );
    }

    #[test]
    fn shipping_everything_then_completing_walks_the_status_machine() {
        let (c, mut orders, now) = world(5);
        let o = orders
            .iter_mut()
            .find(|o| o.status == "waitbuyerpay" && o.lines.len() >= 2)
            .unwrap();
        let mut rng = SplitMix64::new(0);
        apply(o, OrderChange::Pay, &mut rng, now);
        assert_eq!(o.status, "waitsellersend");
        apply(
            o,
            OrderChange::Ship(Shipment {
                lines: vec![0],
                ..Default::default()
            }),
            &mut rng,
            now,
        );
        assert_eq!(o.status, "waitsellersend");
        apply(o, OrderChange::Ship(Shipment::default()), &mut rng, now);
        assert_eq!(o.status, "waitbuyerreceive");
        assert_eq!(o.parcels.len(), 2);
        apply(
            o,
            OrderChange::Complete,
            &mut rng,
            now + ChronoDuration::hours(1),
        );
        assert_eq!(o.status, "success");
        assert_eq!(o.modified, now + ChronoDuration::hours(1));
        let _ = c;
    }
}
