//! The benchmark scenarios. Each starts from fresh databases and measures its baseline
//! in the same run.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use sqlx::{Connection, SqliteConnection};

use super::postgres::{self, FreshDatabase, TableDump, Writes};
use super::processes::{self, DaemonProcess, SandboxProcess, SandboxSpec, Scratch};
use super::{BenchOptions, Report, Scenario};
use crate::app::{Application, RunOnceOptions};
use crate::config::{Settings, Sources};
use crate::domain::SkuMapping;
use crate::imports;
use crate::sandbox::{self, SandboxConfig};
use crate::store::{self, MerchantSku, Numbered, Totals};

/// The bookkeeping tables a run writes whatever it finds: its own row, its lease, its
/// cursor. Every other table holds data.
const BOOKKEEPING: &[&str] = &["sync_runs", "sync_leases", "sync_cursors", "sync_backfills"];

fn is_data_table(table: &str) -> bool {
    !BOOKKEEPING.contains(&table)
}

/// The sandbox of the cold sync sets no rate limit, so neither does the client: the
/// database is what is measured.
const UNTHROTTLED: &str = "[api]\nrequests_per_second = 100000\n";

/// Orders are generated over the last two days, inside the default three-day window.
const DAYS: u32 = 2;
const PAGE_SIZE: usize = 50;

pub(super) async fn run(options: &BenchOptions) -> anyhow::Result<Report> {
    let mut report = Report::default();
    describe_setting(&mut report, options).await;
    let scratch = Scratch::new()?;
    let mappings = Mappings::of_seed(options).await?;

    let wants = |s: Scenario| options.scenarios.contains(&s);
    if wants(Scenario::Postgres) || wants(Scenario::Sqlite) {
        progress(&format!(
            "starting a sandbox of {} orders ({} lines each on average)",
            options.orders, options.lines_per_order
        ));
        let sandbox = SandboxProcess::start(
            &options.exe,
            &SandboxSpec {
                orders: options.orders,
                lines_per_order: Some(options.lines_per_order),
                days: DAYS,
                seed: options.seed,
                latency_ms: 0,
                rate_limit: None,
                // 1688's servers do not share our two cores: the sandbox renders its
                // orders before the clock starts, so that the cold sync measures the
                // sync and the database.
                prerender: true,
            },
        )?;
        if wants(Scenario::Postgres) {
            postgres_cold_and_resync(options, &scratch, &sandbox, &mappings, &mut report).await?;
        }
        if wants(Scenario::Sqlite) {
            sqlite_cold_and_resync(options, &scratch, &sandbox, &mappings, &mut report).await?;
        }
    }
    if wants(Scenario::ApiBound) {
        api_bound(options, &scratch, &mut report).await?;
    }
    if wants(Scenario::IdleDaemon) {
        idle_daemon(options, &scratch, &mut report).await?;
    }
    Ok(report)
}

fn progress(message: &str) {
    eprintln!("bench: {message}");
}

/// Merchant SKUs and mappings for the SKUs of a share of the orders' lines, the same
/// for every database of the run.
struct Mappings {
    skus: Vec<Numbered<MerchantSku>>,
    mappings: Vec<Numbered<SkuMapping>>,
}

impl Mappings {
    /// Mappings for SKUs that carry `mapped_share` of the lines of the orders the
    /// sandbox of `options` generates (the same seed gives the same orders).
    async fn of_seed(options: &BenchOptions) -> anyhow::Result<Mappings> {
        let handle = sandbox::start(
            SandboxConfig {
                orders: options.orders,
                lines_per_order: Some(options.lines_per_order),
                days: DAYS,
                seed: options.seed,
                ..SandboxConfig::default()
            },
            ([127, 0, 0, 1], 0).into(),
        )
        .await?;
        let offers = handle.offers();
        let lines = handle.lines_per_sku();
        handle.shutdown().await;
        let mut skus_csv = String::from("sku,gtin,name\n");
        let mut mappings_csv = String::from("offer_id,spec_id,merchant_sku,quantity_ratio\n");
        // SKUs taken in a scattered but fixed order until they carry the share of lines.
        let total: usize = lines.iter().sum();
        let wanted = (options.mapped_share.clamp(0.0, 1.0) * total as f64).round() as usize;
        let mut order: Vec<usize> = (0..offers.len()).collect();
        order.sort_by_key(|&i| (i.wrapping_mul(7919) % offers.len().max(1), i));
        let mut covered = 0;
        for index in order {
            if covered >= wanted {
                break;
            }
            if lines[index] == 0 || covered + lines[index] / 2 > wanted {
                continue;
            }
            covered += lines[index];
            let offer = &offers[index];
            let sku = format!("BENCH-{:04}", index + 1);
            skus_csv.push_str(&format!("{sku},,bench {}\n", index + 1));
            mappings_csv.push_str(&format!("{},{},{sku},1\n", offer.offer_id, offer.spec_id));
        }
        let skus = imports::parse_merchant_skus(&skus_csv)
            .map_err(|p| anyhow::anyhow!("bench SKUs: {p:?}"))?;
        let mappings = imports::parse_mappings(&mappings_csv)
            .map_err(|p| anyhow::anyhow!("bench mappings: {p:?}"))?;
        Ok(Mappings { skus, mappings })
    }

