//! The business APIs: the buyer's order list, order detail and parcels
//! (1688-open-api.md §4.1, §4.2, §5).

use std::sync::Arc;

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use serde_json::{Value, json};

use super::orders::Order;
use super::params::Params;
use super::render::{self, View};
use super::server::{Shared, World};
use crate::api1688::time::parse_1688;

/// `pageSize` when the client sends none (the doc's example value).
pub const DEFAULT_PAGE_SIZE: u32 = 20;

/// Orders created longer ago than this live in the history table and are listed only
/// with `isHis=true` (X3: the live table covers about three months).
pub const HISTORY_AFTER_DAYS: i64 = 90;

fn param_error(message: String) -> Value {
    json!({"errorCode": "PARAM_ERROR", "errorMessage": message})
}

fn int_param(p: &Params, key: &str, default: u32) -> Result<u32, Value> {
    match p.get(key) {
        None => Ok(default),
        Some(v) => match v.trim().parse::<u32>() {
            Ok(n) if n >= 1 => Ok(n),
            _ => Err(param_error(format!(
                "{key}: `{v}` is not a positive integer"
            ))),
        },
    }
}

fn date_param(p: &Params, key: &str) -> Result<Option<DateTime<Utc>>, Value> {
    match p.get(key) {
        None => Ok(None),
        Some(v) => parse_1688(v).map(Some).map_err(|_| {
            param_error(format!(
                "{key}: `{v}` is not a date (expected yyyyMMddHHmmssSSS±hhmm)"
            ))
        }),
    }
}

