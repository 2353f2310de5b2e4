//! The sandbox's product APIs (1688-open-api.md §6, §8): `alibaba.product.follow` and
//! `alibaba.cross.productInfo`, checked over HTTP with a bare reqwest client and the
//! crate's signing code, against the catalogue the sandbox's orders are drawn from.

mod support;

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::Value;
use sync1688::sandbox::{self, Fault, SandboxConfig, SandboxHandle, SandboxOffer};

use support::sandbox_calls::{Answer, access_token, call, call_unsigned};

const PRODUCT: &str = "com.alibaba.product";
const FOLLOW: &str = "alibaba.product.follow";
const INFO: &str = "alibaba.cross.productInfo";

fn fixed_now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-04-20T09:30:00+08:00")
        .unwrap()
        .with_timezone(&Utc)
}

fn config(orders: usize) -> SandboxConfig {
    SandboxConfig {
        orders,
        now: Some(fixed_now()),
        ..SandboxConfig::default()
    }
}

async fn start(config: SandboxConfig) -> SandboxHandle {
    sandbox::start(config, ([127, 0, 0, 1], 0).into())
        .await
        .expect("the sandbox starts")
}

async fn follow(sb: &SandboxHandle, token: &str, offer_id: i64) -> Answer {
    let id = offer_id.to_string();
    call(sb, PRODUCT, FOLLOW, &[("productId", &id)], Some(token)).await
}

async fn product_info(sb: &SandboxHandle, token: &str, offer_id: i64) -> Answer {
    let id = offer_id.to_string();
    call(sb, PRODUCT, INFO, &[("productId", &id)], Some(token)).await
}

/// Follows the offer, then reads it; panics unless both succeed.
async fn followed_info(sb: &SandboxHandle, token: &str, offer_id: i64) -> Value {
    let a = follow(sb, token, offer_id).await;
    assert_eq!(a.json()["code"], 0, "{}", a.text);
    let a = product_info(sb, token, offer_id).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let body = a.json();
    assert_eq!(body["success"], true, "{body}");
    body["productInfo"].clone()
}

/// The catalogue's SKU rows grouped by offer, in catalogue order.
fn offers_by_id(sb: &SandboxHandle) -> BTreeMap<i64, Vec<SandboxOffer>> {
    let mut by_id: BTreeMap<i64, Vec<SandboxOffer>> = BTreeMap::new();
    for row in sb.offers() {
        by_id.entry(row.offer_id).or_default().push(row);
    }
    by_id
}

fn dec(v: &Value) -> Decimal {
    assert!(v.is_number(), "money is a JSON number: {v}");
    v.to_string().parse().unwrap()
}