    /// Migrates the database at `url` and imports the SKUs and mappings.
    async fn install(&self, url: &str) -> anyhow::Result<()> {
        let store = store::connect(url, 2).await?;
        store.migrate().await?;
        store.import_merchant_skus(&self.skus).await?;
        store.import_mappings(&self.mappings).await?;
        Ok(())
    }
}

/// A configuration of `accounts` accounts of the sandbox at `sandbox_url`.
fn config_toml(
    db_url: &str,
    sandbox_url: &str,
    accounts: usize,
    scratch: &Scratch,
    extra: &str,
) -> String {
    let urls = vec![sandbox_url.to_owned(); accounts];
    config_toml_of(db_url, &urls, scratch, extra)
}

/// A configuration with one account per sandbox of `sandbox_urls`.
fn config_toml_of(db_url: &str, sandbox_urls: &[String], scratch: &Scratch, extra: &str) -> String {
    let defaults = SandboxConfig::default();
    let state_dir = scratch.path("state");
    let mut toml = format!(
        "[database]\nurl = \"{db_url}\"\n[log]\nlevel = \"warn\"\n[http]\nlisten = \"127.0.0.1:0\"\n\
         [daemon]\nstate_dir = \"{}\"\n{extra}\n",
        state_dir.display()
    );
    for (i, sandbox_url) in sandbox_urls.iter().enumerate() {
        toml.push_str(&format!(
            "[[accounts]]\nname = \"bench{i}\"\napp_key = \"{}\"\napp_secret = \"{}\"\n\
             refresh_token = \"{}\"\napi_base = \"{sandbox_url}\"\ndefault_warehouse = \"MAIN\"\n",
            defaults.app_key, defaults.app_secret, defaults.refresh_token
        ));
    }
    toml
}

async fn totals(url: &str) -> anyhow::Result<Totals> {
    Ok(store::connect(url, 1).await?.totals().await?)
}

/// Runs `sync1688 run --once` in a process of its own.
async fn sync_process(exe: &Path, config: &Path) -> anyhow::Result<processes::Finished> {
    let (exe, config) = (exe.to_owned(), config.to_owned());
    tokio::task::spawn_blocking(move || processes::sync_once(&exe, &config)).await?
}

