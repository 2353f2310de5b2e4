//! Health and metrics over HTTP on `http.listen`: `/livez`, `/readyz`, `/metrics`; and the
//! client side of `sync1688 healthcheck`.
//!
//! Nothing served here may carry a secret: the database URL is never read, and error
//! texts pass through [`scrub`] in case a URL with credentials hides in one.

use std::collections::BTreeMap;
use std::future::IntoFuture;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Serialize;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::health::{AccountHealth, Health};
use crate::store::{Store, redact_url};

/// How long a readiness probe waits for the database before calling it down. Probes run
/// every few seconds; a check slower than this is as good as failed.
pub const DB_PING_TIMEOUT: Duration = Duration::from_secs(2);

/// How long requests in flight may finish after shutdown begins.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// The Prometheus text exposition format.
const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What the endpoints read: the store (pinged), the scheduler's health, the recorder.
#[derive(Clone)]
pub struct HttpState {
    store: Arc<dyn Store>,
    health: Arc<Health>,
    metrics: PrometheusHandle,
    db_check_cache: Duration,
    db_timeout: Duration,
    // Held across the ping so that concurrent probes share one check.
    db_cache: Arc<Mutex<Option<DbCheck>>>,
    receiving: Receiving,
}

/// What `POST /api/receipts` needs besides the store.
#[derive(Clone, Default)]
struct Receiving {
    /// `None` only while the listener is loopback (the configuration enforces it).
    api_token: Option<secrecy::SecretString>,
    tolerance_percent: rust_decimal::Decimal,
}

impl HttpState {
    /// `db_check_cache` is how long a database check is reused (`http.db_check_cache`).
    pub fn new(
        store: Arc<dyn Store>,
        health: Arc<Health>,
        metrics: PrometheusHandle,
        db_check_cache: Duration,
    ) -> Self {
        HttpState {
            store,
            health,
            metrics,
            db_check_cache,
            db_timeout: DB_PING_TIMEOUT,
            db_cache: Arc::new(Mutex::new(None)),
            receiving: Receiving::default(),
        }
    }

    /// Overrides [`DB_PING_TIMEOUT`].
    /// Enables `POST /api/receipts` with the bearer token (when given) and the
    /// over-receipt tolerance.
    pub fn with_receiving(
        mut self,
        api_token: Option<secrecy::SecretString>,
        tolerance_percent: rust_decimal::Decimal,
    ) -> Self {
        self.receiving = Receiving {
            api_token,
            tolerance_percent,
        };
        self
    }

    pub fn with_db_timeout(mut self, timeout: Duration) -> Self {
        self.db_timeout = timeout;
        self
    }

    async fn database(&self) -> DbCheck {
        let mut cached = self.db_cache.lock().await;
        if let Some(check) = cached.as_ref()
            && check.at.elapsed() < self.db_check_cache
        {
            return check.clone();
        }
        let result = match tokio::time::timeout(self.db_timeout, self.store.ping()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(scrub(&e.to_string())),
            Err(_) => Err(format!(
                "no answer from the database within {} ms",
                self.db_timeout.as_millis()
            )),
        };
        if let Err(error) = &result {
            tracing::warn!(%error, "readiness: the database check failed");
        }
        let check = DbCheck {
            at: Instant::now(),
            checked_at: Utc::now(),
            result,
        };
        *cached = Some(check.clone());
        check
    }
}

#[derive(Debug, Clone)]
struct DbCheck {
    at: Instant,
    checked_at: DateTime<Utc>,
    result: Result<(), String>,
}

/// The readiness limit of every configured account: `http.ready_max_age`, or three
/// periods of the account's schedule. Feed it to [`Health::new`].
pub fn readiness_limits(settings: &Settings) -> Vec<(String, Duration)> {
    settings
        .accounts
        .iter()
        .map(|account| {
            let limit = settings
                .http
                .ready_max_age
                .unwrap_or_else(|| account.schedule_period(settings.sync.timezone) * 3);
            (account.name.clone(), limit)
        })
        .collect()
}

/// `/livez`, `/readyz` and `/metrics`.
pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/receipts", axum::routing::post(post_receipt))
        .with_state(state)
}

