//! Prometheus metrics: one recorder per process, every metric described up front, and the
//! small functions the sync and the 1688 client call to record what they did.
//!
//! Labels carry only bounded values (account names, API names, outcomes, reasons), never
//! an order id or anything else that grows with the data.

use std::sync::OnceLock;
use std::time::Duration;

use chrono::{DateTime, Utc};
use metrics::{Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::domain::{RunKind, RunStatus};
use crate::store::RunCounts;

pub const SYNC_RUNS_TOTAL: &str = "sync1688_sync_runs_total";
pub const SYNC_DURATION_SECONDS: &str = "sync1688_sync_duration_seconds";
pub const SYNC_LAST_SUCCESS_TIMESTAMP_SECONDS: &str =
    "sync1688_sync_last_success_timestamp_seconds";
pub const ORDERS_WRITTEN_TOTAL: &str = "sync1688_orders_written_total";
pub const LINES_UNMAPPED: &str = "sync1688_lines_unmapped";
pub const API_REQUESTS_TOTAL: &str = "sync1688_api_requests_total";
pub const API_REQUEST_DURATION_SECONDS: &str = "sync1688_api_request_duration_seconds";
pub const RETRIES_TOTAL: &str = "sync1688_retries_total";
pub const BUILD_INFO: &str = "sync1688_build_info";

/// Every metric this crate exports, for documentation and tests.
pub const ALL: [&str; 9] = [
    SYNC_RUNS_TOTAL,
    SYNC_DURATION_SECONDS,
    SYNC_LAST_SUCCESS_TIMESTAMP_SECONDS,
    ORDERS_WRITTEN_TOTAL,
    LINES_UNMAPPED,
    API_REQUESTS_TOTAL,
    API_REQUEST_DURATION_SECONDS,
    RETRIES_TOTAL,
    BUILD_INFO,
];

/// A run takes seconds on a quiet account and minutes on a backfill chunk.
const SYNC_DURATION_BUCKETS: &[f64] = &[
    0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
];
/// A 1688 call takes tens of milliseconds to the API timeout (30 s by default).
const API_DURATION_BUCKETS: &[f64] = &[0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// Without a scrape, histogram samples pile up until something drains them.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide recorder (the first call) and returns the handle `/metrics`
/// renders from. Later calls return the same handle, so that tests may start several
/// applications in one process. The `record_*` functions install it too: a value recorded
/// before the recorder exists would be lost.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(SYNC_DURATION_SECONDS.into()),
                    SYNC_DURATION_BUCKETS,
                )
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(API_REQUEST_DURATION_SECONDS.into()),
                        API_DURATION_BUCKETS,
                    )
                })
                .expect("the bucket lists are not empty")
                .build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                // Another recorder came first (an embedding program's): ours still
                // renders, but stays empty.
                tracing::warn!("a metrics recorder was already installed; /metrics stays empty");
            }
            describe();
            gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
            let upkeep = handle.clone();
            // A thread rather than a task: install() may run before or outside a runtime,
            // and the recorder lives as long as the process.
            let _ = std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(UPKEEP_INTERVAL);
                        upkeep.run_upkeep();
                    }
                });
            handle
        })
        .clone()
}

fn ensure_installed() {
    if HANDLE.get().is_none() {
        install();
    }
}

fn describe() {
    describe_counter!(
        SYNC_RUNS_TOTAL,
        Unit::Count,
        "Sync runs finished, by account and outcome (succeeded, failed)."
    );
    describe_histogram!(
        SYNC_DURATION_SECONDS,
        Unit::Seconds,
        "How long sync runs took, by account."
    );
    describe_gauge!(
        SYNC_LAST_SUCCESS_TIMESTAMP_SECONDS,
        Unit::Seconds,
        "Unix time of the account's last successful sync run."
    );
    describe_counter!(
        ORDERS_WRITTEN_TOTAL,
        Unit::Count,
        "1688 orders handled by sync runs, by account and op (inserted, updated, unchanged, skipped)."
    );
    describe_gauge!(
        LINES_UNMAPPED,
        Unit::Count,
        "Order lines without a merchant SKU mapping in the account's last successful run."
    );
    describe_counter!(
        API_REQUESTS_TOTAL,
        Unit::Count,
        "Calls to the 1688 Open API, by API and outcome (ok, or the error kind)."
    );
    describe_histogram!(
        API_REQUEST_DURATION_SECONDS,
        Unit::Seconds,
        "How long calls to the 1688 Open API took, by API."
    );
    describe_counter!(
        RETRIES_TOTAL,
        Unit::Count,
        "Retries of failed 1688 calls, by reason (the error kind)."
    );
    describe_gauge!(
        BUILD_INFO,
        "Always 1; the version label says which build is running."
    );
}

