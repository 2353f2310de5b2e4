//! The sandbox speaks the 1688 gateway's protocol (1688-open-api.md §1–§4, §8), checked
//! over HTTP with a bare reqwest client and the crate's signing code.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, TimeDelta, Utc};
use rust_decimal::Decimal;
use serde_json::Value;
use sync1688::api1688::signing;
use sync1688::sandbox::{
    self, Fault, NewOrder, OrderChange, SandboxConfig, SandboxHandle, Shipment,
};

mod support;

use support::sandbox_calls::{Answer, access_token, answer, call, http, oauth};

const TRADE: &str = "com.alibaba.trade";
const LIST: &str = "alibaba.trade.getBuyerOrderList";
const VIEW: &str = "alibaba.trade.get.buyerView";

fn fixed_now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-04-20T09:30:00+08:00")
        .unwrap()
        .with_timezone(&Utc)
}

fn config(orders: usize) -> SandboxConfig {
    SandboxConfig {
        orders,
        ..SandboxConfig::default()
    }
}

/// A sandbox whose clock starts at [`fixed_now`], so that fixed dates stay recent.
fn at_fixed_now(orders: usize) -> SandboxConfig {
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

async fn get_token_with(sb: &SandboxHandle, form: &[(&str, &str)]) -> Answer {
    oauth(sb, "getToken", form).await
}

async fn token(sb: &SandboxHandle) -> String {
    access_token(sb).await
}

async fn list(sb: &SandboxHandle, token: &str, params: &[(&str, &str)]) -> Answer {
    call(sb, TRADE, LIST, params, Some(token)).await
}

fn ids_of(page: &Value) -> Vec<i64> {
    page["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["baseInfo"]["id"].as_i64().unwrap())
        .collect()
}

fn dec(v: &Value) -> Decimal {
    assert!(v.is_number(), "money is a JSON number: {v}");
    v.to_string().parse().unwrap()
}

// ---------------------------------------------------------------------------------
// Routing and signatures

#[tokio::test]
async fn a_correctly_signed_current_time_call_returns_a_bare_1688_time_string() {
    let sb = start(config(0)).await;
    let a = call(
        &sb,
        "system",
        "currentTime",
        &[("_aop_timestamp", "1776648600000")],
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let t = a.json();
    let s = t.as_str().expect("a bare JSON string");
    assert_eq!(s.len(), 22);
    assert!(s.ends_with("+0800"));
    let parsed = sync1688::api1688::time::parse_1688(s).unwrap();
    assert!((parsed - Utc::now()).num_seconds().abs() < 5);
    assert_eq!(sb.calls("currentTime"), 1);
}

#[tokio::test]
async fn get_and_post_parameters_are_merged_and_signed_together() {
    let sb = start(config(0)).await;
    let app_key = &sb.config().app_key;
    let path = signing::url_path(1, "system", "currentTime", app_key);
    let sig = signing::sign(&sb.config().app_secret, &path, [("a", "1"), ("b", "2")]);
    let url = format!(
        "{}/param2/1/system/currentTime/{app_key}?a=1",
        sb.base_url()
    );
    let a = answer(
        http()
            .post(url)
            .form(&[("b", "2"), ("_aop_signature", &sig)])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let url = format!(
        "{}/param2/1/system/currentTime/{app_key}?a=1&b=2&_aop_signature={sig}",
        sb.base_url()
    );
    let a = answer(http().get(url).send().await.unwrap()).await;
    assert_eq!(a.status, 200, "{}", a.text);
}

#[tokio::test]
async fn a_tampered_parameter_is_rejected_as_gw_signature_invalid_with_the_gateway_body() {
    let sb = start(config(0)).await;
    let app_key = &sb.config().app_key;
    let path = signing::url_path(1, "system", "currentTime", app_key);
    let sig = signing::sign(&sb.config().app_secret, &path, [("a", "1")]);
    let url = format!("{}/param2/1/system/currentTime/{app_key}", sb.base_url());
    let a = answer(
        http()
            .post(url)
            .form(&[("a", "2"), ("_aop_signature", &sig)])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(a.status, 400);
    assert!(a.content_type.starts_with("application/json"));
    let body = a.json();
    assert_eq!(body["error_code"], "gw.SignatureInvalid");
    for key in ["error_message", "exception", "request_id"] {
        assert!(body[key].is_string(), "{key} in {body}");
    }
}

#[tokio::test]
async fn a_signature_over_sorted_keys_is_rejected_where_that_order_differs() {
    let sb = start(config(0)).await;
    let app_key = sb.config().app_key.clone();
    let secret = sb.config().app_secret.clone();
    let url = format!("{}/param2/1/system/currentTime/{app_key}", sb.base_url());
    let path = signing::url_path(1, "system", "currentTime", &app_key);
    // Keys `a` and `ab`: sorting k+v strings gives "ab1" < "az", sorting keys the reverse.
    let key_sorted = signing::hmac_sha1_upper_hex(&secret, &format!("{path}azab1"));
    let a = answer(
        http()
            .post(&url)
            .form(&[("a", "z"), ("ab", "1"), ("_aop_signature", &key_sorted)])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(a.error_code(), "gw.SignatureInvalid");
    let official = signing::sign(&secret, &path, [("a", "z"), ("ab", "1")]);
    let a = answer(
        http()
            .post(&url)
            .form(&[("a", "z"), ("ab", "1"), ("_aop_signature", &official)])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
}

#[tokio::test]
async fn a_call_without_a_signature_is_gw_signature_missing() {
    let sb = start(config(0)).await;
    let url = format!(
        "{}/param2/1/system/currentTime/{}",
        sb.base_url(),
        sb.config().app_key
    );
    let a = answer(http().post(url).form(&[("a", "1")]).send().await.unwrap()).await;
    assert_eq!(a.status, 400);
    assert_eq!(a.error_code(), "gw.SignatureMissing");
}

#[tokio::test]
async fn the_app_key_must_be_the_last_path_segment_and_the_right_one() {
    let sb = start(config(0)).await;
    let url = format!(
        "{}/param2/1/system/currentTime?appKey={}",
        sb.base_url(),
        sb.config().app_key
    );
    let a = answer(http().get(url).send().await.unwrap()).await;
    assert_eq!(
        (a.status, a.error_code().as_str()),
        (400, "gw.AppKeyMissing")
    );
    let url = format!("{}/param2/1/system/currentTime/7654321", sb.base_url());
    let a = answer(http().get(url).send().await.unwrap()).await;
    assert_eq!(
        (a.status, a.error_code().as_str()),
        (400, "gw.AppKeyNotFound")
    );
}

#[tokio::test]
async fn an_unknown_api_is_gw_api_unsupported_and_a_seller_api_is_acl_declined() {
    let sb = start(config(0)).await;
    let a = call(&sb, TRADE, "alibaba.trade.noSuchThing", &[], None).await;
    assert_eq!(
        (a.status, a.error_code().as_str()),
        (400, "gw.APIUnsupported")
    );
    let a = call(
        &sb,
        "com.alibaba.product",
        "alibaba.product.get",
        &[("productID", "1")],
        None,
    )
    .await;
    assert_eq!(
        (a.status, a.error_code().as_str()),
        (400, "gw.APIACLDecline")
    );
}

// ---------------------------------------------------------------------------------
// Tokens

#[tokio::test]
async fn get_token_answers_expires_in_as_a_string_and_a_new_token_each_time() {
    let sb = start(config(0)).await;
    let c = sb.config().clone();
    let form = [
        ("grant_type", "refresh_token"),
        ("client_id", c.app_key.as_str()),
        ("client_secret", c.app_secret.as_str()),
        ("refresh_token", c.refresh_token.as_str()),
    ];
    let first = get_token_with(&sb, &form).await;
    assert_eq!(first.status, 200, "{}", first.text);
    let body = first.json();
    assert_eq!(body["expires_in"], Value::String("36000".into()));
    assert!(body["memberId"].as_str().unwrap().starts_with("b2b-"));
    assert!(body["aliId"].is_string());
    assert!(body["resource_owner"].is_string());
    let timeout = body["refresh_token_timeout"].as_str().unwrap();
    assert!(
        sync1688::api1688::time::parse_1688(timeout).unwrap() > Utc::now() + TimeDelta::days(150)
    );
    let second = get_token_with(&sb, &form).await.json();
    assert_ne!(body["access_token"], second["access_token"]);
    assert_eq!(sb.issued_access_tokens().len(), 2);
}

#[tokio::test]
async fn get_token_accepts_the_php_sdks_refresh_token_field_name() {
    let sb = start(config(0)).await;
    let c = sb.config().clone();
    let a = get_token_with(
        &sb,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &c.app_key),
            ("client_secret", &c.app_secret),
            ("refreshToken", &c.refresh_token),
        ],
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
}

#[tokio::test]
async fn a_wrong_refresh_token_is_invalid_grant_and_a_wrong_secret_invalid_client() {
    let sb = start(config(0)).await;
    let c = sb.config().clone();
    let a = get_token_with(
        &sb,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &c.app_key),
            ("client_secret", &c.app_secret),
            ("refresh_token", "stolen"),
        ],
    )
    .await;
    assert_eq!(
        (a.status, a.json()["error"].as_str().unwrap()),
        (400, "invalid_grant")
    );
    let a = get_token_with(
        &sb,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &c.app_key),
            ("client_secret", "wrong"),
            ("refresh_token", &c.refresh_token),
        ],
    )
    .await;
    assert_eq!(
        (a.status, a.json()["error"].as_str().unwrap()),
        (401, "invalid_client")
    );
}

#[tokio::test]
async fn an_authorization_code_is_exchanged_once_for_both_tokens() {
    let sb = start(config(0)).await;
    let c = sb.config().clone();
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let url = format!(
        "http://{}/oauth/authorize?client_id={}&site=1688&redirect_uri=http%3A%2F%2Ferp.example%2Fcb&state=xyz",
        sb.local_addr(),
        c.app_key
    );
    let resp = no_redirects.get(url).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 302);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with("http://erp.example/cb?code=") && location.ends_with("&state=xyz"),
        "{location}"
    );
    let code = location
        .split("code=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_owned();
    let form = [
        ("grant_type", "authorization_code"),
        ("need_refresh_token", "true"),
        ("client_id", c.app_key.as_str()),
        ("client_secret", c.app_secret.as_str()),
        ("redirect_uri", "http://erp.example/cb"),
        ("code", code.as_str()),
    ];
    let a = get_token_with(&sb, &form).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let issued = a.json()["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(
        issued, c.refresh_token,
        "a code exchange issues a new refresh token"
    );
    assert_eq!(sb.issued_refresh_tokens(), vec![issued]);
    let again = get_token_with(&sb, &form).await;
    assert_eq!(
        again.json()["error"],
        "invalid_grant",
        "codes are single-use"
    );
}

#[tokio::test]
async fn a_business_call_without_a_token_or_with_an_unknown_one_gets_401() {
    let sb = start(config(5)).await;
    for token in [None, Some("not-a-token")] {
        let a = call(&sb, TRADE, LIST, &[("page", "1")], token).await;
        assert_eq!(a.status, 401, "{}", a.text);
        assert_eq!(a.json()["error_code"], "401");
        assert_eq!(a.json()["error_message"], "Request need user authenticated");
    }
}

#[tokio::test]
async fn expired_access_tokens_get_401_until_the_client_refreshes() {
    let sb = start(config(5)).await;
    let t = token(&sb).await;
    assert_eq!(list(&sb, &t, &[]).await.status, 200);
    sb.expire_access_tokens();
    assert_eq!(list(&sb, &t, &[]).await.status, 401);
    let fresh = token(&sb).await;
    assert_eq!(list(&sb, &fresh, &[]).await.status, 200);
}

#[tokio::test]
async fn an_access_token_dies_after_its_ttl() {
    let sb = start(SandboxConfig {
        orders: 1,
        access_token_ttl_secs: 1,
        ..SandboxConfig::default()
    })
    .await;
    let t = token(&sb).await;
    assert_eq!(list(&sb, &t, &[]).await.status, 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(list(&sb, &t, &[]).await.status, 401);
}

// ---------------------------------------------------------------------------------
// The order list

#[tokio::test]
async fn pages_are_one_based_with_a_short_last_page_and_an_empty_page_past_the_end() {
    let sb = start(config(120)).await;
    let t = token(&sb).await;
    let mut seen = Vec::new();
    for (page, expected) in [("1", 50), ("2", 50), ("3", 20), ("4", 0)] {
        let body = list(&sb, &t, &[("page", page), ("pageSize", "50")])
            .await
            .json();
        assert_eq!(body["totalRecord"], 120);
        assert_eq!(
            body["result"].as_array().unwrap().len(),
            expected,
            "page {page}"
        );
        seen.extend(ids_of(&body));
    }
    assert_eq!(seen, sb.order_ids(), "every order once, newest first");
}

#[tokio::test]
async fn a_prerendered_sandbox_answers_the_same_pages_and_still_shows_changes() {
    let plain = start(at_fixed_now(120)).await;
    let warm = start(SandboxConfig {
        prerender: true,
        ..at_fixed_now(120)
    })
    .await;
    let (plain_token, warm_token) = (token(&plain).await, token(&warm).await);
    let page = |sb, token, page| async move { list(sb, token, &[("page", page)]).await.json() };
    for number in ["1", "2", "3"] {
        assert_eq!(
            page(&warm, &warm_token, number).await,
            page(&plain, &plain_token, number).await,
            "page {number}"
        );
    }

    let newest = warm.order_ids()[0];
    warm.modify_order(newest, OrderChange::Pay);

    let first = page(&warm, &warm_token, "1").await;
    assert_eq!(first["result"][0]["baseInfo"]["id"], newest);
    assert_eq!(first["result"][0]["baseInfo"]["status"], "waitsellersend");
}

#[tokio::test]
async fn the_list_is_newest_first_by_create_time() {
    let sb = start(config(80)).await;
    let t = token(&sb).await;
    let body = list(&sb, &t, &[("pageSize", "50")]).await.json();
    let times: Vec<DateTime<Utc>> = body["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            sync1688::api1688::time::parse_1688(o["baseInfo"]["createTime"].as_str().unwrap())
                .unwrap()
        })
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]));
}

