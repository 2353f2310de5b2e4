//! Reading 1688's `TradeInfo` (getBuyerOrderList items and get.buyerView results) into
//! [`Order1688`]. Lenient where 1688 is inconsistent, strict where a guess would corrupt
//! data: an order without a usable id or creation time is an error, not a default.

use rust_decimal::Decimal;
use serde_json::Value;

use super::json;
use super::time::parse_1688;
use crate::domain::{Line1688, Order1688, SupplierRef};

/// An order of a page that cannot be read. The rest of the page still can.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("order {}: {field}: {problem}", order_id.map(|id| id.to_string()).unwrap_or_else(|| "(no id)".into()))]
pub struct OrderParseError {
    pub order_id: Option<i64>,
    pub field: String,
    pub problem: String,
}

/// One page of `getBuyerOrderList`.
#[derive(Debug)]
pub struct OrderListPage {
    /// Every item of `result`, read or not.
    pub orders: Vec<Result<Order1688, OrderParseError>>,
    /// `totalRecord`, when 1688 sent it.
    pub total_record: Option<u64>,
}

impl OrderListPage {
    /// Reads a `getBuyerOrderList` body. A missing `result` is an empty page (1688 omits
    /// it past the last page); a `result` that is not a list is malformed.
    pub fn from_body(body: &Value) -> Result<Self, String> {
        let total_record = body.get("totalRecord").and_then(json::id).map(|n| n as u64);
        let items = match body.get("result") {
            None | Some(Value::Null) => &[][..],
            Some(Value::Array(items)) => items.as_slice(),
            Some(_) => return Err("`result` is not a list".into()),
        };
        Ok(OrderListPage {
            orders: items.iter().map(parse_trade_info).collect(),
            total_record,
        })
    }
}

/// Reads one `TradeInfo`.
pub fn parse_trade_info(trade: &Value) -> Result<Order1688, OrderParseError> {
    let base = trade
        .get("baseInfo")
        .filter(|b| b.is_object())
        .ok_or_else(|| OrderParseError {
            order_id: None,
            field: "baseInfo".into(),
            problem: "missing".into(),
        })?;
    // `id` has been seen damaged by a float conversion while `idOfStr` was intact.
    let order_id = base
        .get("idOfStr")
        .and_then(json::id)
        .or_else(|| base.get("id").and_then(json::id))
        .ok_or_else(|| OrderParseError {
            order_id: None,
            field: "baseInfo.id".into(),
            problem: "missing or not a 64-bit integer".into(),
        })?;
    let err = |field: &str, problem: String| OrderParseError {
        order_id: Some(order_id),
        field: field.to_owned(),
        problem,
    };
    let status =
        json::field_text(base, "status").ok_or_else(|| err("baseInfo.status", "missing".into()))?;
    let created_at = time_field(base, "createTime").map_err(|p| err("baseInfo.createTime", p))?;
    let created_at = created_at.ok_or_else(|| err("baseInfo.createTime", "missing".into()))?;
    let modified_at = time_field(base, "modifyTime").map_err(|p| err("baseInfo.modifyTime", p))?;
    let money = |key: &str| -> Result<Option<Decimal>, OrderParseError> {
        match base.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => json::decimal(v).map(Some).ok_or_else(|| {
                err(
                    &format!("baseInfo.{key}"),
                    format!("`{v}` is not an amount"),
                )
            }),
        }
    };
    let shipping_fee = money("shippingFee")?.unwrap_or_default();
    // `discount` is in fen, unlike every other amount of the order.
    let discount = money("discount")?
        .map(|fen| fen / Decimal::ONE_HUNDRED)
        .unwrap_or_default();

    let items = match trade.get("productItems") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(items)) => items.as_slice(),
        Some(_) => return Err(err("productItems", "not a list".into())),
    };
    let lines = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            parse_line(item, i)
                .map_err(|(field, problem)| err(&format!("productItems[{i}].{field}"), problem))
        })
        .collect::<Result<Vec<_>, _>>()?;

    // Amounts near `Decimal`'s limit are nonsense, but adding them must not panic.
    let out_of_range = |field: &str, what: &str| err(field, format!("{what} is out of range"));
    let goods_amount = match money("sumProductPayment")? {
        Some(v) => v,
        None => lines
            .iter()
            .try_fold(Decimal::ZERO, |sum, l| sum.checked_add(l.amount))
            .ok_or_else(|| out_of_range("baseInfo.sumProductPayment", "the lines' sum"))?,
    };
    let total_amount = match money("totalAmount")? {
        Some(v) => v,
        None => goods_amount
            .checked_add(shipping_fee)
            .and_then(|t| t.checked_add(discount))
            .ok_or_else(|| out_of_range("baseInfo.totalAmount", "goods + shipping + discount"))?,
    };

    let supplier = json::field_text(base, "sellerLoginId").map(|login_id| {
        let contact = base.get("sellerContact");
        let name = contact.and_then(|c| {
            json::field_text(c, "companyName").or_else(|| json::field_text(c, "shopName"))
        });
        SupplierRef {
            login_id,
            member_id: json::field_text(base, "sellerID"),
            name,
        }
    });

    Ok(Order1688 {
        order_id,
        status,
        supplier,
        currency: "CNY".into(),
        goods_amount,
        shipping_fee,
        discount,
        total_amount,
        created_at,
        modified_at,
        out_order_id: json::field_text(base, "outOrderId"),
        lines,
    })
}