/// Serves `router` on `listener` until `shutdown` is cancelled, then lets requests in
/// flight finish for a few seconds.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let server = axum::serve(listener, router)
        .with_graceful_shutdown(shutdown.clone().cancelled_owned())
        .into_future();
    // Graceful shutdown waits for every connection; a client that never finishes its
    // request must not hold the daemon past systemd's stop timeout.
    let deadline = async {
        shutdown.cancelled().await;
        tokio::time::sleep(DRAIN_TIMEOUT).await;
    };
    tokio::select! {
        result = server => result,
        () = deadline => {
            tracing::warn!("HTTP connections still open after the drain timeout: closing them");
            Ok(())
        }
    }
}

async fn livez() -> &'static str {
    "ok\n"
}

async fn metrics(State(state): State<HttpState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(METRICS_CONTENT_TYPE),
        )],
        state.metrics.render(),
    )
        .into_response()
}

async fn readyz(State(state): State<HttpState>) -> Response {
    let db = state.database().await;
    let report = evaluate(
        &state.health.snapshot(),
        state.health.started_at(),
        Utc::now(),
        &db,
    );
    let code = if report.status == Status::Fail {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (
        code,
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        axum::Json(report),
    )
        .into_response()
}

/// pass < warn < fail; the worst part decides the whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Warn,
    Fail,
}

/// The body of `/readyz`.
#[derive(Debug, Serialize)]
pub struct Readiness {
    pub status: Status,
    pub database: DatabaseReadiness,
    pub accounts: BTreeMap<String, AccountReadiness>,
    pub started_at: DateTime<Utc>,
    pub version: &'static str,
}

#[derive(Debug, Serialize)]
pub struct DatabaseReadiness {
    pub status: Status,
    pub checked_at: DateTime<Utc>,
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct AccountReadiness {
    pub status: Status,
    /// Why the account is not `pass`, in words.
    pub reason: Option<String>,
    pub last_success: Option<DateTime<Utc>>,
    pub age_secs: Option<u64>,
    /// 0: no limit.
    pub max_age_secs: u64,
    pub consecutive_failures: u32,
    pub last_error: Option<String>,
    pub last_finished: Option<DateTime<Utc>>,
    pub running: bool,
    pub refresh_token_expires_at: Option<DateTime<Utc>>,
}

/// Readiness warns this long before a refresh token expires.
pub const REFRESH_TOKEN_WARNING_DAYS: i64 = 14;

fn evaluate(
    accounts: &BTreeMap<String, AccountHealth>,
    started_at: DateTime<Utc>,
    now: DateTime<Utc>,
    db: &DbCheck,
) -> Readiness {
    let database = DatabaseReadiness {
        status: if db.result.is_ok() {
            Status::Pass
        } else {
            Status::Fail
        },
        checked_at: db.checked_at,
        error: db.result.clone().err(),
    };
    let uptime = secs_between(started_at, now);
    let accounts: BTreeMap<String, AccountReadiness> = accounts
        .iter()
        .map(|(name, h)| (name.clone(), account_readiness(name, h, uptime, now)))
        .collect();
    let status = accounts
        .values()
        .map(|a| a.status)
        .chain([database.status])
        .max()
        .unwrap_or(Status::Pass);
    Readiness {
        status,
        database,
        accounts,
        started_at,
        version: env!("CARGO_PKG_VERSION"),
    }
}

fn account_readiness(
    name: &str,
    h: &AccountHealth,
    uptime: u64,
    now: DateTime<Utc>,
) -> AccountReadiness {
    let age = h.last_success.map(|t| secs_between(t, now));
    let limited = h.max_age_secs > 0;
    let reconnect = format!("reconnect it with `sync1688 accounts connect --account {name}`");
    let expires = h.refresh_token_expires_at;
    let (status, reason) = match age {
        _ if h.authorization_error.is_some() => (
            Status::Fail,
            Some(format!(
                "1688 refused the refresh token of account `{name}`: {reconnect}"
            )),
        ),
        _ if expires.is_some_and(|t| t <= now) => (
            Status::Fail,
            Some(format!(
                "the refresh token of account `{name}` expired on {}: {reconnect}",
                expires.unwrap_or(now).format("%Y-%m-%d")
            )),
        ),
        Some(age) if limited && age > h.max_age_secs => (
            Status::Fail,
            Some(format!(
                "last successful sync {age} s ago, over the limit of {} s",
                h.max_age_secs
            )),
        ),
        // Never synced: judged only once the process has had the time to.
        None if limited && uptime > h.max_age_secs => (
            Status::Fail,
            Some(format!(
                "no successful sync in {uptime} s since start, over the limit of {} s",
                h.max_age_secs
            )),
        ),
        _ if expires
            .is_some_and(|t| t - now < chrono::TimeDelta::days(REFRESH_TOKEN_WARNING_DAYS)) =>
        {
            (
                Status::Warn,
                Some(format!(
                    "the refresh token of account `{name}` expires on {}: {reconnect} if it is not extended",
                    expires.unwrap_or(now).format("%Y-%m-%d")
                )),
            )
        }
        _ if h.consecutive_failures > 0 => (
            Status::Warn,
            Some(format!(
                "{} failed run(s) since the last success",
                h.consecutive_failures
            )),
        ),
        _ => (Status::Pass, None),
    };
    AccountReadiness {
        status,
        reason,
        last_success: h.last_success,
        age_secs: age,
        max_age_secs: h.max_age_secs,
        consecutive_failures: h.consecutive_failures,
        last_error: h.last_error.as_deref().map(scrub),
        last_finished: h.last_finished,
        running: h.running,
        refresh_token_expires_at: h.refresh_token_expires_at,
    }
}

fn secs_between(earlier: DateTime<Utc>, later: DateTime<Utc>) -> u64 {
    u64::try_from((later - earlier).num_seconds()).unwrap_or(0)
}

/// `text` with the password of any URL in it replaced by `***`. Errors are written not to
/// carry one; this is the second line of defence for what leaves the process.
pub fn scrub(text: &str) -> String {
    if !text.contains("://") {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    for (i, word) in text.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        match word.find("://") {
            Some(sep) => {
                let start = word[..sep]
                    .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
                    .map_or(0, |p| p + 1);
                out.push_str(&word[..start]);
                out.push_str(&redact_url(&word[start..]));
            }
            None => out.push_str(word),
        }
    }
    out
}

/// What `sync1688 healthcheck` learned from a daemon's `/readyz`.
#[derive(Debug, Clone)]
pub struct ProbeReport {
    /// 200: ready; 503: not ready.
    pub ready: bool,
    pub http_status: u16,
    /// The JSON body, as served.
    pub body: String,
}

/// Why a daemon could not be probed at all.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("healthcheck URL `{url}` is not valid: {message}")]
    BadUrl { url: String, message: String },
    #[error("no answer from {url} within {} ms", timeout.as_millis())]
    Timeout { url: String, timeout: Duration },
    #[error("cannot reach {url}: {message}")]
    Unreachable { url: String, message: String },
    #[error("{url} answered HTTP {status}, neither 200 (ready) nor 503 (not ready)")]
    UnexpectedStatus { url: String, status: u16 },
}