#[tokio::test]
async fn a_page_size_above_fifty_is_clamped_to_fifty() {
    let sb = start(config(120)).await;
    let t = token(&sb).await;
    let body = list(&sb, &t, &[("page", "1"), ("pageSize", "100")])
        .await
        .json();
    assert_eq!(body["result"].as_array().unwrap().len(), 50);
    let body = list(&sb, &t, &[("page", "3"), ("pageSize", "100")])
        .await
        .json();
    assert_eq!(
        body["result"].as_array().unwrap().len(),
        20,
        "pages are counted in clamped sizes"
    );
}

#[tokio::test]
async fn the_create_time_window_includes_both_bounds_in_any_offset() {
    let sb = start(at_fixed_now(0)).await;
    let t = token(&sb).await;
    let at = DateTime::parse_from_rfc3339("2026-04-19T00:00:00+08:00").unwrap();
    let id = sb.insert_order(NewOrder::created_at(at));
    let minus7 = FixedOffset::west_opt(7 * 3600).unwrap();
    let start = at
        .with_timezone(&minus7)
        .format("%Y%m%d%H%M%S%3f%z")
        .to_string();
    assert_eq!(start, "20260418090000000-0700");
    let end = "20260419000000000+0800";
    let body = list(
        &sb,
        &t,
        &[("createStartTime", &start), ("createEndTime", end)],
    )
    .await
    .json();
    assert_eq!(ids_of(&body), vec![id]);
    let just_after = "20260419000000001+0800";
    let body = list(&sb, &t, &[("createStartTime", just_after)])
        .await
        .json();
    assert_eq!(body["totalRecord"], 0);
    let just_before = "20260418235959999+0800";
    let body = list(&sb, &t, &[("createEndTime", just_before)])
        .await
        .json();
    assert_eq!(body["totalRecord"], 0);
}

