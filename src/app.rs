//! The application: settings, the store, one 1688 client per account, and the jobs that
//! use them. Tests build it in-process against the sandbox and a throwaway database.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{NaiveDate, Utc};
use secrecy::ExposeSecret;
use tokio_util::sync::CancellationToken;

use crate::api1688::{ApiError, Client1688, OrderFilter};
use crate::config::Settings;
use crate::domain::RunKind;
use crate::domain::window::{SyncWindow, WindowError};
use crate::store::{self, Store, StoreError};
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
}

/// What `run --once` covers.
#[derive(Debug, Clone, Default)]
pub struct RunOnceOptions {
    /// Only this account (all when `None`).
    pub account: Option<String>,
    /// A backfill of whole days, inclusive, in `sync.timezone`, instead of the rolling
    /// window.
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

pub struct Application {
    settings: Arc<Settings>,
    store: Arc<dyn Store>,
    clients: BTreeMap<String, Arc<Client1688>>,
    cancel: CancellationToken,
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
        for account in &settings.accounts {
            clients.insert(
                account.name.clone(),
                Client1688::new(account, &settings.api)?,
            );
        }
        Ok(Application {
            settings: Arc::new(settings),
            store,
            clients,
            cancel: CancellationToken::new(),
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

    /// One sync of every selected account (concurrently), over the rolling window or the
    /// `--from/--to` days cut into chunks. Returns every run's report.
    pub async fn run_once(&self, options: &RunOnceOptions) -> Result<Vec<RunReport>, AppError> {
        let accounts = self.select_accounts(options.account.as_deref())?;
        let tz = self.settings.sync.timezone;
        let (kind, windows) = match (options.from, options.to) {
            (Some(from), Some(to)) => (
                RunKind::Backfill,
                SyncWindow::dates(from, to, tz)?.chunks(self.settings.sync.backfill_chunk_days),
            ),
            (None, None) => (
                RunKind::Window,
                vec![SyncWindow::lookback(
                    Utc::now(),
                    tz,
                    self.settings.sync.lookback_days,
                )?],
            ),
            _ => return Err(AppError::HalfRange),
        };
        let runs = accounts.iter().map(|name| {
            let windows = windows.clone();
            async move {
                let mut reports = Vec::with_capacity(windows.len());
                for window in windows {
                    if self.cancel.is_cancelled() {
                        break;
                    }
                    let report = self
                        .sync_account(name, kind, OrderFilter::Created(window))
                        .await;
                    let failed = !report.succeeded();
                    reports.push(report);
                    // A backfill stops at the first failed chunk; a rerun starts over there.
                    if failed {
                        break;
                    }
                }
                reports
            }
        });
        Ok(futures_util::future::join_all(runs)
            .await
            .into_iter()
            .flatten()
            .collect())
    }

    /// One run of one account.
    pub async fn sync_account(&self, name: &str, kind: RunKind, filter: OrderFilter) -> RunReport {
        let account = self
            .settings
            .account(name)
            .expect("accounts are selected from the settings");
        let job = SyncJob {
            store: self.store.clone(),
            client: self.clients[name].clone(),
            sync: &self.settings.sync,
            account,
            cancel: self.cancel.clone(),
        };
        job.run(kind, filter).await
    }

    fn select_accounts(&self, only: Option<&str>) -> Result<Vec<String>, AppError> {
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
