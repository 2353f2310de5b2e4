//! The running service.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::lease::LeaseKeeper;
use super::schedule::{Ticker, account_loop, until_claim_instant};
use super::systemd;
use crate::app::{AppError, Application};
use crate::config::parse_schedule;
use crate::health::Health;
use crate::http;
use crate::metrics;
use crate::store::{AccountRunStatus, Store, StoreResult};
use crate::sync::RunReport;

/// The daemon, bound to its listener and ready to run.
pub struct Daemon {
    app: Arc<Application>,
    listener: TcpListener,
    health: Arc<Health>,
}

impl Daemon {
    /// Binds `http.listen` (port 0 in tests) before anything is spawned.
    pub async fn bind(app: Application) -> Result<Self, AppError> {
        let addr = app.settings().http.listen;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| AppError::Listen { addr, source })?;
        let limits = http::readiness_limits(app.settings());
        let health = Arc::new(Health::new(
            limits
                .iter()
                .map(|(name, max_age)| (name.as_str(), *max_age)),
        ));
        Ok(Daemon {
            app: Arc::new(app),
            listener,
            health,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn health(&self) -> Arc<Health> {
        self.health.clone()
    }

    pub fn app(&self) -> Arc<Application> {
        self.app.clone()
    }

    /// Runs until `shutdown` is cancelled, then stops starting runs, lets running pages
    /// commit or roll back, releases the leases, and returns within the grace period.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> Result<(), AppError> {
        let Daemon {
            app,
            listener,
            health,
        } = self;
        let settings = app.settings().clone();
        let store = app.store();
        seed_health(&app, &health).await;
        for account in &settings.accounts {
            refresh_authorization(&app, &health, &account.name).await;
        }
        metrics::register_accounts(settings.accounts.iter().map(|a| a.name.as_str()));

        let tracker = TaskTracker::new();
        let http_stop = CancellationToken::new();
        let state = http::HttpState::new(
            store.clone(),
            health.clone(),
            metrics::install(),
            settings.http.db_check_cache,
        )
        .with_receiving(
            settings.http.api_token.clone(),
            settings.receiving.over_receipt_tolerance_percent,
        );
        tracker.spawn(http::serve(
            listener,
            http::router(state),
            http_stop.clone(),
        ));

        // Workers first, then the cron ticks that wake them.
        let workers = TaskTracker::new();
        let others = Arc::new(OthersRuns::default());
        let mut schedules = Vec::new();
        for account in &settings.accounts {
            let trigger = Arc::new(Notify::new());
            schedules.push((account.schedule.clone(), trigger.clone()));
            let snapshot = health.snapshot();
            let period = account.schedule_period(settings.sync.timezone);
            let overdue = snapshot
                .get(&account.name)
                .and_then(|h| h.last_success)
                .is_none_or(|t| (Utc::now() - t).to_std().unwrap_or_default() >= period);
            // Ticks missed while the daemon was down become one run now.
            if overdue {
                trigger.notify_one();
            }
            let (app, health, others, name) = (
                app.clone(),
                health.clone(),
                others.clone(),
                account.name.clone(),
            );
            let (cron, tz, stop) = (
                parse_schedule(&account.schedule).ok(),
                settings.sync.timezone,
                shutdown.clone(),
            );
            workers.spawn(account_loop(trigger, shutdown.clone(), move || {
                let (app, health, others, name, cron, stop) = (
                    app.clone(),
                    health.clone(),
                    others.clone(),
                    name.clone(),
                    cron.clone(),
                    stop.clone(),
                );
                async move {
                    if until_claim_instant(cron.as_ref(), tz, &stop).await {
                        round(&app, &health, &others, &name).await;
                    }
                }
            }));
        }
        let ticker = match Ticker::start(schedules, settings.sync.timezone).await {
            Ok(t) => Some(t),
            Err(e) => {
                // Without ticks only the start-up round runs; readiness will say so.
                tracing::error!(error = %e, "cannot start the cron scheduler");
                None
            }
        };

        let heartbeat = tokio::spawn(heartbeat(health.clone(), workers.clone(), shutdown.clone()));
        let trimming = tokio::spawn(trim_old_runs(app.clone(), shutdown.clone()));
        let watchdog = tokio::spawn(systemd::watchdog(health.clone(), shutdown.clone()));
        systemd::ready(&format!("syncing {} accounts", settings.accounts.len()));
        tracing::info!(
            listen = %settings.http.listen,
            accounts = settings.accounts.len(),
            instance = %settings.daemon.instance_id,
            "sync1688 daemon started"
        );

        shutdown.cancelled().await;
        let stopping = Instant::now();
        systemd::stopping();
        tracing::info!("stopping: no new runs; waiting for running pages to finish");
        app.cancel_token().cancel();
        if let Some(ticker) = ticker {
            ticker.stop().await;
        }
        workers.close();
        let grace = settings.daemon.shutdown_grace;
        if tokio::time::timeout(grace, workers.wait()).await.is_err() {
            tracing::warn!(
                grace_secs = grace.as_secs(),
                "runs did not stop within the grace period; leaving them"
            );
        }
        heartbeat.abort();
        watchdog.abort();
        trimming.abort();
        http_stop.cancel();
        tracker.close();
        let _ = tokio::time::timeout(Duration::from_secs(2), tracker.wait()).await;
        tracing::info!(
            elapsed_ms = stopping.elapsed().as_millis() as u64,
            "sync1688 daemon stopped"
        );
        Ok(())
    }
}

/// One tick of one account: claim its lease (or leave it to the instance that holds it),
/// run the window and the changes, record the outcome, release the lease.
async fn round(app: &Application, health: &Health, others: &OthersRuns, name: &str) {
    let store = app.store();
    let settings = app.settings();
    let keeper = match LeaseKeeper::claim(
        store.clone(),
        name,
        app.instance_id(),
        settings.daemon.lease_ttl,
    )
    .await
    {
        Ok(Some(keeper)) => keeper,
        Ok(None) => {
            tracing::debug!(
                account = name,
                "another instance holds the account's lease; skipping this tick"
            );
            // Readiness follows the account's runs, whoever made them.
            if let Ok(rows) = others.read(store.as_ref()).await
                && let Some(row) = rows.iter().find(|r| r.account == name)
            {
                if let Some(at) = row.last_success {
                    metrics::record_last_success(name, at);
                }
                health.seed(
                    name,
                    row.last_success,
                    row.consecutive_failures,
                    row.last_error.clone(),
                );
            }
            return;
        }
        Err(e) => {
            tracing::warn!(account = name, error = %e, "cannot claim the account's lease");
            health.run_failed(name, Utc::now(), &format!("cannot claim the lease: {e}"));
            return;
        }
    };
    health.run_started(name);
    let started = Instant::now();
    let cancel = keeper.run_token(&app.cancel_token());
    let reports = app
        .scheduled_round(name, keeper.fence().clone(), cancel)
        .await;
    keeper.release().await;
    crate::memory::round_ended();
    record(health, name, &reports, started.elapsed());
    refresh_authorization(app, health, name).await;
    systemd::status(&status_line(health));
}

/// The first trim of old runs waits for the start-up round; the next ones come hourly.
const FIRST_TRIM_AFTER: Duration = Duration::from_secs(60);
const TRIM_EVERY: Duration = Duration::from_secs(3600);

/// Deletes the `sync_runs` rows older than `sync.keep_runs_days`, every account's, once
/// an hour: a daemon syncing every minute adds 1,440 rows a day per account. Every
/// instance of a fleet may do it; a row deleted twice is deleted once.
async fn trim_old_runs(app: Arc<Application>, shutdown: CancellationToken) {
    let days = app.settings().sync.keep_runs_days;
    if days == 0 {
        return;
    }
    let mut next = tokio::time::Instant::now() + FIRST_TRIM_AFTER;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep_until(next) => {}
        }
        let cutoff = Utc::now() - chrono::TimeDelta::days(i64::from(days));
        for account in &app.settings().accounts {
            match app.store().trim_runs(&account.name, cutoff).await {
                Ok(0) => {}
                Ok(deleted) => {
                    tracing::info!(account = %account.name, deleted, keep_runs_days = days, "old sync runs deleted")
                }
                Err(e) => {
                    tracing::warn!(account = %account.name, error = %e, "cannot delete old sync runs")
                }
            }
        }
        next += TRIM_EVERY;
    }
}

