//! The gateway itself: routing, app key, QPS limit, injected faults, signature and
//! token checks, in the order a client meets them (1688-open-api.md §1–§3, §8).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::Response;
use chrono::{DateTime, Utc};
use governor::DefaultDirectRateLimiter;
use serde_json::{Value, json};

use super::SandboxConfig;
use super::apis;
use super::auth::{self, Tokens};
use super::catalogue::Catalogue;
use super::faults::{BAD_GATEWAY_HTML, Fault};
use super::order_book::OrderBook;
use super::orders::Ids;
use super::params::Params;
use super::products;
use super::purchasing::{self, SandboxAddress};
use super::rng::SplitMix64;
use crate::api1688::signing;

/// Everything the handlers share.
pub(crate) struct Shared {
    pub config: SandboxConfig,
    pub catalogue: Catalogue,
    /// The sandbox's clock: `anchor` at `started`, moving with real time.
    pub anchor: DateTime<Utc>,
    pub started: Instant,
    pub limiter: Option<DefaultDirectRateLimiter>,
    /// Calls refused with `gw.QosAppFrequencyLimit`.
    pub rate_limited: std::sync::atomic::AtomicUsize,
    pub state: Mutex<World>,
}

pub(crate) struct World {
    pub orders: OrderBook,
    pub ids: Ids,
    /// Ids, parcels and times of orders tests insert or change.
    pub insert_rng: SplitMix64,
    /// The `error_rate` dice, seeded so that a run is repeatable.
    pub fault_rng: SplitMix64,
    pub tokens: Tokens,
    pub calls: BTreeMap<String, usize>,
    pub faults: VecDeque<Fault>,
    pub request_seq: u64,
    /// Offers the app follows (`alibaba.product.follow`); only these can be read.
    pub followed: BTreeSet<i64>,
    /// Statuses set by tests, with the time of the change, by offer id.
    pub offer_status: HashMap<i64, (String, DateTime<Utc>)>,
    /// The buyer's receiving addresses (`alibaba.trade.receiveAddress.get`).
    pub addresses: Vec<SandboxAddress>,
    /// Orders placed through the create APIs, by (app key, `outOrderId`).
    pub out_orders: HashMap<(String, String), Vec<i64>>,
    /// The next create call with two lines or more is split in two.
    pub split_next_create: bool,
    /// Ids and parcels of orders placed through the create APIs (its own stream, so
    /// that placing orders never shifts what tests insert).
    pub created_rng: SplitMix64,
}

