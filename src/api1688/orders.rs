//! Reading 1688's `TradeInfo` (getBuyerOrderList items and get.buyerView results) into
//! [`Order1688`]. Lenient where 1688 is inconsistent, strict where a guess would corrupt
//! data: an order without a usable id or creation time is an error, not a default.

use rust_decimal::Decimal;

use super::json::{self, JsonRef, Kind};
use super::time::parse_1688;
use crate::domain::{Line1688, Order1688, RawHash, SupplierRef};

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
    /// Every item of `result`, read or not; none when every one was known.
    pub orders: Vec<Result<Order1688, OrderParseError>>,
    /// The fingerprint of each of `orders`, when the page was scanned for them (see
    /// [`super::page_scan`]); empty otherwise.
    pub raw_hashes: Vec<RawHash>,
    /// The 1688 order ids of the page's orders, when the store held every one of them as
    /// 1688 sent it: they were not read.
    pub known: Vec<i64>,
    /// `totalRecord`, when 1688 sent it.
    pub total_record: Option<u64>,
}

impl OrderListPage {
    /// How many items the page had, read or known: what `totalRecord` counts.
    pub fn items(&self) -> usize {
        self.orders.len() + self.known.len()
    }

    /// Reads a `getBuyerOrderList` body. A missing `result` is an empty page (1688 omits
    /// it past the last page); a `result` that is not a list is malformed.
    pub fn from_body<'v>(body: impl JsonRef<'v>) -> Result<Self, String> {
        let total_record = body.get("totalRecord").and_then(json::id).map(|n| n as u64);
        let items = json::optional_list(body.get("result")).ok_or("`result` is not a list")?;
        Ok(OrderListPage {
            orders: items.map(parse_trade_info).collect(),
            raw_hashes: Vec::new(),
            known: Vec::new(),
            total_record,
        })
    }
}

/// Reads one `TradeInfo`.
pub fn parse_trade_info<'v>(trade: impl JsonRef<'v>) -> Result<Order1688, OrderParseError> {
    let base = trade
        .get("baseInfo")
        .filter(|b| b.kind() == Kind::Object)
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
        match base.get(key).filter(|v| !v.is_null()) {
            None => Ok(None),
            Some(v) => json::decimal(v).map(Some).ok_or_else(|| {
                err(
                    &format!("baseInfo.{key}"),
                    format!("`{}` is not an amount", v.to_value()),
                )
            }),
        }
    };
    let shipping_fee = money("shippingFee")?.unwrap_or_default();
    // `discount` is in fen, unlike every other amount of the order.
    let discount = money("discount")?
        .map(|fen| fen / Decimal::ONE_HUNDRED)
        .unwrap_or_default();

    let items = json::optional_list(trade.get("productItems"))
        .ok_or_else(|| err("productItems", "not a list".into()))?;
    let lines = items
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

fn time_field<'v>(
    obj: impl JsonRef<'v>,
    key: &str,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, String> {
    match obj.get(key).and_then(json::text_str) {
        None => Ok(None),
        Some(s) if s.trim().is_empty() => Ok(None),
        Some(s) => parse_1688(s).map(Some).map_err(|e| e.to_string()),
    }
}

