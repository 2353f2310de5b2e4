//! The daemon: change tracking, several instances on one PostgreSQL database, takeover
//! after a crash, resumable backfills, and a graceful stop.

#[macro_use]
mod support;

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use support::TestDb;
use support::app::{TestApp, config_toml};
use sync1688::app::{Application, RunOnceOptions};
use sync1688::config::{Settings, Sources};
use sync1688::daemon::Daemon;
use sync1688::daemon::lease::LeaseKeeper;
use sync1688::sandbox::{self, NewOrder, OrderChange, SandboxConfig, SandboxHandle};
use tokio_util::sync::CancellationToken;

on_both_backends!(
    an_old_order_changed_on_1688_is_updated_by_the_next_round,
    an_order_modified_during_a_round_is_not_skipped_by_the_cursor,
    an_interrupted_backfill_resumes_and_writes_every_order_once,
    a_backfill_of_months_finds_the_orders_in_1688s_history_table,
);

fn sandbox_config(orders: usize, days: u32, seed: u64) -> SandboxConfig {
    SandboxConfig {
        orders,
        days,
        seed,
        ..SandboxConfig::default()
    }
}

/// One scheduled round of `main`, under its lease, as the daemon runs it.
async fn round(app: &Application) -> Vec<sync1688::sync::RunReport> {
    let keeper = LeaseKeeper::claim(
        app.store(),
        "main",
        app.instance_id(),
        Duration::from_secs(30),
    )
    .await
    .unwrap()
    .expect("the lease is free");
    let reports = app
        .scheduled_round(
            "main",
            keeper.fence().clone(),
            keeper.run_token(&app.cancel_token()),
        )
        .await;
    keeper.release().await;
    reports
}

fn backfill(days_ago: u64) -> RunOnceOptions {
    let today = Utc::now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .date_naive();
    RunOnceOptions {
        from: Some(today - chrono::Days::new(days_ago)),
        to: Some(today),
        ..RunOnceOptions::default()
    }
}

async fn an_old_order_changed_on_1688_is_updated_by_the_next_round(db: TestDb) {
    let t = TestApp::start(db, sandbox_config(20, 2, 7), "").await;
    let old = t.sandbox.insert_order(
        NewOrder::created_at(Utc::now() - TimeDelta::days(7))
            .with_modify_time(Utc::now() - TimeDelta::days(7))
            .with_status("waitbuyerpay"),
    );
    let reports = t.app.run_once(&backfill(8)).await.unwrap();
    assert!(reports.iter().all(|r| r.succeeded()));
    let first = round(&t.app).await;
    assert!(first.iter().all(|r| r.succeeded()), "{first:?}");
    assert_eq!(
        first[1].counts.orders_seen, 20,
        "the changes run sees the recent orders only"
    );

    t.sandbox.modify_order(old, OrderChange::Pay);
    let second = round(&t.app).await;

    assert!(second.iter().all(|r| r.succeeded()), "{second:?}");
    assert_eq!(second[1].counts.orders_updated, 1);
    let order = t
        .store()
        .find_synced_order("main", old)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(order.status_1688.as_deref(), Some("waitsellersend"));
    let cursor = t.store().change_cursor("main").await.unwrap().unwrap();
    assert!(
        cursor <= Utc::now() - TimeDelta::seconds(59),
        "the cursor stays a safety margin behind"
    );
}

async fn an_order_modified_during_a_round_is_not_skipped_by_the_cursor(db: TestDb) {
    // A slow sandbox, so that a change lands while the changes run is paging.
    let config = SandboxConfig {
        latency: Duration::from_millis(150),
        ..sandbox_config(160, 2, 11)
    };
    let t = TestApp::start(
        db,
        config,
        "[sync]\npage_concurrency = 1\nchange_overlap_secs = 0\n",
    )
    .await;
    let first = round(&t.app).await;
    assert!(first.iter().all(|r| r.succeeded()));
    let ids = t.sandbox.order_ids();
    let (early, late) = (ids[0], ids[ids.len() - 1]);

    // The window run takes ~4 pages × 150 ms; the orders change during the changes run.
    let (during, ()) = tokio::join!(round(&t.app), async {
        tokio::time::sleep(Duration::from_millis(900)).await;
        t.sandbox.modify_order(early, OrderChange::Complete);
        t.sandbox.modify_order(late, OrderChange::Complete);
    });
    let after = round(&t.app).await;

    assert!(during.iter().chain(&after).all(|r| r.succeeded()));
    for id in [early, late] {
        let order = t
            .store()
            .find_synced_order("main", id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            order.status_1688.as_deref(),
            Some("success"),
            "order {id} is current"
        );
    }
}