/// `name:value; name:value` from productInfo SKU attributes, as order lines give it.
fn attributes_text(sku: &Value) -> String {
    sku["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            format!(
                "{}:{}",
                a["attributeDisplayName"].as_str().unwrap(),
                a["attributeValue"].as_str().unwrap()
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

// ---------------------------------------------------------------------------------
// Follow and permission

#[tokio::test]
async fn reading_an_offer_before_following_it_is_the_documented_permission_error() {
    let sb = start(config(0)).await;
    let token = access_token(&sb).await;
    let offer_id = sb.product_ids()[0];

    let a = product_info(&sb, &token, offer_id).await;

    assert_eq!(a.status, 200, "a business error, not a gateway one");
    assert_eq!(
        a.json(),
        serde_json::json!({"success": false, "message": "没有该商品的查询权限"})
    );
    assert!(!sb.is_followed(offer_id));
}

#[tokio::test]
async fn following_answers_code_zero_and_following_twice_is_fine() {
    let sb = start(config(0)).await;
    let token = access_token(&sb).await;
    let offer_id = sb.product_ids()[3];

    let first = follow(&sb, &token, offer_id).await;
    let second = follow(&sb, &token, offer_id).await;

    for a in [&first, &second] {
        assert_eq!(a.status, 200);
        assert_eq!(
            a.json(),
            serde_json::json!({"code": 0, "message": "success"})
        );
    }
    assert!(sb.is_followed(offer_id));
    assert!(!sb.is_followed(sb.product_ids()[4]), "only that offer");
    assert_eq!(sb.calls(FOLLOW), 2);
    assert_eq!(sb.calls(&format!("{PRODUCT}/{FOLLOW}")), 2);
}

#[tokio::test]
async fn an_unknown_offer_is_named_by_both_apis_and_is_not_followed() {
    let sb = start(config(0)).await;
    let token = access_token(&sb).await;
    let unknown = 999_999_999_i64;
    assert!(!sb.product_ids().contains(&unknown));

    let followed = follow(&sb, &token, unknown).await.json();
    let info = product_info(&sb, &token, unknown).await.json();

    assert_ne!(followed["code"], 0, "{followed}");
    assert_eq!(followed["message"], "商品[999999999]不存在");
    assert_eq!(
        info,
        serde_json::json!({"success": false, "message": "商品[999999999]不存在"})
    );
    assert!(!sb.is_followed(unknown));
    assert_eq!(sb.calls(INFO), 1);
}

#[tokio::test]
async fn a_missing_or_malformed_product_id_is_a_business_error_that_names_it() {
    let sb = start(config(0)).await;
    let token = access_token(&sb).await;

    let no_id = call(&sb, PRODUCT, INFO, &[], Some(&token)).await.json();
    let bad_follow = call(&sb, PRODUCT, FOLLOW, &[("productId", "abc")], Some(&token))
        .await
        .json();

    assert_eq!(no_id["success"], false);
    assert!(no_id["message"].as_str().unwrap().contains("productId"));
    assert_ne!(bad_follow["code"], 0);
    assert!(bad_follow["message"].as_str().unwrap().contains("abc"));
}

// ---------------------------------------------------------------------------------
// The product and its SKUs

#[tokio::test]
async fn a_followed_offer_has_the_skus_prices_and_seller_of_the_catalogue() {
    let sb = start(config(0)).await;
    let token = access_token(&sb).await;
    let (offer_id, rows) = offers_by_id(&sb)
        .into_iter()
        .find(|(_, rows)| rows.len() >= 4 && rows[0].status == "published")
        .expect("an offer with several SKUs");

    let info = followed_info(&sb, &token, offer_id).await;

    let first = &rows[0];
    assert_eq!(info["productID"].as_i64(), Some(offer_id));
    assert_eq!(info["productType"], "wholesale");
    assert_eq!(info["subject"], first.title.as_str());
    assert_eq!(info["status"], "published");
    assert_eq!(info["supplierLoginId"], first.seller_login_id.as_str());
    assert_eq!(info["sellerLoginId"], first.seller_login_id.as_str());
    let member_digits = first.seller_member_id.trim_start_matches("b2b-");
    assert_eq!(info["supplierUserId"].to_string(), member_digits);
    assert!(info["categoryID"].as_i64().unwrap() > 0);
    assert!(!info["categoryName"].as_str().unwrap().is_empty());
    let images = info["image"]["images"].as_array().unwrap();
    assert!(images.len() >= 3);
    assert!(images[0].as_str().unwrap().starts_with("img/ibank/O1CN01"));

    let skus = info["skuInfos"].as_array().unwrap();
    assert_eq!(skus.len(), rows.len());
    for (sku, row) in skus.iter().zip(&rows) {
        assert_eq!(sku["specId"], row.spec_id.as_str());
        assert!(sku["skuId"].is_i64(), "skuId is a JSON number: {sku}");
        assert_eq!(sku["skuId"].as_i64(), row.sku_id);
        assert_eq!(attributes_text(sku), row.attributes);
        assert_eq!(dec(&sku["price"]), row.unit_price);
        assert!(dec(&sku["retailPrice"]) > row.unit_price);
        assert_eq!(sku["amountOnSale"].as_i64(), Some(row.stock));
        assert_eq!(sku["cargoNumber"], row.cargo_number.as_str());
        for a in sku["attributes"].as_array().unwrap() {
            assert!(a["attributeID"].as_i64().unwrap() > 0);
            assert_eq!(a["attributeName"], a["attributeDisplayName"]);
        }
        let swatch = &sku["attributes"][0]["skuImageUrl"];
        assert!(swatch.as_str().unwrap().starts_with("img/ibank/"), "{sku}");
    }

    let sale = &info["saleInfo"];
    assert_eq!(sale["unit"], first.unit.as_str());
    assert_eq!(
        sale["minOrderQuantity"].as_u64(),
        Some(u64::from(first.min_order_quantity))
    );
    let ranges: Vec<(u32, Decimal)> = sale["priceRanges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["startQuantity"].as_u64().unwrap() as u32,
                dec(&r["price"]),
            )
        })
        .collect();
    assert_eq!(ranges, first.price_ranges);
    let stock: i64 = rows.iter().map(|r| r.stock).sum();
    assert_eq!(sale["amountOnSale"].as_i64(), Some(stock));
    assert_eq!(sale["supportOnlineTrade"], true);
    assert!(sale["mixWholeSale"].is_boolean());
    assert!(sale["batchNumber"].is_u64());
    assert!([1, 2].contains(&sale["quoteType"].as_u64().unwrap()));
    assert!(dec(&info["shippingInfo"]["unitWeight"]) > Decimal::ZERO);
    assert!(info["shippingInfo"]["sendGoodsAddressText"].is_string());
    assert_eq!(
        info.pointer("/createTime").unwrap().as_str().unwrap().len(),
        22
    );
    let created = sync1688::api1688::time::parse_1688(info["createTime"].as_str().unwrap());
    let updated = sync1688::api1688::time::parse_1688(info["lastUpdateTime"].as_str().unwrap());
    assert!(created.unwrap() <= updated.unwrap());
}