/// The `/readyz` URL of a daemon listening on `listen`, reached from the same host.
pub fn local_readyz_url(listen: std::net::SocketAddr) -> String {
    let ip = match listen.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    format!(
        "http://{}/readyz",
        std::net::SocketAddr::new(ip, listen.port())
    )
}

/// GETs `/readyz` of the daemon at `url` (a base URL such as `http://127.0.0.1:8688`, or
/// the full `/readyz` URL).
pub async fn probe(url: &str, timeout: Duration) -> Result<ProbeReport, ProbeError> {
    let shown = redact_url(url);
    let mut parsed = reqwest::Url::parse(url).map_err(|e| ProbeError::BadUrl {
        url: shown.clone(),
        message: e.to_string(),
    })?;
    if parsed.path().is_empty() || parsed.path() == "/" {
        parsed.set_path("/readyz");
    }
    let shown = redact_url(parsed.as_str());
    let client = reqwest::Client::builder()
        .timeout(timeout)
        // The daemon is local: an HTTP_PROXY meant for the outside must not intercept.
        .no_proxy()
        .build()
        .map_err(|e| ProbeError::Unreachable {
            url: shown.clone(),
            message: cause(&e),
        })?;
    let failed = |e: reqwest::Error| {
        if e.is_timeout() {
            ProbeError::Timeout {
                url: shown.clone(),
                timeout,
            }
        } else {
            ProbeError::Unreachable {
                url: shown.clone(),
                message: cause(&e),
            }
        }
    };
    let response = client.get(parsed).send().await.map_err(failed)?;
    let status = response.status().as_u16();
    let ready = match status {
        200 => true,
        503 => false,
        _ => {
            return Err(ProbeError::UnexpectedStatus {
                url: shown.clone(),
                status,
            });
        }
    };
    let body = response.text().await.map_err(failed)?;
    Ok(ProbeReport {
        ready,
        http_status: status,
        body,
    })
}