async fn an_interrupted_backfill_resumes_and_writes_every_order_once(db: TestDb) {
    let t = TestApp::start(
        db,
        sandbox_config(300, 20, 13),
        "[sync]\nbackfill_chunk_days = 3\n",
    )
    .await;
    let options = backfill(20);
    let chunks = 7;
    // Stop after the third chunk, as a crash or a Ctrl-C would.
    let cancel = t.app.cancel_token();
    let interrupted = RunOnceOptions {
        progress: Some(Arc::new(
            move |_account: &str, done: usize, _total: usize| {
                if done == 3 {
                    cancel.cancel();
                }
            },
        )),
        ..options.clone()
    };
    let first = t.app.run_once(&interrupted).await.unwrap();
    assert_eq!(first.len(), 3);

    // A new process resumes after the last committed chunk.
    let settings = t.app.settings().clone();
    let second_app = Application::build(settings).await.unwrap();
    let second = second_app.run_once(&options).await.unwrap();

    assert_eq!(
        second.len(),
        chunks - 3,
        "the committed chunks are not synced again"
    );
    assert!(second.iter().all(|r| r.succeeded()));
    let inserted: u64 = first
        .iter()
        .chain(&second)
        .map(|r| r.counts.orders_inserted)
        .sum();
    let in_window =
        t.db.scalar::<i64>("SELECT COUNT(*) FROM purchase_orders")
            .await;
    assert_eq!(inserted as i64, in_window);
    assert_eq!(in_window, 300);
    // Running a finished backfill again is a fresh pass that finds nothing to change.
    let third = second_app.run_once(&options).await.unwrap();
    assert_eq!(third.len(), chunks);
    assert!(
        third
            .iter()
            .all(|r| r.counts.orders_inserted + r.counts.orders_updated == 0)
    );
}

async fn a_backfill_of_months_finds_the_orders_in_1688s_history_table(db: TestDb) {
    let t = TestApp::start(
        db,
        sandbox_config(5, 2, 17),
        "[sync]\nbackfill_chunk_days = 31\n",
    )
    .await;
    let ancient = t
        .sandbox
        .insert_order(NewOrder::created_at(Utc::now() - TimeDelta::days(150)));
    let near_the_line = t
        .sandbox
        .insert_order(NewOrder::created_at(Utc::now() - TimeDelta::days(89)));
    let recent = t
        .sandbox
        .insert_order(NewOrder::created_at(Utc::now() - TimeDelta::days(20)));

    let reports = t.app.run_once(&backfill(160)).await.unwrap();

    assert!(reports.iter().all(|r| r.succeeded()), "{reports:?}");
    for id in [ancient, near_the_line, recent] {
        assert!(
            t.store()
                .find_synced_order("main", id)
                .await
                .unwrap()
                .is_some(),
            "order {id}"
        );
    }
    assert!(
        t.sandbox.calls("alibaba.trade.getBuyerOrderList") > reports.len(),
        "old chunks also asked the history table"
    );
}

/// Two daemons on one database with three accounts, each from its own sandbox.
struct Fleet {
    db: TestDb,
    sandboxes: Vec<SandboxHandle>,
    configs: Vec<SandboxConfig>,
}

impl Fleet {
    async fn start() -> Fleet {
        support::init_logging();
        let db = TestDb::postgres().await;
        let mut sandboxes = Vec::new();
        let mut configs = Vec::new();
        for seed in [21, 22, 23] {
            let config = sandbox_config(60, 2, seed);
            sandboxes.push(
                sandbox::start(config.clone(), ([127, 0, 0, 1], 0).into())
                    .await
                    .unwrap(),
            );
            configs.push(config);
        }
        Fleet {
            db,
            sandboxes,
            configs,
        }
    }

