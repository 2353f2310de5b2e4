//! `/livez`, `/readyz` and `/metrics` as a monitoring system meets them, served on a free
//! port over a real store; and `sync1688 healthcheck`'s probe.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::Value;
use support::TestDb;
use support::tcp_proxy::TcpProxy;
use sync1688::domain::{RunKind, RunStatus};
use sync1688::health::Health;
use sync1688::http::{self, HttpState};
use sync1688::metrics;
use sync1688::store::{self, RunCounts, Store};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const HOUR: Duration = Duration::from_secs(3600);

/// Stands in for a database password: trust authentication ignores it, so it can be in
/// the URL without breaking the connection, and must show up nowhere.
const DB_PASSWORD: &str = "canary-db-password-7f3a";

/// The router served on 127.0.0.1:0, stopped on drop.
struct Served {
    base: String,
    health: Arc<Health>,
    shutdown: CancellationToken,
    server: Option<JoinHandle<std::io::Result<()>>>,
}

impl Served {
    async fn start(store: Arc<dyn Store>, health: Arc<Health>, db_check_cache: Duration) -> Self {
        let state = HttpState::new(store, health.clone(), metrics::install(), db_check_cache);
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(http::serve(listener, http::router(state), shutdown.clone()));
        Served {
            base,
            health,
            shutdown,
            server: Some(server),
        }
    }

    async fn get(&self, path: &str) -> Reply {
        let response = client()
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = response.text().await.unwrap();
        Reply {
            status,
            content_type,
            body,
        }
    }

