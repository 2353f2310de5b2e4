//! Orders as the gateway writes them: `TradeInfo` JSON (1688-open-api.md §4.1, §4.2).
//!
//! Money is written from `rust_decimal` as exact JSON number text (the crate enables
//! `serde_json/arbitrary_precision`), so `39.9` never becomes `39.899999…`; ids are
//! JSON integers beyond 2^53, as the real API sends them.

use chrono::{DateTime, FixedOffset, Utc};
use rust_decimal::Decimal;
use serde_json::{Map, Number, Value, json};

use super::catalogue::Catalogue;
use super::orders::{BUYER, Order, Parcel, Stage, stage_of, status_label};
use crate::api1688::time::china;

/// Which variant of `TradeInfo` to write.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub(crate) struct View {
    /// `get.buyerView`: adds `nativeLogistics.logisticsItems` and always the full address.
    pub detail: bool,
    /// `needBuyerAddressAndPhone=true` on the list API.
    pub address_and_phone: bool,
    /// `needMemoInfo=true` on the list API.
    pub memo: bool,
}

/// A decimal as a JSON number with exactly its own digits (`39.9`, `0`, `12.35`).
pub(crate) fn money(d: Decimal) -> Value {
    let text = d.normalize().to_string();
    Value::Number(
        text.parse::<Number>()
            .expect("a decimal is a valid JSON number"),
    )
}

/// `yyyyMMddHHmmssSSS±hhmm` in the order's offset.
pub(crate) fn in_offset(dt: DateTime<Utc>, offset: FixedOffset) -> String {
    dt.with_timezone(&offset)
        .format("%Y%m%d%H%M%S%3f%z")
        .to_string()
}

