//! The application: settings, the store, one 1688 client per account, and the jobs that
//! use them. Tests build it in-process against the sandbox and a throwaway database.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDate, TimeDelta, Utc};
use secrecy::ExposeSecret;
use tokio_util::sync::CancellationToken;

use crate::api1688::{self, ApiError, Client1688, OrderFilter};
use crate::config::Settings;
use crate::daemon::lease::LeaseKeeper;
use crate::domain::RunKind;
use crate::domain::window::{SyncWindow, WindowError};
use crate::store::{self, Fence, Store, StoreError};
use crate::sync::{RunReport, SyncJob};

/// Start-up and command failures that are not a sync's own (those are in its report).
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Window(#[from] WindowError),
    #[error("no account named `{name}` (configured: {known})")]
    UnknownAccount { name: String, known: String },
    #[error("no accounts are configured: add an [[accounts]] entry to the config file")]
    NoAccounts,
    #[error("--from and --to go together")]
    HalfRange,
    #[error("account `{account}` is being synced by {holder}; try again when it is done")]
    LeaseBusy { account: String, holder: String },
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// Told after each backfill chunk: (account, chunks done, chunks in all).
pub type ProgressFn = Arc<dyn Fn(&str, usize, usize) + Send + Sync>;

/// What `run --once` covers.
#[derive(Clone, Default)]
pub struct RunOnceOptions {
    /// Only this account (all when `None`).
    pub account: Option<String>,
    /// A backfill of whole days, inclusive, in `sync.timezone`, instead of the rolling
    /// window.
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    /// Called after each backfill chunk with (account, chunks done, chunks in all).
    pub progress: Option<ProgressFn>,
}

impl std::fmt::Debug for RunOnceOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOnceOptions")
            .field("account", &self.account)
            .field("from", &self.from)
            .field("to", &self.to)
            .finish_non_exhaustive()
    }
}

/// How long a one-shot run waits for the daemon to finish its run of the same account.
const LEASE_WAIT: Duration = Duration::from_secs(120);

pub struct Application {
    settings: Arc<Settings>,
    store: Arc<dyn Store>,
    clients: BTreeMap<String, Arc<Client1688>>,
    cancel: CancellationToken,
    /// Runs whose end could not be written (the database went away), kept to be written
    /// before the account's next run: otherwise that run would close them as
    /// "interrupted" and `sync_runs` would lose the reason and the counts.
    unrecorded: std::sync::Mutex<Vec<RunReport>>,
}