    /// Asks `/readyz` until it answers `status`, and returns that answer.
    async fn readyz_until(&self, status: u16, within: Duration) -> Reply {
        let deadline = Instant::now() + within;
        loop {
            let asked = Instant::now();
            let reply = self.get("/readyz").await;
            assert!(
                asked.elapsed() < Duration::from_secs(4),
                "/readyz took {:?}: the database check must give up within about 2 s",
                asked.elapsed()
            );
            if reply.status == status {
                return reply;
            }
            assert!(
                Instant::now() < deadline,
                "/readyz still answers {} instead of {status} after {within:?}: {}",
                reply.status,
                reply.body
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn stop(mut self) {
        self.shutdown.cancel();
        let server = self.server.take().unwrap();
        tokio::time::timeout(Duration::from_secs(10), server)
            .await
            .expect("the server stops promptly once shutdown is requested")
            .unwrap()
            .unwrap();
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

struct Reply {
    status: u16,
    content_type: String,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

fn ago(d: Duration) -> Option<chrono::DateTime<Utc>> {
    Some(Utc::now() - chrono::Duration::from_std(d).unwrap())
}

async fn sqlite_store(db: &TestDb) -> Arc<dyn Store> {
    db.store().await
}

/// A PostgreSQL store that reaches its database through `proxy`, with [`DB_PASSWORD`] in
/// its URL.
async fn postgres_behind_a_proxy(db: &TestDb) -> (TcpProxy, Arc<dyn Store>) {
    db.store().await; // migrated directly
    let mut url = reqwest::Url::parse(db.url()).unwrap();
    let host = url.host_str().unwrap().to_owned();
    let port = url.port().unwrap_or(5432);
    let upstream: SocketAddr = tokio::net::lookup_host((host.as_str(), port))
        .await
        .unwrap()
        .next()
        .unwrap();
    let proxy = TcpProxy::start(upstream).await;
    url.set_host(Some("127.0.0.1")).unwrap();
    url.set_port(Some(proxy.addr().port())).unwrap();
    if url.password().is_none() {
        url.set_password(Some(DB_PASSWORD)).unwrap();
    }
    let store = store::connect(url.as_str(), 2)
        .await
        .expect("the store connects through the proxy");
    (proxy, store)
}

fn assert_no_secret(what: &str, body: &str) {
    assert!(
        !body.contains(DB_PASSWORD),
        "{what} leaks the password: {body}"
    );
}

#[tokio::test]
async fn livez_answers_ok_without_asking_anything_else() {
    let db = TestDb::sqlite();
    let health = Arc::new(Health::new([("main", HOUR)]));
    let served = Served::start(sqlite_store(&db).await, health, Duration::from_secs(5)).await;

    let reply = served.get("/livez").await;

    assert_eq!(reply.status, 200);
    assert_eq!(reply.body.trim(), "ok");
    served.stop().await;
}

#[tokio::test]
async fn readyz_passes_when_every_account_synced_within_its_limit() {
    let db = TestDb::sqlite();
    let health = Arc::new(Health::new([("main", HOUR)]));
    health.seed("main", ago(Duration::from_secs(60)), 0, None);
    let served = Served::start(sqlite_store(&db).await, health, Duration::from_secs(5)).await;

    let reply = served.get("/readyz").await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.content_type.starts_with("application/json"));
    let body = reply.json();
    assert_eq!(body["status"], "pass");
    assert_eq!(body["database"]["status"], "pass");
    assert!(body["database"]["checked_at"].is_string());
    assert!(body["database"]["error"].is_null());
    let main = &body["accounts"]["main"];
    assert_eq!(main["status"], "pass");
    assert!(main["last_success"].is_string());
    assert!(
        (59..=70).contains(&main["age_secs"].as_u64().unwrap()),
        "{main}"
    );
    assert_eq!(main["max_age_secs"], 3600);
    assert_eq!(main["consecutive_failures"], 0);
    assert_eq!(main["running"], false);
    assert!(body["started_at"].is_string());
}

#[tokio::test]
async fn readyz_fails_and_names_the_account_whose_last_success_is_too_old() {
    let db = TestDb::sqlite();
    let health = Arc::new(Health::new([("main", HOUR), ("stale", HOUR)]));
    health.seed("main", ago(Duration::from_secs(60)), 0, None);
    health.seed(
        "stale",
        ago(2 * HOUR),
        7,
        Some("getBuyerOrderList: no answer within 30s".into()),
    );
    let served = Served::start(sqlite_store(&db).await, health, Duration::from_secs(5)).await;

    let reply = served.get("/readyz").await;

    assert_eq!(reply.status, 503, "{}", reply.body);
    let body = reply.json();
    assert_eq!(body["status"], "fail");
    assert_eq!(body["accounts"]["main"]["status"], "pass");
    let stale = &body["accounts"]["stale"];
    assert_eq!(stale["status"], "fail");
    assert!(stale["age_secs"].as_u64().unwrap() >= 7200, "{stale}");
    assert_eq!(stale["consecutive_failures"], 7);
    assert_eq!(
        stale["last_error"],
        "getBuyerOrderList: no answer within 30s"
    );
    assert!(stale["reason"].as_str().unwrap().contains("over the limit"));
}

#[tokio::test]
async fn readyz_warns_but_stays_ready_when_runs_fail_within_the_limit() {
    let db = TestDb::sqlite();
    let health = Arc::new(Health::new([("main", HOUR)]));
    health.run_succeeded("main", Utc::now() - chrono::Duration::minutes(20));
    health.run_failed(
        "main",
        Utc::now(),
        "getBuyerOrderList: HTTP 502: Bad Gateway",
    );
    health.run_failed(
        "main",
        Utc::now(),
        "getBuyerOrderList: HTTP 502: Bad Gateway",
    );
    let served = Served::start(sqlite_store(&db).await, health, Duration::from_secs(5)).await;

    let reply = served.get("/readyz").await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = reply.json();
    assert_eq!(body["status"], "warn");
    let main = &body["accounts"]["main"];
    assert_eq!(main["status"], "warn");
    assert_eq!(main["consecutive_failures"], 2);
    assert_eq!(
        main["last_error"],
        "getBuyerOrderList: HTTP 502: Bad Gateway"
    );
}

#[tokio::test]
async fn a_freshly_started_daemon_is_ready_before_its_first_sync() {
    let db = TestDb::sqlite();
    let health = Arc::new(Health::new([("main", HOUR)]));
    let served = Served::start(sqlite_store(&db).await, health, Duration::from_secs(5)).await;

    let reply = served.get("/readyz").await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    let main = &reply.json()["accounts"]["main"];
    assert_eq!(main["status"], "pass");
    assert!(main["last_success"].is_null());
    assert!(main["age_secs"].is_null());
}

#[tokio::test]
async fn readyz_fails_while_the_database_is_away_and_recovers_when_it_returns() {
    let db = TestDb::postgres().await;
    let (proxy, store) = postgres_behind_a_proxy(&db).await;
    let health = Arc::new(Health::new([("main", HOUR)]));
    health.seed("main", ago(Duration::from_secs(60)), 0, None);
    let served = Served::start(store, health, Duration::from_millis(200)).await;
    served.readyz_until(200, Duration::from_secs(5)).await;

    proxy.cut();
    let down = served.readyz_until(503, Duration::from_secs(10)).await;

    let body = down.json();
    assert_eq!(body["status"], "fail");
    assert_eq!(body["database"]["status"], "fail");
    assert!(body["database"]["error"].is_string(), "{body}");
    assert_eq!(
        body["accounts"]["main"]["status"], "pass",
        "the account itself is fine"
    );
    assert_no_secret("/readyz with the database away", &down.body);

    proxy.restore();
    let up = served.readyz_until(200, Duration::from_secs(10)).await;

    assert_eq!(up.json()["database"]["status"], "pass");
    served.stop().await;
}

#[tokio::test]
async fn readyz_gives_up_on_a_database_that_stops_answering_within_about_two_seconds() {
    let db = TestDb::postgres().await;
    let (proxy, store) = postgres_behind_a_proxy(&db).await;
    let health = Arc::new(Health::new([("main", HOUR)]));
    // No cache: every probe asks the database.
    let served = Served::start(store, health, Duration::ZERO).await;
    served.readyz_until(200, Duration::from_secs(5)).await;

    proxy.stall();
    let asked = Instant::now();
    let reply = served.get("/readyz").await;
    let waited = asked.elapsed();

    assert_eq!(reply.status, 503, "{}", reply.body);
    assert!(
        (Duration::from_millis(1500)..Duration::from_secs(4)).contains(&waited),
        "answered after {waited:?}"
    );
    let body = reply.json();
    assert!(
        body["database"]["error"]
            .as_str()
            .unwrap()
            .contains("no answer from the database"),
        "{body}"
    );

    proxy.restore();
    served.readyz_until(200, Duration::from_secs(10)).await;
}

#[tokio::test]
async fn readyz_reuses_a_database_check_for_the_cache_period() {
    let db = TestDb::postgres().await;
    let (proxy, store) = postgres_behind_a_proxy(&db).await;
    let health = Arc::new(Health::new([("main", HOUR)]));
    let served = Served::start(store, health, Duration::from_secs(600)).await;
    let first = served.get("/readyz").await;
    assert_eq!(first.status, 200, "{}", first.body);

    proxy.cut();
    let cached = served.get("/readyz").await;

    assert_eq!(
        cached.status, 200,
        "within the cache period the database is not asked"
    );
    assert_eq!(
        cached.json()["database"]["checked_at"],
        first.json()["database"]["checked_at"]
    );
}

#[tokio::test]
async fn metrics_render_every_described_metric_as_prometheus_text() {
    let db = TestDb::sqlite();
    let health = Arc::new(Health::new([("metrics_test", HOUR)]));
    let served = Served::start(sqlite_store(&db).await, health, Duration::from_secs(5)).await;
    metrics::register_accounts(["metrics_test"]);
    let counts = RunCounts {
        orders_seen: 5,
        orders_inserted: 3,
        orders_updated: 1,
        orders_unchanged: 1,
        lines_unmapped: 2,
        ..RunCounts::default()
    };
    metrics::record_run(
        "metrics_test",
        RunKind::Window,
        RunStatus::Succeeded,
        Duration::from_secs(12),
        &counts,
    );
    metrics::record_api_request(
        "alibaba.trade.getBuyerOrderList",
        "ok",
        Duration::from_millis(180),
    );
    metrics::record_retry("timeout");

    let reply = served.get("/metrics").await;

    assert_eq!(reply.status, 200);
    assert!(
        reply.content_type.starts_with("text/plain; version=0.0.4"),
        "{}",
        reply.content_type
    );
    for name in metrics::ALL {
        assert!(
            reply.body.contains(&format!("# HELP {name} ")),
            "{name} is not described:\n{}",
            reply.body
        );
    }
    for line in [
        "sync1688_sync_runs_total{account=\"metrics_test\",outcome=\"succeeded\"} 1",
        "sync1688_sync_runs_total{account=\"metrics_test\",outcome=\"failed\"} 0",
        "sync1688_orders_written_total{account=\"metrics_test\",op=\"inserted\"} 3",
        "sync1688_orders_written_total{account=\"metrics_test\",op=\"skipped\"} 0",
        "sync1688_lines_unmapped{account=\"metrics_test\"} 2",
        "sync1688_sync_duration_seconds_bucket{account=\"metrics_test\",le=\"30\"} 1",
        "sync1688_build_info{version=\"",
    ] {
        assert!(reply.body.contains(line), "missing {line}:\n{}", reply.body);
    }
}

#[tokio::test]
async fn no_body_ever_contains_the_database_password() {
    let db = TestDb::postgres().await;
    let (proxy, store) = postgres_behind_a_proxy(&db).await;
    let health = Arc::new(Health::new([("main", HOUR)]));
    // An error that carries a URL with credentials, had one slipped through.
    let url_with_password = format!("postgres://erp:{DB_PASSWORD}@db.internal/erp");
    health.run_failed(
        "main",
        Utc::now(),
        &format!("cannot connect ({url_with_password}): refused"),
    );
    let served = Served::start(store, health, Duration::from_millis(100)).await;

    let mut bodies = Vec::new();
    for path in ["/livez", "/readyz", "/metrics"] {
        bodies.push((path, served.get(path).await.body));
    }
    proxy.cut();
    bodies.push((
        "/readyz (database away)",
        served.readyz_until(503, Duration::from_secs(10)).await.body,
    ));
    let probed = http::probe(&served.base, Duration::from_secs(5))
        .await
        .unwrap();
    bodies.push(("healthcheck", probed.body));

    for (what, body) in &bodies {
        assert_no_secret(what, body);
    }
    let readyz = &bodies[1].1;
    assert!(
        readyz.contains("postgres://erp:***@db.internal/erp"),
        "the error stays readable: {readyz}"
    );
}

#[tokio::test]
async fn the_healthcheck_probe_tells_ready_from_not_ready() {
    let db = TestDb::sqlite();
    let health = Arc::new(Health::new([("main", HOUR)]));
    health.seed("main", ago(Duration::from_secs(60)), 0, None);
    let served = Served::start(sqlite_store(&db).await, health, Duration::from_secs(5)).await;

    let ready = http::probe(&served.base, Duration::from_secs(5))
        .await
        .unwrap();
    served.health.seed("main", ago(3 * HOUR), 0, None);
    let not_ready = http::probe(&format!("{}/readyz", served.base), Duration::from_secs(5))
        .await
        .unwrap();

    assert!(ready.ready);
    assert_eq!(ready.http_status, 200);
    assert!(ready.body.contains("\"status\":\"pass\""), "{}", ready.body);
    assert!(!not_ready.ready);
    assert_eq!(not_ready.http_status, 503);
    let body: Value = serde_json::from_str(&not_ready.body).unwrap();
    assert_eq!(body["accounts"]["main"]["status"], "fail");
    served.stop().await;
}

#[tokio::test]
async fn the_healthcheck_probe_fails_when_nothing_listens() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);

    let err = http::probe(&format!("http://{addr}"), Duration::from_secs(2))
        .await
        .unwrap_err();

    assert!(matches!(err, http::ProbeError::Unreachable { .. }), "{err}");
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}