/// The whole `sync1688 healthcheck` command: prints the readiness body and exits 0 when the
/// daemon is ready, 1 when it is not or cannot be reached.
pub async fn healthcheck(url: &str, timeout: Duration) -> ExitCode {
    match probe(url, timeout).await {
        Ok(report) => {
            let pretty = serde_json::from_str::<serde_json::Value>(&report.body)
                .ok()
                .and_then(|v| serde_json::to_string_pretty(&v).ok())
                .unwrap_or(report.body);
            println!("{pretty}");
            if report.ready {
                ExitCode::SUCCESS
            } else {
                eprintln!("sync1688: not ready (HTTP {})", report.http_status);
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("sync1688: {e}");
            ExitCode::FAILURE
        }
    }
}

// reqwest's own message names the URL; the innermost cause says what went wrong.
fn cause(e: &reqwest::Error) -> String {
    let mut source: &dyn std::error::Error = e;
    while let Some(next) = source.source() {
        source = next;
    }
    source.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db_up() -> DbCheck {
        DbCheck {
            at: Instant::now(),
            checked_at: Utc::now(),
            result: Ok(()),
        }
    }

    fn account(last_success_ago: Option<i64>, failures: u32) -> AccountHealth {
        AccountHealth {
            last_success: last_success_ago.map(|s| Utc::now() - chrono::Duration::seconds(s)),
            consecutive_failures: failures,
            max_age_secs: 2700,
            ..AccountHealth::default()
        }
    }

    fn status_of(h: AccountHealth, up_for_secs: i64) -> Status {
        let now = Utc::now();
        let accounts = BTreeMap::from([("main".to_owned(), h)]);
        evaluate(
            &accounts,
            now - chrono::Duration::seconds(up_for_secs),
            now,
            &db_up(),
        )
        .status
    }

    #[test]
    fn a_recent_success_passes() {
        assert_eq!(status_of(account(Some(60), 0), 10), Status::Pass);
    }

    #[test]
    fn a_success_older_than_the_limit_fails_even_right_after_start() {
        assert_eq!(status_of(account(Some(2701), 0), 1), Status::Fail);
    }

    #[test]
    fn failures_within_the_limit_warn() {
        assert_eq!(status_of(account(Some(60), 2), 10), Status::Warn);
    }

    #[test]
    fn an_account_that_never_succeeded_fails_only_after_the_limit_since_start() {
        assert_eq!(status_of(account(None, 1), 60), Status::Warn);
        assert_eq!(status_of(account(None, 0), 60), Status::Pass);
        assert_eq!(status_of(account(None, 0), 2701), Status::Fail);
    }

    #[test]
    fn a_limit_of_zero_never_fails_an_account() {
        let h = AccountHealth {
            last_success: Some(Utc::now() - chrono::Duration::days(30)),
            ..AccountHealth::default()
        };
        assert_eq!(status_of(h, 1_000_000), Status::Pass);
    }

    #[test]
    fn a_database_that_is_down_fails_whatever_the_accounts_say() {
        let db = DbCheck {
            result: Err("down".into()),
            ..db_up()
        };
        let report = evaluate(&BTreeMap::new(), Utc::now(), Utc::now(), &db);
        assert_eq!(report.status, Status::Fail);
        assert_eq!(report.database.error.as_deref(), Some("down"));
    }

    #[test]
    fn scrub_hides_the_password_of_a_url_inside_a_message() {
        let text =
            scrub("cannot connect (postgres://erp:hunter2@db:5432/erp?sslmode=require): refused");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("erp:***@db:5432"), "{text}");
        assert!(text.ends_with(": refused"), "{text}");
        assert_eq!(scrub("plain words"), "plain words");
    }

    #[test]
    fn the_local_probe_url_turns_a_wildcard_address_into_loopback() {
        assert_eq!(
            local_readyz_url("0.0.0.0:8688".parse().unwrap()),
            "http://127.0.0.1:8688/readyz"
        );
        assert_eq!(
            local_readyz_url("[::]:8688".parse().unwrap()),
            "http://[::1]:8688/readyz"
        );
        assert_eq!(
            local_readyz_url("10.0.0.5:9000".parse().unwrap()),
            "http://10.0.0.5:9000/readyz"
        );
    }
}

/// The body of `POST /api/receipts`: the same request as `sync1688 receive`.
#[derive(Debug, serde::Deserialize)]
pub struct ReceiptBody {
    pub warehouse: String,
    #[serde(default)]
    pub tracking_no: Option<String>,
    #[serde(default)]
    pub po_numbers: Vec<String>,
    pub scans: Vec<ScanBody>,
    #[serde(default)]
    pub note: Option<String>,
    /// `false`: only show what the receipt would do (a scanner's running check).
    #[serde(default = "yes")]
    pub commit: bool,
}

