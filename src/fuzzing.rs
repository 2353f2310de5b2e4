//! One entry point per fuzz target: raw bytes in, nothing out.
//!
//! Everything 1688 sends and every file a person imports reaches a parser as untrusted
//! bytes, and the daemon must answer each bad input with a typed error, never a panic
//! (a panic inside a sync round takes the account's run down with it). These functions
//! feed bytes along the same path the real caller takes — the HTTP client's `classify`
//! first, then the API's reader; a file's byte-order mark and UTF-8 check before a CSV
//! importer — and also render every error the way it would be logged, so that a panic
//! in a `Display` is found too. A panic is the only possible failure.
//!
//! Two harnesses share them: the cargo-fuzz targets in `fuzz/` (coverage-guided, run
//! by `scripts/fuzz.sh`) and `tests/fuzz_inputs.rs`, which replays the committed seed
//! corpora and deterministic mutations of them on the stable toolchain in every
//! `cargo test`.

use std::fmt::{Debug, Display};

use serde_json::Value;

use crate::api1688::client::{Api, classify, classify_borrowed, read_order_list};
use crate::api1688::json::JsonRef;
use crate::api1688::page_scan::read_order_list_known;
use crate::api1688::{orders, products, purchasing, token};
use crate::domain::KnownOrders;

/// The statuses a body is tried with: each takes a different branch of the readers.
const STATUSES: [u16; 7] = [200, 400, 401, 404, 429, 500, 502];

/// The offer a product answer is read for when the body names none.
const ASKED_OFFER: i64 = 624_508_513_236;

/// A `getBuyerOrderList` page, as `Client1688::buyer_order_list` reads it (from a tree
/// borrowed from the body), and read again through a `Value`: the two readers must agree
/// on every body, so a difference panics like a crash. Scanned for known orders, the
/// page must read the same, and once its orders are known, answer with their ids.
pub fn order_list(data: &[u8]) {
    let api = Api::BUYER_ORDER_LIST.name;
    let page = read_order_list(api, 200, data);
    let through_value =
        classify(api, 200, data).map(|body| orders::OrderListPage::from_body(&body));
    assert_same(&page, &through_value);
    check_known_pages(api, data, &page);
    match page {
        Ok(Ok(page)) => {
            for order in &page.orders {
                if let Err(e) = order {
                    render(e);
                }
            }
        }
        Ok(Err(detail)) => render(detail),
        Err(e) => render(e),
    }
}

/// The page scan of [`read_order_list_known`] against the full reader's `page`.
fn check_known_pages(
    api: &str,
    data: &[u8],
    page: &Result<Result<orders::OrderListPage, String>, crate::api1688::ApiError>,
) {
    let nothing_known = KnownOrders::new();
    let scanned = read_order_list_known(api, 200, data, &nothing_known);
    let strip = |p: &Result<Result<orders::OrderListPage, String>, _>| match p {
        Ok(Ok(p)) => Ok(Ok((format!("{:?}", p.orders), p.total_record))),
        Ok(Err(e)) => Ok(Err(e.clone())),
        Err(e) => Err(format!("{e:?}")),
    };
    assert_same(&strip(&scanned), &strip(page));
    let Ok(Ok(scanned)) = scanned else { return };
    if scanned.raw_hashes.is_empty() || scanned.orders.iter().any(Result::is_err) {
        return;
    }
    assert_eq!(scanned.raw_hashes.len(), scanned.orders.len());
    let known: KnownOrders = scanned
        .raw_hashes
        .iter()
        .zip(&scanned.orders)
        .map(|(hash, order)| {
            (
                *hash,
                order.as_ref().map(|o| o.order_id).unwrap_or_default(),
            )
        })
        .collect();
    let answered = read_order_list_known(api, 200, data, &known);
    let Ok(Ok(answered)) = answered else {
        panic!("a page of known orders did not read: {answered:?}");
    };
    let ids = |p: &orders::OrderListPage| -> Vec<i64> {
        p.orders
            .iter()
            .filter_map(|o| o.as_ref().ok().map(|o| o.order_id))
            .chain(p.known.iter().copied())
            .collect()
    };
    assert_eq!(ids(&answered), ids(&scanned));
    assert_eq!(answered.total_record, scanned.total_record);
}

/// A `get.buyerView` answer, as `Client1688::buyer_view` reads it.
pub fn order_detail(data: &[u8]) {
    if let Some(body) = answer(Api::BUYER_VIEW.name, data)
        && let Some(result) = body.get("result")
        && let Err(e) = orders::parse_trade_info(result)
    {
        render(e);
    }
}

