//! The two fault tests of issue 7, on the real binary and a real database:
//!
//! - a sync killed with SIGKILL at any moment, then run once more, ends in the database
//!   an undisturbed sync makes (orders, lines, amounts, mappings), with no duplicate and a
//!   `sync_runs` that tells what happened;
//! - PostgreSQL going away in the middle of a run fails that run cleanly, leaves no
//!   partial page, shows on `/readyz`, and the next run completes once it is back.
//!
//! Kill moments are drawn from a seed printed with the figures (`--nocapture`); set
//! `CRASH_SEED` to replay a draw.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::TestDb;
use support::app::FAST_API;
use support::process::{ConfigDir, Sync1688, tail};
use support::tcp_proxy::TcpProxy;
use sync1688::app::Application;
use sync1688::config::{Settings, Sources};
use sync1688::daemon::Daemon;
use sync1688::imports::{parse_mappings, parse_merchant_skus};
use sync1688::sandbox::{self, SandboxConfig, SandboxHandle};
use sync1688::store::Backend;
use tokio_util::sync::CancellationToken;

/// Orders per 1688 page, as configured: a page is the unit that must be all or nothing.
const PAGE_SIZE: i64 = 50;

/// Sandbox orders of the crash trials.
const CRASH_ORDERS: usize = 2_000;

/// Kills per backend.
const KILLS: usize = 20;

/// Held by each test for its whole length: kill moments are drawn from the duration of
/// an undisturbed run, which holds only if the trials run under the same load.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The shortest lease the configuration accepts: a rerun waits out what the killed
/// process held.
const LEASE_TTL_SECS: u64 = 5;

// ---------------------------------------------------------------------------------------
// Crash anywhere
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_killed_at_any_moment_ends_in_the_same_postgres_database_as_an_undisturbed_one() {
    crash_anywhere(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_killed_at_any_moment_ends_in_the_same_sqlite_database_as_an_undisturbed_one() {
    crash_anywhere(Backend::Sqlite).await;
}

async fn crash_anywhere(backend: Backend) {
    let _alone = ONE_AT_A_TIME.lock().await;
    let began = Instant::now();
    let sandbox = start_sandbox(SandboxConfig {
        orders: CRASH_ORDERS,
        days: 2,
        seed: 7_1688,
        ..SandboxConfig::default()
    })
    .await;
    let mappings = Mappings::of(&sandbox);

    // The undisturbed run: its duration spreads the kills, its database is the target.
    let db = fresh_db(backend).await;
    mappings.seed(&db).await;
    let config = ConfigDir::new(|dir| once_config(db.url(), &sandbox, dir));
    let undisturbed = Sync1688::start(&config, "undisturbed", &["run", "--once"])
        .wait(Duration::from_secs(300))
        .await;
    undisturbed.expect_success("the undisturbed run");
    let span = undisturbed.took;
    let reference = Dump::of(&db).await;
    assert_eq!(
        reference.orders.len(),
        CRASH_ORDERS,
        "every order was synced"
    );
    let mapped = reference.lines_with("|mapped|");
    let unmapped = reference.lines_with("|unmapped|");
    assert!(
        mapped > 0 && unmapped > 0,
        "the data covers mapped ({mapped}) and unmapped ({unmapped}) lines"
    );
    drop(db);

    let seed = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1688)
        });
    eprintln!(
        "[{backend:?}] undisturbed run of {CRASH_ORDERS} orders ({} lines, {mapped} mapped): {} ms; \
         {KILLS} kills spread over it, CRASH_SEED={seed}",
        reference.line_count(),
        span.as_millis()
    );
    let mut rng = SplitMix64(seed);
    // Where the kills fell: before the run was recorded, during it, after its end.
    let mut fell = [0; 3];
    for trial in 0..KILLS {
        // One kill in each twentieth of the run, anywhere within it.
        let at = span.mul_f64((trial as f64 + rng.unit()) / KILLS as f64);
        // Two reruns wait out the lease the killed process left; the others find it
        // expired, sparing the test the wait (the same takeover, without the clock).
        let wait_out_lease = trial % 10 == 5;
        let outcome =
            kill_and_rerun(backend, &sandbox, &mappings, &reference, at, wait_out_lease).await;
        fell[match outcome.runs_after_kill.first().map(String::as_str) {
            None => 0,
            Some("running") => 1,
            Some(_) => 2,
        }] += 1;
        eprintln!(
            "[{backend:?}] kill {:>2}/{KILLS} at {:>5} ms{}: {:>4} orders stored{}, runs {:?}, lease {}; \
             rerun {:>5} ms{}: {}",
            trial + 1,
            at.as_millis(),
            if outcome.was_running {
                ""
            } else {
                " (after exit)"
            },
            outcome.orders_after_kill,
            outcome
                .wal_bytes
                .map(|b| format!(", {b} WAL bytes"))
                .unwrap_or_default(),
            outcome.runs_after_kill,
            if outcome.lease_left { "held" } else { "free" },
            outcome.rerun.as_millis(),
            if outcome.lease_left && wait_out_lease {
                " (lease waited out)"
            } else {
                ""
            },
            outcome.story,
        );
    }
    eprintln!(
        "[{backend:?}] {KILLS} kills ({} before the run was recorded, {} during it, {} after its end), \
         each followed by a rerun ending in the undisturbed database: {} s in all",
        fell[0],
        fell[1],
        fell[2],
        began.elapsed().as_secs()
    );
}