fn per_second(count: u64, took: Duration) -> String {
    thousands((count as f64 / took.as_secs_f64()).round() as u64)
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn mapped_share(t: &Totals) -> String {
    if t.lines == 0 {
        return "0%".into();
    }
    format!("{:.1}%", t.mapped_lines as f64 * 100.0 / t.lines as f64)
}

fn check_complete(t: &Totals, orders: usize, what: &str) -> anyhow::Result<()> {
    if t.orders != orders as u64 {
        bail!(
            "{what}: {} orders stored of the sandbox's {orders}",
            t.orders
        );
    }
    Ok(())
}

async fn postgres_cold_and_resync(
    options: &BenchOptions,
    scratch: &Scratch,
    sandbox: &SandboxProcess,
    mappings: &Mappings,
    report: &mut Report,
) -> anyhow::Result<()> {
    const S: &str = "PostgreSQL";
    let db = FreshDatabase::create(&options.postgres_url, "sync").await?;
    mappings.install(db.url()).await?;
    let config = scratch.write(
        "postgres.toml",
        &config_toml(db.url(), sandbox.base_url(), 1, scratch, UNTHROTTLED),
    )?;

    progress("PostgreSQL: cold sync");
    let before = db.write_counters().await?;
    let cold = sync_process(&options.exe, &config).await?;
    let cold_writes = db.writes_since(&before).await?;
    let t = totals(db.url()).await?;
    check_complete(&t, options.orders, "the cold sync")?;

    progress("PostgreSQL: re-sync of the unchanged window");
    let before = db.write_counters().await?;
    let resync = sync_process(&options.exe, &config).await?;
    let resync_writes = db.writes_since(&before).await?;

    progress("PostgreSQL: COPY of the same rows into a fresh database");
    let inserted: BTreeSet<String> = cold_writes
        .tables
        .iter()
        .filter(|(_, [ins, _, _])| *ins > 0)
        .map(|(t, _)| t.clone())
        .collect();
    let dump = TableDump::of(&db, &inserted).await?;
    let copy_db = FreshDatabase::create(&options.postgres_url, "copy").await?;
    mappings.install(copy_db.url()).await?;
    let copy = dump.copy_into(&copy_db).await?;
    let copied = totals(copy_db.url()).await?;
    if copied.orders != t.orders || copied.lines != t.lines {
        bail!("the COPY baseline holds other rows than the sync wrote");
    }
    copy_db.drop_database().await?;
    db.drop_database().await?;

    add_cold(report, S, &t, &cold);
    report.add(
        S,
        "COPY of the same rows",
        format!(
            "{} in {}: {} orders/s, {} lines/s",
            mib(dump.bytes() as u64 / 1024),
            secs(copy),
            per_second(t.orders, copy),
            per_second(t.lines, copy)
        ),
    );
    let ratio = copy.as_secs_f64() / cold.wall.as_secs_f64();
    report.add_target(
        S,
        "cold sync ÷ COPY (throughput)",
        format!("{ratio:.2}"),
        "≥ 0.60",
        ratio >= 0.6,
    );
    report.add_target(
        S,
        "peak RSS of the syncing process",
        mib(cold.peak_rss_kib),
        "≤ 64 MiB",
        cold.peak_rss_kib <= 64 * 1024,
    );
    add_resync(report, S, &cold, &resync, &resync_writes);
    report.add(
        S,
        "re-sync WAL",
        format!(
            "{} bytes (the whole server's; the cold sync: {})",
            thousands(resync_writes.wal_bytes.max(0) as u64),
            mib(cold_writes.wal_bytes.max(0) as u64 / 1024)
        ),
    );
    Ok(())
}

fn add_cold(report: &mut Report, scenario: &str, t: &Totals, cold: &processes::Finished) {
    report.add(
        scenario,
        "cold sync",
        format!(
            "{} orders, {} lines ({} mapped) in {}",
            thousands(t.orders),
            thousands(t.lines),
            mapped_share(t),
            secs(cold.wall)
        ),
    );
    report.add(
        scenario,
        "cold sync throughput",
        format!(
            "{} orders/s, {} lines/s",
            per_second(t.orders, cold.wall),
            per_second(t.lines, cold.wall)
        ),
    );
}

fn add_resync(
    report: &mut Report,
    scenario: &str,
    cold: &processes::Finished,
    resync: &processes::Finished,
    writes: &Writes,
) {
    let ratio = resync.wall.as_secs_f64() / cold.wall.as_secs_f64();
    report.add_target(
        scenario,
        "re-sync of the unchanged window ÷ cold sync",
        format!("{ratio:.3} ({})", secs(resync.wall)),
        "≤ 0.15",
        ratio <= 0.15,
    );
    let data_rows = writes.rows(is_data_table);
    report.add_target(
        scenario,
        "re-sync: data rows written",
        format!("{data_rows} ({})", writes.describe(is_data_table)),
        "0",
        data_rows == 0,
    );
    report.add(
        scenario,
        "re-sync: bookkeeping rows written",
        writes.describe(|t| !is_data_table(t)),
    );
}

async fn sqlite_cold_and_resync(
    options: &BenchOptions,
    scratch: &Scratch,
    sandbox: &SandboxProcess,
    mappings: &Mappings,
    report: &mut Report,
) -> anyhow::Result<()> {
    const S: &str = "SQLite";
    let file = scratch.path("bench.db");
    let url = format!("sqlite://{}?mode=rwc", file.display());
    mappings.install(&url).await?;
    let config = scratch.write(
        "sqlite.toml",
        &config_toml(&url, sandbox.base_url(), 1, scratch, UNTHROTTLED),
    )?;

    progress("SQLite: cold sync");
    let cold = sync_process(&options.exe, &config).await?;
    let t = totals(&url).await?;
    check_complete(&t, options.orders, "the cold SQLite sync")?;

    progress("SQLite: re-sync of the unchanged window");
    let counter = SqliteWriteCounter::install(&url).await?;
    let resync = sync_process(&options.exe, &config).await?;
    let writes = counter.writes().await?;

    add_cold(report, S, &t, &cold);
    report.add(S, "peak RSS of the syncing process", mib(cold.peak_rss_kib));
    add_resync(report, S, &cold, &resync, &writes);
    Ok(())
}

/// SQLite keeps no per-table statistics: triggers count the writes instead. They are
/// installed after the cold sync, so they cost it nothing.
struct SqliteWriteCounter {
    url: String,
}

impl SqliteWriteCounter {
    async fn install(url: &str) -> anyhow::Result<SqliteWriteCounter> {
        let mut c = SqliteConnection::connect(url).await?;
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' \
             AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx_%'",
        )
        .fetch_all(&mut c)
        .await?;
        sqlx::query("CREATE TABLE bench_writes (tbl TEXT NOT NULL, op INTEGER NOT NULL)")
            .execute(&mut c)
            .await?;
        for table in tables {
            for (op, event) in ["INSERT", "UPDATE", "DELETE"].iter().enumerate() {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "CREATE TRIGGER bench_{table}_{event} AFTER {event} ON \"{table}\" \
                     BEGIN INSERT INTO bench_writes VALUES ('{table}', {op}); END"
                )))
                .execute(&mut c)
                .await?;
            }
        }
        Ok(SqliteWriteCounter { url: url.into() })
    }

    async fn writes(&self) -> anyhow::Result<Writes> {
        let mut c = SqliteConnection::connect(&self.url).await?;
        let rows: Vec<(String, i64, i64)> =
            sqlx::query_as("SELECT tbl, op, COUNT(*) FROM bench_writes GROUP BY tbl, op")
                .fetch_all(&mut c)
                .await?;
        let mut writes = Writes::default();
        for (table, op, n) in rows {
            writes.tables.entry(table).or_default()[op as usize] += n;
        }
        Ok(writes)
    }
}