fn parse_line<'v>(item: impl JsonRef<'v>, index: usize) -> Result<Line1688, (String, String)> {
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
    let optional_amount = |key: &str| match item.get(key).filter(|v| !v.is_null()) {
        None => Ok(None),
        Some(v) => json::decimal(v)
            .map(Some)
            .ok_or_else(|| e(key, "not an amount")),
    };
    let unit_price = optional_amount("price")?;
    let amount = optional_amount("itemAmount")?;
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
        .and_then(JsonRef::items)
        .map(|infos| {
            infos
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
pub(crate) mod tests {
    use serde_json::Value;

    use super::*;

    /// The documented example of getBuyerOrderList, trimmed (1688-open-api.md §4.1).
    pub(crate) const DOC_SAMPLE: &str = r#"{"result":[{"baseInfo":{"businessType":"cn","buyerID":"b2b-1623492085",
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

    /// An order-list body read as the client reads it (a tree borrowed from the body) and
    /// through a `Value`, each shown with `Debug`, so that amounts must agree in scale and
    /// errors in every word.
    fn read_both_ways(body: &[u8]) -> (String, String) {
        use crate::api1688::client::{classify, read_order_list};
        let borrowed = read_order_list("getBuyerOrderList", 200, body);
        let through_value =
            classify("getBuyerOrderList", 200, body).map(|v| OrderListPage::from_body(&v));
        (format!("{borrowed:?}"), format!("{through_value:?}"))
    }

    /// Asserts that both readers agree on every body, and that `orders` of them read at
    /// least one order (so that agreeing is not only failing alike).
    fn assert_both_ways_agree(bodies: &[Vec<u8>], orders: usize) {
        let mut read = 0;
        for body in bodies {
            let (borrowed, through_value) = read_both_ways(body);
            assert_eq!(borrowed, through_value, "{}", String::from_utf8_lossy(body));
            read += usize::from(borrowed.contains("Ok(Order1688"));
        }
        assert!(read >= orders, "only {read} bodies read an order");
    }

    /// The committed fuzz seeds and regressions of the order readers, as bodies of
    /// `getBuyerOrderList` (an order detail's `result` put into a list).
    fn seed_bodies() -> Vec<Vec<u8>> {
        let fuzz = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
        let mut bodies = Vec::new();
        for dir in ["seeds", "regressions"] {
            for target in ["order_list", "order_detail"] {
                let Ok(entries) = std::fs::read_dir(fuzz.join(dir).join(target)) else {
                    continue;
                };
                for entry in entries {
                    let body = std::fs::read(entry.unwrap().path()).unwrap();
                    if target == "order_detail"
                        && let Ok(mut v) = serde_json::from_slice::<Value>(&body)
                        && let Some(result) = v.get_mut("result").map(Value::take)
                    {
                        v["result"] = Value::Array(vec![result]);
                        bodies.push(v.to_string().into_bytes());
                    }
                    bodies.push(body);
                }
            }
        }
        bodies
    }

    #[test]
    fn both_readers_agree_on_the_documented_sample_and_every_seed() {
        let mut bodies = seed_bodies();
        assert!(bodies.len() >= 10, "{} seeds", bodies.len());
        bodies.push(DOC_SAMPLE.as_bytes().to_vec());
        assert_both_ways_agree(&bodies, 8);
    }

    #[test]
    fn both_readers_agree_on_every_cut_of_every_seed() {
        let mut cuts = Vec::new();
        for body in seed_bodies()
            .into_iter()
            .chain([DOC_SAMPLE.as_bytes().to_vec()])
        {
            for at in (0..body.len()).step_by(13) {
                cuts.push(body[..at].to_vec());
            }
        }
        assert_both_ways_agree(&cuts, 0);
    }

    #[test]
    fn both_readers_agree_on_hostile_orders() {
        let base = r#""id":"42","status":"x","createTime":"20180801104333000+0800""#;
        let line = r#""productID":7,"quantity":2,"price":"1.5""#;
        let orders = [
            // Duplicate keys: the later wins, at every level.
            format!(r#"{{"baseInfo":{{{base},"status":"first","status":"second"}},"productItems":[{{{line},"price":1,"price":"3.25"}}]}}"#),
            format!(r#"{{"baseInfo":{{"id":1}},"baseInfo":{{{base}}}}}"#),
            format!(r#"{{"baseInfo":{{{base}}},"productItems":"x","productItems":null}}"#),
            // Escaped keys and strings.
            format!(r#"{{"baseInfo":{{{base},"st\u0061tus":"\u4e2d\u6587","sellerLoginId":"\u5356\u5bb6","sellerContact":{{"companyName":"a\"b\\c"}}}}}}"#),
            format!(r#"{{"b\u0061seInfo":{{{base}}},"productItems":[{{{line},"n\u0061me":"\u4e2d","skuInfos":[{{"name":"\u989c\u8272","value":"\u7ea2"}},{{"value":"no name"}},{{"name":" "}}]}}]}}"#),
            // Numbers as strings, strings as numbers, ids past 2^53, both id fields.
            r#"{"baseInfo":{"id":3657499272179232333,"status":7,"createTime":20180801104333000,"totalAmount":"0.10","shippingFee":"1e1","discount":"-3989"},"productItems":[{"productID":"574273466269","quantity":"1.0","itemAmount":"3.30","subItemIDString":"3657499272179232334","skuID":"12"}]}"#.to_owned(),
            r#"{"baseInfo":{"id":58218860983545944,"idOfStr":"58218860983545941","status":"x","createTime":"20180801104333000+0800"}}"#.to_owned(),
            r#"{"baseInfo":{"id":"58218860983545944","idOfStr":"","status":"x","createTime":"20180801104333000+0800"}}"#.to_owned(),
            r#"{"baseInfo":{"id":5.8218860983545944e16,"status":"x","createTime":"20180801104333000+0800"}}"#.to_owned(),
            // Nulls, blanks and booleans where text and amounts belong.
            format!(r#"{{"baseInfo":{{{base},"totalAmount":null,"shippingFee":null,"sellerLoginId":" ","outOrderId":true,"modifyTime":null}},"productItems":[{{{line},"unit":null,"status":false,"specId":12,"itemAmount":null}}]}}"#),
            format!(r#"{{"baseInfo":{{{base},"modifyTime":"  "}},"productItems":null}}"#),
            // Nested junk where scalars belong, and the messages that quote it.
            format!(r#"{{"baseInfo":{{{base},"shippingFee":{{"b":[1,{{"c":null}}],"a":"\u4e2d","a":true}}}}}}"#),
            format!(r#"{{"baseInfo":{{{base},"discount":[1E2,-0,"x"]}}}}"#),
            format!(r#"{{"baseInfo":{{{base}}},"productItems":[{{{line},"quantity":{{"x":1}}}}]}}"#),
            format!(r#"{{"baseInfo":{{{base},"createTime":{{"t":1}}}}}}"#),
            format!(r#"{{"baseInfo":{{{base}}},"productItems":[{line}]}}"#),
            format!(r#"{{"baseInfo":{{{base}}},"productItems":[[],null,{{}}]}}"#),
            r#"{"baseInfo":[]}"#.to_owned(),
            r#"{"baseInfo":null}"#.to_owned(),
            r#"[]"#.to_owned(),
            r#""x""#.to_owned(),
            // serde_json's private keys, which `Value` reads as a number or as JSON text.
            format!(r#"{{"baseInfo":{{{base},"totalAmount":{{"$serde_json::private::Number":"1E2"}}}}}}"#),
            format!(r#"{{"baseInfo":{{{base},"sellerLoginId":"s","sellerContact":{{"$serde_json::private::RawValue":"{{\"companyName\":\"\\u4e2d\"}}"}}}}}}"#),
        ];
        let page =
            |orders: &[String]| format!(r#"{{"result":[{}],"totalRecord":"3"}}"#, orders.join(","));
        let mut bodies: Vec<Vec<u8>> = orders
            .iter()
            .map(|o| page(std::slice::from_ref(o)).into_bytes())
            .collect();
        // A bad order leaves the rest of the page readable.
        bodies.push(page(&orders).into_bytes());
        for body in [
            r#"{}"#,
            r#"{"result":null,"totalRecord":12}"#,
            r#"{"result":{"baseInfo":{}}}"#,
            r#"{"result":"oops"}"#,
            r#"{"result":[],"result":"oops"}"#,
            r#"{"result":"oops","result":[]}"#,
            r#"{"totalRecord":-1}"#,
            r#"{"totalRecord":"99999999999999999999"}"#,
            r#"{"result":[{"baseInfo":{"id":1}}],"errorCode":"0"}"#,
            r#"{"errorCode":"PARAM_ERROR","errorMessage":"x"}"#,
            r#"{"success":"FALSE","errorMsg":"stock"}"#,
            r#"{"error_code":"gw.QosAppFrequencyLimit","error_message":"slow down"}"#,
            r#"{"result":[{"baseInfo":{"id":1}}]"#,
            "<html>502</html>",
        ] {
            bodies.push(body.as_bytes().to_vec());
        }
        assert_both_ways_agree(&bodies, 10);
    }

    #[tokio::test]
    async fn both_readers_agree_on_the_sandboxs_real_pages() {
        use crate::api1688::client::{Api, Client1688, OrderFilter};
        use crate::config::{Settings, Sources};
        use crate::domain::SyncWindow;
        use crate::sandbox::{self, SandboxConfig};

        let config = SandboxConfig {
            orders: 150,
            lines_per_order: Some(3),
            ..SandboxConfig::default()
        };
        let sandbox = sandbox::start(config.clone(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let settings = Settings::load(&Sources::inline(format!(
            "[[accounts]]\nname = \"t\"\napp_key = \"{}\"\napp_secret = \"{}\"\n\
             refresh_token = \"{}\"\napi_base = \"{}\"\ndefault_warehouse = \"W\"",
            config.app_key,
            config.app_secret,
            config.refresh_token,
            sandbox.base_url()
        )))
        .unwrap();
        let client = Client1688::new(&settings.accounts[0], &settings.api, None).unwrap();
        let window = SyncWindow {
            start: sandbox.now() - chrono::TimeDelta::days(10),
            end: sandbox.now() + chrono::TimeDelta::minutes(1),
        };
        let mut bodies = Vec::new();
        for page in 1..=4 {
            let params = super::super::client::order_list_params(
                OrderFilter::Created(window),
                false,
                page,
                50,
            );
            let body = client
                .call_with(
                    Api::BUYER_ORDER_LIST,
                    &params,
                    &|_: &str, _: u16, body: &[u8]| Ok(body.to_vec()),
                )
                .await
                .unwrap();
            bodies.push(body);
        }
        sandbox.shutdown().await;
        assert_both_ways_agree(&bodies, 3);
        let (borrowed, _) = read_both_ways(&bodies[0]);
        assert_eq!(borrowed.matches("Ok(Order1688").count(), 50);
        for body in &bodies {
            crate::api1688::page_scan::tests::assert_known_page_reads_as_the_full_page(body);
        }
    }
}
