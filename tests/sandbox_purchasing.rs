//! The sandbox's purchasing APIs (1688-open-api.md §5, §7, §8): receiving addresses,
//! the order preview, the two create APIs with `outOrderId` idempotency and splits,
//! cancelling, the payment link, and the logistics of what was shipped, checked over
//! HTTP with a bare reqwest client and the crate's signing code.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use sync1688::api1688::signing;
use sync1688::sandbox::{
    self, Fault, NewOrder, OrderChange, SandboxAddress, SandboxConfig, SandboxHandle, SandboxOffer,
    Shipment,
};

use support::sandbox_calls::{Answer, access_token, call};

const TRADE: &str = "com.alibaba.trade";
const LOGISTICS: &str = "com.alibaba.logistics";
const ADDRESSES: &str = "alibaba.trade.receiveAddress.get";
const PREVIEW: &str = "alibaba.createOrder.preview";
const FAST: &str = "alibaba.trade.fastCreateOrder";
const CROSS: &str = "alibaba.trade.createCrossOrder";
const CANCEL: &str = "alibaba.trade.cancel";
const PAY_URL: &str = "alibaba.alipay.url.get";
const LIST: &str = "alibaba.trade.getBuyerOrderList";
const VIEW: &str = "alibaba.trade.get.buyerView";
const PARCELS: &str = "alibaba.trade.getLogisticsInfos.buyerView";
const TRACE: &str = "alibaba.trade.getLogisticsTraceInfo.buyerView";

fn fixed_now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-04-20T09:30:00+08:00")
        .unwrap()
        .with_timezone(&Utc)
}

async fn start() -> SandboxHandle {
    let config = SandboxConfig {
        orders: 0,
        now: Some(fixed_now()),
        ..SandboxConfig::default()
    };
    sandbox::start(config, ([127, 0, 0, 1], 0).into())
        .await
        .expect("the sandbox starts")
}

async fn started() -> (SandboxHandle, String) {
    let sb = start().await;
    let token = access_token(&sb).await;
    (sb, token)
}

// ---------------------------------------------------------------------------------
// Picking offers from the catalogue

/// Published offers, their SKU rows in catalogue order.
fn published(sb: &SandboxHandle) -> BTreeMap<i64, Vec<SandboxOffer>> {
    let mut by_id: BTreeMap<i64, Vec<SandboxOffer>> = BTreeMap::new();
    for row in sb.offers().into_iter().filter(|o| o.status == "published") {
        by_id.entry(row.offer_id).or_default().push(row);
    }
    by_id
}

/// A SKU that can be ordered at its minimum order quantity.
fn buyable(sb: &SandboxHandle) -> Vec<SandboxOffer> {
    published(sb)
        .into_values()
        .filter_map(|rows| {
            rows.into_iter()
                .find(|r| r.stock >= i64::from(r.min_order_quantity))
        })
        .collect()
}

/// `n` buyable SKUs of `n` different offers of one seller.
fn same_seller(sb: &SandboxHandle, n: usize) -> Vec<SandboxOffer> {
    let mut by_seller: BTreeMap<String, Vec<SandboxOffer>> = BTreeMap::new();
    for row in buyable(sb) {
        by_seller
            .entry(row.seller_login_id.clone())
            .or_default()
            .push(row);
    }
    by_seller
        .into_values()
        .find(|rows| rows.len() >= n)
        .unwrap_or_else(|| panic!("no seller has {n} buyable offers"))
        .into_iter()
        .take(n)
        .collect()
}

fn cargo(row: &SandboxOffer, quantity: u32) -> Value {
    let mut c = json!({"offerId": row.offer_id, "quantity": quantity});
    if !row.spec_id.is_empty() {
        c["specId"] = json!(row.spec_id);
    }
    c
}

fn at_moq(rows: &[SandboxOffer]) -> Value {
    Value::Array(
        rows.iter()
            .map(|r| cargo(r, r.min_order_quantity))
            .collect(),
    )
}

fn default_address(sb: &SandboxHandle) -> Value {
    let default = sb.addresses().into_iter().find(|a| a.is_default).unwrap();
    json!({"addressId": default.id.to_string()})
}

// ---------------------------------------------------------------------------------
// Calls