#[tokio::test]
async fn the_modify_time_window_finds_an_order_changed_after_its_creation() {
    let sb = start(config(30)).await;
    let t = token(&sb).await;
    let since = sync1688::api1688::time::format_1688(sb.now());
    let id = sb.order_ids()[29];
    sb.modify_order(id, OrderChange::Touch);
    let body = list(&sb, &t, &[("modifyStartTime", &since)]).await.json();
    assert_eq!(ids_of(&body), vec![id]);
}

#[tokio::test]
async fn a_malformed_date_is_a_business_error_that_names_the_parameter() {
    let sb = start(config(3)).await;
    let t = token(&sb).await;
    let a = list(&sb, &t, &[("createStartTime", "2026-13-45")]).await;
    assert_eq!(a.status, 200);
    let body = a.json();
    assert!(body["errorCode"].is_string());
    assert!(
        body["errorMessage"]
            .as_str()
            .unwrap()
            .contains("createStartTime"),
        "{body}"
    );
}

#[tokio::test]
async fn status_and_history_filters_select_what_1688_would() {
    let sb = start(config(60)).await;
    let t = token(&sb).await;
    let body = list(
        &sb,
        &t,
        &[("orderStatus", "waitsellersend"), ("pageSize", "50")],
    )
    .await
    .json();
    assert!(body["totalRecord"].as_u64().unwrap() > 0);
    for o in body["result"].as_array().unwrap() {
        assert_eq!(o["baseInfo"]["status"], "waitsellersend");
    }
    let old = sb.insert_order(NewOrder::created_at(sb.now() - TimeDelta::days(200)));
    let current = list(&sb, &t, &[("pageSize", "50"), ("isHis", "false")])
        .await
        .json();
    assert_eq!(
        current["totalRecord"], 60,
        "old orders are in the history table"
    );
    let history = list(&sb, &t, &[("isHis", "true")]).await.json();
    assert_eq!(ids_of(&history), vec![old]);
}