#[derive(Debug)]
struct Filter {
    create: (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
    modify: (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
    status: Option<String>,
    refund_status: Option<String>,
    seller_member_id: Option<String>,
    seller_login_id: Option<String>,
    biz_types: Option<Vec<String>>,
    product_name: Option<String>,
    out_order_id: Option<String>,
    history: bool,
    history_before: DateTime<Utc>,
}

fn within(t: DateTime<Utc>, (start, end): (Option<DateTime<Utc>>, Option<DateTime<Utc>>)) -> bool {
    // Both bounds are inclusive.
    start.is_none_or(|s| t >= s) && end.is_none_or(|e| t <= e)
}

impl Filter {
    /// What identifies the query, for reusing its answer; the history boundary moves
    /// with the clock and is left out.
    fn key(&self) -> String {
        let Filter {
            create,
            modify,
            status,
            refund_status,
            seller_member_id,
            seller_login_id,
            biz_types,
            product_name,
            out_order_id,
            history,
            history_before: _,
        } = self;
        format!(
            "{create:?}|{modify:?}|{status:?}|{refund_status:?}|{seller_member_id:?}|\
             {seller_login_id:?}|{biz_types:?}|{product_name:?}|{out_order_id:?}|{history}"
        )
    }

    fn parse(p: &Params, now: DateTime<Utc>) -> Result<Self, Value> {
        let biz_types = match p.get("bizTypes") {
            None => None,
            Some(v) => Some(serde_json::from_str::<Vec<String>>(v).map_err(|_| {
                param_error(format!("bizTypes: `{v}` is not a JSON array of strings"))
            })?),
        };
        Ok(Filter {
            create: (
                date_param(p, "createStartTime")?,
                date_param(p, "createEndTime")?,
            ),
            modify: (
                date_param(p, "modifyStartTime")?,
                date_param(p, "modifyEndTime")?,
            ),
            status: p.get("orderStatus").map(str::to_owned),
            refund_status: p.get("refundStatus").map(str::to_owned),
            seller_member_id: p.get("sellerMemberId").map(str::to_owned),
            seller_login_id: p.get("sellerLoginId").map(str::to_owned),
            biz_types,
            product_name: p.get("productName").map(str::to_owned),
            out_order_id: p.get("outOrderId").map(str::to_owned),
            // The backend is Java: anything but "true" is false.
            history: p
                .get("isHis")
                .is_some_and(|v| v.eq_ignore_ascii_case("true")),
            history_before: now - ChronoDuration::days(HISTORY_AFTER_DAYS),
        })
    }

    fn accepts(&self, o: &Order, shared: &Shared) -> bool {
        let seller = &shared.catalogue.sellers[o.seller];
        (o.created < self.history_before) == self.history
            && within(o.created, self.create)
            && within(o.modified, self.modify)
            && self.status.as_ref().is_none_or(|s| *s == o.status)
            && self.refund_status.as_ref().is_none_or(|s| o.refund_status.as_ref() == Some(s))
            && self.seller_member_id.as_ref().is_none_or(|s| *s == seller.member_id)
            && self.seller_login_id.as_ref().is_none_or(|s| *s == seller.login_id)
            // Passing bizTypes drops every order type not named (X3's pitfall).
            && self.biz_types.as_ref().is_none_or(|types| types.contains(&o.business_type))
            && self.product_name.as_ref().is_none_or(|name| {
                o.lines.iter().any(|l| shared.catalogue.offer_of(l.sku).title.contains(name.as_str()))
            })
            // The orders placed with that outOrderId (all of a split), none otherwise.
            && self.out_order_id.as_ref().is_none_or(|id| o.out_order_id.as_ref() == Some(id))
    }
}

/// `alibaba.trade.getBuyerOrderList`. Newest first by `createTime` (ties by id,
/// descending); `pageSize` above the cap is clamped to it, not refused; `orderIds` is
/// ignored, as X3 observed; `outOrderId` lists the orders a create call placed with it.
/// The body as bytes, or a refusal; `short_page` answers half the page it should
/// (while `totalRecord` still counts all).
pub(crate) fn order_list(shared: &Shared, p: &Params, short_page: bool) -> Result<Vec<u8>, Value> {
    let page = int_param(p, "page", 1)?;
    let page_size =
        int_param(p, "pageSize", DEFAULT_PAGE_SIZE)?.min(shared.config.max_page_size.max(1));
    let filter = Filter::parse(p, shared.now())?;
    let view = View {
        detail: false,
        address_and_phone: p.get("needBuyerAddressAndPhone") == Some("true"),
        memo: p.get("needMemoInfo") == Some("true"),
    };
    let mut state = shared.lock();
    let ids = state.orders.list(filter.key(), |orders| {
        let mut matched: Vec<&Order> = orders
            .values()
            .filter(|o| filter.accepts(o, shared))
            .collect();
        matched.sort_by(|a, b| b.created.cmp(&a.created).then(b.id.cmp(&a.id)));
        matched.iter().map(|o| o.id).collect()
    });
    let start = (page as usize - 1).saturating_mul(page_size as usize);
    let mut take = page_size as usize;
    if short_page {
        take = ids.len().saturating_sub(start).min(take) / 2;
    }
    // Assembled from each order's JSON, as serde_json writes a map: keys sorted.
    let mut body = b"{\"result\":[".to_vec();
    for (i, id) in ids.iter().skip(start).take(take).enumerate() {
        let json = listed(shared, &mut state, *id, view).expect("a listed order exists");
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(json.as_bytes());
    }
    body.extend_from_slice(format!("],\"totalRecord\":{}}}", ids.len()).as_bytes());
    Ok(body)
}

/// Order `id` as the order list shows it in `view`, rendered once per change.
fn listed(shared: &Shared, state: &mut World, id: i64, view: View) -> Option<Arc<str>> {
    state.orders.rendered(id, view, |o| {
        render::trade_info(o, &shared.catalogue, view).to_string()
    })
}

/// Renders every order as a plain order-list query (the one the sync sends) shows it.
pub(crate) fn prerender_order_list(shared: &Shared) {
    let mut state = shared.lock();
    let ids: Vec<i64> = state.orders.keys().copied().collect();
    for id in ids {
        listed(shared, &mut state, id, View::default());
    }
}

fn order_param(p: &Params) -> Result<i64, Value> {
    let not_found = |code: &str, message: String| json!({"success": "false", "errorCode": code, "errorMessage": message});
    match p.get("webSite") {
        Some("1688") => {}
        Some(other) => {
            return Err(not_found(
                "PARAM_ERROR",
                format!("webSite: `{other}` is not supported, use 1688"),
            ));
        }
        None => return Err(not_found("PARAM_ERROR", "webSite: required (1688)".into())),
    }
    match p.get("orderId") {
        None => Err(not_found("PARAM_ERROR", "orderId: required".into())),
        Some(v) => v
            .trim()
            .parse::<i64>()
            .map_err(|_| not_found("PARAM_ERROR", format!("orderId: `{v}` is not an order id"))),
    }
}

fn order_not_found(id: i64) -> Value {
    json!({"success": "false", "errorCode": "ORDER_NOT_EXIST", "errorMessage": format!("订单[{id}]不存在")})
}

/// `alibaba.trade.get.buyerView`: `{"result": TradeInfo, "success": "true"}` (a string).
pub(crate) fn buyer_view(shared: &Shared, p: &Params) -> Value {
    let id = match order_param(p) {
        Ok(id) => id,
        Err(e) => return e,
    };
    let state = shared.lock();
    match state.orders.get(&id) {
        Some(o) => {
            let view = View {
                detail: true,
                ..View::default()
            };
            json!({"result": render::trade_info(o, &shared.catalogue, view), "success": "true"})
        }
        None => order_not_found(id),
    }
}

/// `alibaba.trade.getLogisticsInfos.buyerView`: the parcels, or `500_2` (HTTP 200,
/// `success: false`) before anything was shipped.
pub(crate) fn logistics_infos(shared: &Shared, p: &Params) -> Value {
    let id = match order_param(p) {
        Ok(id) => id,
        Err(e) => return e,
    };
    let state = shared.lock();
    match state.orders.get(&id) {
        Some(o) if o.parcels.is_empty() => json!({
            "success": false,
            "errorCode": "500_2",
            "errorMessage": "该订单未发货，没有物流详情",
        }),
        Some(o) => json!({
            "result": o.parcels.iter().map(|parcel| render::logistics_order(o, &shared.catalogue, parcel)).collect::<Vec<_>>(),
            "success": true,
        }),
        None => order_not_found(id),
    }
}

/// `alibaba.trade.getLogisticsTraceInfo.buyerView`: `{"logisticsTrace": [...],
/// "success": true}` (the top-level key is not `result`), one entry per parcel (only
/// the one named by `logisticsId` when given), each with the carrier's steps so far;
/// an order with no parcel (or no parcel of that id) gets the documented `404`
/// (HTTP 200, `success: false`).
pub(crate) fn logistics_trace(shared: &Shared, p: &Params) -> Value {
    let id = match order_param(p) {
        Ok(id) => id,
        Err(e) => return e,
    };
    let wanted = p.get("logisticsId");
    let now = shared.now();
    let state = shared.lock();
    let Some(o) = state.orders.get(&id) else {
        return order_not_found(id);
    };
    let traces: Vec<Value> = o
        .parcels
        .iter()
        .filter(|parcel| wanted.is_none_or(|w| w == parcel.logistics_code))
        .map(|parcel| render::logistics_trace(o, &shared.catalogue, parcel, now))
        .collect();
    if traces.is_empty() {
        return json!({
            "success": false,
            "errorCode": "404",
            "errorMessage": "该订单没有物流跟踪信息",
        });
    }
    json!({"logisticsTrace": traces, "success": true})
}