/// Every account's last runs, read for the accounts this instance leaves to others. The
/// read covers all accounts, so the accounts skipping one tick share it: each reading it
/// for itself made a tick cost accounts² index probes, and with 200 accounts on three
/// instances the skips alone kept the database busy for seconds of every tick.
#[derive(Default)]
struct OthersRuns {
    last: tokio::sync::Mutex<Option<(Instant, Arc<Vec<AccountRunStatus>>)>>,
}

impl OthersRuns {
    /// Readiness allows three schedule periods, so a read this old is still current.
    const FRESH_FOR: Duration = Duration::from_secs(2);

    async fn read(&self, store: &dyn Store) -> StoreResult<Arc<Vec<AccountRunStatus>>> {
        // Held across the query: the accounts that skip together wait for one read.
        let mut last = self.last.lock().await;
        if let Some((at, rows)) = last.as_ref()
            && at.elapsed() < Self::FRESH_FOR
        {
            return Ok(rows.clone());
        }
        let rows = Arc::new(store.account_run_status().await?);
        *last = Some((Instant::now(), rows.clone()));
        Ok(rows)
    }
}

fn record(health: &Health, name: &str, reports: &[RunReport], elapsed: Duration) {
    let now = Utc::now();
    for r in reports {
        metrics::record_run(
            name,
            r.kind,
            r.status,
            elapsed / reports.len().max(1) as u32,
            &r.counts,
        );
    }
    match reports.iter().find(|r| !r.succeeded()) {
        None if !reports.is_empty() => {
            health.run_succeeded(name, now);
            metrics::record_last_success(name, now);
        }
        None => health.run_failed(name, now, "the round did not run"),
        Some(failed) => health.run_failed(name, now, &failed.errors.join("; ")),
    }
}