    fn settings(&self, instance: &str) -> Settings {
        let mut toml = format!(
            "[database]\nurl = \"{}\"\nmax_connections = 4\n{}\n[http]\nlisten = \"127.0.0.1:0\"\n\
             [sync]\nschedule = \"* * * * * *\"\n[daemon]\nlease_ttl_secs = 5\nshutdown_grace_secs = 5\ninstance_id = \"{instance}\"\nstate_dir = \"{}\"\n",
            self.db.url(),
            support::app::FAST_API,
            support::app::fresh_state_dir(),
        );
        for (i, (config, sandbox)) in self.configs.iter().zip(&self.sandboxes).enumerate() {
            let account = config_toml(self.db.url(), config, &sandbox.base_url());
            let account = &account[account.find("[[accounts]]").unwrap()..];
            toml.push_str(&account.replace("name = \"main\"", &format!("name = \"acct{i}\"")));
        }
        Settings::load(&Sources::inline(toml)).unwrap()
    }

    async fn daemon(&self, instance: &str) -> (CancellationToken, tokio::task::JoinHandle<()>) {
        let app = Application::build(self.settings(instance)).await.unwrap();
        let daemon = Daemon::bind(app).await.unwrap();
        let stop = CancellationToken::new();
        let task = tokio::spawn({
            let stop = stop.clone();
            async move { daemon.run_until_stopped(stop).await.unwrap() }
        });
        (stop, task)
    }
}

/// Runs of one account, as (start, end) instants from `sync_runs`.
async fn run_intervals(db: &TestDb, account: &str) -> Vec<(String, String)> {
    let rows = db
        .scalar::<String>(&format!(
            "SELECT COALESCE(string_agg(to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '|' || \
             COALESCE(to_char(finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), 'running'), ',' ORDER BY started_at), '') \
             FROM sync_runs WHERE account = '{account}'"
        ))
        .await;
    rows.split(',')
        .filter(|r| !r.is_empty())
        .map(|r| {
            let (a, b) = r.split_once('|').unwrap();
            (a.to_owned(), b.to_owned())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_daemons_on_one_database_sync_every_order_once_and_never_share_an_account() {
    let fleet = Fleet::start().await;
    let (stop_a, a) = fleet.daemon("instance-a").await;
    let (stop_b, b) = fleet.daemon("instance-b").await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    stop_a.cancel();
    stop_b.cancel();
    a.await.unwrap();
    b.await.unwrap();

    for (i, sandbox) in fleet.sandboxes.iter().enumerate() {
        let account = format!("acct{i}");
        let stored = fleet
            .db
            .scalar::<i64>(&format!(
                "SELECT COUNT(*) FROM purchase_orders WHERE account = '{account}'"
            ))
            .await;
        let expected = sandbox.order_ids().len() as i64;
        assert!(
            stored <= expected && stored > 0,
            "{account}: {stored} of {expected}"
        );
        let runs = run_intervals(&fleet.db, &account).await;
        assert!(
            runs.len() >= 2,
            "{account} was synced on schedule: {runs:?}"
        );
        for pair in runs.windows(2) {
            assert!(
                pair[0].1 != "running" && pair[0].1 <= pair[1].0,
                "{account}: runs overlap: {pair:?}"
            );
        }
    }
    let duplicates = fleet
        .db
        .scalar::<i64>("SELECT COUNT(*) FROM (SELECT account, order_id_1688 FROM purchase_orders GROUP BY 1, 2 HAVING COUNT(*) > 1) d")
        .await;
    assert_eq!(duplicates, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_daemons_accounts_are_taken_over_after_its_lease_expires() {
    let fleet = Fleet::start().await;
    // A daemon that dies holding every lease: claimed by hand and never released.
    let app = Application::build(fleet.settings("dead-instance"))
        .await
        .unwrap();
    let store = app.store();
    for i in 0..3 {
        let lease = store
            .try_claim_lease(&format!("acct{i}"), "dead-instance", Duration::from_secs(5))
            .await
            .unwrap();
        assert!(lease.is_some());
    }
    let killed_at = Utc::now();
    let (stop, survivor) = fleet.daemon("survivor").await;
    tokio::time::sleep(Duration::from_secs(9)).await;
    stop.cancel();
    survivor.await.unwrap();

    for i in 0..3 {
        let account = format!("acct{i}");
        let runs = run_intervals(&fleet.db, &account).await;
        assert!(!runs.is_empty(), "{account} was taken over");
        let first = chrono::NaiveDateTime::parse_from_str(&runs[0].0, "%Y-%m-%d %H:%M:%S%.f")
            .unwrap()
            .and_utc();
        assert!(
            first >= killed_at + TimeDelta::seconds(4),
            "{account} waited for the lease to expire"
        );
        assert!(
            first <= killed_at + TimeDelta::seconds(8),
            "{account} was taken over within the lease time"
        );
    }
}
