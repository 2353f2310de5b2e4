//! systemd's notification protocol (`Type=notify`): `READY=1`, `STATUS=`, `STOPPING=1`
//! and the watchdog. Every call is a no-op outside systemd.

use std::sync::Arc;

use sd_notify::NotifyState;
use tokio_util::sync::CancellationToken;

use crate::health::Health;

fn notify(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::debug!(error = %e, "systemd notification failed");
    }
}

/// After configuration, migrations and the listener.
pub fn ready(status: &str) {
    notify(&[NotifyState::Ready, NotifyState::Status(status)]);
}

pub fn status(status: &str) {
    notify(&[NotifyState::Status(status)]);
}

pub fn stopping() {
    notify(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}

/// Pings the watchdog at half its interval while the scheduler's heartbeat is fresh.
pub async fn watchdog(health: Arc<Health>, shutdown: CancellationToken) {
    let Some(interval) = sd_notify::watchdog_enabled() else {
        return;
    };
    let mut tick = tokio::time::interval(interval / 2);
    loop {
        tick.tick().await;
        if shutdown.is_cancelled() {
            return;
        }
        // The heartbeat beats every few seconds; missing several means the scheduler is
        // stuck, and a restart is the cure.
        if health.since_last_beat() < interval / 2 {
            notify(&[NotifyState::Watchdog]);
        }
    }
}