#[tokio::test]
async fn the_answer_has_the_documented_envelope() {
    let sb = start(config(0)).await;
    let token = access_token(&sb).await;
    let offer_id = sb.product_ids()[0];
    follow(&sb, &token, offer_id).await;

    let a = product_info(&sb, &token, offer_id).await;

    assert!(a.content_type.starts_with("application/json"));
    let body = a.json();
    assert_eq!(body["success"], true);
    assert_eq!(body["bizGroupInfos"], serde_json::json!([]));
    assert!(body["productInfo"].is_object());
    assert_eq!(sb.calls(INFO), 1);
}

#[tokio::test]
async fn an_offer_without_skus_has_no_sku_infos_and_its_price_in_the_ranges() {
    let sb = start(config(0)).await;
    let token = access_token(&sb).await;
    let row = sb
        .offers()
        .into_iter()
        .find(|o| o.spec_id.is_empty())
        .expect("an offer without SKUs");

    let info = followed_info(&sb, &token, row.offer_id).await;

    let skus = info.get("skuInfos");
    assert!(
        skus.is_none_or(|s| s.as_array().is_some_and(Vec::is_empty)),
        "{info}"
    );
    let sale = &info["saleInfo"];
    assert_eq!(sale["quoteType"], 0);
    assert_eq!(dec(&sale["priceRanges"][0]["price"]), row.unit_price);
    assert_eq!(sale["amountOnSale"].as_i64(), Some(row.stock));
    assert_eq!(info["productCargoNumber"], row.cargo_number.as_str());
}

#[tokio::test]
async fn price_ranges_start_at_the_minimum_order_quantity_and_fall_with_quantity() {
    let sb = start(config(0)).await;
    let mut moqs = HashSet::new();
    let mut breaks = HashSet::new();

    for rows in offers_by_id(&sb).values() {
        let first = &rows[0];
        let ranges = &first.price_ranges;
        moqs.insert(first.min_order_quantity);
        breaks.insert(ranges.len());
        assert!([1, 2, 3, 5, 10, 20].contains(&first.min_order_quantity));
        assert_eq!(ranges[0].0, first.min_order_quantity, "{first:?}");
        let cheapest = rows.iter().map(|r| r.unit_price).min().unwrap();
        assert_eq!(ranges[0].1, cheapest, "the first range is the cheapest SKU");
        for pair in ranges.windows(2) {
            assert!(pair[0].0 < pair[1].0, "quantities rise: {ranges:?}");
            assert!(pair[0].1 > pair[1].1, "prices fall: {ranges:?}");
        }
        assert!(
            ranges
                .iter()
                .all(|(_, p)| *p > Decimal::ZERO && p.scale() <= 2)
        );
        assert!(rows.iter().all(|r| r.stock >= 0));
        let same_price = rows.iter().all(|r| r.unit_price == cheapest);
        if same_price {
            assert!((2..=3).contains(&ranges.len()), "{ranges:?}");
        } else {
            assert_eq!(ranges.len(), 1, "priced per SKU: one range");
        }
    }
    assert!(moqs.len() >= 3, "minimum order quantities vary: {moqs:?}");
    assert!(breaks.contains(&2) && breaks.contains(&3), "{breaks:?}");
}