struct Trial {
    was_running: bool,
    orders_after_kill: usize,
    /// The statuses of the runs the killed process recorded.
    runs_after_kill: Vec<String>,
    /// The killed process still held the account's lease.
    lease_left: bool,
    /// SQLite: the size of the write-ahead log the kill left for the next open.
    wal_bytes: Option<u64>,
    rerun: Duration,
    story: String,
}

/// Starts a sync on a fresh database, kills it `at` after its start, checks what the
/// kill left, runs once more and compares the end with `reference`. Unless
/// `wait_out_lease`, the lease the killed process held is expired before the rerun.
async fn kill_and_rerun(
    backend: Backend,
    sandbox: &SandboxHandle,
    mappings: &Mappings,
    reference: &Dump,
    at: Duration,
    wait_out_lease: bool,
) -> Trial {
    let db = fresh_db(backend).await;
    mappings.seed(&db).await;
    let config = ConfigDir::new(|dir| once_config(&tagged(&db), sandbox, dir));
    let victim = Sync1688::start(&config, "killed", &["run", "--once"]);
    tokio::time::sleep(at.saturating_sub(victim.elapsed())).await;
    let was_running = victim.kill_hard();
    // PostgreSQL still carries out what the dead process had sent (a COMMIT already on
    // the wire commits): its server sessions must be gone before the leftovers are
    // looked at.
    if backend == Backend::Postgres {
        wait_for(
            Duration::from_secs(10),
            "the killed process's sessions end",
            || async {
                db.scalar::<i64>(&format!(
                    "SELECT COUNT(*) FROM pg_stat_activity \
                     WHERE datname = current_database() AND application_name = '{TAG}'"
                ))
                .await
                    == 0
            },
        )
        .await;
    }
    let wal_bytes = sqlite_path(&db)
        .map(|path| std::fs::metadata(format!("{path}-wal")).map_or(0, |m| m.len()));

    // What the kill left: whole pages of complete orders, each as the undisturbed run
    // wrote it.
    let left = Dump::of(&db).await;
    left.assert_part_of(reference);
    assert_eq!(
        left.orders.len() as i64 % PAGE_SIZE,
        0,
        "only whole pages were committed ({} orders)",
        left.orders.len()
    );
    let runs_after_kill = runs(&db).await;
    assert!(
        runs_after_kill.len() <= 1,
        "the killed process recorded one run at most: {runs_after_kill:?}"
    );
    let lease_left = db
        .scalar::<i64>("SELECT COUNT(*) FROM sync_leases WHERE owner IS NOT NULL")
        .await
        > 0;
    if !wait_out_lease {
        db.execute(match backend {
            Backend::Postgres => "UPDATE sync_leases SET lease_until = now() - interval '1 second'",
            Backend::Sqlite => {
                "UPDATE sync_leases SET lease_until = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-1 seconds')"
            }
        })
        .await;
    }

    let rerun = Sync1688::start(&config, "rerun", &["run", "--once"])
        .wait(Duration::from_secs(300))
        .await;
    rerun.expect_success("the run after the kill");

    let end = Dump::of(&db).await;
    end.assert_same_as(reference);
    assert_integrity(&db).await;

    // The story: the killed run (if it had begun) closed as failed by the rerun, which
    // inserted exactly what the kill had left out.
    let story = runs(&db).await;
    let (last, earlier) = story.split_last().expect("the rerun recorded its run");
    let stored = left.orders.len();
    assert_eq!(
        last.status,
        "succeeded",
        "the rerun succeeded: {story:?}\n{}",
        tail(&rerun.log, 30)
    );
    assert_eq!(last.seen, CRASH_ORDERS as i64, "{story:?}");
    assert_eq!(
        (last.inserted, last.unchanged),
        ((CRASH_ORDERS - stored) as i64, stored as i64),
        "the rerun inserted what the kill left out and left the rest alone: {story:?}"
    );
    assert_eq!(
        earlier.len(),
        runs_after_kill.len(),
        "one row per run: {story:?}"
    );
    for run in earlier {
        match runs_after_kill[0].status.as_str() {
            // Killed after it recorded its end: nothing to close.
            "succeeded" => assert_eq!(run.status, "succeeded", "{story:?}"),
            _ => {
                assert_eq!(run.status, "failed", "{story:?}");
                assert!(
                    run.error.contains("interrupted"),
                    "the killed run says it was interrupted: {story:?}"
                );
                assert!(run.finished, "{story:?}");
            }
        }
    }
    if stored > 0 {
        assert_eq!(earlier.len(), 1, "the run that wrote pages is recorded");
    }
    Trial {
        was_running,
        orders_after_kill: stored,
        runs_after_kill: runs_after_kill.into_iter().map(|r| r.status).collect(),
        lease_left,
        wal_bytes,
        rerun: rerun.took,
        story: story
            .iter()
            .map(|r| {
                format!(
                    "{} (+{} ={} {})",
                    r.status,
                    r.inserted,
                    r.unchanged,
                    if r.error.is_empty() {
                        ""
                    } else {
                        r.error.as_str()
                    }
                )
            })
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// The `application_name` of the sessions of the process under test.
const TAG: &str = "sync1688-under-test";

/// The database's URL, naming the PostgreSQL sessions opened with it [`TAG`].
fn tagged(db: &TestDb) -> String {
    match db.backend() {
        Backend::Postgres => {
            let separator = if db.url().contains('?') { '&' } else { '?' };
            format!("{}{separator}application_name={TAG}", db.url())
        }
        Backend::Sqlite => db.url().to_owned(),
    }
}

/// A `run --once` configuration: one account on the sandbox, quick retries, the shortest
/// lease, its state (tokens) in `dir`.
fn once_config(db_url: &str, sandbox: &SandboxHandle, dir: &Path) -> String {
    let c = sandbox.config();
    format!(
        r#"
[database]
url = "{db_url}"
max_connections = 4
{FAST_API}
[http]
listen = "127.0.0.1:0"

[daemon]
state_dir = "{state_dir}"
lease_ttl_secs = {LEASE_TTL_SECS}

[[accounts]]
name = "main"
app_key = "{app_key}"
app_secret = "{app_secret}"
refresh_token = "{refresh_token}"
api_base = "{api_base}"
default_warehouse = "MAIN"
"#,
        state_dir = dir.join("state").display(),
        app_key = c.app_key,
        app_secret = c.app_secret,
        refresh_token = c.refresh_token,
        api_base = sandbox.base_url(),
    )
}

// ---------------------------------------------------------------------------------------
// The database goes away mid-run
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_going_away_mid_run_fails_the_run_cleanly_and_the_next_run_completes() {
    const ORDERS: usize = 1_000;
    let _alone = ONE_AT_A_TIME.lock().await;
    let db = TestDb::postgres().await;
    db.store().await; // migrated directly, so that the counts below work at once
    let proxy = TcpProxy::start(upstream_of(db.url()).await).await;
    // Slow pages, one at a time, so that the cut falls in the middle of the run.
    let sandbox = start_sandbox(SandboxConfig {
        orders: ORDERS,
        days: 2,
        latency: Duration::from_millis(60),
        ..SandboxConfig::default()
    })
    .await;
    let c = sandbox.config();
    let state = tempfile::tempdir().expect("a temporary directory");
    let toml = format!(
        r#"
[database]
url = "{db_url}"
max_connections = 4
{FAST_API}
[http]
listen = "127.0.0.1:0"
db_check_cache_secs = 0

[sync]
schedule = "*/2 * * * * *"
page_concurrency = 1

[daemon]
state_dir = "{state_dir}"
lease_ttl_secs = {LEASE_TTL_SECS}
shutdown_grace_secs = 5

[[accounts]]
name = "main"
app_key = "{app_key}"
app_secret = "{app_secret}"
refresh_token = "{refresh_token}"
api_base = "{api_base}"
default_warehouse = "MAIN"
"#,
        db_url = through(db.url(), proxy.addr()),
        state_dir = state.path().display(),
        app_key = c.app_key,
        app_secret = c.app_secret,
        refresh_token = c.refresh_token,
        api_base = sandbox.base_url(),
    );
    let settings = Settings::load(&Sources {
        inline: vec![toml],
        ..Sources::default()
    })
    .expect("the test configuration is valid");
    let app = Application::build(settings)
        .await
        .expect("the application starts");
    let daemon = Daemon::bind(app).await.expect("the listener binds");
    let readyz = format!("http://{}/readyz", daemon.local_addr());
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(daemon.run_until_stopped(shutdown.clone()));

    // A few pages in, the database goes away.
    let started = Instant::now();
    wait_for(
        Duration::from_secs(60),
        "the start-up run writes 3 pages",
        || async { orders(&db).await >= 3 * PAGE_SIZE },
    )
    .await;
    proxy.cut();
    let cut = Instant::now();
    eprintln!(
        "database cut {} ms into the run, with {} orders stored",
        started.elapsed().as_millis(),
        orders(&db).await
    );

    let down = wait_for_readyz(&readyz, 503, Duration::from_secs(15)).await;
    eprintln!(
        "/readyz 503 {} ms after the cut: {down}",
        cut.elapsed().as_millis()
    );
    assert_eq!(down["status"], "fail", "{down}");
    assert_eq!(down["database"]["status"], "fail", "{down}");
    let failed = wait_for_readyz_where(&readyz, Duration::from_secs(30), |body| {
        body["accounts"]["main"]["running"] == false
            && body["accounts"]["main"]["last_error"].is_string()
    })
    .await;
    let error = failed["accounts"]["main"]["last_error"]
        .as_str()
        .unwrap()
        .to_owned();
    eprintln!(
        "the run failed {} ms after the cut: {error}",
        cut.elapsed().as_millis()
    );
    assert!(
        error.contains("database"),
        "the failure names the database: {error}"
    );

    // While the database is away (seen directly, past the proxy): whole pages only.
    let stored_at_failure = orders(&db).await;
    assert!(
        stored_at_failure < ORDERS as i64,
        "the run was cut short ({stored_at_failure} orders)"
    );
    assert_eq!(
        stored_at_failure % PAGE_SIZE,
        0,
        "only whole pages ({stored_at_failure} orders)"
    );
    assert_integrity(&db).await;
    let during = runs(&db).await;
    eprintln!("sync_runs while the database is away: {during:?}");

    // Scheduled rounds keep failing while it is away; then it comes back.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let still = get_json(&readyz).await;
    assert_eq!(still.0, 503, "still unready while away: {}", still.1);
    proxy.restore();
    let restored = Instant::now();

    let up = wait_for_readyz_where(&readyz, Duration::from_secs(60), |body| {
        body["status"] != "fail"
            && body["accounts"]["main"]["consecutive_failures"] == 0
            && body["accounts"]["main"]["last_success"].is_string()
    })
    .await;
    eprintln!(
        "a round succeeded {} ms after the database came back: {up}",
        restored.elapsed().as_millis()
    );
    shutdown.cancel();
    running
        .await
        .expect("the daemon does not panic")
        .expect("the daemon stops cleanly");

    // Every sandbox order exactly once, each with its lines.
    let expected: BTreeSet<i64> = sandbox.order_ids().into_iter().collect();
    assert_eq!(expected.len(), ORDERS);
    let stored = stored_order_ids(&db).await;
    assert_eq!(stored.len(), ORDERS, "every order stored once");
    assert_eq!(stored, expected, "exactly the sandbox's orders");
    assert_integrity(&db).await;

    // sync_runs: the cut run failed, nothing is left running, and a later run succeeded.
    let story = runs(&db).await;
    eprintln!("sync_runs after recovery: {story:?}");
    assert!(
        story.iter().all(|r| r.status != "running"),
        "no run is left running: {story:?}"
    );
    // The cut run could not write its end while the database was away; it was written
    // when the database came back, with the real reason and what the run had done.
    let cut_run = &story[0];
    assert_eq!(cut_run.status, "failed", "{story:?}");
    assert!(cut_run.finished, "{story:?}");
    assert!(
        cut_run.error.contains("database") && !cut_run.error.contains("interrupted"),
        "the cut run's reason is the database: {story:?}"
    );
    // A commit whose answer was lost with the connection is stored but not counted.
    assert!(
        [stored_at_failure, stored_at_failure - PAGE_SIZE].contains(&cut_run.inserted),
        "the cut run counts the {stored_at_failure} orders it wrote: {story:?}"
    );
    assert!(
        story
            .iter()
            .any(|r| r.status == "succeeded" && r.kind == "window"),
        "a window run succeeded after the outage: {story:?}"
    );
}

/// The address behind a PostgreSQL URL.
async fn upstream_of(url: &str) -> SocketAddr {
    let url = reqwest::Url::parse(url).unwrap();
    let host = url.host_str().unwrap().to_owned();
    tokio::net::lookup_host((host.as_str(), url.port().unwrap_or(5432)))
        .await
        .unwrap()
        .next()
        .expect("the database host resolves")
}

/// `url` pointed at `proxy`.
fn through(url: &str, proxy: SocketAddr) -> String {
    let mut url = reqwest::Url::parse(url).unwrap();
    url.set_host(Some("127.0.0.1")).unwrap();
    url.set_port(Some(proxy.port())).unwrap();
    url.to_string()
}

async fn get_json(url: &str) -> (u16, Value) {
    let response = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

async fn wait_for_readyz(url: &str, status: u16, limit: Duration) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let (got, body) = get_json(url).await;
        if got == status {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz never answered {status}; last {got}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_for_readyz_where(url: &str, limit: Duration, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let (_, body) = get_json(url).await;
        if ok(&body) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz never reached the expected state; last: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_for<F, Fut>(limit: Duration, what: &str, done: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !done().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------------------------------
// Shared pieces
// ---------------------------------------------------------------------------------------

async fn start_sandbox(config: SandboxConfig) -> SandboxHandle {
    support::init_logging();
    sandbox::start(config, ([127, 0, 0, 1], 0).into())
        .await
        .expect("the sandbox starts")
}

/// The file of a SQLite test database.
fn sqlite_path(db: &TestDb) -> Option<String> {
    let rest = db.url().strip_prefix("sqlite://")?;
    Some(rest.split('?').next().unwrap_or(rest).to_owned())
}

async fn fresh_db(backend: Backend) -> TestDb {
    match backend {
        Backend::Postgres => TestDb::postgres().await,
        Backend::Sqlite => TestDb::sqlite(),
    }
}

/// Merchant SKUs and mappings for half of the catalogue's SKUs (some in packs), the same
/// for every database.
struct Mappings {
    merchant_skus: String,
    mappings: String,
}

impl Mappings {
    fn of(sandbox: &SandboxHandle) -> Mappings {
        let mut merchant_skus = String::new();
        let mut mappings = String::new();
        for (i, offer) in sandbox
            .offers()
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 2 == 0)
        {
            let sku = format!("M-{i:04}");
            let ratio = if i % 6 == 0 { 10 } else { 1 };
            merchant_skus.push_str(&format!("{sku},,merchant item {i}\n"));
            mappings.push_str(&format!(
                "{},{},{sku},{ratio}\n",
                offer.offer_id, offer.spec_id
            ));
        }
        Mappings {
            merchant_skus,
            mappings,
        }
    }

    /// Migrates `db` and stores the mappings, as an operator would before the first sync.
    async fn seed(&self, db: &TestDb) {
        let store = db.store().await;
        store
            .import_merchant_skus(&parse_merchant_skus(&self.merchant_skus).unwrap())
            .await
            .expect("merchant SKUs are stored");
        store
            .set_mappings(&parse_mappings(&self.mappings).unwrap(), true)
            .await
            .expect("mappings are stored");
    }
}

/// The synced content of a database as ordered text rows, without surrogate ids or
/// wall-clock times: what must be equal after any crash.
struct Dump {
    /// By 1688 order id.
    orders: BTreeMap<String, String>,
    /// By 1688 order id, in line order.
    lines: BTreeMap<String, Vec<String>>,
    suppliers: Vec<String>,
    mappings: Vec<String>,
}

impl Dump {
    async fn of(db: &TestDb) -> Dump {
        let orders = rows(
            db,
            &[
                "o.order_id_1688",
                "o.account",
                "o.po_number",
                "o.source",
                "o.status",
                "o.status_1688",
                "s.login_id_1688",
                "w.code",
                "o.has_unmapped",
                "o.note",
                "o.currency",
                "o.goods_amount",
                "o.shipping_fee",
                "o.discount",
                "o.total_amount",
                "o.created_at_1688",
                "o.modified_at_1688",
                "o.content_hash",
            ],
            "purchase_orders o LEFT JOIN suppliers s ON s.id = o.supplier_id \
             LEFT JOIN warehouses w ON w.id = o.warehouse_id",
            "o.order_id_1688",
        )
        .await;
        let lines = rows(
            db,
            &[
                "o.order_id_1688",
                "l.line_no",
                "l.sub_item_id_1688",
                "l.offer_id",
                "l.spec_id",
                "l.sku_id_1688",
                "l.title",
                "l.attributes",
                "l.quantity",
                "l.unit_price",
                "l.amount",
                "l.merchant_sku",
                "l.mapping_status",
                "l.merchant_quantity",
                "l.received_qty",
            ],
            "purchase_order_lines l JOIN purchase_orders o ON o.id = l.purchase_order_id",
            "o.order_id_1688, l.line_no",
        )
        .await;
        let suppliers = rows(
            db,
            &["login_id_1688", "member_id_1688", "name"],
            "suppliers",
            "login_id_1688",
        )
        .await;
        let mappings = rows(
            db,
            &["offer_id", "spec_id", "merchant_sku", "quantity_ratio"],
            "sku_mappings",
            "offer_id, spec_id",
        )
        .await;
        let mut by_order: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for line in lines {
            by_order.entry(order_key(&line)).or_default().push(line);
        }
        Dump {
            orders: orders.into_iter().map(|r| (order_key(&r), r)).collect(),
            lines: by_order,
            suppliers,
            mappings,
        }
    }

    fn line_count(&self) -> usize {
        self.lines.values().map(Vec::len).sum()
    }

    fn lines_with(&self, text: &str) -> usize {
        self.lines
            .values()
            .flatten()
            .filter(|l| l.contains(text))
            .count()
    }

    /// Every order here is one of `whole`'s, as it is there, with all of its lines.
    fn assert_part_of(&self, whole: &Dump) {
        for (id, order) in &self.orders {
            assert_eq!(Some(order), whole.orders.get(id), "order {id}");
            assert_eq!(
                self.lines.get(id),
                whole.lines.get(id),
                "order {id} has all of its lines, as an undisturbed run writes them"
            );
        }
        assert!(
            self.lines.keys().all(|id| self.orders.contains_key(id)),
            "no line without its order"
        );
        let suppliers: BTreeSet<&String> = whole.suppliers.iter().collect();
        assert!(self.suppliers.iter().all(|s| suppliers.contains(s)));
        assert_eq!(self.mappings, whole.mappings, "the mappings are untouched");
    }

    fn assert_same_as(&self, reference: &Dump) {
        let differ = |what: &str, a: Vec<&String>, b: Vec<&String>| {
            if a != b {
                let first = a
                    .iter()
                    .zip(&b)
                    .find(|(x, y)| x != y)
                    .map(|(x, y)| format!("\n  got:  {x}\n  want: {y}"))
                    .unwrap_or_default();
                panic!(
                    "{what} differ from the undisturbed run's ({} rows, want {}){first}",
                    a.len(),
                    b.len()
                );
            }
        };
        differ(
            "orders",
            self.orders.values().collect(),
            reference.orders.values().collect(),
        );
        differ(
            "lines",
            self.lines.values().flatten().collect(),
            reference.lines.values().flatten().collect(),
        );
        differ(
            "suppliers",
            self.suppliers.iter().collect(),
            reference.suppliers.iter().collect(),
        );
        differ(
            "mappings",
            self.mappings.iter().collect(),
            reference.mappings.iter().collect(),
        );
    }
}

fn order_key(row: &str) -> String {
    row.split_once('|')
        .map(|(id, _)| id)
        .unwrap_or(row)
        .to_owned()
}

/// `columns` of `from`, each row as one `|`-separated text, ordered by `order_by`.
async fn rows(db: &TestDb, columns: &[&str], from: &str, order_by: &str) -> Vec<String> {
    let row = columns
        .iter()
        .map(|c| format!("COALESCE(CAST({c} AS TEXT), '~')"))
        .collect::<Vec<_>>()
        .join(" || '|' || ");
    let sql = match db.backend() {
        Backend::Postgres => format!(
            "SELECT COALESCE(string_agg({row}, E'\\n' ORDER BY {order_by}), '') FROM {from}"
        ),
        Backend::Sqlite => format!(
            "SELECT COALESCE(group_concat({row}, char(10) ORDER BY {order_by}), '') FROM {from}"
        ),
    };
    let text: String = db.scalar(&sql).await;
    text.lines().map(str::to_owned).collect()
}

/// No duplicate order, no line without its order, no order without lines.
async fn assert_integrity(db: &TestDb) {
    let duplicates = db
        .scalar::<i64>(
            "SELECT COUNT(*) FROM (SELECT account, order_id_1688 FROM purchase_orders \
             GROUP BY account, order_id_1688 HAVING COUNT(*) > 1) d",
        )
        .await;
    assert_eq!(duplicates, 0, "no order is stored twice");
    let orphans = db
        .scalar::<i64>(
            "SELECT COUNT(*) FROM purchase_order_lines l WHERE NOT EXISTS \
             (SELECT 1 FROM purchase_orders o WHERE o.id = l.purchase_order_id)",
        )
        .await;
    assert_eq!(orphans, 0, "no line without its order");
    let empty = db
        .scalar::<i64>(
            "SELECT COUNT(*) FROM purchase_orders o WHERE NOT EXISTS \
             (SELECT 1 FROM purchase_order_lines l WHERE l.purchase_order_id = o.id)",
        )
        .await;
    assert_eq!(empty, 0, "no order without lines");
}

async fn orders(db: &TestDb) -> i64 {
    db.scalar("SELECT COUNT(*) FROM purchase_orders").await
}

async fn stored_order_ids(db: &TestDb) -> BTreeSet<i64> {
    let text: String = db
        .scalar("SELECT COALESCE(string_agg(CAST(order_id_1688 AS TEXT), ','), '') FROM purchase_orders")
        .await;
    let ids: Vec<i64> = text
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    let set: BTreeSet<i64> = ids.iter().copied().collect();
    assert_eq!(set.len(), ids.len(), "no order id twice");
    set
}

/// A `sync_runs` row, as the story needs it.
#[derive(Debug)]
struct Run {
    kind: String,
    status: String,
    finished: bool,
    seen: i64,
    inserted: i64,
    unchanged: i64,
    error: String,
}

async fn runs(db: &TestDb) -> Vec<Run> {
    rows(
        db,
        &[
            "kind",
            "status",
            "CASE WHEN finished_at IS NULL THEN 0 ELSE 1 END",
            "orders_seen",
            "orders_inserted",
            "orders_unchanged",
            "REPLACE(error, '\n', ' ')",
        ],
        "sync_runs",
        "id",
    )
    .await
    .iter()
    .map(|row| {
        let f: Vec<&str> = row.splitn(7, '|').collect();
        Run {
            kind: f[0].to_owned(),
            status: f[1].to_owned(),
            finished: f[2] == "1",
            seen: f[3].parse().unwrap(),
            inserted: f[4].parse().unwrap(),
            unchanged: f[5].parse().unwrap(),
            error: if f[6] == "~" {
                String::new()
            } else {
                f[6].to_owned()
            },
        }
    })
    .collect()
}

/// Kill moments reproducible from a printed seed.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}