/// Copies the account's token state into the health state (expiry, refusal).
async fn refresh_authorization(app: &Application, health: &Health, name: &str) {
    if let Ok(client) = app.client(name) {
        let status = client.token_status().await;
        health.set_authorization(name, status.refresh_token_expires_at, status.refused);
    }
}

/// `STATUS=` for systemctl: each account's last success.
fn status_line(health: &Health) -> String {
    health
        .snapshot()
        .iter()
        .map(|(name, h)| match (h.last_success, h.consecutive_failures) {
            (Some(t), 0) => format!("{name}: ok {}", t.format("%H:%M:%S")),
            (Some(t), n) => format!("{name}: {n} failures since {}", t.format("%H:%M:%S")),
            (None, 0) => format!("{name}: waiting"),
            (None, n) => format!("{name}: {n} failures"),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Beats while the workers are alive; a panicked or finished worker stops the beat, so
/// the watchdog lets systemd restart the service. A slow 1688 does not stop it.
async fn heartbeat(health: Arc<Health>, workers: TaskTracker, shutdown: CancellationToken) {
    let expected = workers.len();
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tick.tick().await;
        if shutdown.is_cancelled() {
            return;
        }
        if workers.len() == expected {
            health.beat();
        } else {
            tracing::error!(
                alive = workers.len(),
                expected,
                "an account worker stopped; the watchdog will restart the daemon"
            );
        }
    }
}

async fn seed_health(app: &Application, health: &Health) {
    match app.store().account_run_status().await {
        Ok(rows) => {
            for row in rows {
                if app.settings().account(&row.account).is_some() {
                    if let Some(at) = row.last_success {
                        metrics::record_last_success(&row.account, at);
                    }
                    health.seed(
                        &row.account,
                        row.last_success,
                        row.consecutive_failures,
                        row.last_error,
                    );
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot read the last runs; readiness starts empty"),
    }
}