fn yes() -> bool {
    true
}

/// A scan: `"CODE"`, `"CODE:QTY"`, or `{"code": …, "quantity": …}`.
#[derive(Debug, serde::Deserialize)]
#[serde(untagged)]
pub enum ScanBody {
    Text(String),
    Object {
        code: String,
        #[serde(default)]
        quantity: Option<rust_decimal::Decimal>,
    },
}

fn api_error(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        axum::Json(serde_json::json!({ "error": message.into() })),
    )
        .into_response()
}

/// Receives goods over HTTP with the same rules and messages as `sync1688 receive`:
/// 201 with the receipt, 200 with the plan when `commit` is false, 422 naming the broken
/// rule, 401 without the bearer token.
async fn post_receipt(
    State(state): State<HttpState>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    use secrecy::ExposeSecret;
    if let Some(token) = &state.receiving.api_token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        let expected = token.expose_secret().as_bytes();
        // Constant time, so that the token cannot be guessed byte by byte.
        let same = given.len() == expected.len()
            && given
                .bytes()
                .zip(expected)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if !same {
            return api_error(
                StatusCode::UNAUTHORIZED,
                "a valid `Authorization: Bearer` token is required",
            );
        }
    }
    let body: ReceiptBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            return api_error(
                StatusCode::BAD_REQUEST,
                format!("the body is not a receipt: {e}"),
            );
        }
    };
    let mut scans = Vec::with_capacity(body.scans.len());
    for scan in &body.scans {
        let parsed = match scan {
            ScanBody::Text(text) => crate::domain::receiving::Scan::parse(text),
            ScanBody::Object { code, quantity } => Ok(crate::domain::receiving::Scan {
                code: code.clone(),
                quantity: quantity.unwrap_or(rust_decimal::Decimal::ONE),
            }),
        };
        match parsed {
            Ok(s) => scans.push(s),
            Err(e) => return api_error(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
        }
    }
    let request = crate::domain::receiving::ReceiptRequest {
        warehouse_code: body.warehouse,
        tracking_no: body.tracking_no,
        po_numbers: body.po_numbers,
        scans,
        note: body.note,
    };
    let tolerance = state.receiving.tolerance_percent;
    let refused = |e: crate::store::StoreError| match e {
        crate::store::StoreError::Rejected(rule) => {
            api_error(StatusCode::UNPROCESSABLE_ENTITY, rule.to_string())
        }
        crate::store::StoreError::Warehouse(w) => {
            api_error(StatusCode::UNPROCESSABLE_ENTITY, w.to_string())
        }
        other => {
            tracing::error!(error = %other, "receipt failed");
            api_error(StatusCode::SERVICE_UNAVAILABLE, scrub(&other.to_string()))
        }
    };
    if !body.commit {
        return match state.store.preview_receipt(&request, tolerance).await {
            Ok(plan) => (
                StatusCode::OK,
                axum::Json(receipt_json(None, &plan.lines, &plan.orders)),
            )
                .into_response(),
            Err(e) => refused(e),
        };
    }
    match state.store.receive(&request, tolerance).await {
        Ok(outcome) => (
            StatusCode::CREATED,
            axum::Json(receipt_json(
                Some(outcome.receipt_id),
                &outcome.lines,
                &outcome.orders,
            )),
        )
            .into_response(),
        Err(e) => refused(e),
    }
}

fn receipt_json(
    receipt_id: Option<i64>,
    lines: &[crate::domain::receiving::ReceivedLine],
    orders: &[crate::domain::receiving::OrderAfterReceipt],
) -> serde_json::Value {
    serde_json::json!({
        "receipt_id": receipt_id,
        "lines": lines.iter().map(|l| serde_json::json!({
            "po_number": l.po_number,
            "line_no": l.line_no,
            "merchant_sku": l.merchant_sku,
            "quantity": l.quantity.normalize().to_string(),
            "received_qty": l.received_qty.normalize().to_string(),
            "ordered": l.ordered.normalize().to_string(),
            "outstanding": l.outstanding.normalize().to_string(),
        })).collect::<Vec<_>>(),
        "orders": orders.iter().map(|o| serde_json::json!({
            "po_number": o.po_number,
            "status_before": o.status_before.as_str(),
            "status": o.status.as_str(),
        })).collect::<Vec<_>>(),
    })
}