/// `yyyy-MM-dd HH:mm:ss` in China time, the format of `gmtPayExpireTime`.
pub(crate) fn dashed(dt: DateTime<Utc>) -> String {
    dt.with_timezone(&china())
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

fn insert_some(map: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    if let Some(v) = value {
        map.insert(key.to_owned(), v);
    }
}

pub(crate) fn trade_info(o: &Order, c: &Catalogue, view: View) -> Value {
    let seller = &c.sellers[o.seller];
    let addr = o.ship_to();
    let full = view.detail || view.address_and_phone;
    let stage = stage_of(&o.status);
    let total = o.total_amount();
    let t = |dt: DateTime<Utc>| Value::String(in_offset(dt, o.offset));

    let mut base = Map::new();
    base.insert("id".into(), json!(o.id));
    base.insert(
        "idOfStr".into(),
        if o.id_of_str_as_number {
            json!(o.id)
        } else {
            json!(o.id.to_string())
        },
    );
    base.insert("buyerID".into(), json!(BUYER.member_id));
    base.insert("buyerLoginId".into(), json!(BUYER.login_id));
    base.insert("buyerUserId".into(), json!(BUYER.user_id));
    base.insert(
        "buyerContact".into(),
        json!({"name": addr.contact, "companyName": BUYER.company, "imInPlatform": BUYER.login_id}),
    );
    base.insert("sellerID".into(), json!(seller.member_id));
    base.insert("sellerLoginId".into(), json!(seller.login_id));
    base.insert("sellerUserId".into(), json!(seller.user_id));
    base.insert(
        "sellerContact".into(),
        json!({
            "companyName": seller.company,
            "shopName": seller.shop,
            "name": seller.contact,
            "phone": seller.phone,
            "mobile": seller.mobile,
            "imInPlatform": seller.login_id,
        }),
    );
    base.insert("status".into(), json!(o.status));
    base.insert("createTime".into(), t(o.created));
    base.insert("modifyTime".into(), t(o.modified));
    insert_some(&mut base, "payTime", o.paid.map(t));
    insert_some(&mut base, "allDeliveredTime", o.all_delivered.map(t));
    insert_some(&mut base, "receivingTime", o.received.map(t));
    insert_some(&mut base, "completeTime", o.completed.map(t));
    base.insert("totalAmount".into(), money(total));
    base.insert("sumProductPayment".into(), money(o.sum_product_payment()));
    base.insert("shippingFee".into(), money(o.shipping_fee));
    base.insert("discount".into(), json!(o.discount_fen));
    insert_some(&mut base, "refund", o.refund.map(money));
    insert_some(
        &mut base,
        "refundStatus",
        o.refund_status.as_ref().map(|s| json!(s)),
    );
    if o.status == "cancel" {
        insert_some(
            &mut base,
            "closeReason",
            o.close_reason.as_ref().map(|s| json!(s)),
        );
        base.insert("closeOperateType".into(), json!("CLOSE_TRADE_BY_BUYER"));
        insert_some(
            &mut base,
            "closeRemark",
            o.close_remark.as_ref().map(|s| json!(s)),
        );
    }
    base.insert("tradeType".into(), json!("50060"));
    base.insert("businessType".into(), json!(o.business_type));
    base.insert(
        "alipayTradeId".into(),
        json!(o.alipay_trade_id.as_deref().unwrap_or("UNCREAT")),
    );
    base.insert("overSeaOrder".into(), json!(false));
    base.insert("sellerOrder".into(), json!(false));
    base.insert("stepPayAll".into(), json!(false));
    insert_some(
        &mut base,
        "outOrderId",
        o.out_order_id.as_ref().map(|s| json!(s)),
    );
    let mut receiver = Map::new();
    receiver.insert("toFullName".into(), json!(addr.contact));
    receiver.insert("toDivisionCode".into(), json!(addr.area_code));
    receiver.insert("toPost".into(), json!(addr.zip));
    if full {
        receiver.insert("toMobile".into(), json!(addr.mobile));
        receiver.insert(
            "toArea".into(),
            json!(format!(
                "{} {} {} {}",
                addr.province, addr.city, addr.area, addr.address
            )),
        );
    }
    base.insert("receiverInfo".into(), Value::Object(receiver));
    if view.detail || view.memo {
        insert_some(&mut base, "buyerMemo", o.memo.as_ref().map(|s| json!(s)));
    }

    let items: Vec<Value> = o
        .lines
        .iter()
        .map(|line| {
            let sku = &c.skus[line.sku];
            let offer = c.offer_of(line.sku);
            let mut item = Map::new();
            item.insert("subItemID".into(), json!(line.sub_item_id));
            item.insert(
                "subItemIDString".into(),
                json!(line.sub_item_id.to_string()),
            );
            item.insert("productID".into(), json!(offer.offer_id));
            insert_some(&mut item, "skuID", sku.sku_id.map(|id| json!(id)));
            insert_some(&mut item, "specId", sku.spec_id.as_ref().map(|s| json!(s)));
            item.insert("name".into(), json!(offer.title));
            if !sku.attributes.is_empty() {
                item.insert(
                    "skuInfos".into(),
                    Value::Array(
                        sku.attributes
                            .iter()
                            .map(|(n, v)| json!({"name": n, "value": v}))
                            .collect(),
                    ),
                );
            }
            item.insert("price".into(), money(line.price));
            item.insert("itemAmount".into(), money(line.amount()));
            item.insert("quantity".into(), json!(line.quantity));
            item.insert("quantityFactor".into(), json!(1));
            item.insert("entryDiscount".into(), json!(line.entry_discount_fen));
            item.insert("unit".into(), json!(offer.unit));
            item.insert("type".into(), json!("common"));
            item.insert("cargoNumber".into(), json!(sku.cargo_number));
            item.insert("status".into(), json!(line.status));
            item.insert("statusStr".into(), json!(status_label(&line.status)));
            item.insert("logisticsStatus".into(), json!(line.logistics_status));
            insert_some(
                &mut item,
                "refundStatus",
                line.refund_status.as_ref().map(|s| json!(s)),
            );
            item.insert("productImgUrl".into(), json!(c.image_urls(line.sku)));
            item.insert(
                "productSnapshotUrl".into(),
                json!(format!(
                    "https://trade.1688.com/order/offer_snapshot.htm?order_entry_id={}",
                    line.sub_item_id
                )),
            );
            item.insert("gmtCreate".into(), t(o.created));
            item.insert("gmtModified".into(), t(line.modified));
            if let Some(done) = o.completed {
                item.insert("gmtCompleted".into(), t(done));
            }
            item.insert(
                "gmtPayExpireTime".into(),
                json!(dashed(o.created + chrono::Duration::days(3))),
            );
            Value::Object(item)
        })
        .collect();

    let mut logistics = Map::new();
    logistics.insert("province".into(), json!(addr.province));
    logistics.insert("city".into(), json!(addr.city));
    logistics.insert("area".into(), json!(addr.area));
    logistics.insert("areaCode".into(), json!(addr.area_code));
    logistics.insert("town".into(), json!(addr.town));
    logistics.insert("contactPerson".into(), json!(addr.contact));
    logistics.insert("zip".into(), json!(addr.zip));
    if full {
        logistics.insert("address".into(), json!(addr.address));
        logistics.insert("mobile".into(), json!(addr.mobile));
    }
    if view.detail && !o.parcels.is_empty() {
        logistics.insert(
            "logisticsItems".into(),
            Value::Array(o.parcels.iter().map(|p| logistics_item(o, c, p)).collect()),
        );
    }

    let pay_status = match stage {
        Stage::Unpaid => "1",
        Stage::Cancelled => "8",
        Stage::Terminated => "4",
        _ => "2",
    };
    let mut term = Map::new();
    term.insert("payStatus".into(), json!(pay_status));
    term.insert("payWay".into(), json!("1"));
    term.insert("payWayDesc".into(), json!("支付宝"));
    term.insert("phasAmount".into(), money(total));
    term.insert("phase".into(), json!(o.phase));
    term.insert("cardPay".into(), json!(false));
    term.insert("expressPay".into(), json!(false));
    insert_some(&mut term, "payTime", o.paid.map(t));

    let rated = if stage == Stage::Completed && o.id % 3 == 0 {
        4
    } else {
        5
    };
    json!({
        "baseInfo": Value::Object(base),
        "productItems": items,
        "nativeLogistics": Value::Object(logistics),
        "tradeTerms": [Value::Object(term)],
        "orderRateInfo": {"buyerRateStatus": rated, "sellerRateStatus": 5},
    })
}

fn logistics_item(o: &Order, c: &Catalogue, p: &Parcel) -> Value {
    let seller = &c.sellers[o.seller];
    let addr = o.ship_to();
    json!({
        "id": p.id,
        "logisticsCode": p.logistics_code,
        "type": "0",
        "status": "alreadysend",
        "logisticsCompanyId": p.company_id,
        "logisticsCompanyNo": p.company_no,
        "logisticsCompanyName": p.company_name,
        "logisticsBillNo": p.bill_no,
        "subItemIds": p.sub_item_ids.iter().map(i64::to_string).collect::<Vec<_>>().join(","),
        "deliveredTime": in_offset(p.sent, o.offset),
        "gmtCreate": in_offset(p.sent, o.offset),
        "gmtModified": in_offset(p.sent, o.offset),
        "fromProvince": seller.province,
        "fromCity": seller.city,
        "fromArea": seller.area,
        "fromAddress": seller.address,
        "fromPhone": seller.phone,
        "fromMobile": seller.mobile,
        "toProvince": addr.province,
        "toCity": addr.city,
        "toArea": addr.area,
        "toAddress": addr.address,
        "toMobile": addr.mobile,
        "toPost": addr.zip,
    })
}

/// `getLogisticsInfos.buyerView` entries (§5): one per parcel, with the goods in it.
pub(crate) fn logistics_order(o: &Order, c: &Catalogue, p: &Parcel) -> Value {
    let seller = &c.sellers[o.seller];
    let addr = o.ship_to();
    let goods: Vec<Value> = o
        .lines
        .iter()
        .filter(|l| p.sub_item_ids.contains(&l.sub_item_id))
        .map(|l| {
            let offer = c.offer_of(l.sku);
            json!({
                "logisticsId": p.logistics_code,
                "tradeOrderId": o.id,
                "tradeOrderItemId": l.sub_item_id,
                "description": offer.title,
                "productName": offer.title,
                "quantity": l.quantity,
                "unit": offer.unit,
            })
        })
        .collect();
    let status = if o.received.is_some() {
        "SIGN"
    } else {
        "TRANSPORT"
    };
    json!({
        "logisticsId": p.logistics_code,
        "logisticsBillNo": p.bill_no,
        "logisticsCompanyId": p.company_id,
        "logisticsCompanyName": p.company_name,
        "logisticsCompanyNo": p.company_no,
        "status": status,
        "orderEntryIds": p.sub_item_ids.iter().map(i64::to_string).collect::<Vec<_>>().join(","),
        "gmtSystemSend": in_offset(p.sent, o.offset),
        "sendGoods": goods.iter().map(|g| json!({"goodName": g["productName"], "quantity": g["quantity"], "unit": g["unit"]})).collect::<Vec<_>>(),
        "logisticsOrderGoods": goods,
        "receiver": {
            "receiverName": addr.contact,
            "receiverMobile": addr.mobile,
            "receiverProvince": addr.province,
            "receiverCity": addr.city,
            "receiverCounty": addr.area,
            "receiverAddress": addr.address,
        },
        "sender": {
            "senderName": seller.contact,
            "senderMobile": seller.mobile,
            "senderProvince": seller.province,
            "senderCity": seller.city,
            "senderCounty": seller.area,
            "senderAddress": seller.address,
        },
    })
}

/// Hours after a parcel is sent at which its carrier reports the transit steps.
const TRACE_HOURS: [i64; 5] = [2, 10, 14, 30, 40];

/// A `getLogisticsTraceInfo.buyerView` entry (§5): the parcel's carrier steps up to
/// `now`, oldest first; a received order ends with the signature, and no transit step
/// comes after it.
pub(crate) fn logistics_trace(o: &Order, c: &Catalogue, p: &Parcel, now: DateTime<Utc>) -> Value {
    let seller = &c.sellers[o.seller];
    let addr = o.ship_to();
    let remarks = [
        format!("【{}】{} 已揽收", seller.area, p.company_name),
        format!("快件已到达【{}转运中心】", seller.city),
        format!(
            "快件已从【{}转运中心】发出，正在发往【{}转运中心】",
            seller.city, addr.city
        ),
        format!("快件已到达【{}转运中心】", addr.city),
        format!("【{}】派件员正在为您派件，请保持电话畅通", addr.area),
    ];
    let end = o.received.map_or(now, |r| r.min(now));
    let mut steps = vec![json!({"acceptTime": dashed(p.sent), "remark": "卖家已发货"})];
    for (hours, remark) in TRACE_HOURS.iter().zip(remarks) {
        let at = p.sent + chrono::Duration::hours(*hours);
        if at <= end && (o.received.is_none() || Some(at) < o.received) {
            steps.push(json!({"acceptTime": dashed(at), "remark": remark}));
        }
    }
    if let Some(received) = o.received.filter(|r| *r <= now) {
        steps.push(json!({
            "acceptTime": dashed(received.max(p.sent)),
            "remark": format!("已签收，签收人：{}，感谢使用{}", addr.contact, p.company_name),
        }));
    }
    json!({
        "logisticsId": p.logistics_code,
        "orderId": o.id,
        "logisticsBillNo": p.bill_no,
        "logisticsSteps": steps,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_written_with_its_own_digits() {
        let v = money(Decimal::new(3990, 2));
        assert_eq!(serde_json::to_string(&v).unwrap(), "39.9");
        assert_eq!(serde_json::to_string(&money(Decimal::ZERO)).unwrap(), "0");
        assert_eq!(
            serde_json::to_string(&money(Decimal::new(1, 2))).unwrap(),
            "0.01"
        );
        assert_eq!(
            serde_json::to_string(&money(Decimal::new(-3989, 2))).unwrap(),
            "-39.89"
        );
    }

    #[test]
    fn dashed_times_are_china_time() {
        let t = DateTime::parse_from_rfc3339("2026-04-17T16:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(dashed(t), "2026-04-18 00:00:00");
    }
}