fn time_field(obj: &Value, key: &str) -> Result<Option<chrono::DateTime<chrono::Utc>>, String> {
    match obj.get(key).and_then(json::text) {
        None => Ok(None),
        Some(s) if s.trim().is_empty() => Ok(None),
        Some(s) => parse_1688(&s).map(Some).map_err(|e| e.to_string()),
    }
}

fn parse_line(item: &Value, index: usize) -> Result<Line1688, (String, String)> {
    let e = |field: &str, problem: &str| (field.to_owned(), problem.to_owned());
    let sub_item_id = item
        .get("subItemIDString")
        .and_then(json::id)
        .or_else(|| item.get("subItemID").and_then(json::id))
        // 1688 always sends one in practice; a stable stand-in keeps the line addressable.
        .unwrap_or(-(index as i64 + 1));
    let offer_id = item
        .get("productID")
        .and_then(json::id)
        .ok_or_else(|| e("productID", "missing or not a 64-bit integer"))?;
    let quantity = item
        .get("quantity")
        .and_then(json::decimal)
        .ok_or_else(|| e("quantity", "missing or not a number"))?;
    let unit_price = match item.get("price") {
        None | Some(Value::Null) => None,
        Some(v) => Some(json::decimal(v).ok_or_else(|| e("price", "not an amount"))?),
    };
    let amount = match item.get("itemAmount") {
        None | Some(Value::Null) => None,
        Some(v) => Some(json::decimal(v).ok_or_else(|| e("itemAmount", "not an amount"))?),
    };
    let (unit_price, amount) = match (unit_price, amount) {
        (Some(p), Some(a)) => (p, a),
        (Some(p), None) => {
            let amount = p
                .checked_mul(quantity)
                .ok_or_else(|| e("price", "price × quantity is out of range"))?;
            (p, amount)
        }
        (None, Some(a)) if !quantity.is_zero() => {
            let price = a
                .checked_div(quantity)
                .ok_or_else(|| e("itemAmount", "itemAmount ÷ quantity is out of range"))?;
            (price.round_dp(4), a)
        }
        _ => return Err(e("price", "neither price nor itemAmount given")),
    };
    let attributes = item
        .get("skuInfos")
        .and_then(Value::as_array)
        .map(|infos| {
            infos
                .iter()
                .filter_map(|info| {
                    let name = json::field_text(info, "name")?;
                    let value = json::field_text(info, "value").unwrap_or_default();
                    Some(format!("{name}:{value}"))
                })
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default();
    Ok(Line1688 {
        sub_item_id,
        offer_id,
        spec_id: json::field_text(item, "specId").unwrap_or_default(),
        sku_id: item.get("skuID").and_then(json::id),
        title: json::field_text(item, "name").unwrap_or_default(),
        attributes,
        unit: json::field_text(item, "unit"),
        quantity,
        unit_price,
        amount,
        status: json::field_text(item, "status"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The documented example of getBuyerOrderList, trimmed (1688-open-api.md §4.1).
    const DOC_SAMPLE: &str = r#"{"result":[{"baseInfo":{"businessType":"cn","buyerID":"b2b-1623492085",
        "createTime":"20180801104333000+0800","id":196965465451498520,"idOfStr":196965465451498520,
        "modifyTime":"20180806104425000+0800","status":"cancel","totalAmount":0.01,"sumProductPayment":39.9,
        "shippingFee":0,"discount":-3989,"tradeType":"50060","sellerLoginId":"alitestforisv04","closeReason":"BUYER_NO_PAY"},
        "nativeLogistics":{"area":"义乌市","areaCode":"330782","city":"金华市","contactPerson":"洪帮","province":"浙江省","zip":"322000"},
        "productItems":[{"itemAmount":0.01,"name":"女装","price":39.9,"productID":574273466269,"quantity":1,"skuID":3753684468637,
        "specId":"7a2087a6594c7d6030d8ff5c42c8a2e8","status":"cancel","subItemID":196965465451498520,"unit":"件",
        "skuInfos":[{"name":"颜色","value":"深灰色"},{"name":"尺码","value":"3XL"}],"logisticsStatus":1}],
        "tradeTerms":[{"payStatus":"8","payWay":"1","phasAmount":0.01,"phase":2960551254498520}],
        "orderRateInfo":{"buyerRateStatus":5,"sellerRateStatus":5}}],"totalRecord":537}"#;

    #[test]
    fn the_documented_sample_reads_exactly() {
        let body: Value = serde_json::from_str(DOC_SAMPLE).unwrap();
        let page = OrderListPage::from_body(&body).unwrap();
        assert_eq!(page.total_record, Some(537));
        let order = page.orders[0].as_ref().unwrap();
        assert_eq!(order.order_id, 196_965_465_451_498_520);
        assert_eq!(order.status, "cancel");
        assert_eq!(order.discount.to_string(), "-39.89");
        assert_eq!(order.goods_amount.to_string(), "39.9");
        assert_eq!(order.total_amount.to_string(), "0.01");
        assert_eq!(order.created_at.to_rfc3339(), "2018-08-01T02:43:33+00:00");
        assert_eq!(order.supplier.as_ref().unwrap().login_id, "alitestforisv04");
        let line = &order.lines[0];
        assert_eq!(line.attributes, "颜色:深灰色; 尺码:3XL");
        assert_eq!(line.spec_id, "7a2087a6594c7d6030d8ff5c42c8a2e8");
        assert_eq!(line.sku_id, Some(3_753_684_468_637));
    }

    #[test]
    fn id_of_str_wins_over_a_float_damaged_id() {
        let body: Value = serde_json::from_str(
            r#"{"baseInfo":{"id":58218860983545944,"idOfStr":"58218860983545941","status":"x","createTime":"20180801104333000+0800"}}"#,
        )
        .unwrap();
        assert_eq!(
            parse_trade_info(&body).unwrap().order_id,
            58_218_860_983_545_941
        );
    }

    #[test]
    fn unknown_fields_and_statuses_are_kept_or_ignored_and_optional_ones_may_be_missing() {
        let body: Value = serde_json::from_str(
            r#"{"baseInfo":{"id":"1","status":"waitsellerconfirm","createTime":"20180801104333000-0700","brandNew":{"x":1}},
                "productItems":[{"productID":"7","quantity":"2","price":"1.50"}]}"#,
        )
        .unwrap();
        let order = parse_trade_info(&body).unwrap();
        assert_eq!(order.status, "waitsellerconfirm");
        assert_eq!(order.created_at.to_rfc3339(), "2018-08-01T17:43:33+00:00");
        assert!(order.supplier.is_none());
        assert_eq!(order.lines[0].amount.to_string(), "3.00");
        assert_eq!(order.lines[0].spec_id, "");
        assert_eq!(order.lines[0].sub_item_id, -1);
        assert_eq!(order.goods_amount.to_string(), "3.00");
    }

    #[test]
    fn a_bad_field_names_the_order_and_the_field() {
        let body: Value = serde_json::from_str(
            r#"{"baseInfo":{"id":"42","status":"x","createTime":"yesterday"}}"#,
        )
        .unwrap();
        let err = parse_trade_info(&body).unwrap_err().to_string();
        assert!(err.starts_with("order 42: baseInfo.createTime"), "{err}");
        let body: Value = serde_json::from_str(
            r#"{"baseInfo":{"id":"42","status":"x","createTime":"20180801104333000+0800"},"productItems":[{"productID":1,"quantity":"lots","price":1}]}"#,
        )
        .unwrap();
        let err = parse_trade_info(&body).unwrap_err().to_string();
        assert!(err.contains("productItems[0].quantity"), "{err}");
    }

    #[test]
    fn amounts_past_decimals_range_are_an_error_not_a_panic() {
        const MAX: &str = "79228162514264337593543950335";
        let order = |base: &str, item: &str| -> Value {
            serde_json::from_str(&format!(
                r#"{{"baseInfo":{{"id":"42","status":"x","createTime":"20180801104333000+0800"{base}}},
                    "productItems":[{{"productID":1,{item}}}]}}"#
            ))
            .unwrap()
        };
        let cases = [
            (
                order("", &format!(r#""quantity":2,"price":{MAX}"#)),
                "productItems[0].price",
            ),
            (
                order("", &format!(r#""quantity":1e-28,"itemAmount":{MAX}"#)),
                "productItems[0].itemAmount",
            ),
            (
                order(
                    &format!(r#","shippingFee":{MAX}"#),
                    &format!(r#""quantity":1,"price":1,"itemAmount":{MAX}"#),
                ),
                "baseInfo.totalAmount",
            ),
        ];
        for (body, field) in cases {
            let err = parse_trade_info(&body).unwrap_err();
            assert_eq!(err.field, field, "{err}");
            assert!(err.problem.contains("out of range"), "{err}");
        }
        let two_lines: Value = serde_json::from_str(&format!(
            r#"{{"baseInfo":{{"id":"42","status":"x","createTime":"20180801104333000+0800"}},
                "productItems":[{{"productID":1,"quantity":1,"price":1,"itemAmount":{MAX}}},
                                {{"productID":2,"quantity":1,"price":1,"itemAmount":{MAX}}}]}}"#
        ))
        .unwrap();
        let err = parse_trade_info(&two_lines).unwrap_err();
        assert_eq!(err.field, "baseInfo.sumProductPayment", "{err}");
    }

    #[test]
    fn a_page_past_the_end_may_omit_result() {
        let body: Value = serde_json::from_str(r#"{"totalRecord":"0"}"#).unwrap();
        let page = OrderListPage::from_body(&body).unwrap();
        assert!(page.orders.is_empty());
        assert_eq!(page.total_record, Some(0));
        let body: Value = serde_json::from_str(r#"{"result":"oops"}"#).unwrap();
        assert!(OrderListPage::from_body(&body).is_err());
    }
}