impl Application {
    /// Connects to the database, applies migrations and prepares the accounts' clients.
    pub async fn build(settings: Settings) -> Result<Self, AppError> {
        let store = store::connect(
            settings.database.url.expose_secret(),
            settings.database.max_connections,
        )
        .await?;
        store.migrate().await?;
        let mut clients = BTreeMap::new();
        let http = api1688::http_client(&settings.api)?;
        for account in &settings.accounts {
            clients.insert(
                account.name.clone(),
                Client1688::with_http(
                    account,
                    &settings.api,
                    settings.daemon.state_dir.as_deref(),
                    http.clone(),
                ),
            );
        }
        Ok(Application {
            settings: Arc::new(settings),
            store,
            clients,
            cancel: CancellationToken::new(),
            unrecorded: std::sync::Mutex::new(Vec::new()),
        })
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    /// Cancelled on shutdown: running syncs stop between pages.
    pub fn cancel_token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// The 1688 client of account `name`.
    pub fn client(&self, name: &str) -> Result<Arc<Client1688>, AppError> {
        self.select_accounts(Some(name))?;
        Ok(self.clients[name].clone())
    }

    /// The lease owner name of this process.
    pub fn instance_id(&self) -> &str {
        &self.settings.daemon.instance_id
    }

    /// One sync of every selected account (concurrently), over the rolling window or the
    /// `--from/--to` days. Each account's lease is held for the duration, so a one-shot
    /// run never races a daemon. A backfill is cut into chunks whose progress is stored:
    /// a rerun after a crash resumes after the last committed chunk.
    pub async fn run_once(&self, options: &RunOnceOptions) -> Result<Vec<RunReport>, AppError> {
        let accounts = self.select_accounts(options.account.as_deref())?;
        let tz = self.settings.sync.timezone;
        let backfill = match (options.from, options.to) {
            (Some(from), Some(to)) => Some(SyncWindow::dates(from, to, tz)?),
            (None, None) => None,
            _ => return Err(AppError::HalfRange),
        };
        let runs = accounts.iter().map(|name| async move {
            let keeper = self.hold_lease(name).await?;
            let fence = Some(keeper.fence().clone());
            let cancel = keeper.run_token(&self.cancel);
            let reports = match backfill {
                Some(window) => self.backfill(name, window, fence, cancel, options).await?,
                None => {
                    let window =
                        SyncWindow::lookback(Utc::now(), tz, self.settings.sync.lookback_days)?;
                    vec![
                        self.sync_account(
                            name,
                            RunKind::Window,
                            OrderFilter::Created(window),
                            fence,
                            cancel,
                        )
                        .await,
                    ]
                }
            };
            keeper.release().await;
            Ok::<_, AppError>(reports)
        });
        let mut all = Vec::new();
        for result in futures_util::future::join_all(runs).await {
            all.extend(result?);
        }
        Ok(all)
    }

    async fn backfill(
        &self,
        name: &str,
        window: SyncWindow,
        fence: Option<Fence>,
        cancel: CancellationToken,
        options: &RunOnceOptions,
    ) -> Result<Vec<RunReport>, AppError> {
        let progress = self.store.open_backfill(name, window).await?;
        let chunks = window.chunks(self.settings.sync.backfill_chunk_days);
        let total = chunks.len();
        let mut done = chunks
            .iter()
            .take_while(|c| progress.done_until.is_some_and(|d| c.end <= d))
            .count();
        if done > 0 {
            tracing::info!(
                account = name,
                done,
                total,
                "resuming a backfill after its last committed chunk"
            );
        }
        if let Some(callback) = &options.progress {
            callback(name, done, total);
        }
        let mut reports = Vec::new();
        for chunk in &chunks[done..] {
            if cancel.is_cancelled() {
                break;
            }
            let report = self
                .sync_account(
                    name,
                    RunKind::Backfill,
                    OrderFilter::Created(*chunk),
                    fence.clone(),
                    cancel.clone(),
                )
                .await;
            let ok = report.succeeded();
            reports.push(report);
            // A failed chunk stops the backfill; a rerun starts again at that chunk.
            if !ok {
                return Ok(reports);
            }
            self.store.backfill_progress(progress.id, chunk.end).await?;
            done += 1;
            tracing::info!(account = name, done, total, until = %chunk.end, "backfill chunk committed");
            if let Some(callback) = &options.progress {
                callback(name, done, total);
            }
        }
        if done == total {
            self.store.finish_backfill(progress.id).await?;
        }
        Ok(reports)
    }

    /// Waits (a bounded while) for the account's lease and keeps it renewed.
    async fn hold_lease(&self, name: &str) -> Result<LeaseKeeper, AppError> {
        let deadline = tokio::time::Instant::now() + LEASE_WAIT;
        let mut announced = false;
        loop {
            if let Some(keeper) = LeaseKeeper::claim(
                self.store.clone(),
                name,
                self.instance_id(),
                self.settings.daemon.lease_ttl,
            )
            .await?
            {
                return Ok(keeper);
            }
            let holder = self
                .store
                .leases()
                .await?
                .into_iter()
                .find(|l| l.account == name)
                .and_then(|l| l.owner)
                .unwrap_or_else(|| "another instance".into());
            if tokio::time::Instant::now() >= deadline || self.cancel.is_cancelled() {
                return Err(AppError::LeaseBusy {
                    account: name.to_owned(),
                    holder,
                });
            }
            if !announced {
                tracing::info!(account = name, holder = %holder, "waiting for the account's lease");
                announced = true;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// One scheduled round of an account, under its lease: the rolling creation window,
    /// then the orders modified since the stored cursor. The cursor moves only after a
    /// complete, successful changes run, and never past its start minus the safety
    /// margin.
    pub async fn scheduled_round(
        &self,
        name: &str,
        fence: Fence,
        cancel: CancellationToken,
    ) -> Vec<RunReport> {
        let sync = &self.settings.sync;
        let started = Utc::now();
        let window = match SyncWindow::lookback(started, sync.timezone, sync.lookback_days) {
            Ok(w) => w,
            Err(e) => {
                tracing::error!(account = name, error = %e, "cannot compute the sync window");
                return Vec::new();
            }
        };
        let mut reports = vec![
            self.sync_account(
                name,
                RunKind::Window,
                OrderFilter::Created(window),
                Some(fence.clone()),
                cancel.clone(),
            )
            .await,
        ];
        if cancel.is_cancelled() {
            return reports;
        }
        let cursor = match self.store.change_cursor(name).await {
            Ok(c) => c.unwrap_or(window.start),
            Err(e) => {
                tracing::warn!(account = name, error = %e, "cannot read the change cursor");
                return reports;
            }
        };
        let overlap = TimeDelta::from_std(sync.change_overlap).unwrap_or_default();
        let margin = TimeDelta::from_std(sync.change_safety_margin).unwrap_or_default();
        let changes = SyncWindow {
            start: cursor - overlap,
            end: started,
        };
        let report = self
            .sync_account(
                name,
                RunKind::Changes,
                OrderFilter::Modified(changes),
                Some(fence.clone()),
                cancel,
            )
            .await;
        if report.succeeded() && report.complete {
            let to = (started - margin).max(cursor);
            if let Err(e) = self
                .store
                .advance_change_cursor(name, to, Some(&fence))
                .await
            {
                tracing::warn!(account = name, error = %e, "cannot advance the change cursor");
            }
        }
        reports.push(report);
        if !self.cancel.is_cancelled() {
            self.track(name).await;
        }
        reports
    }

    /// Reads the parcels of the account's shipped orders that are on the way and records
    /// their tracking numbers with the lines each carries. Returns how many numbers were
    /// new. A failing order is logged and retried next round; the others go on.
    pub async fn track(&self, name: &str) -> usize {
        let orders = match self.store.orders_to_track(name).await {
            Ok(orders) => orders,
            Err(e) => {
                tracing::warn!(account = name, error = %e, "cannot list the orders to track");
                return 0;
            }
        };
        let Ok(client) = self.client(name) else {
            return 0;
        };
        let mut new = 0;
        for (po_number, order_id) in orders {
            if self.cancel.is_cancelled() {
                break;
            }
            let parcels = match client.parcels(order_id).await {
                Ok(parcels) => parcels,
                Err(e) => {
                    tracing::warn!(account = name, po_number, order_id, error = %e, "cannot read the order's parcels");
                    continue;
                }
            };
            for parcel in parcels {
                match self
                    .store
                    .record_parcel(
                        &po_number,
                        &parcel.tracking_no,
                        parcel.carrier.as_deref(),
                        &parcel.sub_item_ids,
                    )
                    .await
                {
                    Ok(true) => {
                        new += 1;
                        tracing::info!(account = name, po_number, tracking_no = %parcel.tracking_no, "new tracking number from 1688");
                    }
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(account = name, po_number, error = %e, "cannot record a parcel")
                    }
                }
            }
        }
        new
    }

    /// One run of one account.
    pub async fn sync_account(
        &self,
        name: &str,
        kind: RunKind,
        filter: OrderFilter,
        fence: Option<Fence>,
        cancel: CancellationToken,
    ) -> RunReport {
        let account = self
            .settings
            .account(name)
            .expect("accounts are selected from the settings");
        let job = SyncJob {
            store: self.store.clone(),
            client: self.clients[name].clone(),
            sync: &self.settings.sync,
            account,
            cancel,
            fence,
        };
        self.record_unrecorded(name).await;
        let report = job.run(kind, filter).await;
        if report.end_unrecorded {
            self.unrecorded
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(report.clone());
        }
        report
    }

    /// Writes the ends of the account's runs that could not be recorded, as failed with
    /// their reasons and counts; those that still cannot be written wait for the next run.
    async fn record_unrecorded(&self, name: &str) {
        let pending: Vec<RunReport> = {
            let mut all = self.unrecorded.lock().unwrap_or_else(|p| p.into_inner());
            let (mine, others) = std::mem::take(&mut *all)
                .into_iter()
                .partition(|r| r.account == name);
            *all = others;
            mine
        };
        for report in pending {
            let Some(run_id) = report.run_id else {
                continue;
            };
            let error = report.errors.join("; ");
            match self
                .store
                .finish_run(run_id, report.status, &report.counts, Some(&error))
                .await
            {
                Ok(()) => {
                    tracing::info!(
                        account = name,
                        run_id,
                        "recorded the end of a run that failed with the database away"
                    )
                }
                Err(_) => self
                    .unrecorded
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(report),
            }
        }
    }

    /// The names of the accounts a command is about.
    pub fn select_accounts(&self, only: Option<&str>) -> Result<Vec<String>, AppError> {
        if self.settings.accounts.is_empty() {
            return Err(AppError::NoAccounts);
        }
        match only {
            None => Ok(self
                .settings
                .accounts
                .iter()
                .map(|a| a.name.clone())
                .collect()),
            Some(name) if self.settings.account(name).is_some() => Ok(vec![name.to_owned()]),
            Some(name) => Err(AppError::UnknownAccount {
                name: name.to_owned(),
                known: self
                    .settings
                    .accounts
                    .iter()
                    .map(|a| a.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }
}