#[tokio::test]
async fn a_product_and_an_order_line_agree_on_spec_attributes_and_seller() {
    let sb = start(config(40)).await;
    let token = access_token(&sb).await;
    let page = call(
        &sb,
        "com.alibaba.trade",
        "alibaba.trade.getBuyerOrderList",
        &[("page", "1"), ("pageSize", "50")],
        Some(&token),
    )
    .await
    .json();
    let (order, line) = page["result"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|o| {
            o["productItems"]
                .as_array()
                .unwrap()
                .iter()
                .find(|l| l["skuInfos"].as_array().is_some_and(|a| a.len() >= 2))
                .map(|l| (o.clone(), l.clone()))
        })
        .expect("an order line with two SKU attributes");

    let info = followed_info(&sb, &token, line["productID"].as_i64().unwrap()).await;

    let sku = info["skuInfos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["specId"] == line["specId"])
        .expect("the line's spec is a SKU of the product");
    assert_eq!(sku["skuId"], line["skuID"]);
    assert_eq!(sku["cargoNumber"], line["cargoNumber"]);
    let from_product: Vec<(String, String)> = sku["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["attributeName"].as_str().unwrap().to_owned(),
                a["attributeValue"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let from_order: Vec<(String, String)> = line["skuInfos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap().to_owned(),
                a["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(from_product, from_order);
    assert_eq!(info["subject"], line["name"]);
    assert_eq!(info["saleInfo"]["unit"], line["unit"]);
    let base = &order["baseInfo"];
    assert_eq!(info["supplierLoginId"], base["sellerLoginId"]);
    assert_eq!(info["supplierUserId"], base["sellerUserId"]);
}

#[tokio::test]
async fn money_is_written_as_exact_decimal_numbers() {
    let sb = start(config(0)).await;
    let token = access_token(&sb).await;
    // An offer whose prices have two decimals shows whether they survive as text.
    let row = sb
        .offers()
        .into_iter()
        .find(|o| !o.spec_id.is_empty() && o.unit_price.normalize().scale() == 2)
        .expect("a price with fen");

    let a = {
        follow(&sb, &token, row.offer_id).await;
        product_info(&sb, &token, row.offer_id).await
    };

    let price = row.unit_price.normalize().to_string();
    assert!(
        a.text.contains(&format!("\"price\":{price}")),
        "`{price}` appears as written: {}",
        a.text
    );
    assert!(!a.text.contains("\"price\":\""), "prices are numbers");
}

// ---------------------------------------------------------------------------------
// Status

#[tokio::test]
async fn a_few_offers_are_expired_and_one_is_deleted_and_they_are_served_with_that_status() {
    let sb = start(config(0)).await;
    let token = access_token(&sb).await;
    let by_id = offers_by_id(&sb);
    let status_of = |wanted: &str| -> Vec<i64> {
        by_id
            .iter()
            .filter(|(_, rows)| rows[0].status == wanted)
            .map(|(id, _)| *id)
            .collect()
    };
    let (expired, deleted) = (status_of("expired"), status_of("deleted"));
    assert!((2..=3).contains(&expired.len()), "{expired:?}");
    assert_eq!(deleted.len(), 1);
    assert!(status_of("published").len() >= by_id.len() - 4);
    assert_eq!(
        sb.offers()[0].status,
        "published",
        "the first seller's offers stay buyable"
    );

    let gone = followed_info(&sb, &token, deleted[0]).await;
    let lapsed = followed_info(&sb, &token, expired[0]).await;

    assert_eq!(gone["status"], "deleted");
    assert_eq!(lapsed["status"], "expired");
    for info in [&gone, &lapsed] {
        assert_eq!(info["saleInfo"]["supportOnlineTrade"], false);
    }
}

#[tokio::test]
async fn old_orders_still_name_offers_that_have_since_expired_or_been_deleted() {
    let sb = start(config(200)).await;
    let token = access_token(&sb).await;
    let offline: HashSet<i64> = sb
        .offers()
        .into_iter()
        .filter(|o| o.status != "published")
        .map(|o| o.offer_id)
        .collect();
    let mut named = HashSet::new();
    for page in 1..=4 {
        let page = page.to_string();
        let body = call(
            &sb,
            "com.alibaba.trade",
            "alibaba.trade.getBuyerOrderList",
            &[("page", &page), ("pageSize", "50")],
            Some(&token),
        )
        .await
        .json();
        for o in body["result"].as_array().unwrap() {
            for l in o["productItems"].as_array().unwrap() {
                named.insert(l["productID"].as_i64().unwrap());
            }
        }
    }

    assert!(
        offline.iter().any(|id| named.contains(id)),
        "offline {offline:?}"
    );
}

#[tokio::test]
async fn a_status_set_by_the_test_is_served_with_a_new_last_update_time() {
    let sb = start(config(0)).await;
    let token = access_token(&sb).await;
    let offer_id = sb.product_ids()[0];
    let before = followed_info(&sb, &token, offer_id).await;
    assert_eq!(before["status"], "published");

    sb.set_offer_status(offer_id, "expired");
    let expired = product_info(&sb, &token, offer_id).await.json()["productInfo"].clone();
    sb.set_offer_status(offer_id, "published");
    let back = product_info(&sb, &token, offer_id).await.json()["productInfo"].clone();

    assert_eq!(expired["status"], "expired");
    assert_eq!(back["status"], "published");
    let t = |v: &Value| sync1688::api1688::time::parse_1688(v.as_str().unwrap()).unwrap();
    assert!(t(&expired["lastUpdateTime"]) > t(&before["lastUpdateTime"]));
    assert!(
        (t(&expired["lastUpdateTime"]) - fixed_now())
            .num_seconds()
            .abs()
            < 60
    );
    assert!(
        sb.offers()
            .iter()
            .filter(|o| o.offer_id == offer_id)
            .all(|o| o.status == "published")
    );
}

#[tokio::test]
#[should_panic(expected = "not a 1688 offer status")]
async fn setting_a_status_1688_does_not_know_is_a_test_mistake() {
    let sb = start(config(0)).await;
    sb.set_offer_status(sb.product_ids()[0], "sold out");
}

// ---------------------------------------------------------------------------------
// Gateway rules

#[tokio::test]
async fn product_calls_need_a_signature_and_an_access_token() {
    let sb = start(config(0)).await;
    let token = access_token(&sb).await;
    let id = sb.product_ids()[0].to_string();

    let unsigned = call_unsigned(&sb, PRODUCT, FOLLOW, &[("productId", &id)], Some(&token)).await;
    let no_token = call(&sb, PRODUCT, FOLLOW, &[("productId", &id)], None).await;
    let unsigned_info =
        call_unsigned(&sb, PRODUCT, INFO, &[("productId", &id)], Some(&token)).await;

    assert_eq!(unsigned.status, 400);
    assert_eq!(unsigned.error_code(), "gw.SignatureMissing");
    assert_eq!(unsigned_info.error_code(), "gw.SignatureMissing");
    assert_eq!(no_token.status, 401);
    assert_eq!(no_token.error_code(), "401");
    assert!(
        !sb.is_followed(sb.product_ids()[0]),
        "a rejected call changes nothing"
    );
    assert_eq!(sb.calls(FOLLOW), 2);
    assert_eq!(sb.calls(INFO), 1);
}

#[tokio::test]
async fn a_queued_fault_hits_a_product_call_like_any_business_call() {
    let sb = start(config(0)).await;
    let token = access_token(&sb).await;
    let offer_id = sb.product_ids()[0];
    sb.push_faults([Fault::BadGateway]);

    let failed = follow(&sb, &token, offer_id).await;
    let retried = follow(&sb, &token, offer_id).await;

    assert_eq!(failed.status, 502);
    assert!(failed.content_type.starts_with("text/html"));
    assert_eq!(retried.json()["code"], 0);
}

// ---------------------------------------------------------------------------------
// Determinism

#[tokio::test]
async fn products_are_the_same_for_a_seed_and_differ_for_another() {
    let a = start(config(0)).await;
    let b = start(config(0)).await;
    let other = start(SandboxConfig {
        seed: 7,
        ..config(0)
    })
    .await;
    let (ta, tb) = (access_token(&a).await, access_token(&b).await);

    assert_eq!(a.product_ids(), b.product_ids());
    assert_eq!(a.offers(), b.offers());
    assert_ne!(a.product_ids(), other.product_ids());
    for &offer_id in a.product_ids().iter().step_by(9) {
        let from_a = followed_info(&a, &ta, offer_id).await;
        let from_b = followed_info(&b, &tb, offer_id).await;
        assert_eq!(from_a, from_b, "offer {offer_id}");
    }
}

#[tokio::test]
async fn product_ids_list_every_offer_once_in_catalogue_order() {
    let sb = start(config(0)).await;

    let ids = sb.product_ids();

    let mut from_rows: Vec<i64> = Vec::new();
    for row in sb.offers() {
        if from_rows.last() != Some(&row.offer_id) {
            from_rows.push(row.offer_id);
        }
    }
    assert_eq!(ids, from_rows);
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), ids.len());
}