/// Makes the per-account series exist at zero, so that dashboards and `rate()` see an
/// account before its first run finishes.
pub fn register_accounts<'a>(accounts: impl IntoIterator<Item = &'a str>) {
    ensure_installed();
    for account in accounts {
        for outcome in [RunStatus::Succeeded, RunStatus::Failed] {
            counter!(SYNC_RUNS_TOTAL, "account" => account.to_owned(), "outcome" => outcome.as_str())
                .absolute(0);
        }
        for op in OPS {
            counter!(ORDERS_WRITTEN_TOTAL, "account" => account.to_owned(), "op" => op).absolute(0);
        }
    }
}

const OPS: [&str; 4] = ["inserted", "updated", "unchanged", "skipped"];

/// Records a finished run of `account`: its outcome, duration and the orders it wrote. A
/// success also moves the last-success time to now and sets the unmapped lines.
pub fn record_run(
    account: &str,
    kind: RunKind,
    status: RunStatus,
    duration: Duration,
    counts: &RunCounts,
) {
    ensure_installed();
    counter!(SYNC_RUNS_TOTAL, "account" => account.to_owned(), "outcome" => status.as_str())
        .increment(1);
    metrics::histogram!(SYNC_DURATION_SECONDS, "account" => account.to_owned())
        .record(duration.as_secs_f64());
    let written = [
        counts.orders_inserted,
        counts.orders_updated,
        counts.orders_unchanged,
        counts.orders_skipped,
    ];
    // A failed run's pages that were committed are written all the same.
    for (op, n) in OPS.into_iter().zip(written) {
        if n > 0 {
            counter!(ORDERS_WRITTEN_TOTAL, "account" => account.to_owned(), "op" => op)
                .increment(n);
        }
    }
    if status == RunStatus::Succeeded {
        record_last_success(account, Utc::now());
        // A failed run saw only part of its window, and a changes run only the recently
        // modified orders: only a window's count tells how many lines wait.
        if kind == RunKind::Window {
            gauge!(LINES_UNMAPPED, "account" => account.to_owned())
                .set(counts.lines_unmapped as f64);
        }
    }
}

/// Sets the last-success time of `account`, e.g. from `sync_runs` at start-up.
pub fn record_last_success(account: &str, at: DateTime<Utc>) {
    ensure_installed();
    gauge!(SYNC_LAST_SUCCESS_TIMESTAMP_SECONDS, "account" => account.to_owned())
        .set(at.timestamp_millis() as f64 / 1000.0);
}

/// Records one call to the 1688 Open API. `api` is the API's name (a bounded set);
/// `outcome` is `"ok"` or the error's kind (`ApiError::kind`).
pub fn record_api_request(api: &str, outcome: &str, duration: Duration) {
    ensure_installed();
    counter!(API_REQUESTS_TOTAL, "api" => api.to_owned(), "outcome" => outcome.to_owned())
        .increment(1);
    metrics::histogram!(API_REQUEST_DURATION_SECONDS, "api" => api.to_owned())
        .record(duration.as_secs_f64());
}

/// Records one retry of a failed call; `reason` is the error's kind (`ApiError::kind`).
pub fn record_retry(reason: &str) {
    ensure_installed();
    counter!(RETRIES_TOTAL, "reason" => reason.to_owned()).increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_recorded_before_install_is_kept() {
        record_retry("before_install");
        assert!(install().render().contains("reason=\"before_install\""));
    }

    #[test]
    fn installing_twice_returns_the_same_recorder() {
        let first = install();
        let second = install();
        record_retry("installing_twice");
        let (a, b) = (first.render(), second.render());
        assert!(a.contains("reason=\"installing_twice\""), "{a}");
        assert!(b.contains("reason=\"installing_twice\""), "{b}");
    }

    #[test]
    fn a_run_is_counted_with_its_orders_and_last_success() {
        let handle = install();
        let counts = RunCounts {
            orders_inserted: 3,
            orders_unchanged: 2,
            lines_unmapped: 4,
            ..RunCounts::default()
        };
        record_run(
            "metrics_unit",
            RunKind::Window,
            RunStatus::Succeeded,
            Duration::from_secs(2),
            &counts,
        );
        let text = handle.render();
        assert!(
            text.contains(
                "sync1688_sync_runs_total{account=\"metrics_unit\",outcome=\"succeeded\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "sync1688_orders_written_total{account=\"metrics_unit\",op=\"inserted\"} 3"
            ),
            "{text}"
        );
        assert!(
            text.contains("sync1688_lines_unmapped{account=\"metrics_unit\"} 4"),
            "{text}"
        );
        assert!(
            text.contains("sync1688_sync_last_success_timestamp_seconds{account=\"metrics_unit\"}"),
            "{text}"
        );
        assert!(
            text.contains(
                "sync1688_sync_duration_seconds_bucket{account=\"metrics_unit\",le=\"2.5\"} 1"
            ),
            "{text}"
        );
    }
}