async fn preview(sb: &SandboxHandle, token: &str, address: &Value, cargos: &Value) -> Value {
    let (address, cargos) = (address.to_string(), cargos.to_string());
    let a = call(
        sb,
        TRADE,
        PREVIEW,
        &[
            ("addressParam", &address),
            ("cargoParamList", &cargos),
            ("flow", "general"),
        ],
        Some(token),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    a.json()
}

/// A create call (`FAST` or `CROSS`) to the default address.
async fn create(
    sb: &SandboxHandle,
    token: &str,
    api: &str,
    cargos: &Value,
    out_order_id: Option<&str>,
    message: Option<&str>,
) -> Value {
    let (address, cargos) = (default_address(sb).to_string(), cargos.to_string());
    let mut params = vec![
        ("flow", "general"),
        ("addressParam", address.as_str()),
        ("cargoParamList", cargos.as_str()),
    ];
    if let Some(id) = out_order_id {
        params.push(("outOrderId", id));
    }
    if let Some(m) = message {
        params.push(("message", m));
    }
    let a = call(sb, TRADE, api, &params, Some(token)).await;
    assert_eq!(a.status, 200, "{}", a.text);
    a.json()
}

/// The ids a create answer names: `orderList` (createCrossOrder) or `orderId`.
fn created_ids(body: &Value) -> Vec<i64> {
    assert_eq!(body["success"], true, "{body}");
    match body["result"]["orderList"].as_array() {
        Some(list) => list
            .iter()
            .map(|o| o["orderId"].as_str().unwrap().parse().unwrap())
            .collect(),
        None => vec![
            body["result"]["orderId"]
                .as_str()
                .expect("orderId is a string")
                .parse()
                .unwrap(),
        ],
    }
}

async fn listed_by_out_order_id(sb: &SandboxHandle, token: &str, out: &str) -> Vec<Value> {
    let a = call(
        sb,
        TRADE,
        LIST,
        &[("outOrderId", out), ("needMemoInfo", "true")],
        Some(token),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    a.json()["result"].as_array().unwrap().clone()
}

async fn order_call(sb: &SandboxHandle, token: &str, ns: &str, api: &str, id: i64) -> Value {
    let id = id.to_string();
    let a = call(
        sb,
        ns,
        api,
        &[("orderId", &id), ("webSite", "1688")],
        Some(token),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    a.json()
}

async fn cancel(sb: &SandboxHandle, token: &str, id: i64) -> Value {
    let id = id.to_string();
    let a = call(
        sb,
        TRADE,
        CANCEL,
        &[
            ("webSite", "1688"),
            ("tradeID", &id),
            ("cancelReason", "buyerCancel"),
            ("remark", "买错了"),
        ],
        Some(token),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    a.json()
}

async fn pay_url(sb: &SandboxHandle, token: &str, ids: &Value) -> Answer {
    let ids = ids.to_string();
    call(sb, TRADE, PAY_URL, &[("orderIdList", &ids)], Some(token)).await
}

fn fen(v: &Value) -> i64 {
    v.as_i64()
        .unwrap_or_else(|| panic!("an integer amount of fen: {v}"))
}

fn dec(v: &Value) -> Decimal {
    assert!(v.is_number(), "a JSON number: {v}");
    v.to_string().parse().unwrap()
}

/// The preview's refusal: (`errorCode`, `errorMsg`).
fn refusal(body: &Value) -> (String, String) {
    assert_eq!(body["success"], false, "{body}");
    assert!(body.get("orderPreviewResuslt").is_none(), "{body}");
    (
        body["errorCode"].as_str().unwrap().to_owned(),
        body["errorMsg"]
            .as_str()
            .expect("errorMsg, not errorMessage")
            .to_owned(),
    )
}

// ---------------------------------------------------------------------------------
// Addresses

#[tokio::test]
async fn addresses_mark_the_default_and_leave_is_default_out_of_the_others() {
    let (sb, token) = started().await;

    let a = call(&sb, TRADE, ADDRESSES, &[], Some(&token)).await;

    assert_eq!(a.status, 200, "{}", a.text);
    let body = a.json();
    assert_eq!(body["success"], true);
    let items = body["result"]["receiveAddressItems"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["isDefault"], true);
    assert!(
        items[1].get("isDefault").is_none(),
        "absent, not false: {}",
        items[1]
    );
    for item in items {
        for key in [
            "id",
            "fullName",
            "address",
            "post",
            "phone",
            "mobilePhone",
            "addressCode",
            "addressCodeText",
            "townCode",
            "townName",
        ] {
            assert!(item.get(key).is_some(), "{key} in {item}");
        }
    }
    assert_eq!(items[0]["id"], sb.addresses()[0].id);
    assert_eq!(items[0]["addressCodeText"], "浙江省 金华市 义乌市");
}

#[tokio::test]
async fn a_buyer_without_addresses_gets_an_empty_list_and_replaced_ones_show() {
    let (sb, token) = started().await;

    sb.clear_addresses();
    let a = call(&sb, TRADE, ADDRESSES, &[], Some(&token)).await;
    assert_eq!(
        a.json(),
        json!({"result": {"receiveAddressItems": []}, "success": true})
    );

    let mut only = sb.addresses();
    assert!(only.is_empty());
    only.push(SandboxAddress {
        id: 42,
        full_name: "赵六".into(),
        address: "长河街道江南大道588号".into(),
        post: "310051".into(),
        phone: String::new(),
        mobile_phone: "15967123456".into(),
        address_code: "330108".into(),
        province: "浙江省".into(),
        city: "杭州市".into(),
        area: "滨江区".into(),
        town_code: "330108002".into(),
        town_name: "长河街道".into(),
        is_default: false,
    });
    sb.set_addresses(only);
    let a = call(&sb, TRADE, ADDRESSES, &[], Some(&token)).await;
    let items = a.json()["result"]["receiveAddressItems"].clone();
    assert_eq!(items[0]["id"], 42);
    assert!(items[0].get("isDefault").is_none());
}

// ---------------------------------------------------------------------------------
// Preview

#[tokio::test]
async fn a_preview_of_offers_from_two_sellers_is_500_002_naming_both_offers() {
    let (sb, token) = started().await;
    let rows = buyable(&sb);
    let first = &rows[0];
    let other = rows
        .iter()
        .find(|r| r.seller_login_id != first.seller_login_id)
        .unwrap();

    let body = preview(
        &sb,
        &token,
        &default_address(&sb),
        &at_moq(&[first.clone(), other.clone()]),
    )
    .await;

    let (code, message) = refusal(&body);
    assert_eq!(code, "500_002");
    assert!(message.contains(&first.offer_id.to_string()), "{message}");
    assert!(message.contains(&other.offer_id.to_string()), "{message}");
}

#[tokio::test]
async fn a_preview_with_a_spec_of_another_offer_or_none_is_500_003_naming_it() {
    let (sb, token) = started().await;
    let offers = published(&sb);
    let with_skus: Vec<&SandboxOffer> = offers
        .values()
        .filter(|rows| !rows[0].spec_id.is_empty())
        .map(|rows| &rows[0])
        .collect();
    let (a, b) = (with_skus[0], with_skus[1]);

    let foreign =
        json!([{"offerId": a.offer_id, "specId": b.spec_id, "quantity": a.min_order_quantity}]);
    let (code, message) = refusal(&preview(&sb, &token, &default_address(&sb), &foreign).await);
    assert_eq!(code, "500_003");
    assert!(message.contains(&b.spec_id), "{message}");
    assert!(message.contains(&a.offer_id.to_string()), "{message}");

    let missing = json!([{"offerId": a.offer_id, "quantity": a.min_order_quantity}]);
    let (code, message) = refusal(&preview(&sb, &token, &default_address(&sb), &missing).await);
    assert_eq!(code, "500_003");
    assert!(message.contains(&a.offer_id.to_string()), "{message}");
}

#[tokio::test]
async fn a_preview_above_the_stock_is_500_004_naming_offer_and_spec() {
    let (sb, token) = started().await;
    let row = published(&sb)
        .into_values()
        .flatten()
        .find(|r| !r.spec_id.is_empty() && r.stock + 1 >= i64::from(r.min_order_quantity))
        .unwrap();
    let too_many = u32::try_from(row.stock + 1).unwrap();

    let body = preview(
        &sb,
        &token,
        &default_address(&sb),
        &json!([cargo(&row, too_many)]),
    )
    .await;

    let (code, message) = refusal(&body);
    assert_eq!(code, "500_004");
    assert!(message.contains(&row.offer_id.to_string()), "{message}");
    assert!(message.contains(&row.spec_id), "{message}");
}

#[tokio::test]
async fn a_preview_below_the_minimum_order_quantity_is_500_005_naming_the_offer() {
    let (sb, token) = started().await;
    let row = buyable(&sb)
        .into_iter()
        .find(|r| r.min_order_quantity > 1)
        .unwrap();

    let body = preview(
        &sb,
        &token,
        &default_address(&sb),
        &json!([cargo(&row, row.min_order_quantity - 1)]),
    )
    .await;

    let (code, message) = refusal(&body);
    assert_eq!(code, "500_005");
    assert!(message.contains(&row.offer_id.to_string()), "{message}");
    assert!(
        message.contains(&row.min_order_quantity.to_string()),
        "{message}"
    );
}

#[tokio::test]
async fn a_preview_of_an_expired_offer_is_500_001_and_of_an_unknown_address_an_error() {
    let (sb, token) = started().await;
    let row = buyable(&sb)[0].clone();
    sb.set_offer_status(row.offer_id, "expired");

    let (code, message) = refusal(
        &preview(
            &sb,
            &token,
            &default_address(&sb),
            &at_moq(std::slice::from_ref(&row)),
        )
        .await,
    );
    assert_eq!(code, "500_001");
    assert!(message.contains(&row.offer_id.to_string()), "{message}");

    let other = buyable(&sb)[0].clone();
    let (code, message) = refusal(
        &preview(
            &sb,
            &token,
            &json!({"addressId": 999}),
            &at_moq(std::slice::from_ref(&other)),
        )
        .await,
    );
    assert_eq!(code, "400");
    assert!(message.starts_with("AddressId invalid"), "{message}");
    assert!(message.contains("999"), "{message}");
}

#[tokio::test]
async fn preview_money_is_integer_fen_that_adds_up_at_the_quantity_break_price() {
    let (sb, token) = started().await;
    // Two SKUs of an offer priced by quantity, together just reaching its second break.
    let (rows, at_break) = published(&sb)
        .into_values()
        .find_map(|rows| {
            let ranges = &rows[0].price_ranges;
            let (start, price) = *ranges.get(1)?;
            let stocked: Vec<SandboxOffer> = rows
                .iter()
                .filter(|r| r.stock >= i64::from(start))
                .take(2)
                .cloned()
                .collect();
            (stocked.len() == 2 && start >= 2).then_some((stocked, (start, price)))
        })
        .expect("an offer with a quantity break and two stocked SKUs");
    let (start, price) = at_break;
    let first = start / 2;
    let cargos = json!([cargo(&rows[0], first), cargo(&rows[1], start - first)]);

    let body = preview(&sb, &token, &default_address(&sb), &cargos).await;

    assert_eq!(body["success"], true, "{body}");
    let entries = body["orderPreviewResuslt"].as_array().expect("the typo");
    assert_eq!(entries.len(), 1);
    let e = &entries[0];
    assert_eq!(e["status"], true);
    assert_eq!(e["flowFlag"], "general");
    assert_eq!(e["tradeModeNameList"], json!(["assureTrade"]));
    assert_eq!(e["tradeModelList"][0]["tradeType"], "assureTrade");
    let goods = fen(&e["sumPaymentNoCarriage"]);
    let carriage = fen(&e["sumCarriage"]);
    assert_eq!(fen(&e["sumPayment"]), goods + carriage);
    assert_eq!(fen(&e["discountFee"]), 0);
    assert_eq!(fen(&e["additionalFee"]), 0);
    assert_eq!(carriage, sb.shipping_fee_fen(&rows[0].seller_login_id));
    let cargo_list = e["cargoList"].as_array().unwrap();
    assert_eq!(cargo_list.len(), 2);
    let mut sum = Decimal::ZERO;
    for (c, row) in cargo_list.iter().zip(&rows) {
        assert_eq!(c["offerId"], row.offer_id);
        assert_eq!(c["specId"], row.spec_id.as_str());
        assert_eq!(c["skuId"], row.sku_id.unwrap());
        assert_eq!(dec(&c["finalUnitPrice"]), price, "the break's price");
        sum += dec(&c["amount"]);
    }
    assert_eq!(sum * Decimal::ONE_HUNDRED, Decimal::from(goods));
    assert_eq!(
        Decimal::from(goods),
        price * Decimal::from(start) * Decimal::ONE_HUNDRED
    );
}

// ---------------------------------------------------------------------------------
// Create

#[tokio::test]
async fn a_created_order_has_a_string_id_and_is_listed_unpaid_with_its_out_order_id_and_memo() {
    let (sb, token) = started().await;
    let rows = same_seller(&sb, 2);

    let body = create(
        &sb,
        &token,
        FAST,
        &at_moq(&rows),
        Some("PO-2026-0001"),
        Some("请用纸箱包装"),
    )
    .await;

    let result = &body["result"];
    assert!(result["orderId"].is_string(), "{body}");
    assert_eq!(result["failedOfferList"], json!([]));
    let id: i64 = result["orderId"].as_str().unwrap().parse().unwrap();
    assert!(id > 1 << 53);
    assert_eq!(sb.order_ids(), vec![id]);

    let listed = listed_by_out_order_id(&sb, &token, "PO-2026-0001").await;
    assert_eq!(listed.len(), 1);
    let base = &listed[0]["baseInfo"];
    assert_eq!(base["id"], id);
    assert_eq!(base["status"], "waitbuyerpay");
    assert_eq!(base["outOrderId"], "PO-2026-0001");
    assert_eq!(base["buyerMemo"], "请用纸箱包装");
    assert_eq!(base["sellerLoginId"], rows[0].seller_login_id.as_str());
    assert_eq!(
        dec(&base["totalAmount"]) * Decimal::ONE_HUNDRED,
        Decimal::from(fen(&result["totalSuccessAmount"]))
    );
    assert_eq!(
        dec(&base["shippingFee"]) * Decimal::ONE_HUNDRED,
        Decimal::from(fen(&result["postFee"]))
    );
    assert_eq!(listed[0]["productItems"].as_array().unwrap().len(), 2);

    let view = order_call(&sb, &token, TRADE, VIEW, id).await;
    assert_eq!(view["result"]["baseInfo"]["buyerMemo"], "请用纸箱包装");
    assert_eq!(view["result"]["baseInfo"]["outOrderId"], "PO-2026-0001");
    let default = sb.addresses().into_iter().find(|a| a.is_default).unwrap();
    assert_eq!(
        view["result"]["nativeLogistics"]["address"],
        default.address.as_str()
    );
    assert!(
        listed_by_out_order_id(&sb, &token, "PO-2026-0002")
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn the_same_out_order_id_twice_places_one_order() {
    let (sb, token) = started().await;
    let rows = same_seller(&sb, 1);

    let first = create(&sb, &token, FAST, &at_moq(&rows), Some("PO-7"), None).await;
    let again = create(&sb, &token, CROSS, &at_moq(&rows), Some("PO-7"), None).await;

    assert_eq!(created_ids(&first), created_ids(&again));
    assert_eq!(
        first["result"]["totalSuccessAmount"],
        again["result"]["totalSuccessAmount"]
    );
    assert_eq!(sb.order_ids().len(), 1);
    assert_eq!(sb.orders_by_out_order_id("PO-7"), created_ids(&first));
    let other = create(&sb, &token, FAST, &at_moq(&rows), Some("PO-8"), None).await;
    assert_ne!(created_ids(&other), created_ids(&first));
    assert_eq!(sb.order_ids().len(), 2);
}

#[tokio::test]
async fn a_cart_of_more_than_three_offers_becomes_two_orders_in_the_order_list() {
    let (sb, token) = started().await;
    let rows = same_seller(&sb, 4);

    let previewed = preview(&sb, &token, &default_address(&sb), &at_moq(&rows)).await;
    let body = create(&sb, &token, CROSS, &at_moq(&rows), Some("PO-SPLIT"), None).await;

    assert_eq!(
        previewed["orderPreviewResuslt"].as_array().unwrap().len(),
        2
    );
    let ids = created_ids(&body);
    assert_eq!(ids.len(), 2);
    assert_eq!(body["result"]["orderId"], ids[0].to_string());
    let list = body["result"]["orderList"].as_array().unwrap();
    let amounts: i64 = list.iter().map(|o| fen(&o["orderAmmount"])).sum();
    assert_eq!(amounts, fen(&body["result"]["totalSuccessAmount"]));
    for o in list {
        assert_eq!(o["success"], true);
        assert!(o["orderId"].is_string());
    }
    let listed = listed_by_out_order_id(&sb, &token, "PO-SPLIT").await;
    let listed_ids: BTreeSet<i64> = listed
        .iter()
        .map(|o| o["baseInfo"]["id"].as_i64().unwrap())
        .collect();
    assert_eq!(listed_ids, ids.iter().copied().collect());
    let lines: usize = listed
        .iter()
        .map(|o| o["productItems"].as_array().unwrap().len())
        .sum();
    assert_eq!(lines, 4, "every cargo in one of the two orders");
}

#[tokio::test]
async fn a_split_fast_create_answers_the_first_order_and_the_out_order_id_finds_both() {
    let (sb, token) = started().await;
    let rows = same_seller(&sb, 2);
    sb.split_next_create();

    let body = create(&sb, &token, FAST, &at_moq(&rows), Some("PO-9"), None).await;
    let next = create(&sb, &token, FAST, &at_moq(&rows), Some("PO-10"), None).await;

    let both = sb.orders_by_out_order_id("PO-9");
    assert_eq!(both.len(), 2);
    assert_eq!(created_ids(&body), vec![both[0]]);
    let listed = listed_by_out_order_id(&sb, &token, "PO-9").await;
    assert_eq!(listed.len(), 2);
    let total: Decimal = listed
        .iter()
        .map(|o| dec(&o["baseInfo"]["totalAmount"]))
        .sum();
    assert_eq!(
        total * Decimal::ONE_HUNDRED,
        Decimal::from(fen(&body["result"]["totalSuccessAmount"]))
    );
    assert_eq!(
        sb.orders_by_out_order_id("PO-10").len(),
        1,
        "the knob is spent"
    );
    assert_eq!(created_ids(&next).len(), 1);
}

#[tokio::test]
async fn a_create_refusal_uses_code_and_message() {
    let (sb, token) = started().await;
    let row = buyable(&sb)
        .into_iter()
        .find(|r| r.min_order_quantity > 1)
        .unwrap();
    let cargos = json!([cargo(&row, row.min_order_quantity - 1)]).to_string();

    let a = call(
        &sb,
        TRADE,
        FAST,
        &[
            ("addressParam", r#"{"addressId":"1"}"#),
            ("cargoParamList", &cargos),
        ],
        Some(&token),
    )
    .await;
    let body = a.json();
    assert_eq!(body["success"], false);
    assert_eq!(body["code"], "400");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("AddressId invalid")
    );

    let body = create(&sb, &token, CROSS, &json!([cargo(&row, 1)]), None, None).await;
    assert_eq!(body["success"], false);
    assert_eq!(body["code"], "500_005", "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains(&row.offer_id.to_string())
    );
    assert!(sb.order_ids().is_empty());
}

#[tokio::test]
async fn a_create_delayed_past_the_client_timeout_still_creates_exactly_one_order() {
    let (sb, token) = started().await;
    let rows = same_seller(&sb, 1);
    let cargos = at_moq(&rows).to_string();
    let address = default_address(&sb).to_string();
    sb.push_faults([Fault::Delay(Duration::from_secs(2))]);

    let mut params = vec![
        ("addressParam".to_owned(), address),
        ("cargoParamList".to_owned(), cargos),
        ("outOrderId".to_owned(), "PO-SLOW".to_owned()),
        ("access_token".to_owned(), token.clone()),
    ];
    let app_key = sb.config().app_key.clone();
    let path = signing::url_path(1, TRADE, FAST, &app_key);
    let sig = signing::sign(
        &sb.config().app_secret,
        &path,
        params.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    );
    params.push((signing::SIGNATURE_PARAM.to_owned(), sig));
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let err = impatient
        .post(format!(
            "{}/param2/1/{TRADE}/{FAST}/{app_key}",
            sb.base_url()
        ))
        .form(&params)
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");

    let found = listed_by_out_order_id(&sb, &token, "PO-SLOW").await;
    assert_eq!(found.len(), 1, "created although the client gave up");
    let retried = create(&sb, &token, FAST, &at_moq(&rows), Some("PO-SLOW"), None).await;
    assert_eq!(
        created_ids(&retried),
        vec![found[0]["baseInfo"]["id"].as_i64().unwrap()]
    );
    assert_eq!(sb.order_ids().len(), 1);
}

// ---------------------------------------------------------------------------------
// Cancel and pay

#[tokio::test]
async fn cancelling_within_ten_seconds_is_too_fast_and_later_closes_the_order() {
    let (sb, token) = started().await;
    let rows = same_seller(&sb, 1);
    let id = created_ids(&create(&sb, &token, FAST, &at_moq(&rows), None, None).await)[0];

    let body = cancel(&sb, &token, id).await;
    assert_eq!(body["success"], false);
    assert_eq!(body["errorCode"], "CLOSE_ORDER_TOO_FAST");
    assert!(body["errorMessage"].is_string());

    sb.age_order(id, Duration::from_secs(11));
    let before = order_call(&sb, &token, TRADE, VIEW, id).await["result"]["baseInfo"].clone();
    let body = cancel(&sb, &token, id).await;
    assert_eq!(body, json!({"success": true}));

    let after = order_call(&sb, &token, TRADE, VIEW, id).await["result"]["baseInfo"].clone();
    assert_eq!(after["status"], "cancel");
    assert_eq!(after["closeReason"], "buyerCancel");
    assert_eq!(after["closeRemark"], "买错了");
    assert!(after["modifyTime"].as_str() > before["modifyTime"].as_str());
    let again = cancel(&sb, &token, id).await;
    assert_eq!(again["errorCode"], "ORDER_STATUS_ERROR");
}

#[tokio::test]
async fn cancelling_a_paid_order_is_a_status_error_and_an_unknown_one_does_not_exist() {
    let (sb, token) = started().await;
    let paid = sb.insert_order(NewOrder::new().with_status("waitsellersend"));
    sb.age_order(paid, Duration::from_secs(60));

    let body = cancel(&sb, &token, paid).await;
    assert_eq!(body["success"], false);
    assert_eq!(body["errorCode"], "ORDER_STATUS_ERROR");
    assert!(
        body["errorMessage"]
            .as_str()
            .unwrap()
            .contains(&paid.to_string())
    );

    let body = cancel(&sb, &token, 1_234_567_890_123_456_789).await;
    assert_eq!(body["errorCode"], "ORDER_NOT_EXIST");
}

#[tokio::test]
async fn the_payment_link_names_unpaid_orders_and_refuses_with_erro_msg() {
    let (sb, token) = started().await;
    let rows = same_seller(&sb, 1);
    let a = created_ids(&create(&sb, &token, FAST, &at_moq(&rows), Some("P1"), None).await)[0];
    let b = created_ids(&create(&sb, &token, FAST, &at_moq(&rows), Some("P2"), None).await)[0];

    let ok = pay_url(&sb, &token, &json!([a, b.to_string()])).await;
    assert_eq!(
        ok.json(),
        json!({
            "payUrl": format!("https://trade.1688.com/order/cashier.htm?orderId={a},{b}"),
            "success": true,
        })
    );

    sb.modify_order(a, OrderChange::Pay);
    let paid = pay_url(&sb, &token, &json!([a])).await.json();
    assert_eq!(paid["success"], false);
    assert_eq!(paid["errorCode"], "ORDER_STATUS_ERROR");
    assert!(paid["erroMsg"].as_str().unwrap().contains(&a.to_string()));

    let too_many: Vec<i64> = vec![b; 31];
    let body = pay_url(&sb, &token, &json!(too_many)).await.json();
    assert_eq!(body["errorCode"], "400");
    assert!(body["erroMsg"].is_string());
}

// ---------------------------------------------------------------------------------
// Logistics

#[tokio::test]
async fn logistics_are_500_2_before_shipment_and_parcels_name_their_lines_after() {
    let (sb, token) = started().await;
    let id = sb.insert_order(NewOrder::new().with_lines(3));
    sb.modify_order(id, OrderChange::Pay);

    let body = order_call(&sb, &token, LOGISTICS, PARCELS, id).await;
    assert_eq!(body["success"], false);
    assert_eq!(body["errorCode"], "500_2");
    let trace = order_call(&sb, &token, LOGISTICS, TRACE, id).await;
    assert_eq!(trace["success"], false);

    let view = order_call(&sb, &token, TRADE, VIEW, id).await;
    let sub_ids: Vec<String> = view["result"]["productItems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["subItemIDString"].as_str().unwrap().to_owned())
        .collect();
    sb.modify_order(
        id,
        OrderChange::Ship(Shipment {
            lines: vec![0, 2],
            company: Some("ZTO".into()),
            bill_no: Some("78123456789012".into()),
        }),
    );

    let body = order_call(&sb, &token, LOGISTICS, PARCELS, id).await;
    assert_eq!(body["success"], true, "{body}");
    let parcels = body["result"].as_array().unwrap();
    assert_eq!(parcels.len(), 1);
    assert_eq!(parcels[0]["logisticsBillNo"], "78123456789012");
    assert_eq!(parcels[0]["logisticsCompanyName"], "中通快递(ZTO)");
    assert_eq!(
        parcels[0]["orderEntryIds"],
        format!("{},{}", sub_ids[0], sub_ids[2])
    );
    assert!(parcels[0]["status"].is_string());
    let status =
        order_call(&sb, &token, TRADE, VIEW, id).await["result"]["baseInfo"]["status"].clone();
    assert_eq!(status, "waitsellersend", "partly shipped");

    sb.modify_order(id, OrderChange::Ship(Shipment::default()));
    let body = order_call(&sb, &token, LOGISTICS, PARCELS, id).await;
    let parcels = body["result"].as_array().unwrap();
    assert_eq!(parcels.len(), 2);
    assert_eq!(parcels[1]["orderEntryIds"], sub_ids[1].as_str());

    let view = order_call(&sb, &token, TRADE, VIEW, id).await;
    let items = view["result"]["nativeLogistics"]["logisticsItems"]
        .as_array()
        .unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["logisticsBillNo"], "78123456789012");
    assert_eq!(items[0]["logisticsCompanyName"], "中通快递(ZTO)");
    assert_eq!(
        items[0]["subItemIds"],
        format!("{},{}", sub_ids[0], sub_ids[2])
    );
    assert_eq!(view["result"]["baseInfo"]["status"], "waitbuyerreceive");

    let trace = order_call(&sb, &token, LOGISTICS, TRACE, id).await;
    assert_eq!(trace["success"], true, "{trace}");
    let traces = trace["logisticsTrace"].as_array().expect("not `result`");
    assert_eq!(traces.len(), 2);
    assert_eq!(traces[0]["orderId"], id);
    assert_eq!(traces[0]["logisticsBillNo"], "78123456789012");
    let steps = traces[0]["logisticsSteps"].as_array().unwrap();
    assert!(!steps.is_empty());
    let time = steps[0]["acceptTime"].as_str().unwrap();
    assert!(
        chrono::NaiveDateTime::parse_from_str(time, "%Y-%m-%d %H:%M:%S").is_ok(),
        "{time}"
    );
    assert!(steps[0]["remark"].is_string());
}

#[tokio::test]
async fn a_trace_grows_with_time_and_ends_signed_for() {
    let (sb, token) = started().await;
    let id = sb.insert_order(NewOrder::new().with_status("waitbuyerreceive"));
    let fresh = order_call(&sb, &token, LOGISTICS, TRACE, id).await;
    let fresh_steps = fresh["logisticsTrace"][0]["logisticsSteps"]
        .as_array()
        .unwrap()
        .len();

    sb.age_order(id, Duration::from_secs(3 * 86_400));
    let later = order_call(&sb, &token, LOGISTICS, TRACE, id).await;
    let steps = later["logisticsTrace"][0]["logisticsSteps"]
        .as_array()
        .unwrap()
        .clone();
    assert!(steps.len() > fresh_steps, "{later}");
    let logistics_id = later["logisticsTrace"][0]["logisticsId"]
        .as_str()
        .unwrap()
        .to_owned();

    sb.modify_order(id, OrderChange::Complete);
    let done = order_call(&sb, &token, LOGISTICS, TRACE, id).await;
    let last = done["logisticsTrace"][0]["logisticsSteps"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert!(last["remark"].as_str().unwrap().contains("签收"), "{last}");

    let one = call(
        &sb,
        LOGISTICS,
        TRACE,
        &[
            ("orderId", &id.to_string()),
            ("webSite", "1688"),
            ("logisticsId", &logistics_id),
        ],
        Some(&token),
    )
    .await
    .json();
    assert_eq!(one["logisticsTrace"].as_array().unwrap().len(), 1);
}