impl Shared {
    pub(crate) fn now(&self) -> DateTime<Utc> {
        let elapsed = chrono::Duration::from_std(self.started.elapsed()).unwrap_or_default();
        let t = self.anchor + elapsed;
        DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, World> {
        // A panicking test helper must not wedge every later request.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A response before it becomes HTTP, so that a fault can still cut its body.
pub(crate) struct Reply {
    pub status: StatusCode,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

const JSON: &str = "application/json;charset=UTF-8";

impl Reply {
    pub(crate) fn json(status: StatusCode, body: &Value) -> Self {
        Reply {
            status,
            content_type: JSON,
            body: serde_json::to_vec(body).expect("a JSON value serialises"),
        }
    }

    fn into_response(self) -> Response {
        Response::builder()
            .status(self.status)
            .header(header::CONTENT_TYPE, self.content_type)
            .body(Body::from(self.body))
            .expect("a valid response")
    }
}

/// The gateway's own error body: `{error_code, error_message, exception, request_id}`.
pub(crate) fn gateway_error(
    status: StatusCode,
    code: &str,
    message: &str,
    request_id: &str,
) -> Reply {
    Reply::json(
        status,
        &json!({
            "error_code": code,
            "error_message": message,
            "exception": message,
            "request_id": request_id,
        }),
    )
}

/// What a missing, unknown or expired access token gets.
pub(crate) fn unauthenticated(request_id: &str) -> Reply {
    gateway_error(
        StatusCode::UNAUTHORIZED,
        "401",
        "Request need user authenticated",
        request_id,
    )
}

fn rate_limited(request_id: &str) -> Reply {
    gateway_error(
        StatusCode::BAD_REQUEST,
        "gw.QosAppFrequencyLimit",
        "App call exceeds limited frequency",
        request_id,
    )
}

fn bad_gateway() -> Reply {
    Reply {
        status: StatusCode::BAD_GATEWAY,
        content_type: "text/html",
        body: BAD_GATEWAY_HTML.as_bytes().to_vec(),
    }
}

/// The APIs the sandbox knows, by `(namespace, name)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    CurrentTime,
    GetToken,
    PostponeToken,
    OrderList,
    BuyerView,
    LogisticsInfos,
    LogisticsTrace,
    ReceiveAddress,
    Preview,
    FastCreate,
    CrossCreate,
    Cancel,
    PayUrl,
    ProductFollow,
    ProductInfo,
    /// Exists on 1688 but a buyer app is not granted it (seen live: `gw.APIACLDecline`).
    AclDeclined,
}

impl Api {
    fn lookup(version: &str, namespace: &str, name: &str) -> Option<Api> {
        if version != "1" {
            return None;
        }
        Some(match (namespace, name) {
            ("system", "currentTime") => Api::CurrentTime,
            ("system.oauth2", "getToken") => Api::GetToken,
            ("system.oauth2", "postponeToken") => Api::PostponeToken,
            ("com.alibaba.trade", "alibaba.trade.getBuyerOrderList") => Api::OrderList,
            ("com.alibaba.trade", "alibaba.trade.get.buyerView") => Api::BuyerView,
            ("com.alibaba.logistics", "alibaba.trade.getLogisticsInfos.buyerView") => {
                Api::LogisticsInfos
            }
            ("com.alibaba.logistics", "alibaba.trade.getLogisticsTraceInfo.buyerView") => {
                Api::LogisticsTrace
            }
            ("com.alibaba.trade", "alibaba.trade.receiveAddress.get") => Api::ReceiveAddress,
            ("com.alibaba.trade", "alibaba.createOrder.preview") => Api::Preview,
            ("com.alibaba.trade", "alibaba.trade.fastCreateOrder") => Api::FastCreate,
            ("com.alibaba.trade", "alibaba.trade.createCrossOrder") => Api::CrossCreate,
            ("com.alibaba.trade", "alibaba.trade.cancel") => Api::Cancel,
            ("com.alibaba.trade", "alibaba.alipay.url.get") => Api::PayUrl,
            ("com.alibaba.product", "alibaba.product.follow") => Api::ProductFollow,
            ("com.alibaba.product", "alibaba.cross.productInfo") => Api::ProductInfo,
            ("com.alibaba.product", "alibaba.product.get") => Api::AclDeclined,
            _ => return None,
        })
    }

    fn is_token_call(self) -> bool {
        matches!(self, Api::GetToken | Api::PostponeToken)
    }

    /// Business calls carry the buyer's access token; only they meet injected faults.
    fn is_business(self) -> bool {
        matches!(
            self,
            Api::OrderList
                | Api::BuyerView
                | Api::LogisticsInfos
                | Api::LogisticsTrace
                | Api::ReceiveAddress
                | Api::Preview
                | Api::FastCreate
                | Api::CrossCreate
                | Api::Cancel
                | Api::PayUrl
                | Api::ProductFollow
                | Api::ProductInfo
        )
    }

    /// Calls that change orders: a [`Fault::Delay`] holds their answer back after the
    /// change is made, so that a client that gives up still leaves it done.
    fn is_write(self) -> bool {
        matches!(self, Api::FastCreate | Api::CrossCreate | Api::Cancel)
    }
}

/// The fallback handler: every request under `/openapi/` comes here.
pub(crate) async fn gateway(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !shared.config.latency.is_zero() {
        tokio::time::sleep(shared.config.latency).await;
    }
    let (api, reply) = match uri.path().strip_prefix("/openapi/") {
        Some(rest) => handle(&shared, &method, rest, uri.query(), &headers, &body).await,
        None => (
            String::new(),
            Reply {
                status: StatusCode::NOT_FOUND,
                content_type: "text/plain;charset=UTF-8",
                body: b"not found: the sandbox serves /openapi/param2/1/{namespace}/{api}/{appKey}"
                    .to_vec(),
            },
        ),
    };
    // Parameters are never logged: they carry tokens and signatures.
    tracing::debug!(method = %method, api = %api, status = reply.status.as_u16(), "sandbox request");
    reply.into_response()
}

async fn handle(
    shared: &Shared,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> (String, Reply) {
    let request_id = {
        let mut state = shared.lock();
        state.request_seq += 1;
        format!(
            "{:013x}{:06}",
            shared.now().timestamp_millis(),
            state.request_seq
        )
    };
    let segments: Vec<&str> = path.split('/').collect();
    let (protocol, version, namespace, name) = match segments.as_slice() {
        [_, _, ns, api] | [_, _, ns, api, ""] => {
            count(shared, ns, api);
            let reply = gateway_error(
                StatusCode::BAD_REQUEST,
                "gw.AppKeyMissing",
                "AppKey is missing",
                &request_id,
            );
            return (api.to_string(), reply);
        }
        [p, v, ns, api, _] => (*p, *v, *ns, *api),
        _ => {
            let reply = gateway_error(
                StatusCode::BAD_REQUEST,
                "gw.APIUnsupported",
                "Unsupported API",
                &request_id,
            );
            return (path.to_owned(), reply);
        }
    };
    let app_key = segments[4];
    count(shared, namespace, name);
    let label = name.to_owned();
    if method != Method::GET && method != Method::POST {
        let reply = gateway_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "gw.MethodNotAllowed",
            "Only GET and POST are supported",
            &request_id,
        );
        return (label, reply);
    }
    if app_key != shared.config.app_key {
        let reply = gateway_error(
            StatusCode::BAD_REQUEST,
            "gw.AppKeyNotFound",
            "AppKey is not found",
            &request_id,
        );
        return (label, reply);
    }
    let api = match (protocol, Api::lookup(version, namespace, name)) {
        ("param2", Some(api)) => api,
        _ => {
            let message = format!("Unsupported API: {namespace}:{name}-{version}");
            return (
                label,
                gateway_error(
                    StatusCode::BAD_REQUEST,
                    "gw.APIUnsupported",
                    &message,
                    &request_id,
                ),
            );
        }
    };
    if api == Api::AclDeclined {
        let reply = gateway_error(
            StatusCode::BAD_REQUEST,
            "gw.APIACLDecline",
            "AppKey is not allowed(acl)",
            &request_id,
        );
        return (label, reply);
    }

    let mut params = Params::default();
    if let Some(q) = query {
        params.extend_from_urlencoded(q.as_bytes());
    }
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|ct| {
            ct.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    if is_form {
        params.extend_from_urlencoded(body);
    }

    // Token endpoints need neither a signature nor a token, and are not QPS-limited
    // here so that a client can always recover its session.
    if api.is_token_call() {
        let reply = match api {
            Api::GetToken => auth::get_token(shared, &params),
            _ => auth::postpone_token(shared, &params, &request_id),
        };
        return (label, reply);
    }

    if let Some(limiter) = &shared.limiter
        && limiter.check().is_err()
    {
        shared
            .rate_limited
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return (label, rate_limited(&request_id));
    }

    let mut truncate = false;
    let mut short_page = false;
    let mut delay_after = None;
    if api.is_business() {
        let fault = {
            let mut state = shared.lock();
            match state.faults.pop_front() {
                Some(f) => Some(f),
                None => {
                    let rate = shared.config.error_rate;
                    (rate > 0.0 && state.fault_rng.chance(rate)).then_some(Fault::BadGateway)
                }
            }
        };
        match fault {
            Some(Fault::BadGateway) => return (label, bad_gateway()),
            Some(Fault::RateLimited) => return (label, rate_limited(&request_id)),
            Some(Fault::ServerError) => {
                let reply = gateway_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "500",
                    "Internal Server Error",
                    &request_id,
                );
                return (label, reply);
            }
            Some(Fault::Unauthorized) => return (label, unauthenticated(&request_id)),
            Some(Fault::Delay(d)) if api.is_write() => delay_after = Some(d),
            Some(Fault::Delay(d)) => tokio::time::sleep(d).await,
            Some(Fault::TruncatedJson) => truncate = true,
            Some(Fault::ShortPage) => short_page = true,
            None => {}
        }
    }

    let Some(signature) = params.get(signing::SIGNATURE_PARAM) else {
        let reply = gateway_error(
            StatusCode::BAD_REQUEST,
            "gw.SignatureMissing",
            "Signature is missing",
            &request_id,
        );
        return (label, reply);
    };
    let url_path = format!("param2/{version}/{namespace}/{name}/{app_key}");
    if !signing::verify(
        &shared.config.app_secret,
        &url_path,
        params.pairs(),
        signature,
    ) {
        let reply = gateway_error(
            StatusCode::BAD_REQUEST,
            "gw.SignatureInvalid",
            "Invalid signature",
            &request_id,
        );
        return (label, reply);
    }

    if api.is_business() && !auth::token_is_valid(shared, params.get("access_token")) {
        return (label, unauthenticated(&request_id));
    }

    let mut reply = match api {
        // A bare JSON string, the gateway's time in China time.
        Api::CurrentTime => Reply::json(
            StatusCode::OK,
            &json!(crate::api1688::time::format_1688(shared.now())),
        ),
        Api::OrderList => match apis::order_list(shared, &params, short_page) {
            Ok(body) => Reply {
                status: StatusCode::OK,
                content_type: JSON,
                body,
            },
            Err(refusal) => Reply::json(StatusCode::OK, &refusal),
        },
        Api::BuyerView => Reply::json(StatusCode::OK, &apis::buyer_view(shared, &params)),
        Api::LogisticsInfos => Reply::json(StatusCode::OK, &apis::logistics_infos(shared, &params)),
        Api::ProductFollow => Reply::json(StatusCode::OK, &products::follow(shared, &params)),
        Api::ProductInfo => Reply::json(StatusCode::OK, &products::product_info(shared, &params)),
        Api::LogisticsTrace => Reply::json(StatusCode::OK, &apis::logistics_trace(shared, &params)),
        Api::ReceiveAddress => Reply::json(StatusCode::OK, &purchasing::receive_addresses(shared)),
        Api::Preview => Reply::json(StatusCode::OK, &purchasing::preview(shared, &params)),
        Api::FastCreate => Reply::json(StatusCode::OK, &purchasing::create(shared, &params, false)),
        Api::CrossCreate => Reply::json(StatusCode::OK, &purchasing::create(shared, &params, true)),
        Api::Cancel => Reply::json(StatusCode::OK, &purchasing::cancel(shared, &params)),
        Api::PayUrl => Reply::json(StatusCode::OK, &purchasing::pay_url(shared, &params)),
        Api::GetToken | Api::PostponeToken | Api::AclDeclined => unreachable!("answered above"),
    };
    if truncate {
        reply.body.truncate(reply.body.len() / 2);
    }
    // The work is done (synchronously, above): a client that stops waiting now still
    // leaves it done.
    if let Some(d) = delay_after {
        tokio::time::sleep(d).await;
    }
    (label, reply)
}

fn count(shared: &Shared, namespace: &str, name: &str) {
    *shared
        .lock()
        .calls
        .entry(format!("{namespace}/{name}"))
        .or_default() += 1;
}

/// `calls(api)`: by API name, or by `namespace/name`.
pub(crate) fn calls(state: &World, api: &str) -> usize {
    if api.contains('/') {
        state.calls.get(api).copied().unwrap_or(0)
    } else {
        state
            .calls
            .iter()
            .filter(|(k, _)| k.rsplit('/').next() == Some(api))
            .map(|(_, n)| n)
            .sum()
    }
}
