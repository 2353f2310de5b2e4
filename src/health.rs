//! What the daemon knows about its own health: per account, the last successful sync, the
//! failures since, the last error; read by `/readyz`, `STATUS=` and the watchdog.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;

/// One account's sync health.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct AccountHealth {
    pub last_success: Option<DateTime<Utc>>,
    pub last_finished: Option<DateTime<Utc>>,
    pub consecutive_failures: u32,
    /// The last failure's reason (never a secret: errors carry none).
    pub last_error: Option<String>,
    /// A run of this account is in progress in this process.
    pub running: bool,
    /// Readiness fails when the last success is older than this.
    pub max_age_secs: u64,
    /// When the account's refresh token stops working, when known.
    pub refresh_token_expires_at: Option<DateTime<Utc>>,
    /// Why 1688 refused the account's refresh token (the account needs reconnecting).
    pub authorization_error: Option<String>,
}

/// Shared by the scheduler (writer) and the health endpoint (reader).
#[derive(Debug)]
pub struct Health {
    accounts: Mutex<BTreeMap<String, AccountHealth>>,
    heartbeat: Mutex<Instant>,
    started_at: DateTime<Utc>,
}

impl Health {
    pub fn new<'a>(accounts: impl IntoIterator<Item = (&'a str, Duration)>) -> Self {
        let accounts = accounts
            .into_iter()
            .map(|(name, max_age)| {
                (
                    name.to_owned(),
                    AccountHealth {
                        max_age_secs: max_age.as_secs(),
                        ..AccountHealth::default()
                    },
                )
            })
            .collect();
        Health {
            accounts: Mutex::new(accounts),
            heartbeat: Mutex::new(Instant::now()),
            started_at: Utc::now(),
        }
    }

    pub fn started_at(&self) -> DateTime<Utc> {
        self.started_at
    }

    fn update(&self, account: &str, f: impl FnOnce(&mut AccountHealth)) {
        let mut accounts = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        f(accounts.entry(account.to_owned()).or_default());
    }

    /// What the database remembers from before this process started.
    pub fn seed(
        &self,
        account: &str,
        last_success: Option<DateTime<Utc>>,
        consecutive_failures: u32,
        last_error: Option<String>,
    ) {
        self.update(account, |h| {
            h.last_success = last_success;
            h.consecutive_failures = consecutive_failures;
            h.last_error = last_error;
        });
    }

    pub fn run_started(&self, account: &str) {
        self.update(account, |h| h.running = true);
    }

    pub fn run_succeeded(&self, account: &str, at: DateTime<Utc>) {
        self.update(account, |h| {
            h.running = false;
            h.last_success = Some(at);
            h.last_finished = Some(at);
            h.consecutive_failures = 0;
        });
    }

    pub fn run_failed(&self, account: &str, at: DateTime<Utc>, error: &str) {
        self.update(account, |h| {
            h.running = false;
            h.last_finished = Some(at);
            h.consecutive_failures += 1;
            h.last_error = Some(error.to_owned());
        });
    }

    /// The account's authorization as its 1688 client sees it.
    pub fn set_authorization(
        &self,
        account: &str,
        expires_at: Option<DateTime<Utc>>,
        refused: Option<String>,
    ) {
        self.update(account, |h| {
            h.refresh_token_expires_at = expires_at;
            h.authorization_error = refused;
        });
    }

    /// A copy of every account's state, by name.
    pub fn snapshot(&self) -> BTreeMap<String, AccountHealth> {
        self.accounts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The scheduler calls this on every tick of its loop; the watchdog pings systemd only
    /// while it is recent.
    pub fn beat(&self) {
        *self.heartbeat.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }

    pub fn since_last_beat(&self) -> Duration {
        self.heartbeat
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .elapsed()
    }
}