/// A `system.oauth2/getToken` or `postponeToken` answer, under every status.
pub fn token_answer(data: &[u8]) {
    for status in STATUSES {
        if let Err(e) = token::parse_grant("fuzz", status, data) {
            render(e);
        }
    }
}

/// Any gateway answer, error bodies above all, sorted by `classify` under every status,
/// and by `classify_borrowed`, which must sort it the same and read the same JSON.
pub fn gateway_answer(data: &[u8]) {
    for status in STATUSES {
        let borrowed = classify_borrowed("fuzz", status, data).map(|tree| tree.to_value());
        let answer = classify("fuzz", status, data);
        assert_same(&borrowed, &answer);
        if let Err(e) = answer {
            let _ = (e.is_transient(), e.is_rate_limit(), e.kind());
            render(e);
        }
    }
}

/// An `alibaba.cross.productInfo` answer, read for the offer it names and for another.
pub fn product_info(data: &[u8]) {
    if let Some(body) = answer(Api::PRODUCT_INFO.name, data) {
        let named = body
            .get("productInfo")
            .and_then(|info| info.get("productID"))
            .and_then(crate::api1688::json::id);
        for offer_id in named.into_iter().chain([ASKED_OFFER]) {
            if let Err(detail) = products::parse_product_info(offer_id, &body) {
                render(detail);
            }
        }
    }
}

/// A `createOrder.preview` answer.
pub fn order_preview(data: &[u8]) {
    if let Some(body) = answer(Api::ORDER_PREVIEW.name, data)
        && let Err(detail) = purchasing::parse_preview(&body)
    {
        render(detail);
    }
}

/// A `fastCreateOrder` or `createCrossOrder` answer.
pub fn order_placed(data: &[u8]) {
    if let Some(body) = answer(Api::FAST_CREATE_ORDER.name, data)
        && let Err(detail) = purchasing::parse_placed(&body)
    {
        render(detail);
    }
}

/// A `getLogisticsInfos.buyerView` or `getLogisticsTraceInfo.buyerView` answer; the
/// readers of both are tried on every body, as their shapes overlap.
pub fn logistics(data: &[u8]) {
    if let Some(body) = answer(Api::LOGISTICS_INFOS.name, data) {
        let _ = purchasing::parse_parcels(&body);
        let _ = purchasing::parse_traces(&body);
    }
}

/// A merchant SKU file (`sku,gtin,name`), as `imports merchant-skus` reads it.
pub fn merchant_skus_csv(data: &[u8]) {
    if let Some(text) = import_text(data)
        && let Err(problems) = crate::imports::parse_merchant_skus(&text)
    {
        problems.iter().for_each(render);
    }
}

/// A mapping file (`offer_id,spec_id,merchant_sku[,quantity_ratio]`), as `imports
/// mappings` reads it. What it accepts must also survive the export and import back
/// unchanged: the export is how a person edits mappings.
pub fn mappings_csv(data: &[u8]) {
    let Some(text) = import_text(data) else {
        return;
    };
    match crate::imports::parse_mappings(&text) {
        Ok(rows) => {
            let mappings: Vec<_> = rows.into_iter().map(|r| r.value).collect();
            let exported = crate::imports::mappings_csv(&mappings);
            let again: Vec<_> = crate::imports::parse_mappings(&exported)
                .unwrap_or_else(|p| panic!("the export of accepted mappings is refused: {p:?}"))
                .into_iter()
                .map(|r| r.value)
                .collect();
            assert_eq!(again, mappings, "the export does not import back the same");
        }
        Err(problems) => problems.iter().for_each(render),
    }
}

/// A file of offers for `products import` (read with `read_to_string`, so UTF-8 only).
pub fn offers_file(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        for (_, offer) in crate::products::offers_in_file(text) {
            let _ = products::parse_offer_ref(&offer);
        }
    }
}

/// The JSON `classify` lets through as a success, or `None` after rendering its error.
fn answer(api: &str, data: &[u8]) -> Option<Value> {
    classify(api, 200, data).map_err(render).ok()
}

/// A CSV file's text as `imports` reads it: a byte-order mark dropped, UTF-8 required.
fn import_text(data: &[u8]) -> Option<String> {
    let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    String::from_utf8(data.to_vec()).ok()
}

/// Panics when the borrowed reader and the `Value` reader disagree, in any detail.
fn assert_same(borrowed: &impl Debug, through_value: &impl Debug) {
    let (borrowed, through_value) = (format!("{borrowed:?}"), format!("{through_value:?}"));
    assert!(
        borrowed == through_value,
        "the borrowed reader read\n{borrowed}\nwhere the Value reader read\n{through_value}"
    );
}

/// Formats an error as a log line would.
fn render(error: impl Display) {
    let _ = error.to_string();
}