async fn api_bound(
    options: &BenchOptions,
    scratch: &Scratch,
    report: &mut Report,
) -> anyhow::Result<()> {
    const S: &str = "API-bound";
    progress(&format!(
        "API-bound: {} orders, {} ms a call, {} calls/s",
        options.api_orders, options.api_latency_ms, options.api_rate
    ));
    // In this process: the sandbox's call counts are the figures wanted.
    let handle = sandbox::start(
        SandboxConfig {
            orders: options.api_orders,
            days: DAYS,
            seed: options.seed,
            latency: Duration::from_millis(options.api_latency_ms),
            rate_limit_qps: Some(options.api_rate),
            ..SandboxConfig::default()
        },
        ([127, 0, 0, 1], 0).into(),
    )
    .await?;
    let db = FreshDatabase::create(&options.postgres_url, "api").await?;
    let toml = config_toml(
        db.url(),
        &handle.base_url(),
        1,
        scratch,
        &format!("[api]\nrequests_per_second = {}\n", options.api_rate),
    );
    let app = Application::build(Settings::load(&Sources::inline(toml))?).await?;
    let started = Instant::now();
    let reports = app.run_once(&RunOnceOptions::default()).await?;
    let wall = started.elapsed();
    if let Some(failed) = reports.iter().find(|r| !r.succeeded()) {
        bail!("the API-bound sync failed: {:?}", failed.errors);
    }
    let t = totals(db.url()).await?;
    check_complete(&t, options.api_orders, "the API-bound sync")?;
    let list_calls = handle.calls("alibaba.trade.getBuyerOrderList");
    let all_calls = handle.total_calls();
    let refused = handle.rate_limited_calls();
    handle.shutdown().await;
    drop(app);
    db.drop_database().await?;

    let pages = options.api_orders.div_ceil(PAGE_SIZE);
    let bound = Duration::from_secs_f64(pages as f64 / f64::from(options.api_rate));
    report.add(
        S,
        "orders, pages",
        format!(
            "{} orders in {pages} pages of {PAGE_SIZE}; {} ms a call, {} calls/s allowed",
            options.api_orders, options.api_latency_ms, options.api_rate
        ),
    );
    report.add_target(
        S,
        "API calls",
        format!(
            "{all_calls} ({list_calls} order-list pages; {:.4} a order)",
            all_calls as f64 / options.api_orders as f64
        ),
        format!("≤ {} (pages + 3)", pages + 3),
        all_calls <= pages + 3,
    );
    let ratio = wall.as_secs_f64() / bound.as_secs_f64();
    report.add_target(
        S,
        "wall time ÷ rate-limit bound",
        format!("{ratio:.2} ({} against {})", secs(wall), secs(bound)),
        "≤ 1.15",
        ratio <= 1.15,
    );
    report.add_target(
        S,
        "calls refused for the rate",
        refused.to_string(),
        "0",
        refused == 0,
    );
    Ok(())
}

