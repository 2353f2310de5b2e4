//! The daemon as systemd runs it: a separate process that stops on SIGTERM.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::TestDb;
use sync1688::sandbox::{self, SandboxConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_run_leaves_no_partial_page_and_exits_0() {
    let db = TestDb::postgres().await;
    db.store().await; // migrated, so that the polling below can count rows at once
    let config = SandboxConfig {
        orders: 400,
        days: 2,
        latency: Duration::from_millis(250),
        ..SandboxConfig::default()
    };
    let handle = sandbox::start(config.clone(), ([127, 0, 0, 1], 0).into())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sync1688.toml");
    let toml = format!(
        "{}\n[http]\nlisten = \"127.0.0.1:0\"\n[sync]\npage_concurrency = 1\n",
        support::app::config_toml(db.url(), &config, &handle.base_url())
    );
    std::fs::write(&file, toml).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_sync1688"))
        .arg("--config")
        .arg(&file)
        .arg("run")
        .env_remove("SYNC1688_CONFIG")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // Wait until the start-up run has written a page or two, then stop the daemon.
    let waited = Instant::now();
    loop {
        let orders = db
            .scalar::<i64>("SELECT COUNT(*) FROM purchase_orders")
            .await;
        if orders >= 50 {
            break;
        }
        assert!(
            waited.elapsed() < Duration::from_secs(30),
            "the daemon never started syncing"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let signalled = Instant::now();
    let killed = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let took = signalled.elapsed();

    let logs = String::from_utf8_lossy(&status.stderr).into_owned();
    assert_eq!(status.status.code(), Some(0), "{logs}");
    assert!(
        took < Duration::from_secs(20),
        "stopped within the grace period ({took:?})"
    );
    eprintln!("SIGTERM to exit during a run: {} ms", took.as_millis());
    let orders = db
        .scalar::<i64>("SELECT COUNT(*) FROM purchase_orders")
        .await;
    assert!(orders < 400, "the run was interrupted");
    assert_eq!(orders % 50, 0, "only whole pages were written");
    let lines_without_order = db
        .scalar::<i64>("SELECT COUNT(*) FROM purchase_orders o WHERE NOT EXISTS (SELECT 1 FROM purchase_order_lines l WHERE l.purchase_order_id = o.id)")
        .await;
    assert_eq!(lines_without_order, 0, "every written order has its lines");
    let running = db
        .scalar::<i64>("SELECT COUNT(*) FROM sync_runs WHERE status = 'running'")
        .await;
    assert_eq!(running, 0, "the interrupted run was recorded");
    let free = db
        .scalar::<i64>("SELECT COUNT(*) FROM sync_leases WHERE lease_until > now()")
        .await;
    assert_eq!(free, 0, "the lease was released");
}