#[tokio::test]
async fn ids_above_2_pow_53_appear_exactly_in_the_raw_json_text() {
    let sb = start(config(20)).await;
    let t = token(&sb).await;
    let id: i64 = 3_657_499_272_179_232_333;
    assert!(id > 1 << 53);
    sb.insert_order(NewOrder::created_at(sb.now()).with_id(id));
    let a = list(&sb, &t, &[("page", "1"), ("pageSize", "1")]).await;
    assert!(a.text.contains(r#""id":3657499272179232333"#), "{}", a.text);
    assert!(a.text.contains(r#""idOfStr":"3657499272179232333""#));
    assert!(
        a.text
            .contains(r#""subItemIDString":"3657499272179232333""#)
    );
    let all = list(&sb, &t, &[("pageSize", "50")]).await.json();
    for o in all["result"].as_array().unwrap() {
        let id = o["baseInfo"]["id"].as_i64().unwrap();
        assert!(id > 1 << 53 && (18..=19).contains(&id.to_string().len()));
        let twin = &o["baseInfo"]["idOfStr"];
        assert!(
            twin.as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| twin.to_string())
                == id.to_string()
        );
    }
}

#[tokio::test]
async fn an_order_written_in_minus_0700_names_the_same_instant() {
    let sb = start(at_fixed_now(0)).await;
    let t = token(&sb).await;
    let created = DateTime::parse_from_rfc3339("2026-04-19T10:11:12.345+08:00").unwrap();
    sb.insert_order(NewOrder::created_at(created).with_offset_hours(-7));
    let body = list(&sb, &t, &[]).await.json();
    let text = body["result"][0]["baseInfo"]["createTime"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(text, "20260418191112345-0700");
    assert_eq!(sync1688::api1688::time::parse_1688(&text).unwrap(), created);
}

#[tokio::test]
async fn trade_info_has_the_real_shape_and_its_money_adds_up() {
    let sb = start(at_fixed_now(150)).await;
    let t = token(&sb).await;
    let mut statuses = HashSet::new();
    let mut without_sku = 0;
    for page in ["1", "2", "3"] {
        let body = list(&sb, &t, &[("page", page), ("pageSize", "50")])
            .await
            .json();
        for o in body["result"].as_array().unwrap() {
            let base = &o["baseInfo"];
            statuses.insert(base["status"].as_str().unwrap().to_owned());
            assert_eq!(base["tradeType"], "50060");
            assert!(
                base["sellerLoginId"].is_string()
                    && base["sellerID"].as_str().unwrap().starts_with("b2b-")
            );
            assert!(base["sellerContact"]["companyName"].is_string());
            assert!(base["discount"].is_i64(), "discount is integer fen");
            let mut sum = Decimal::ZERO;
            let items = o["productItems"].as_array().unwrap();
            assert!((1..=8).contains(&items.len()));
            for item in items {
                let amount = dec(&item["itemAmount"]);
                let gross = dec(&item["price"]) * dec(&item["quantity"]);
                let entry = Decimal::new(item["entryDiscount"].as_i64().unwrap(), 2);
                assert_eq!(amount, gross - entry);
                sum += amount;
                assert!(item["subItemIDString"].is_string());
                assert!(item["statusStr"].is_string());
                match item.get("specId") {
                    Some(spec) => {
                        assert_eq!(spec.as_str().unwrap().len(), 32);
                        assert!(item["skuID"].is_i64());
                        assert!(!item["skuInfos"].as_array().unwrap().is_empty());
                    }
                    None => {
                        assert!(item.get("skuID").is_none());
                        without_sku += 1;
                    }
                }
                let expire = item["gmtPayExpireTime"].as_str().unwrap();
                assert_eq!(expire.len(), 19, "yyyy-MM-dd HH:mm:ss");
            }
            assert_eq!(dec(&base["sumProductPayment"]), sum);
            let discount = Decimal::new(base["discount"].as_i64().unwrap(), 2);
            assert_eq!(
                dec(&base["totalAmount"]),
                sum + dec(&base["shippingFee"]) + discount
            );
            assert!(
                o["nativeLogistics"].get("logisticsItems").is_none(),
                "the list has no parcels"
            );
            assert!(o["tradeTerms"].is_array() && o["orderRateInfo"].is_object());
        }
    }
    for s in [
        "waitbuyerpay",
        "waitsellersend",
        "waitbuyerreceive",
        "success",
        "cancel",
        "terminated",
        "waitsellerconfirm",
    ] {
        assert!(statuses.contains(s), "no {s} among {statuses:?}");
    }
    assert!(without_sku > 0, "some lines are offers without SKUs");
}

#[tokio::test]
async fn generation_is_deterministic_for_a_seed_and_a_now() {
    let fixed = |seed| SandboxConfig {
        orders: 40,
        seed,
        now: Some(fixed_now()),
        ..SandboxConfig::default()
    };
    let (a, b, c) = (
        start(fixed(7)).await,
        start(fixed(7)).await,
        start(fixed(8)).await,
    );
    assert_eq!(a.offers(), b.offers());
    assert_eq!(a.order_ids(), b.order_ids());
    let (ta, tb, tc) = (token(&a).await, token(&b).await, token(&c).await);
    let page_a = list(&a, &ta, &[("pageSize", "50")]).await.text;
    let page_b = list(&b, &tb, &[("pageSize", "50")]).await.text;
    assert_eq!(page_a, page_b);
    assert_ne!(page_a, list(&c, &tc, &[("pageSize", "50")]).await.text);
    assert!((40..=400).contains(&a.offers().len()));
    let offer_ids: HashSet<i64> = a.offers().iter().map(|o| o.offer_id).collect();
    assert!((40..=80).contains(&offer_ids.len()));
    assert!(a.offers().iter().any(|o| o.spec_id.is_empty()));
}

// ---------------------------------------------------------------------------------
// Order detail

#[tokio::test]
async fn buyer_view_shows_an_order_and_its_parcels_once_shipped() {
    let sb = start(config(0)).await;
    let t = token(&sb).await;
    let id = sb.insert_order(NewOrder::created_at(sb.now() - TimeDelta::hours(3)).with_lines(2));
    let id_text = id.to_string();
    let body = call(
        &sb,
        TRADE,
        VIEW,
        &[("webSite", "1688"), ("orderId", &id_text)],
        Some(&t),
    )
    .await
    .json();
    assert_eq!(body["success"], "true");
    assert_eq!(body["result"]["baseInfo"]["id"].as_i64(), Some(id));
    assert!(
        body["result"]["nativeLogistics"]
            .get("logisticsItems")
            .is_none()
    );

    sb.modify_order(id, OrderChange::Pay);
    sb.modify_order(
        id,
        OrderChange::Ship(Shipment {
            lines: vec![0],
            company: Some("ZTO".into()),
            bill_no: Some("78123456789012".into()),
        }),
    );
    let body = call(
        &sb,
        TRADE,
        VIEW,
        &[("webSite", "1688"), ("orderId", &id_text)],
        Some(&t),
    )
    .await
    .json();
    let result = &body["result"];
    assert_eq!(
        result["baseInfo"]["status"], "waitsellersend",
        "one line is still to ship"
    );
    let parcels = result["nativeLogistics"]["logisticsItems"]
        .as_array()
        .unwrap();
    assert_eq!(parcels.len(), 1);
    assert_eq!(parcels[0]["logisticsBillNo"], "78123456789012");
    assert_eq!(parcels[0]["logisticsCompanyName"], "中通快递(ZTO)");
    let first_line = result["productItems"][0]["subItemIDString"]
        .as_str()
        .unwrap();
    assert_eq!(parcels[0]["subItemIds"], first_line);

    sb.modify_order(id, OrderChange::Ship(Shipment::default()));
    let body = call(
        &sb,
        TRADE,
        VIEW,
        &[("webSite", "1688"), ("orderId", &id_text)],
        Some(&t),
    )
    .await
    .json();
    assert_eq!(body["result"]["baseInfo"]["status"], "waitbuyerreceive");
    assert_eq!(
        body["result"]["nativeLogistics"]["logisticsItems"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn buyer_view_of_an_unknown_order_is_a_business_error() {
    let sb = start(config(1)).await;
    let t = token(&sb).await;
    let a = call(
        &sb,
        TRADE,
        VIEW,
        &[("webSite", "1688"), ("orderId", "1234567890123456789")],
        Some(&t),
    )
    .await;
    assert_eq!(a.status, 200);
    let body = a.json();
    assert_eq!(body["success"], "false");
    assert!(body["errorCode"].is_string() && body["errorMessage"].is_string());
}

#[tokio::test]
async fn logistics_infos_answer_500_2_before_shipment_and_parcels_after() {
    let sb = start(config(0)).await;
    let t = token(&sb).await;
    let id = sb
        .insert_order(NewOrder::new().with_status("waitsellersend"))
        .to_string();
    let api = "alibaba.trade.getLogisticsInfos.buyerView";
    let params = [("webSite", "1688"), ("orderId", id.as_str())];
    let body = call(&sb, "com.alibaba.logistics", api, &params, Some(&t))
        .await
        .json();
    assert_eq!(
        (body["success"].clone(), body["errorCode"].clone()),
        (Value::Bool(false), Value::from("500_2"))
    );
    sb.modify_order(id.parse().unwrap(), OrderChange::Ship(Shipment::default()));
    let body = call(&sb, "com.alibaba.logistics", api, &params, Some(&t))
        .await
        .json();
    assert_eq!(body["success"], true);
    assert!(body["result"][0]["logisticsBillNo"].is_string());
}

#[tokio::test]
async fn a_change_moves_modify_time_and_the_money_follows() {
    let sb = start(config(0)).await;
    let t = token(&sb).await;
    let created = sb.now() - TimeDelta::hours(1);
    let id = sb.insert_order(
        NewOrder::created_at(created)
            .with_lines(1)
            .with_shipping_fee(Decimal::new(800, 2)),
    );
    sb.modify_order(
        id,
        OrderChange::SetQuantity {
            line: 0,
            quantity: 10,
        },
    );
    sb.modify_order(
        id,
        OrderChange::SetPrice {
            line: 0,
            price: Decimal::new(399, 2),
        },
    );
    sb.modify_order(id, OrderChange::SetDiscount(-150));
    sb.modify_order(id, OrderChange::Status("waitsellerconfirm".into()));
    let body = list(&sb, &t, &[]).await.json();
    let base = &body["result"][0]["baseInfo"];
    assert_eq!(base["status"], "waitsellerconfirm");
    assert_eq!(dec(&base["sumProductPayment"]), Decimal::new(3990, 2));
    assert_eq!(dec(&base["totalAmount"]), Decimal::new(4640, 2));
    assert_eq!(base["sumProductPayment"].to_string(), "39.9");
    let modified =
        sync1688::api1688::time::parse_1688(base["modifyTime"].as_str().unwrap()).unwrap();
    assert!(modified > created + TimeDelta::minutes(59));
}

// ---------------------------------------------------------------------------------
// Limits and faults

#[tokio::test]
async fn going_over_the_qps_limit_answers_gw_qos_app_frequency_limit() {
    let sb = start(SandboxConfig {
        orders: 1,
        rate_limit_qps: Some(2),
        ..SandboxConfig::default()
    })
    .await;
    let t = token(&sb).await;
    let mut codes = Vec::new();
    for _ in 0..6 {
        let a = list(&sb, &t, &[]).await;
        codes.push((
            a.status,
            if a.status == 200 {
                String::new()
            } else {
                a.error_code()
            },
        ));
    }
    assert_eq!(codes[0].0, 200);
    assert!(
        codes.contains(&(400, "gw.QosAppFrequencyLimit".to_owned())),
        "{codes:?}"
    );
    let refused = codes.iter().filter(|(status, _)| *status == 400).count();
    assert_eq!(sb.rate_limited_calls(), refused, "the refusals are counted");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(list(&sb, &t, &[]).await.status, 200, "the limit recovers");
}

#[tokio::test]
async fn each_queued_fault_hits_one_business_call_in_order() {
    let sb = start(config(5)).await;
    let t = token(&sb).await;
    sb.push_faults([
        Fault::BadGateway,
        Fault::RateLimited,
        Fault::ServerError,
        Fault::TruncatedJson,
        Fault::Unauthorized,
    ]);
    // Token and system calls do not consume faults.
    let t2 = token(&sb).await;
    assert_eq!(
        call(&sb, "system", "currentTime", &[], None).await.status,
        200
    );

    let a = list(&sb, &t, &[]).await;
    assert_eq!(a.status, 502);
    assert!(a.content_type.starts_with("text/html") && a.text.contains("502 Bad Gateway"));
    let a = list(&sb, &t, &[]).await;
    assert_eq!(
        (a.status, a.error_code().as_str()),
        (400, "gw.QosAppFrequencyLimit")
    );
    let a = list(&sb, &t, &[]).await;
    assert_eq!(a.status, 500);
    let a = list(&sb, &t, &[]).await;
    assert_eq!(a.status, 200);
    assert!(a.text.starts_with("{\"result\""), "half of the real answer");
    assert!(
        serde_json::from_str::<Value>(&a.text).is_err(),
        "cut in half"
    );
    let a = list(&sb, &t, &[]).await;
    assert_eq!((a.status, a.error_code().as_str()), (401, "401"));
    let a = list(&sb, &t2, &[]).await;
    assert_eq!(a.status, 200, "the queue is empty again");
    assert_eq!(a.json()["totalRecord"], 5);
    assert_eq!(sb.calls(LIST), 6);
}

#[tokio::test]
async fn a_delay_fault_outlasts_a_client_timeout() {
    let sb = start(config(1)).await;
    let t = token(&sb).await;
    sb.push_faults([Fault::Delay(Duration::from_secs(3))]);
    let app_key = sb.config().app_key.clone();
    let path = signing::url_path(1, TRADE, LIST, &app_key);
    let sig = signing::sign(
        &sb.config().app_secret,
        &path,
        [("access_token", t.as_str())],
    );
    let url = format!("{}/param2/1/{TRADE}/{LIST}/{app_key}", sb.base_url());
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let err = impatient
        .post(&url)
        .form(&[("access_token", t.as_str()), ("_aop_signature", &sig)])
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert_eq!(list(&sb, &t, &[]).await.status, 200);
}

#[tokio::test]
async fn an_error_rate_of_one_fails_every_business_call_with_a_502_page() {
    let sb = start(SandboxConfig {
        orders: 1,
        error_rate: 1.0,
        ..SandboxConfig::default()
    })
    .await;
    let t = token(&sb).await;
    for _ in 0..3 {
        assert_eq!(list(&sb, &t, &[]).await.status, 502);
    }
    assert_eq!(
        call(&sb, "system", "currentTime", &[], None).await.status,
        200
    );
}

#[tokio::test]
async fn latency_is_added_to_every_call() {
    let sb = start(SandboxConfig {
        orders: 0,
        latency: Duration::from_millis(200),
        ..SandboxConfig::default()
    })
    .await;
    let started = std::time::Instant::now();
    call(&sb, "system", "currentTime", &[], None).await;
    assert!(started.elapsed() >= Duration::from_millis(200));
}

#[tokio::test]
async fn shutdown_frees_the_port() {
    let sb = start(config(0)).await;
    let addr = sb.local_addr();
    sb.shutdown().await;
    assert!(
        reqwest::get(format!("http://{addr}/openapi/"))
            .await
            .is_err()
    );
}