async fn idle_daemon(
    options: &BenchOptions,
    scratch: &Scratch,
    report: &mut Report,
) -> anyhow::Result<()> {
    const S: &str = "idle daemon";
    let accounts = options.idle_accounts;
    progress(&format!("idle daemon: {accounts} accounts"));
    // One sandbox per account, each with its own seed: one 1688 order belongs to one
    // buyer. They live in this process; the daemon's memory is measured alone.
    let mut sandboxes = Vec::new();
    for i in 0..accounts {
        sandboxes.push(
            sandbox::start(
                SandboxConfig {
                    orders: 200,
                    days: DAYS,
                    seed: options.seed + i as u64,
                    ..SandboxConfig::default()
                },
                ([127, 0, 0, 1], 0).into(),
            )
            .await?,
        );
    }
    let urls: Vec<String> = sandboxes.iter().map(|s| s.base_url()).collect();
    let db = FreshDatabase::create(&options.postgres_url, "idle").await?;
    // Once a day: after the start-up round the daemon has nothing to do.
    let config = scratch.write(
        "idle.toml",
        &config_toml_of(
            db.url(),
            &urls,
            scratch,
            "[sync]\nschedule = \"0 0 3 * * *\"\n",
        ),
    )?;
    let daemon = DaemonProcess::start(&options.exe, &config)?;
    let mut c = db.connect().await?;
    let waited = Instant::now();
    loop {
        let (synced, failed): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(DISTINCT account) FILTER (WHERE status = 'succeeded'), \
                    COUNT(*) FILTER (WHERE status = 'failed') FROM sync_runs",
        )
        .fetch_one(&mut c)
        .await
        .unwrap_or((0, 0));
        if failed > 0 {
            bail!("{failed} start-up runs of the idle daemon failed");
        }
        if synced as usize >= accounts {
            break;
        }
        if waited.elapsed() > Duration::from_secs(300) {
            bail!("the daemon synced {synced} of {accounts} accounts in five minutes");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(c);
    // Idle means settled: the last round's connections closed on their idle timeout and
    // their memory handed back (crate::memory), as between the rounds of a daemon whose
    // schedule is a minute or more.
    let settle = crate::memory::SETTLE_AFTER_ROUND + Duration::from_secs(5);
    tokio::time::sleep(settle).await;
    let idle = daemon.memory()?;
    let finished = daemon.stop()?;
    db.drop_database()
        .await
        .context("dropping the idle database")?;
    for sandbox in sandboxes {
        sandbox.shutdown().await;
    }

    report.add(
        S,
        "accounts",
        format!(
            "{accounts}, each synced once at start-up, then idle ({} s after the last run ended)",
            settle.as_secs()
        ),
    );
    report.add_target(
        S,
        "RSS when idle",
        format!(
            "{}, of which {} its own (RssAnon) and {} mapped files (the executable's code)",
            mib(idle.rss_kib),
            mib(idle.anon_kib),
            mib(idle.rss_kib - idle.anon_kib)
        ),
        "≤ 20 MiB",
        idle.rss_kib <= 20 * 1024,
    );
    report.add(
        S,
        "peak RSS (the start-up round)",
        mib(finished.peak_rss_kib.max(idle.peak_rss_kib)),
    );
    Ok(())
}

async fn describe_setting(report: &mut Report, options: &BenchOptions) {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let cpu = read("/proc/cpuinfo")
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|m| m.trim().to_owned())
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory_kib: u64 = read("/proc/meminfo")
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let setting = &mut report.setting;
    setting.push((
        "date".into(),
        chrono::Utc::now().format("%Y-%m-%d").to_string(),
    ));
    setting.push((
        "machine".into(),
        format!(
            "{cores} cores ({cpu}), {:.0} GiB, Linux {}",
            memory_kib as f64 / 1024.0 / 1024.0,
            read("/proc/sys/kernel/osrelease").trim()
        ),
    ));
    let pg = postgres::server_version(&options.postgres_url)
        .await
        .unwrap_or_else(|e| format!("unreachable: {e}"));
    setting.push((
        "databases".into(),
        format!(
            "PostgreSQL {pg} on the same machine, over TCP; SQLite (bundled) in a temporary file"
        ),
    ));
    setting.push((
        "sync1688".into(),
        format!(
            "{} ({} build)",
            env!("CARGO_PKG_VERSION"),
            if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            }
        ),
    ));
    setting.push((
        "data".into(),
        format!(
            "sandbox seed {}, orders over the last {DAYS} days, {} lines per order on \
             average, SKUs carrying {:.0}% of the lines mapped; default settings \
             (pages of {PAGE_SIZE}, 4 pages at a time)",
            options.seed,
            options.lines_per_order,
            options.mapped_share * 100.0
        ),
    ));
}
